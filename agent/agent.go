// Package agent is the standalone power monitor for machines without Flux:
// it samples the local node with the module's sources and writes every
// sample to a local trace file, the durable copy (the JSON-lines trace
// format that source/replay.go reads back). Network sinks come on top of it.
package agent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/flux-framework/power-monitor/config"
	"github.com/flux-framework/power-monitor/sample"
	"github.com/flux-framework/power-monitor/sampler"
	"github.com/flux-framework/power-monitor/source"
)

// Options of one run.
type Options struct {
	config.Options
	Duration time.Duration // 0: until the context ends
}

// Trace writes samples to w in the trace format: a header with the layout
// at the first sample, then one line per sample, flushed at every sample so
// that a crash loses at most the sample being written. It is the sampler's
// store. Safe for one writer and concurrent Err/Count.
type Trace struct {
	mu     sync.Mutex
	w      *bufio.Writer
	layout sample.Layout
	header bool
	n      uint64
	err    error
}

// NewTrace writes to w.
func NewTrace(w io.Writer) *Trace { return &Trace{w: bufio.NewWriter(w)} }

// Append writes one sample taken at t (unix ns).
func (t *Trace) Append(ts int64, r *sample.Reading) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return
	}
	if !t.header {
		t.layout = r.Layout()
		if t.err = source.WriteTraceHeader(t.w, t.layout); t.err != nil {
			return
		}
		t.header = true
	}
	if t.err = source.WriteTrace(t.w, t.layout, float64(ts)/1e9, r); t.err != nil {
		return
	}
	if t.err = t.w.Flush(); t.err == nil {
		t.n++
	}
}

// Count is the number of samples written.
func (t *Trace) Count() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// Err is the first write error, if any.
func (t *Trace) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Run opens the sources, samples into the trace until ctx ends (or the
// duration passes), then stops the sampler, having written every sample
// taken. logf reports the sources and sampling errors (to stderr).
func Run(ctx context.Context, o Options, out io.Writer, logf func(string, ...any)) (uint64, error) {
	src, statuses, err := source.Open(o.Sources, source.Options{
		VariorumLib: o.VariorumLib, Sysfs: o.Sysfs, Procfs: o.Procfs,
		IdleW: o.IdleW, PeakW: o.PeakW, ReplaySpeed: o.ReplaySpeed,
	})
	for _, s := range statuses {
		if !s.Used {
			logf("source %s not used: %s", s.Kind, s.Reason)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("no power source: %w", err)
	}
	defer src.Close()
	logf("sampling every %gs from %s", o.Period.Seconds(), src.Name())

	tr := NewTrace(out)
	s := sampler.New(src, tr, o.Period, func(msg string) {
		if msg == "" {
			logf("sampling works again")
		} else {
			logf("sample failed: %s", msg)
		}
	})
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	s.Start()
	<-ctx.Done()
	s.Stop() // joins the sampler: every sample taken is written
	return tr.Count(), tr.Err()
}
