// SPDX-License-Identifier: LGPL-3.0-only

//go:build cgo && linux

package sampler

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/flux-framework/power-monitor/internal/read/sampler/ctestsrc"
	"github.com/flux-framework/power-monitor/internal/sample"
)

// cSource is a CSource on ctestsrc's C function: the clock thread calls it
// in C (CEntry, ParseC), and Read calls it from Go, as Variorum's does.
type cSource struct{ noEntry bool }

func (c *cSource) Name() string { return "ctest" }
func (c *cSource) Read(r *sample.Reading) error {
	rc, js := ctestsrc.Call()
	return c.ParseC(rc, js, js != nil, r)
}
func (c *cSource) CEntry() unsafe.Pointer {
	if c.noEntry {
		return nil
	}
	return ctestsrc.Entry()
}
func (c *cSource) ParseC(rc int, js []byte, gotString bool, r *sample.Reading) error {
	if rc != 0 || !gotString {
		return fmt.Errorf("ctest returned %d", rc)
	}
	var v struct{ N int }
	if err := json.Unmarshal(js, &v); err != nil {
		return err
	}
	r.Reset(sample.Layout{})
	r.Node = float64(v.N)
	return nil
}

// nodeStore keeps every sample's time and node watts (the call's number).
type nodeStore struct {
	mu   sync.Mutex
	ts   []int64
	node []float64
}

func (s *nodeStore) Append(t int64, r *sample.Reading) {
	s.mu.Lock()
	s.ts = append(s.ts, t)
	s.node = append(s.node, r.Node)
	s.mu.Unlock()
}

func (s *nodeStore) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ts)
}

// runC samples ctestsrc until it was called at least n times, and stops.
func runC(t *testing.T, src *cSource, batch time.Duration, failEvery, n int) (*Sampler, *nodeStore) {
	t.Helper()
	ctestsrc.Reset(failEvery)
	st := &nodeStore{}
	s := startC(src, st, time.Millisecond, batch, n)
	s.Stop()
	return s, st
}

// startC starts sampling src into st every period, holding readings back
// for up to batch, and returns once src was called at least n times.
func startC(src *cSource, st Store, period, batch time.Duration, n int) *Sampler {
	s := New(src, st, period, nil)
	s.SetBatch(batch)
	s.Start()
	for ctestsrc.Calls() < n {
		time.Sleep(time.Millisecond)
	}
	return s
}

// checkRun: every call is a sample stored, in the order of the calls and
// with times that do not go back, or (every failEvery-th) an error
// counted; SIGCHLD was blocked at every call made in C (from Go, Read,
// the first is not: TestClockThreadBlocksSIGCHLD).
func checkRun(t *testing.T, s *Sampler, st *nodeStore, failEvery int) {
	t.Helper()
	calls := ctestsrc.Calls()
	wantErr := 0
	if failEvery > 0 {
		wantErr = calls / failEvery
	}
	stats := s.Stats()
	if int(stats.Samples) != calls-wantErr || int(stats.Errors) != wantErr {
		t.Fatalf("%d calls: stats %+v, want %d samples and %d errors", calls, stats, calls-wantErr, wantErr)
	}
	if len(st.ts) != calls-wantErr {
		t.Fatalf("%d calls: %d samples stored, want %d", calls, len(st.ts), calls-wantErr)
	}
	want := 1
	for i, v := range st.node {
		if failEvery > 0 && want%failEvery == 0 {
			want++
		}
		if v != float64(want) {
			t.Fatalf("sample %d is call %g, want call %d (%v)", i, v, want, st.node)
		}
		if i > 0 && st.ts[i] < st.ts[i-1] {
			t.Fatalf("sample %d at %d, before sample %d at %d", i, st.ts[i], i-1, st.ts[i-1])
		}
		want++
	}
	if failEvery > 0 && !strings.Contains(stats.LastError, "ctest returned -7") && stats.LastError != "" {
		t.Fatalf("last error %q", stats.LastError)
	}
	allowed := 0
	if s.src.(*cSource).noEntry {
		allowed = 1
	}
	if u := ctestsrc.Unblocked(); u > allowed {
		t.Fatalf("%d of %d calls ran with SIGCHLD unblocked", u, calls)
	}
}

// The three ways of reading a C source store the same: Read from Go, the
// clock thread's call handed over at once, and held back in batches (250
// calls: two full batches and a part that only Stop stores).
func TestCSourcePathsStoreTheSame(t *testing.T) {
	for _, c := range []struct {
		name  string
		src   *cSource
		batch time.Duration
	}{
		{"read", &cSource{noEntry: true}, time.Hour},
		{"c", &cSource{}, 0},
		{"c-batch", &cSource{}, time.Hour},
	} {
		for _, failEvery := range []int{0, 3} {
			t.Run(fmt.Sprintf("%s/fail-every-%d", c.name, failEvery), func(t *testing.T) {
				s, st := runC(t, c.src, c.batch, failEvery, 250)
				checkRun(t, s, st, failEvery)
			})
		}
	}
}

// Held back, a reading reaches the store only in a full batch (100) until
// Flush, which stores every reading taken before it.
func TestFlushStoresEveryReadingTaken(t *testing.T) {
	ctestsrc.Reset(0)
	st := &nodeStore{}
	s := startC(&cSource{}, st, time.Millisecond, time.Hour, 5)
	if n := st.len(); n%batchK != 0 {
		s.Stop()
		t.Fatalf("%d samples stored before Flush, want whole batches of %d", n, batchK)
	}
	before := ctestsrc.Calls()
	s.Flush()
	n := st.len()
	s.Stop()
	if n < before {
		t.Fatalf("%d calls before Flush, %d samples stored after it", before, n)
	}
	checkRun(t, s, st, 0)
}

// A panic in a store while a batch is stored fails that one sample; the
// rest of the batch is stored.
func TestPanicInABatchFailsOneSample(t *testing.T) {
	ctestsrc.Reset(0)
	st := &panicStore{}
	s := startC(&cSource{}, st, time.Millisecond, time.Hour, 150)
	s.Stop()
	calls := ctestsrc.Calls()
	if stats := s.Stats(); stats.Errors != 1 || int(stats.Samples) != calls-1 || st.n != calls {
		t.Fatalf("%d calls, %d appends: stats %+v, want 1 error and %d samples", calls, st.n, stats, calls-1)
	}
}

// slowStore takes 3.5 periods of 10 ms to store a sample.
type slowStore struct{ nodeStore }

func (s *slowStore) Append(t int64, r *sample.Reading) {
	time.Sleep(35 * time.Millisecond)
	s.nodeStore.Append(t, r)
}

// A sample whose store ends past the next due time makes the clock skip
// the due times more than half a period past and count them as late, on
// both paths: the Go tick (Read), and the clock thread's C call, stored at
// once (a batch's store likewise ends the sample that filled it).
func TestSlowStoreSkipsDueTimesAsLate(t *testing.T) {
	for _, c := range []struct {
		name  string
		src   *cSource
		batch time.Duration
	}{
		{"read", &cSource{noEntry: true}, 0},
		{"c", &cSource{}, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctestsrc.Reset(0)
			st := &slowStore{}
			s := startC(c.src, st, 10*time.Millisecond, c.batch, 5)
			s.Stop()
			stats := s.Stats()
			// each sample ends at least 35 ms after it was due, when the
			// next was due 25 ms before: at least 2 due times skipped
			if min := 2 * (stats.Samples - 1); stats.Late < min {
				t.Fatalf("%d samples: %d late, want at least %d", stats.Samples, stats.Late, min)
			}
		})
	}
}
