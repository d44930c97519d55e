// SPDX-License-Identifier: LGPL-3.0-only

// Package sampler reads a power source at a fixed period, off the reactor
// thread, into the rank's store, and keeps the figures that `flux module
// stats` shows: samples taken, errors, the last error and the cost of a
// sample.
//
// The clock (clock.go) is a thread of its own, created in C with every
// signal blocked (clock.c), that sleeps on CLOCK_MONOTONIC until each due
// time and then calls into Go for the sample (a cgo callback); SIGCHLD,
// which Go unblocks when the thread first enters Go, is blocked again after
// each sample. Between samples the Go runtime has nothing to wake for: no
// timer, whose expiry also wakes the runtime's monitor thread (sysmon), and
// no goroutine to hand the tick to, whose wake-up starts a second, spinning
// thread. That is what a sample cost beyond the read itself with a Go
// ticker (BENCHMARKS.md, "What sampling costs a broker"). The schedule is
// the period's grid from the first sample: a sample that ends up to half a
// period after the next due time is followed at once; due times further
// past are skipped and counted as late. Builds without cgo, and a thread
// that cannot be created, keep the same schedule on a goroutine with a Go
// timer. Stop wakes the clock and waits for a sample in progress: after it,
// every sample taken is stored and none is taken again.
//
// A CSource (Variorum: one C call that writes a JSON string) is read by
// the clock thread in C, between CLOCK_REALTIME stamps, so that no Go code
// waits on the read; the thread keeps the readings, and the schedule, in C
// and enters Go only to parse and store them (pmSamplerBatch): each at
// once, or with SetBatch (the module's --batch) once per batch, when 100
// readings are pending or when the oldest would be held longer than the
// batch delay. Entering Go is most of a sample's cost beyond the read, so
// a batch divides it. Readings held back are stored, in the order taken
// and with the stamps of their reads, by the next batch, by Flush (which a
// reader of the store calls first: the module's window, series and stats
// handlers, and the job ids handed to the exporter) or by Stop. A sink that
// does not flush (the exports) sees a sample up to the batch delay late.
package sampler

import (
	"fmt"
	"sync"
	"time"
	"unsafe"

	"github.com/flux-framework/power-monitor/internal/sample"
)

// Source is where samples are read: one per kind of sensor (Variorum, and
// native sources). Read may be slow; it is never called on the reactor thread.
type Source interface {
	// Name says what the source is, e.g. "variorum (/usr/lib/libvariorum.so)".
	Name() string
	// Read takes one reading of the node into r, which the caller owns
	// and passes again at every read: it holds the source's previous
	// reading, or nothing. Read sets all of it (r.Reset, then the values
	// and r.Counters), reusing its arrays, so that a read allocates
	// nothing once the layout is known. After an error r holds nothing
	// usable.
	Read(r *sample.Reading) error
}

// CSource is a Source whose reading is one call of a C function,
// int fn(char **out), that writes a string the caller frees with free():
// the clock thread calls it itself, outside Go, and enters Go only to turn
// the string into the reading (ParseC), so that no Go code waits on the
// read. A source whose CEntry returns nil is read with Read.
type CSource interface {
	Source
	// CEntry returns the C function, or nil.
	CEntry() unsafe.Pointer
	// ParseC sets r from what a call of the function returned: rc, and
	// the string js it wrote (gotString). js is C memory, freed after the
	// call: ParseC must keep nothing of it.
	ParseC(rc int, js []byte, gotString bool, r *sample.Reading) error
}

// Store is where readings go (store.Store). The reading is the sampler's,
// filled again at the next sample: Append must not keep it, or anything
// in it, beyond the call (a store that keeps it copies it).
type Store interface {
	Append(t int64, r *sample.Reading)
}

// Holder is a Store that can gather the samples handed over together: the
// sampler calls Hold before it stores a batch of samples (--batch) and
// Release after, so that they go on as one group (the exporter writes them
// to its spools in one write).
type Holder interface {
	Hold()
	Release()
}

// Stats are the sampler's counters.
type Stats struct {
	Samples     uint64  `json:"samples"`    // readings stored
	Errors      uint64  `json:"errors"`     // failed reads
	LastError   string  `json:"last_error"` // "" when the last read worked
	LastErrorAt float64 `json:"last_error_at,omitempty"`
	CostLastUs  float64 `json:"sample_cost_last_us"` // read + parse + store
	CostMeanUs  float64 `json:"sample_cost_mean_us"`
	CostMaxUs   float64 `json:"sample_cost_max_us"`
	Late        uint64  `json:"late"` // ticks skipped because a read took longer than the period
}

// Sampler reads src every period into st, on the clock thread (clock.go),
// or on a goroutine where that thread cannot be had.
type Sampler struct {
	src    Source
	st     Store
	period time.Duration
	now    func() time.Time
	// OnError is called from the sampler goroutine when the read error
	// changes (first failure, a different failure, recovery with ""), so the
	// log is not flooded at high rates. It must not call libflux directly.
	onError func(msg string)

	// r is the reading every sample is read into (the sampler's
	// goroutine only).
	r sample.Reading

	mu    sync.Mutex
	stats Stats
	costs float64 // sum of costs, µs

	clock clock // while started (clock.go)

	batch time.Duration // SetBatch
}

// New makes a sampler; Start starts it.
func New(src Source, st Store, period time.Duration, onError func(string)) *Sampler {
	if onError == nil {
		onError = func(string) {}
	}
	return &Sampler{src: src, st: st, period: period, now: time.Now, onError: onError}
}

// Once takes one sample now. The timestamp is the wall clock (the clock of
// the job's t_run and t_cleanup) at the middle of the read.
func (s *Sampler) Once() { s.once() }

// once takes one sample and returns how long it took (read, store and
// the figures), which the clock's schedule goes on from. A panic in the
// source or in a store is an error of this sample, recorded like any
// other: a bug must not take the broker down.
func (s *Sampler) once() time.Duration {
	t0 := s.now()
	err := s.readSafe(&s.r)
	t1 := s.now()
	return s.record(t0, t1, t1, err)
}

// record stores the reading s.r read from t0 to t1 (unless err), counts
// it, and returns its cost: the read's time plus the time since since.
func (s *Sampler) record(t0, t1, since time.Time, err error) time.Duration {
	if err == nil {
		s.r.ReadNs = t1.Sub(t0).Nanoseconds()
		err = s.storeSafe(t0.Add(t1.Sub(t0) / 2).UnixNano())
	}
	d := t1.Sub(t0) + s.now().Sub(since)
	cost := float64(d.Nanoseconds()) / 1e3

	s.mu.Lock()
	prev := s.stats.LastError
	if err != nil {
		s.stats.Errors++
		s.stats.LastError = err.Error()
		s.stats.LastErrorAt = float64(t0.UnixNano()) / 1e9
	} else {
		s.stats.Samples++
		s.stats.LastError = ""
	}
	n := s.stats.Samples + s.stats.Errors
	s.costs += cost
	s.stats.CostLastUs = cost
	s.stats.CostMeanUs = s.costs / float64(n)
	if cost > s.stats.CostMaxUs {
		s.stats.CostMaxUs = cost
	}
	cur := s.stats.LastError
	s.mu.Unlock()

	if cur != prev {
		s.onError(cur)
	}
	return d
}

// storeSafe appends the reading taken at ts to the stores, a panic in one
// of them returned as the sample's error.
func (s *Sampler) storeSafe(ts int64) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("sample panicked: %v", v)
		}
	}()
	s.st.Append(ts, &s.r)
	return nil
}

// readSafe turns a panic in a source into an error: a source bug must not
// take the broker down.
func (s *Sampler) readSafe(r *sample.Reading) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicError{v}
		}
	}()
	return s.src.Read(r)
}

// parseCSafe is readSafe for a reading made by the clock thread's C call.
func (s *Sampler) parseCSafe(c CSource, rc int, js []byte, gotString bool) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicError{v}
		}
	}()
	return c.ParseC(rc, js, gotString, &s.r)
}

type panicError struct{ v any }

func (p panicError) Error() string { return "source panicked: " + fmtAny(p.v) }

// SetBatch lets the clock thread hold readings of a CSource back for up to
// d (and up to 100 readings) and store them together; 0, or d below the
// period, stores each at once. Before Start.
func (s *Sampler) SetBatch(d time.Duration) { s.batch = d }

// Flush stores the readings the clock holds back (SetBatch); every reader
// of the store that must see the samples taken so far calls it first.
// Only on the goroutine that starts and stops the sampler (the module's
// reactor); the readings are stored on the caller's thread.
func (s *Sampler) Flush() {
	if f, ok := s.clock.(interface{ flush() }); ok {
		f.flush()
	}
}

// Stats returns a copy of the counters.
func (s *Sampler) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Source returns the source being read.
func (s *Sampler) Source() Source { return s.src }

// Retarget changes what the sampler reads, where it stores and how often
// (a configuration reload), between a Stop and the next Start; its counters
// go on. The readings held back were stored by Stop.
func (s *Sampler) Retarget(src Source, st Store, period time.Duration) {
	if s.clock != nil {
		panic("sampler: Retarget while sampling")
	}
	s.src, s.st, s.period = src, st, period
}
