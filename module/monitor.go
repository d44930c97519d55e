//go:build flux

package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/config"
	"github.com/flux-framework/power-monitor/internal/export/sinks"
	"github.com/flux-framework/power-monitor/internal/read/sampler"
	"github.com/flux-framework/power-monitor/internal/read/source"
	"github.com/flux-framework/power-monitor/internal/store/ring"
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
	opts      config.Options
	rank      uint32
	size      uint32
	hostname  string
	hostlist  string   // broker attribute: hostnames in rank order
	hostnames []string // hostlist decoded
	loaded    time.Time

	src      *source.Merged  // nil: no power source
	srcErr   error           // why there is none
	statuses []source.Status // every kind of source: used, or why not
	store    *ring.Store
	sampler  *sampler.Sampler
	post     *fluxbind.Bridge
	handlers []*fluxbind.MsgHandler
	queries  map[*jobQuery]struct{} // in flight
	served   uint64                 // queries answered
	windows  uint64                 // window requests answered

	export  *sinks.Running // nil: no export configured
	jobs    *jobWatcher    // rank 0 with exports: job summaries
	running *runningJobs   // the jobs running on this rank (with exports)
}

func run(h *fluxbind.Handle, args []string) error {
	opts, err := config.Parse(args, os.Getenv)
	if err != nil {
		return fmt.Errorf("power-monitor: %w", err)
	}
	m := &monitor{h: h, opts: opts, loaded: time.Now(), queries: map[*jobQuery]struct{}{}}
	m.running = newRunningJobs(m)
	h.OnPanic = func(v any) {
		h.Log(fluxbind.LogErr, fmt.Sprintf("power-monitor: recovered panic in a callback: %v", v))
	}
	if m.rank, err = h.Rank(); err != nil {
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

	m.store = ring.New(opts.BufferSize, opts.Period)
	m.openSource()
	if err := m.register(); err != nil {
		return err
	}
	if err := m.startExport(); err != nil {
		return fmt.Errorf("power-monitor: %w", err)
	}
	if m.src != nil {
		var st sampler.Store = m.store
		if m.export != nil {
			st = sampler.Tee{m.store, m.export}
		}
		m.sampler = sampler.New(m.src, st, opts.Period, func(msg string) {
			m.post.Post(func() { m.logSampleError(msg) })
		})
		m.sampler.Start()
	}
	h.Log(fluxbind.LogInfo, fmt.Sprintf("power-monitor: rank %d sampling every %gs, keeping %d samples, source: %s",
		m.rank, opts.Period.Seconds(), opts.BufferSize, m.sourceName()))
	return h.Run()
}

func (m *monitor) openSource() {
	lib := m.opts.VariorumLib
	if lib == "" {
		lib = defaultVariorumLib
	}
	src, st, err := source.Open(m.opts.Sources, source.Options{
		VariorumLib: lib,
		Sysfs:       m.opts.Sysfs,
		Procfs:      m.opts.Procfs,
		IdleW:       m.opts.IdleW,
		PeakW:       m.opts.PeakW,
		ReplaySpeed: m.opts.ReplaySpeed,
	})
	m.statuses = st
	if err != nil {
		m.srcErr = err
		m.h.Log(fluxbind.LogWarning, fmt.Sprintf("power-monitor: %s: %v; the module keeps running and queries will report it", wire.ReasonNoSource, err))
		return
	}
	m.src = src
	listed := map[string]bool{}
	for _, k := range m.opts.Sources {
		listed[strings.SplitN(k, ":", 2)[0]] = true
	}
	for _, s := range st {
		switch {
		case s.Used:
		case listed[s.Kind]: // asked for, and it cannot work or adds nothing
			m.h.Log(fluxbind.LogWarning, fmt.Sprintf("power-monitor: source %s not used: %s", s.Kind, s.Reason))
		default:
			m.h.Log(fluxbind.LogInfo, fmt.Sprintf("power-monitor: source %s not used: %s", s.Kind, s.Reason))
		}
	}
}

func (m *monitor) sourceName() string {
	if m.src == nil {
		return "none"
	}
	return m.src.Name()
}

func (m *monitor) logSampleError(msg string) {
	if msg == "" {
		m.h.Log(fluxbind.LogNotice, "power-monitor: sampling works again")
		return
	}
	m.h.Log(fluxbind.LogErr, "power-monitor: sample failed: "+msg)
}

func (m *monitor) register() error {
	for _, r := range []struct {
		topic    string
		rolemask uint32
		cb       func(*fluxbind.Msg)
	}{
		{wire.TopicQuery, fluxbind.RoleUser, m.queryCB},
		{wire.TopicWindow, 0, m.windowCB},
		{wire.TopicStats, 0, m.statsCB},
		{wire.TopicSources, fluxbind.RoleUser, m.sourcesCB},
		{wire.TopicRunning, fluxbind.RoleUser, m.running.runningCB},
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
	if m.sampler != nil {
		m.sampler.Stop()
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
	m.stopExport()
	m.post.Close()
	if m.src != nil {
		m.src.Close()
	}
	if n := m.h.Live(); n != 0 {
		m.h.Log(fluxbind.LogErr, fmt.Sprintf("power-monitor: %d callbacks still registered at unload", n))
	}
	// mod_main closes the handle once it has logged run's error.
}
