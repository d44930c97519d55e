// SPDX-License-Identifier: LGPL-3.0-only

//go:build cgo

package sampler

/*
#cgo LDFLAGS: -lpthread
#include <stddef.h>
#include <stdint.h>

// pm_pending is one reading the clock thread took and holds back.
struct pm_pending {
	int rc;
	char *out;
	size_t len;
	int64_t t0, t1; // CLOCK_REALTIME ns around the call
};

struct pm_clock;
struct pm_clock *pm_clock_start (uintptr_t h, void *fn, int64_t period, int k, int64_t f, int *err);
void pm_clock_flush (struct pm_clock *c);
void pm_clock_stop (struct pm_clock *c);
int64_t pm_mono (void);
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
	"syscall"
	"time"
	"unsafe"
)

// threadClock ticks on a thread of its own, created in C with every signal
// blocked, that sleeps until each due time on CLOCK_MONOTONIC and calls
// into Go for the sample. Between samples the Go runtime has nothing to
// wake for: no timer, no goroutine to hand over to (see the package doc).
type threadClock struct {
	c *C.struct_pm_clock
	h cgo.Handle
}

// clockState is what the C thread's calls reach through their handle.
type clockState struct {
	s  *Sampler
	sc schedule
}

func startClock(s *Sampler) clock {
	st := &clockState{s: s}
	st.sc = newSchedule(s.period, int64(C.pm_mono()))
	var fn unsafe.Pointer
	if cs, ok := s.src.(CSource); ok {
		fn = cs.CEntry()
	}
	h := cgo.NewHandle(st)
	var e C.int
	// A CSource's readings are kept by the C thread until stored: up to
	// batchK, none for longer than s.batch (SetBatch); k 1 stores each
	// at once.
	k := 1
	if s.batch >= s.period {
		k = batchK
	}
	c := C.pm_clock_start(C.uintptr_t(h), fn, C.int64_t(st.sc.period), C.int(k), C.int64_t(s.batch), &e)
	if c == nil {
		// No thread (resource limits): sample on a goroutine instead.
		h.Delete()
		s.onError("sampler: cannot start its thread (" + syscall.Errno(e).Error() + "); sampling on a goroutine")
		s.onError("")
		return startGoClock(s)
	}
	return &threadClock{c: c, h: h}
}

// batchK is how many readings the clock thread holds back at most.
const batchK = 100

// flush stores the readings held back.
func (c *threadClock) flush() { C.pm_clock_flush(c.c) }

func (c *threadClock) stop() {
	C.pm_clock_stop(c.c)
	c.h.Delete()
}

//export pmSamplerTick
func pmSamplerTick(h C.uintptr_t, now C.int64_t) (next C.int64_t) {
	st := cgo.Handle(h).Value().(*clockState)
	defer func() {
		// A panic must not reach C (it would abort the host); tick
		// recovers the sample's own, this is the last guard.
		if v := recover(); v != nil {
			st.s.onError(fmt.Sprintf("sampler clock panicked: %v", v))
			next = now + C.int64_t(st.sc.period)
		}
	}()
	return C.int64_t(st.s.tick(&st.sc, int64(now)))
}

// recordC stores one reading the clock thread held back; a panic (in the
// parse or a store) is that sample's error (parseCSafe, storeSafe), and
// the batch goes on.
func (s *Sampler) recordC(cs CSource, e *C.struct_pm_pending) {
	var js []byte
	if e.out != nil {
		js = unsafe.Slice((*byte)(unsafe.Pointer(e.out)), int(e.len))
	}
	start := time.Now()
	err := s.parseCSafe(cs, int(e.rc), js, e.out != nil)
	s.record(time.Unix(0, int64(e.t0)), time.Unix(0, int64(e.t1)), start, err)
}

// pmSamplerBatch stores the n readings the clock thread held back, in
// order, and counts the late ticks it skipped.
//
//export pmSamplerBatch
func pmSamplerBatch(h C.uintptr_t, p *C.struct_pm_pending, n C.int, late C.uint64_t) {
	st := cgo.Handle(h).Value().(*clockState)
	defer func() {
		if v := recover(); v != nil {
			st.s.onError(fmt.Sprintf("sampler clock panicked: %v", v))
		}
	}()
	s := st.s
	cs := s.src.(CSource)
	if h, ok := s.st.(Holder); ok && n > 1 {
		h.Hold()
		defer h.Release()
	}
	for _, e := range unsafe.Slice(p, int(n)) {
		s.recordC(cs, &e)
	}
	if late > 0 {
		s.mu.Lock()
		s.stats.Late += uint64(late)
		s.mu.Unlock()
	}
}
