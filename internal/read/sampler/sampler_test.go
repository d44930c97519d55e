// SPDX-License-Identifier: LGPL-3.0-only

package sampler

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
)

type fakeSource struct {
	mu    sync.Mutex
	errs  []error // returned in turn; nil: a good reading
	n     int
	panic bool
}

func (f *fakeSource) Name() string { return "fake" }
func (f *fakeSource) Read(r *sample.Reading) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.panic {
		panic("boom")
	}
	var err error
	if f.n < len(f.errs) {
		err = f.errs[f.n]
	}
	f.n++
	if err != nil {
		return err
	}
	r.Reset(sample.Layout{CPU: 1})
	r.Node, r.CPU[0] = 100, 50
	return nil
}

type fakeStore struct {
	mu sync.Mutex
	ts []int64
}

func (s *fakeStore) Append(t int64, r *sample.Reading) {
	s.mu.Lock()
	s.ts = append(s.ts, t)
	s.mu.Unlock()
}

// waitFor waits until the store has n samples, or d has passed.
func (s *fakeStore) waitFor(n int, d time.Duration) {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		got := len(s.ts)
		s.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOnceCountsAndReportsErrorChanges(t *testing.T) {
	e1 := errors.New("variorum: -1")
	src := &fakeSource{errs: []error{nil, e1, e1, nil}}
	st := &fakeStore{}
	var reported []string
	s := New(src, st, time.Second, func(m string) { reported = append(reported, m) })
	for i := 0; i < 4; i++ {
		s.Once()
	}
	got := s.Stats()
	if got.Samples != 2 || got.Errors != 2 {
		t.Fatalf("samples=%d errors=%d, want 2 and 2", got.Samples, got.Errors)
	}
	if len(st.ts) != 2 {
		t.Fatalf("stored %d readings, want 2", len(st.ts))
	}
	// Reported: the first failure, then the recovery; not the repeat.
	if len(reported) != 2 || reported[0] != e1.Error() || reported[1] != "" {
		t.Fatalf("reported %q, want [%q \"\"]", reported, e1.Error())
	}
	if got.LastError != "" {
		t.Fatalf("last error %q after recovery", got.LastError)
	}
	if got.CostMaxUs < got.CostMeanUs || got.CostMeanUs <= 0 {
		t.Fatalf("costs: mean %v max %v", got.CostMeanUs, got.CostMaxUs)
	}
}

func TestTimestampIsWallClockMidRead(t *testing.T) {
	st := &fakeStore{}
	s := New(&fakeSource{}, st, time.Second, nil)
	base := time.Unix(1700000000, 0)
	calls := 0
	s.now = func() time.Time { calls++; return base.Add(time.Duration(calls-1) * 10 * time.Millisecond) }
	s.Once()
	// reads at +0 and +10ms: the stamp is +5ms
	if want := base.Add(5 * time.Millisecond).UnixNano(); st.ts[0] != want {
		t.Fatalf("timestamp %d, want %d", st.ts[0], want)
	}
}

func TestPanickingSourceIsAnError(t *testing.T) {
	s := New(&fakeSource{panic: true}, &fakeStore{}, time.Second, nil)
	s.Once()
	if st := s.Stats(); st.Errors != 1 || !strings.Contains(st.LastError, "panicked: boom") {
		t.Fatalf("stats %+v", st)
	}
}

func TestStartStop(t *testing.T) {
	st := &fakeStore{}
	s := New(&fakeSource{}, st, 10*time.Millisecond, nil)
	s.Start()
	st.waitFor(3, 5*time.Second)
	s.Stop()
	st.mu.Lock()
	n := len(st.ts)
	st.mu.Unlock()
	if n < 3 {
		t.Fatalf("only %d samples taken", n)
	}
	time.Sleep(30 * time.Millisecond)
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.ts) != n {
		t.Fatalf("sampling went on after Stop: %d -> %d", n, len(st.ts))
	}
	s.Stop() // a second Stop is harmless
}

// Retarget, between Stop and Start, changes the source, the store and the
// period; the counters go on. While sampling it refuses.
func TestRetarget(t *testing.T) {
	a, b := &fakeStore{}, &fakeStore{}
	s := New(&fakeSource{}, a, time.Hour, nil)
	s.Once()
	s.Once()
	src := &fakeSource{errs: []error{errors.New("new source fails once")}}
	s.Retarget(src, b, 10*time.Millisecond)
	s.Start()
	b.waitFor(3, 5*time.Second)
	func() {
		defer func() {
			if recover() == nil {
				t.Error("Retarget while sampling did not panic")
			}
		}()
		s.Retarget(&fakeSource{}, a, time.Second)
	}()
	s.Stop()
	st := s.Stats()
	b.mu.Lock()
	defer b.mu.Unlock()
	// at 10 ms (not an hour): at least 3 samples in b, a kept its 2
	if len(a.ts) != 2 || len(b.ts) < 3 || st.Samples != uint64(2+len(b.ts)) || st.Errors != 1 {
		t.Fatalf("a %d, b %d, stats %+v", len(a.ts), len(b.ts), st)
	}
}
