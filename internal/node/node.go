// SPDX-License-Identifier: LGPL-3.0-only

// Package node sets up one sampling node, for the broker module and the
// standalone agent alike: it opens the power sources (saying which are used
// and why the others are not), samples them into the ring, an optional
// extra store (the agent's trace file) and the exporter, and stops it all
// in order. The module adds its RPCs and job handling, the agent its trace
// file and signals.
//
//	sources (read/source) -> sampler (read/sampler) -> ring (store/ring)
//	                                                -> extra store
//	                                                -> exporter (export/sinks)
package node

import (
	"fmt"
	"strings"

	"github.com/flux-framework/power-monitor/internal/config"
	"github.com/flux-framework/power-monitor/internal/export"
	"github.com/flux-framework/power-monitor/internal/export/sinks"
	"github.com/flux-framework/power-monitor/internal/read/sampler"
	"github.com/flux-framework/power-monitor/internal/read/source"
	"github.com/flux-framework/power-monitor/internal/store/ring"
)

// Severity of a log line.
type Severity int

// Severities, lowest first.
const (
	Info Severity = iota
	Notice
	Warning
	Error
)

// Logger receives the node's log lines. Log is called by the caller of Open
// and Stop and by the node's goroutines (the sampler's, the exporter's):
// it must be safe from any goroutine, and whatever must run on one thread
// (libflux, in the module) it must hand over to that thread.
type Logger interface {
	Log(sev Severity, msg string)
}

// LogFunc is a function used as a Logger.
type LogFunc func(Severity, string)

// Log calls f.
func (f LogFunc) Log(sev Severity, msg string) { f(sev, msg) }

// Config is what a node is made of.
type Config struct {
	config.Options             // the sources, period, ring size and exports
	Meta           export.Meta // who the exported samples are from
	// Extra, if not nil, receives every sample after the ring: the
	// agent's trace file.
	Extra sampler.Store
	// RequireSource makes Open fail when no source works (the agent).
	// Without it the node runs without sampling and SourceErr says why
	// (the module, whose queries report it).
	RequireSource bool
}

// Node is one sampling node: its sources, sampler, ring and exporter.
type Node struct {
	cfg      Config // as opened; cfg.Options as of the last Reconfigure
	opts     config.Options
	log      Logger
	src      *source.Merged // nil: no source works
	srcErr   error          // why none works
	statuses []source.Status
	store    *ring.Store
	sampler  *sampler.Sampler // nil without a source
	exporter *sinks.Running   // nil: no export asked for
}

// Open opens the sources the options list and reports them: a source that
// was asked for (listed in --source, or Variorum under auto) and is not
// used says why, at warning level; the others not used are named in one
// line at info level. When none works the error, or SourceErr, gives every
// reason. Open then starts the exporter the options ask for and wires the
// sampler to the ring, cfg.Extra and the exporter; nothing is sampled
// until Start. On error nothing is left open.
func Open(cfg Config, log Logger) (*Node, error) {
	o := cfg.Options
	n := &Node{cfg: cfg, opts: o, log: log, store: ring.New(o.BufferSize, o.Period)}
	src, statuses, err := openSources(o)
	n.statuses = statuses
	if err != nil {
		if cfg.RequireSource {
			return nil, fmt.Errorf("no power source: %w", err)
		}
		n.srcErr = err
	} else {
		n.src = src
		n.reportUnused()
	}

	if n.exporter, err = n.startExporter(o.Export, n.src); err != nil {
		n.closeSource()
		return nil, err
	}
	if n.src != nil {
		n.sampler = sampler.New(n.src, n.stores(), o.Period, n.sampleError)
		n.sampler.SetBatch(o.BatchDelay())
	}
	return n, nil
}

// sampleError logs a change of the sampler's error: "" when it works again.
func (n *Node) sampleError(msg string) {
	if msg == "" {
		n.log.Log(Notice, "sampling works again")
	} else {
		n.log.Log(Error, "sample failed: "+msg)
	}
}

// openSources opens the sources o lists.
func openSources(o config.Options) (*source.Merged, []source.Status, error) {
	return source.Open(o.Sources, source.Options{
		VariorumLib: o.VariorumLib, Sysfs: o.Sysfs, Procfs: o.Procfs,
		IdleW: o.IdleW, PeakW: o.PeakW, ReplaySpeed: o.ReplaySpeed,
	})
}

// startExporter starts the exporter e asks for, naming src's provenance
// in what it publishes; nil when e asks for none.
func (n *Node) startExporter(e config.Export, src *source.Merged) (*sinks.Running, error) {
	if !e.Enabled() {
		return nil, nil
	}
	var prov export.Provenance
	if src != nil {
		prov = src.Provenance()
	}
	ex, err := sinks.Start(e, n.cfg.Meta, prov, func(sev export.Severity, msg string) {
		n.log.Log(exportSeverity(sev), msg)
	})
	if err != nil {
		return nil, err
	}
	for _, name := range ex.Names() {
		n.log.Log(Info, "publishing to "+name)
	}
	return ex, nil
}

// stores are where each sample goes: the ring, the extra store and the
// exporter.
func (n *Node) stores() sampler.Tee {
	stores := sampler.Tee{n.store}
	if n.cfg.Extra != nil {
		stores = append(stores, n.cfg.Extra)
	}
	if n.exporter != nil {
		stores = append(stores, n.exporter)
	}
	return stores
}

// Flush stores the samples the sampler holds back (--batch): a reader of
// the ring, or of the exporter's job id, calls it first. On the goroutine
// that starts and stops the node.
func (n *Node) Flush() {
	if n.sampler != nil {
		n.sampler.Flush()
	}
}

// reportUnused says why each source asked for is not used, and names the
// others in one line.
func (n *Node) reportUnused() {
	asked := map[string]bool{}
	for _, k := range n.opts.Sources {
		if k == "auto" {
			asked["variorum"] = true // auto's first choice; the sensors are its fallback
		}
		asked[strings.SplitN(k, ":", 2)[0]] = true
	}
	var others []string
	for _, s := range n.statuses {
		switch {
		case s.Used:
		case asked[s.Kind]:
			n.log.Log(Warning, fmt.Sprintf("source %s not used: %s", s.Kind, s.Reason))
		default:
			others = append(others, s.Kind)
		}
	}
	if len(others) > 0 {
		n.log.Log(Info, fmt.Sprintf("not used: %s (--source=KIND says why)", strings.Join(others, ", ")))
	}
}

func exportSeverity(sev export.Severity) Severity {
	switch sev {
	case export.Warning:
		return Warning
	case export.Error:
		return Error
	}
	return Info
}

// Start starts sampling: a first sample at once, then one every period.
// Without a source it does nothing.
func (n *Node) Start() {
	if n.sampler != nil {
		n.sampler.Start()
	}
}

// StopSampling stops the sampler and waits for it: every sample taken has
// reached every store. Stop does it too; a caller that has something to
// send after the last sample and before the exporter's flush (the agent's
// job summary) calls it first.
func (n *Node) StopSampling() {
	if n.sampler != nil {
		n.sampler.Stop()
	}
}

// Stop stops the sampler, then the exporter (delivering what is spooled,
// up to --flush-timeout), then closes the sources and releases the ring's
// memory: the ring is empty from then on (its Stats keep Total). The
// exporter's log lines may come from its goroutines until Stop returns.
func (n *Node) Stop() {
	n.StopSampling()
	if n.exporter != nil {
		n.exporter.Stop()
	}
	n.closeSource()
	if err := n.store.Close(); err != nil {
		n.log.Log(Error, err.Error())
	}
}

func (n *Node) closeSource() {
	if n.src != nil {
		n.src.Close()
	}
}

// Source is the merged source sampled; nil when none works.
func (n *Node) Source() *source.Merged { return n.src }

// SourceName says what is sampled: the source's name, or "none".
func (n *Node) SourceName() string {
	if n.src == nil {
		return "none"
	}
	return n.src.Name()
}

// SourceErr says why no source works; nil when one does.
func (n *Node) SourceErr() error { return n.srcErr }

// Statuses say, for every kind of source, whether it is used or why not.
func (n *Node) Statuses() []source.Status { return n.statuses }

// Store is the ring the samples are kept in; empty once Stop has returned.
func (n *Node) Store() *ring.Store { return n.store }

// Sampler is the sampler; nil without a source.
func (n *Node) Sampler() *sampler.Sampler { return n.sampler }

// Exporter is the running exporter; nil when no export is asked for. It
// stays readable (Stats) after Stop.
func (n *Node) Exporter() *sinks.Running { return n.exporter }
