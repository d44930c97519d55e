// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// The exporter itself (MQTT, Prometheus remote-write, /metrics) is the
// node's (internal/node): samples reach it through its queue, never
// blocking the sampler, and its log lines reach the reactor thread through
// the bridge. The module adds what needs Flux: where the spool lives, the
// jobids the samples carry (module/running.go) and, on rank 0, the
// summaries of the jobs that end (module/jobs.go).

// spoolDir is where this rank spools the records not yet delivered: under
// dir when the options give one, else under the instance's statedir
// (which survives a restart of the instance where the site sets it),
// rundir (which lasts as long as the instance) or the temporary directory.
// One directory per rank: test instances run several brokers on one host,
// with the same options.
func (m *monitor) spoolDir(dir string) string {
	if dir == "" {
		for _, attr := range []string{"statedir", "rundir"} {
			if d, err := m.h.Attr(attr); err == nil && d != "" {
				dir = filepath.Join(d, "power-monitor-spool")
				break
			}
		}
		if dir == "" {
			dir = filepath.Join(os.TempDir(), "power-monitor-spool")
		}
	}
	return filepath.Join(dir, fmt.Sprintf("rank-%d", m.rank))
}

// followJobs follows the job-manager's journal on rank 0 (module/jobs.go),
// always: queries about running jobs and the report's records come from
// it. When the samples are exported, it also tags them with the jobs
// running on this rank; when they are not (any more: a reload turned the
// exports off), it stops that. Called at load and after each reload.
func (m *monitor) followJobs() error {
	if m.rank == 0 && m.jobs == nil {
		var err error
		if m.jobs, err = m.watchJobs(); err != nil {
			return err
		}
	}
	if m.node.Exporter() == nil {
		m.running.unsubscribe()
		return nil
	}
	if err := m.running.subscribe(); err != nil {
		return err
	}
	m.running.update() // a new exporter carries the jobs running here too
	return nil
}
