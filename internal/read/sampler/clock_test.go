// SPDX-License-Identifier: LGPL-3.0-only

package sampler

import (
	"sync"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
)

func TestScheduleAdvance(t *testing.T) {
	const p = 100
	for _, c := range []struct {
		name  string
		ends  int64 // the sample due at 1000 ends at
		next  int64
		late  uint64
		later int64 // then the one due at next ends at next+1: the one after is due at
	}{
		{"on time", 1010, 1100, 0, 1200},
		{"ends just at the next", 1100, 1100, 0, 1200},
		{"up to half a period late: next at once", 1150, 1100, 0, 1200},
		{"more: one skipped", 1151, 1200, 1, 1300},
		{"two and a half periods: one skipped, the next at once", 1250, 1200, 1, 1300},
		{"long read", 1000 + 10*p, 2000, 9, 2100},
	} {
		sc := newSchedule(p, 1000)
		next, late := sc.advance(c.ends)
		if next != c.next || late != c.late {
			t.Errorf("%s: next %d late %d, want %d and %d", c.name, next, late, c.next, c.late)
		}
		if n, l := sc.advance(next + 1); n != c.later || l != 0 {
			t.Errorf("%s: then next %d late %d, want %d and 0", c.name, n, l, c.later)
		}
	}
}

// blockingSource's Read waits for a value on release (after the first).
type blockingSource struct {
	entered chan struct{}
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func (b *blockingSource) Name() string { return "blocking" }
func (b *blockingSource) Read(r *sample.Reading) error {
	b.mu.Lock()
	b.n++
	n := b.n
	b.mu.Unlock()
	if n == 2 {
		close(b.entered)
		<-b.release
	}
	r.Reset(sample.Layout{})
	r.Node = 1
	return nil
}

func testStopWaitsForTheSample(t *testing.T, start func(*Sampler) clock) {
	src := &blockingSource{entered: make(chan struct{}), release: make(chan struct{})}
	st := &fakeStore{}
	s := New(src, st, time.Millisecond, nil)
	s.clock = start(s)
	<-src.entered // the second sample is being read
	stopped := make(chan struct{})
	go func() { s.Stop(); close(stopped) }()
	select {
	case <-stopped:
		t.Fatal("Stop returned during a sample")
	default:
	}
	close(src.release)
	<-stopped
	// Every sample taken is stored: the second, which Stop waited for,
	// and a third where the clock began it before Stop was called (the
	// goroutine above may run after the release).
	counts := func() (taken, stored int) {
		src.mu.Lock()
		taken = src.n
		src.mu.Unlock()
		st.mu.Lock()
		stored = len(st.ts)
		st.mu.Unlock()
		return taken, stored
	}
	taken, stored := counts()
	if stored < 2 || stored != taken {
		t.Fatalf("%d samples taken, %d stored: want every one taken stored, at least 2", taken, stored)
	}
	// and none is taken after Stop returned
	time.Sleep(20 * time.Millisecond)
	if t2, s2 := counts(); t2 != taken || s2 != stored {
		t.Fatalf("after Stop: %d samples taken, %d stored; want %d, %d", t2, s2, taken, stored)
	}
}

func TestStopWaitsForTheSample(t *testing.T) {
	t.Run("thread", func(t *testing.T) { testStopWaitsForTheSample(t, startClock) })
	t.Run("goroutine", func(t *testing.T) {
		testStopWaitsForTheSample(t, func(s *Sampler) clock { return startGoClock(s) })
	})
}

// A panic outside the source's Read (here in the store) is a failed sample,
// and sampling goes on.
type panicStore struct{ n int }

func (p *panicStore) Append(int64, *sample.Reading) {
	p.n++
	if p.n == 1 {
		panic("store bug")
	}
}

func TestPanicInTheSampleIsAnError(t *testing.T) {
	var msgs []string
	var mu sync.Mutex
	s := New(&fakeSource{}, &panicStore{}, time.Millisecond, func(m string) {
		mu.Lock()
		msgs = append(msgs, m)
		mu.Unlock()
	})
	sc := newSchedule(time.Millisecond, 0)
	s.tick(&sc, 0)
	s.tick(&sc, int64(time.Millisecond))
	st := s.Stats()
	if st.Errors != 1 || st.Samples != 1 {
		t.Fatalf("stats %+v, want 1 error then 1 sample", st)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(msgs) < 1 || msgs[0] != "sample panicked: store bug" {
		t.Fatalf("reported %q", msgs)
	}
}
