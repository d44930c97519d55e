// SPDX-License-Identifier: LGPL-3.0-only

package sampler

import "time"

// A clock calls tick once per period until stopped: on a thread of its own
// in C where cgo is built (clock_cgo.go), else on a goroutine with a timer
// (goClock). Both keep the same schedule.
type clock interface {
	// stop stops the clock and waits for a tick in progress to end.
	stop()
}

// Start takes a first sample at once, then one every period.
func (s *Sampler) Start() {
	if s.clock != nil {
		return
	}
	s.clock = startClock(s)
}

// Stop stops sampling and waits for a sample in progress to end: after it
// returns, every sample taken has reached the store and none is taken
// again. A second Stop does nothing.
func (s *Sampler) Stop() {
	if s.clock == nil {
		return
	}
	s.clock.stop()
	s.clock = nil
}

// schedule keeps the times samples are due: the start, then one every
// period after it, in the clock's own nanoseconds.
type schedule struct {
	period int64
	next   int64 // when the next sample is due
}

func newSchedule(period time.Duration, start int64) schedule {
	if period <= 0 {
		period = time.Nanosecond
	}
	return schedule{period: int64(period), next: start}
}

// advance is told that the sample due at sc.next ended at now, and returns
// when the next one is due and how many were skipped. A sample that ends
// up to half a period after the next due time is followed at once by the
// next (no tick is lost); later than that, the due times more than half a
// period past are skipped and counted as late, so samples stay on the
// period's grid.
func (sc *schedule) advance(now int64) (next int64, late uint64) {
	sc.next += sc.period
	if d := now - sc.next; d > 0 {
		if k := (d + sc.period/2 - 1) / sc.period; k > 0 {
			sc.next += k * sc.period
			late = uint64(k)
		}
	}
	return sc.next, late
}

// tick takes the sample due now and returns when the next is due (in the
// clock's nanoseconds, where now is the time the clock woke); it counts
// the ticks skipped. The sample's own duration says when it ended.
func (s *Sampler) tick(sc *schedule, now int64) int64 {
	next, late := sc.advance(now + int64(s.once()))
	if late > 0 {
		s.mu.Lock()
		s.stats.Late += late
		s.mu.Unlock()
	}
	return next
}

// goClock ticks on a goroutine, sleeping on a Go timer between ticks: the
// clock of builds without cgo, and of tests.
type goClock struct {
	quit chan struct{}
	done chan struct{}
}

func startGoClock(s *Sampler) *goClock {
	c := &goClock{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		base := time.Now()
		sc := newSchedule(s.period, 0)
		timer := time.NewTimer(0)
		defer timer.Stop()
		for {
			select {
			case <-c.quit:
				return
			case <-timer.C:
			}
			next := s.tick(&sc, int64(time.Since(base)))
			timer.Reset(time.Duration(next - int64(time.Since(base))))
		}
	}()
	return c
}

func (c *goClock) stop() {
	close(c.quit)
	<-c.done
}
