// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/config"
	"github.com/flux-framework/power-monitor/internal/export"
	"github.com/flux-framework/power-monitor/internal/node"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// defaultVariorumLib is the libvariorum that configure found
// (--with-variorum=DIR), set at link time; "" searches the library path.
var defaultVariorumLib = ""

// monitor is everything one load of the module owns. The module never
// unloads (a Go c-shared object is NODELETE), so nothing lives in package
// variables: it all hangs off this context and is released before mod_main
// returns.
type monitor struct {
	h         *fluxbind.Handle
	args      []string       // the module arguments, which override the [power-monitor] table
	byTable   bool           // loaded where the table said enable = true (module/config.go)
	opts      config.Options // in effect: the table's, the arguments', completed (complete)
	rank      uint32
	size      uint32
	hostname  string
	hostlist  string   // broker attribute: hostnames in rank order
	hostnames []string // hostlist decoded
	loaded    time.Time
	// the instance's R by rank, read by the first query about a job and
	// again after a failure (module/query.go)
	instanceR wire.Resources

	// node samples this rank (internal/node): sources, sampler, ring and
	// exporter; the handlers reach each through it.
	node *node.Node

	post     *fluxbind.Bridge
	handlers []*fluxbind.MsgHandler
	queries  map[*jobQuery]struct{} // in flight
	served   uint64                 // queries answered
	// queries about running jobs answered from rank 0's journal
	fromJournal uint64
	listed      uint64       // power-monitor.records answered
	fromR       uint64       // queries answered from the R the request gave
	records     uint64       // records answered (power-monitor.record)
	windows     uint64       // window requests answered
	jobs        *jobWatcher  // rank 0 with exports: job summaries
	running     *runningJobs // the jobs running on this rank (with exports)
}

func run(h *fluxbind.Handle, args []string) error {
	m := &monitor{h: h, args: args, loaded: time.Now(), queries: map[*jobQuery]struct{}{}}
	m.running = newRunningJobs(m)
	h.OnPanic = func(v any) {
		h.Log(fluxbind.LogErr, fmt.Sprintf("recovered panic in a callback: %v", v))
	}
	var err error
	if m.rank, err = h.Rank(); err != nil {
		return err
	}
	conf, err := h.Conf()
	if err != nil {
		return err
	}
	table, err := config.TableOf(conf)
	if err != nil {
		return err
	}
	m.byTable = config.Enabled(table)
	if m.opts, err = m.settings(table); err != nil {
		return err
	}
	if m.size, err = h.Size(); err != nil {
		return err
	}
	m.hostname, _ = os.Hostname()
	m.hostlist, _ = h.Attr("hostlist")

	if m.post, err = h.NewBridge(); err != nil {
		return err
	}
	defer m.teardown()

	if err := m.openNode(); err != nil {
		return err
	}
	if err := m.register(); err != nil {
		return err
	}
	if err := m.followJobs(); err != nil {
		return err
	}
	m.node.Start()
	h.Log(fluxbind.LogInfo, fmt.Sprintf("rank %d sampling every %gs, keeping %d samples, source: %s",
		m.rank, m.opts.Period.Seconds(), m.opts.BufferSize, m.sourceName()))
	return h.Run()
}

// openNode opens this rank's sampling node: its sources and the exporter.
// Without a source the module keeps running, and queries say why.
func (m *monitor) openNode() error {
	n, err := node.Open(node.Config{
		Options: m.opts,
		Meta:    export.Meta{Hostname: m.hostName(m.rank), Rank: int(m.rank)},
	}, node.LogFunc(m.nodeLog))
	if err != nil {
		return err
	}
	m.node = n
	m.post.Flush() // the node's lines so far, before the module's own
	m.warnNoSource()
	return nil
}

// warnNoSource says, where no source works, why, and that the module runs
// on (at load, and after a reload).
func (m *monitor) warnNoSource() {
	if m.node.SourceErr() != nil {
		m.h.Log(fluxbind.LogWarning, fmt.Sprintf("%s: %v; the module keeps running and queries will report it", wire.ReasonNoSource, m.node.SourceErr()))
	}
}

// nodeLog logs a line of the node's. The node logs from its goroutines
// too (the sampler's, the exporter's), so the line goes through the
// bridge to the reactor thread, where libflux may be called.
func (m *monitor) nodeLog(sev node.Severity, msg string) {
	level := fluxbind.LogInfo
	switch sev {
	case node.Notice:
		level = fluxbind.LogNotice
	case node.Warning:
		level = fluxbind.LogWarning
	case node.Error:
		level = fluxbind.LogErr
	}
	m.post.Post(func() { m.h.Log(level, msg) })
}

func (m *monitor) sourceName() string { return m.node.SourceName() }

func (m *monitor) register() error {
	for _, r := range []struct {
		topic    string
		rolemask uint32
		cb       func(*fluxbind.Msg)
	}{
		{wire.TopicQuery, fluxbind.RoleUser, m.queryCB},
		{wire.TopicWindow, 0, m.windowCB},
		{wire.TopicSeriesWindow, 0, m.seriesWindowCB},
		{wire.TopicStats, 0, m.statsCB},
		{wire.TopicSources, fluxbind.RoleUser, m.sourcesCB},
		{wire.TopicRunning, fluxbind.RoleUser, m.running.runningCB},
		{wire.TopicRecord, 0, m.recordCB},
		{wire.TopicRecords, fluxbind.RoleUser, m.recordsCB},
		{topicConfigReload, 0, m.configReloadCB},
	} {
		mh, err := m.h.AddHandler(fluxbind.MsgRequest, r.topic, r.rolemask, r.cb)
		if err != nil {
			return err
		}
		m.handlers = append(m.handlers, mh)
	}
	return nil
}

// teardown stops every goroutine and releases every libflux object before
// mod_main returns; a reload then starts from nothing.
func (m *monitor) teardown() {
	if m.node != nil {
		m.node.StopSampling()
	}
	if m.jobs != nil {
		m.jobs.stop()
	}
	for q := range m.queries {
		q.abort(errors.New("power-monitor is unloading"))
	}
	m.running.unsubscribe()
	for _, mh := range m.handlers {
		mh.Destroy()
	}
	if m.node != nil {
		// The exporter delivers what is spooled, up to --flush-timeout;
		// then the sources close.
		m.node.Stop()
	}
	m.post.Flush() // the node's last log lines
	m.post.Close()
	if n := m.h.Live(); n != 0 {
		m.h.Log(fluxbind.LogErr, fmt.Sprintf("%d callbacks still registered at unload", n))
	}
	// mod_main closes the handle once it has logged run's error.
}
