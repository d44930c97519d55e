// SPDX-License-Identifier: LGPL-3.0-only

//go:build cgo && linux

package sampler

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
)

// maskSource records, at each Read, whether the reading thread has SIGCHLD
// blocked (/proc/thread-self/status, SigBlk).
type maskSource struct {
	mu      sync.Mutex
	blocked []bool
	err     error
}

func (m *maskSource) Name() string { return "mask" }
func (m *maskSource) Read(r *sample.Reading) error {
	b, err := os.ReadFile("/proc/thread-self/status")
	m.mu.Lock()
	defer m.mu.Unlock()
	if err != nil {
		m.err = err
		return err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "SigBlk:"); ok {
			mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				m.err = err
			}
			m.blocked = append(m.blocked, mask&(1<<(syscall.SIGCHLD-1)) != 0)
		}
	}
	r.Reset(sample.Layout{})
	r.Node = 1
	return nil
}

// The clock thread must never take SIGCHLD (the broker reads it from a
// signalfd): Go unblocks it when the thread first enters Go, and the thread
// blocks it again after each sample, so from the second sample on it is
// blocked while the thread sleeps and samples.
func TestClockThreadBlocksSIGCHLD(t *testing.T) {
	src := &maskSource{}
	s := New(src, &fakeStore{}, time.Millisecond, nil)
	s.Start()
	for {
		src.mu.Lock()
		n := len(src.blocked)
		src.mu.Unlock()
		if n >= 3 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	s.Stop()
	if src.err != nil {
		t.Fatal(src.err)
	}
	for i, b := range src.blocked[1:] {
		if !b {
			t.Fatalf("sample %d read with SIGCHLD unblocked (samples: %v)", i+2, src.blocked)
		}
	}
}
