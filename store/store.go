// Package store keeps the power samples of one rank in a fixed-size
// circular buffer and aggregates them over time windows.
//
// The ring is compact: the timestamps are int64 unix nanoseconds in one
// slice, the values float32 watts in one flat slice of layout.Columns()
// values per sample (node, then CPU, memory and GPU values in index order).
// Both are allocated at the first Append, when the layout is known; 2
// sockets with CPU and memory domains and 4 GPUs take 8 + 9*4 = 44 bytes per
// sample. A value that is not measured (NaN, negative as Variorum reports it,
// or infinite) is stored as NaN.
//
// A Store is safe for one writer goroutine and any number of concurrent
// readers. The package keeps no package-level mutable state.
package store

import (
	"math"
	"sync"
	"time"

	"github.com/flux-framework/power-monitor/aggregate"
	"github.com/flux-framework/power-monitor/sample"
)

// Store is the ring of one rank's samples. Create it with New.
type Store struct {
	capacity int
	period   time.Duration

	mu          sync.RWMutex
	set         bool // layout fixed by the first Append
	layout      sample.Layout
	stride      int
	nodeDerived bool
	times       []int64   // capacity timestamps, unix ns
	vals        []float32 // capacity*stride values
	head        int       // slot of the next Append
	n           int       // samples held
	last        int64     // time of the newest sample

	total             uint64 // samples ever appended
	overwritten       uint64 // samples lost to the ring wrapping
	newestOverwritten int64  // time of the sample overwritten last
	firstEver         int64  // time of the first sample ever appended
	mismatch          uint64 // readings whose layout differed from the ring's
	descents          int    // pairs held whose time decreases (clock stepped back)
}

// Stats describes a store.
type Stats struct {
	Len            int     `json:"len"`              // samples held
	Cap            int     `json:"cap"`              // capacity in samples
	BytesUsed      int64   `json:"bytes_used"`       // bytes of the ring's backing arrays
	BytesPerSample float64 `json:"bytes_per_sample"` // BytesUsed / Cap, 0 before the first Append
	Oldest         int64   `json:"oldest"`           // unix ns of the oldest sample held, 0 if empty
	Newest         int64   `json:"newest"`           // unix ns of the newest sample held, 0 if empty
	Total          uint64  `json:"total"`            // samples ever appended
	Overwritten    uint64  `json:"overwritten"`      // samples lost to the ring wrapping
	FirstEver      int64   `json:"first_ever"`       // unix ns of the first sample ever appended, 0 if none
	LayoutMismatch uint64  `json:"layout_mismatch"`  // readings mapped to the ring's layout by index
}

// New makes a ring of capacity samples (at least 1); period is the sampling
// period, which Window uses for its gap and edge rules. Memory for the ring
// is allocated at the first Append.
func New(capacity int, period time.Duration) *Store {
	return &Store{capacity: max(capacity, 1), period: period}
}

// Append stores one reading taken at wall-clock time t (unix ns). The
// layout is fixed by the first Append; a later reading with another layout
// is mapped by index (missing values are NaN, extra ones are ignored) and
// counted in Stats().LayoutMismatch. Append does not allocate after the
// first call.
func (s *Store) Append(t int64, r *sample.Reading) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.set {
		s.set = true
		s.layout = r.Layout()
		s.stride = s.layout.Columns()
		s.times = make([]int64, s.capacity)
		s.vals = make([]float32, s.capacity*s.stride)
		s.firstEver = t
	} else if r.Layout() != s.layout {
		s.mismatch++
	}
	s.nodeDerived = r.NodeDerived

	pos := s.head
	if s.n == s.capacity { // overwrite the oldest sample, at pos
		s.overwritten++
		s.newestOverwritten = s.times[pos]
		if s.capacity > 1 && s.times[(pos+1)%s.capacity] < s.times[pos] {
			s.descents-- // the pair (oldest, second oldest) leaves the ring
		}
	} else {
		s.n++
	}
	if s.n > 1 && t < s.last {
		s.descents++ // the pair (newest, t) enters the ring
	}

	s.times[pos] = t
	l, st := s.layout, s.stride
	row := s.vals[pos*st : pos*st+st]
	row[0] = value(r.Node)
	k := 1
	k = copyValues(row[k:k+l.CPU], r.CPU, k)
	k = copyValues(row[k:k+l.Mem], r.Mem, k)
	copyValues(row[k:k+l.GPU], r.GPU, k)

	s.head = pos + 1
	if s.head == s.capacity {
		s.head = 0
	}
	s.last = t
	s.total++
}

// copyValues maps vs by index onto dst (missing -> NaN, extra ignored) and
// returns k + len(dst).
func copyValues(dst []float32, vs []float64, k int) int {
	for i := range dst {
		if i < len(vs) {
			dst[i] = value(vs[i])
		} else {
			dst[i] = float32(math.NaN())
		}
	}
	return k + len(dst)
}

// value is v as stored: NaN unless it is a measured, finite value.
func value(v float64) float32 {
	if !sample.Measured(v) || math.IsInf(v, 0) {
		return float32(math.NaN())
	}
	return float32(v)
}

// Layout returns the layout fixed by the first Append; set is false before.
func (s *Store) Layout() (l sample.Layout, set bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.layout, s.set
}

// NodeDerived reports whether the newest reading's node power was derived
// from its components (the platform cannot measure the node).
func (s *Store) NodeDerived() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nodeDerived
}

// Period is the sampling period given to New.
func (s *Store) Period() time.Duration { return s.period }

// Stats returns the store's figures.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Stats{
		Len:            s.n,
		Cap:            s.capacity,
		BytesUsed:      int64(cap(s.times))*8 + int64(cap(s.vals))*4,
		Total:          s.total,
		Overwritten:    s.overwritten,
		FirstEver:      s.firstEver,
		LayoutMismatch: s.mismatch,
	}
	if st.BytesUsed > 0 {
		st.BytesPerSample = float64(st.BytesUsed) / float64(s.capacity)
	}
	if s.n > 0 {
		st.Oldest = s.times[s.oldest()]
		st.Newest = s.last
	}
	return st
}

// oldest is the slot of the oldest sample.
func (s *Store) oldest() int {
	if s.n < s.capacity {
		return 0
	}
	return s.head
}

// Window aggregates the samples over [t0, t1] (unix ns); see package
// aggregate for the semantics. Readers share the lock; Append waits for
// them.
func (s *Store) Window(t0, t1 int64) aggregate.Result {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ser := s.series()
	return aggregate.Window(&ser, t0, t1)
}

// series is the view of the ring for package aggregate; the caller holds
// the lock while it is used.
func (s *Store) series() aggregate.Series {
	ser := aggregate.Series{
		Layout:      s.layout,
		NodeDerived: s.nodeDerived,
		Period:      s.period,
		Ordered:     s.descents == 0,
		Info: aggregate.StreamInfo{
			FirstEver:         s.firstEver,
			Overwritten:       s.overwritten,
			NewestOverwritten: s.newestOverwritten,
		},
	}
	st := s.stride
	if o := s.oldest(); o == 0 {
		ser.Times[0] = s.times[:s.n]
		ser.Values[0] = s.vals[:s.n*st]
	} else { // full and wrapped: [o, cap) then [0, o)
		ser.Times[0], ser.Times[1] = s.times[o:], s.times[:o]
		ser.Values[0], ser.Values[1] = s.vals[o*st:], s.vals[:o*st]
	}
	return ser
}
