//go:build flux

package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/export"
	"github.com/flux-framework/power-monitor/internal/export/sinks"
)

// startExport starts the sinks the options ask for (MQTT, Prometheus
// remote-write, /metrics). Samples reach them through the exporter's
// queue, never blocking the sampler; delivery runs in the exporter's own
// goroutines, whose log lines are posted to the reactor thread. The samples
// carry the jobids of the jobs running on this rank (module/running.go).
// Rank 0 also watches for jobs that end and sends each one's summary.
func (m *monitor) startExport() error {
	e := m.opts.Export
	if !e.Enabled() {
		return nil
	}
	if e.Spooled() {
		base := e.SpoolDir
		if base == "" {
			// statedir survives a restart of the instance where the site
			// sets it; rundir lasts as long as the instance.
			for _, attr := range []string{"statedir", "rundir"} {
				if d, err := m.h.Attr(attr); err == nil && d != "" {
					base = filepath.Join(d, "power-monitor-spool")
					break
				}
			}
			if base == "" {
				base = filepath.Join(os.TempDir(), "power-monitor-spool")
			}
		}
		// One directory per rank: test instances run several brokers on
		// one host, with the same options.
		e.SpoolDir = filepath.Join(base, fmt.Sprintf("rank-%d", m.rank))
	}
	var prov export.Provenance
	if m.src != nil {
		prov = m.src.Provenance()
	}
	meta := export.Meta{Hostname: m.hostName(m.rank), Rank: int(m.rank)}
	run, err := sinks.Start(e, meta, prov, func(sev export.Severity, msg string) {
		level := fluxbind.LogInfo
		switch sev {
		case export.Warning:
			level = fluxbind.LogWarning
		case export.Error:
			level = fluxbind.LogErr
		}
		m.post.Post(func() { m.h.Log(level, "power-monitor: "+msg) })
	})
	if err != nil {
		return err
	}
	m.export = run
	for _, n := range run.Names() {
		m.h.Log(fluxbind.LogInfo, "power-monitor: publishing to "+n)
	}
	if err := m.running.subscribe(); err != nil {
		m.stopExport()
		return err
	}
	if m.rank == 0 {
		if m.jobs, err = m.watchJobs(); err != nil {
			m.stopExport()
			return err
		}
	}
	return nil
}

// stopExport delivers what is spooled, up to --flush-timeout, and stops.
// It runs on the reactor thread at unload, after the sampler stopped; the
// log lines the exporter posts meanwhile are written here.
func (m *monitor) stopExport() {
	if m.export == nil {
		return
	}
	m.export.Stop()
	m.export = nil
	m.post.Flush()
}
