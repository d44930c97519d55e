// SPDX-License-Identifier: LGPL-3.0-only

package ring

import (
	"runtime"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/flux-framework/power-monitor/internal/store/aggregate"
)

// TestRingOffHeap: a 1,000,000-sample ring (44 MB, and 56 MB of counters)
// is not on the Go heap, and its pages are resident from the first Append.
func TestRingOffHeap(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := New(1_000_000, time.Second)
	defer s.Close()
	s.Append(sec, counted(reading224(0), 5, []float64{1, 2}, nil, []float64{1, 2, 3, 4}))
	runtime.ReadMemStats(&after)
	st := s.Stats()
	if want := int64(1_000_000 * 100); st.BytesUsed != want {
		t.Errorf("BytesUsed %d, want %d", st.BytesUsed, want)
	}
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Errorf("the heap grew by %d bytes for a ring of %d", grew, st.BytesUsed)
	}
	for name, m := range map[string]mapping{"times": s.maps.times, "vals": s.maps.vals, "energy": s.maps.energy} {
		if m.heap || m.b == nil {
			t.Fatalf("%s: not mapped (heap %v)", name, m.heap)
		}
		page := unix.Getpagesize()
		vec := make([]byte, (len(m.b)+page-1)/page)
		if _, _, err := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m.b[0])), uintptr(len(m.b)), uintptr(unsafe.Pointer(&vec[0]))); err != 0 {
			t.Fatalf("%s: mincore: %v", name, err)
		}
		out := 0
		for _, v := range vec {
			if v&1 == 0 {
				out++
			}
		}
		if out > 0 {
			t.Errorf("%s: %d of %d pages not resident", name, out, len(vec))
		}
	}
}

func TestClose(t *testing.T) {
	s := New(10, time.Second)
	for i := int64(1); i <= 12; i++ {
		s.Append(i*sec, counted(reading224(0), 5, []float64{1, 2}, nil, []float64{1, 2, 3, 4}))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.Len != 0 || st.BytesUsed != 0 || st.BytesPerSample != 0 || st.Oldest != 0 || st.Newest != 0 || st.Cap != 10 {
		t.Errorf("stats after Close: %+v", st)
	}
	if r := s.Window(0, 20*sec); r.Presence != aggregate.PresenceNone || r.Samples != 0 {
		t.Errorf("window after Close: %+v", r)
	}
	if whole, buckets := s.Series(0, 20*sec, 4); whole.Samples != 0 || len(buckets) != 4 || buckets[1].Samples != 0 {
		t.Errorf("series after Close: %+v %+v", whole, buckets)
	}
	s.Append(13*sec, reading224(0))
	if st := s.Stats(); st.Len != 0 || st.BytesUsed != 0 {
		t.Errorf("Append after Close stored: %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// Closed before the first Append: the Append allocates nothing.
	s = New(10, time.Second)
	s.Close()
	s.Append(sec, reading224(0))
	if st := s.Stats(); st.Len != 0 || st.BytesUsed != 0 || s.maps.times.b != nil {
		t.Errorf("Append after Close stored: %+v", st)
	}
}

// TestCloseConcurrent closes a store that readers are reading and the
// writer writing. Run with -race.
func TestCloseConcurrent(t *testing.T) {
	s := New(1000, time.Second)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				st := s.Stats()
				s.Window(st.Oldest, st.Newest)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := int64(1); ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			s.Append(i*sec, reading224(int(i)))
		}
	}()
	time.Sleep(20 * time.Millisecond)
	s.Close()
	close(stop)
	wg.Wait()
	if st := s.Stats(); st.Len != 0 {
		t.Errorf("stats after Close: %+v", st)
	}
}
