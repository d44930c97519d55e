// SPDX-License-Identifier: LGPL-3.0-only

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
// Energy counters (sample.Energy: cumulative joules) are kept beside the
// power values, as float64 so that one RAPL unit (1 uJ) stays exact, in a
// third flat slice of one value per counted column per sample. Which
// columns are counted is decided by the first reading that has a counter:
// those with a counter value in it. Each counted column adds 8 bytes per
// sample (the 2/2/4 layout with counters on its 2 CPUs and 4 GPUs takes
// 44 + 6*8 = 92 bytes). A later reading without a value for a counted
// column stores NaN there (package aggregate then integrates power for the
// pairs around it); a counter in a column that is not counted is dropped
// and the reading counted in Stats().LayoutMismatch.
//
// The arrays are not on the Go heap: they are anonymous memory mapped for
// the ring (mmap.go), which the garbage collector neither scans nor counts
// toward its goal, and their pages are committed when they are allocated
// (MAP_POPULATE; the counters are filled with NaN), so a rank holds the
// full ring's memory, Stats().BytesUsed, from its first sample on. Close
// releases them; a Store dropped without Close releases them when it is
// collected.
//
// A Store is safe for one writer goroutine and any number of concurrent
// readers. The package keeps no package-level mutable state.
package ring

import (
	"math"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
	"github.com/flux-framework/power-monitor/internal/store/aggregate"
)

// Store is the ring of one rank's samples. Create it with New.
type Store struct {
	capacity int
	period   time.Duration

	// maps is the memory of times, vals and energy; closed is set by
	// Close, under mu.
	maps   *mappings
	closed atomic.Bool

	mu          sync.RWMutex
	set         bool // layout fixed by the first Append
	layout      sample.Layout
	expect      sample.Layout // the layout of the readings: layout, or less after a change of source (NewSource)
	stride      int
	nodeDerived bool
	times       []int64   // capacity timestamps, unix ns
	vals        []float32 // capacity*stride values
	head        int       // slot of the next Append
	n           int       // samples held
	last        int64     // time of the newest sample

	// Counters, fixed by the first reading with one (counting).
	counting bool
	ccols    []int     // the value columns with a counter
	others   []int     // the value columns without one
	energy   []float64 // capacity*len(ccols) counters, joules

	total             uint64 // samples ever appended
	overwritten       uint64 // samples lost to the ring wrapping
	newestOverwritten int64  // time of the sample overwritten last
	firstEver         int64  // time of the first sample ever appended
	mismatch          uint64 // readings whose layout differed from the ring's, or with a counter dropped
	descents          int    // pairs held whose time decreases (clock stepped back)

	// A change of source (NewSource): the next reading may widen the
	// layout and add counted columns. Written by the writer only.
	newSource atomic.Bool
	// A change of period (SetPeriod): the samples up to prevUntil (unix
	// ns) were taken at up to prevPeriod.
	prevPeriod time.Duration
	prevUntil  int64
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
	LayoutMismatch uint64  `json:"layout_mismatch"`  // readings mapped to the ring's layout by index, or with a counter dropped
	Counters       int     `json:"counters"`         // energy counters kept per sample (8 bytes each)
}

// New makes a ring of capacity samples (at least 1); period is the sampling
// period, which Window uses for its gap and edge rules. Memory for the ring
// is allocated, and committed, at the first Append (when the layout is
// known), and that for the counters at the first reading with one.
func New(capacity int, period time.Duration) *Store {
	s := &Store{capacity: max(capacity, 1), period: period, maps: &mappings{}}
	runtime.AddCleanup(s, func(m *mappings) { m.unmap() }, s.maps)
	return s
}

// Close releases the ring's memory. The store is then empty: a later
// Append does nothing and readers find no sample. Close the store once its
// writer has stopped; Close again does nothing.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil
	}
	s.closed.Store(true)
	s.times, s.vals, s.energy = nil, nil, nil
	s.n, s.head = 0, 0
	return s.maps.unmap()
}

// Append stores one reading taken at wall-clock time t (unix ns). The
// layout is fixed by the first Append; a later reading with another layout
// is mapped by index (missing values are NaN, extra ones are ignored) and
// counted in Stats().LayoutMismatch, as is a reading whose counters do not
// fit the counted columns (see the package documentation). Append
// allocates only at the first call and at the first reading with a
// counter, and before it takes the lock. After Close it does nothing.
func (s *Store) Append(t int64, r *sample.Reading) {
	if s.closed.Load() {
		return
	}
	// Only Append changes the ring's shape and there is one writer, so
	// the writer reads the shape without the lock, and allocates before
	// taking it: readers wait only for the stores below.
	var g growth
	if !s.set || (!s.counting && r.Energy != nil && r.Energy.Counted()) || s.newSource.Load() {
		g = s.grow(r)
	}
	mismatch := g.mismatch
	if !g.ok {
		mismatch = r.Layout() != s.expect || (s.counting && dropsCounters(r.Energy, s.layout, s.others))
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() { // closed while the writer was allocating
		g.maps.unmap()
		return
	}
	if g.ok {
		s.install(t, &g)
	}
	if mismatch {
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
	if ne := len(s.ccols); ne > 0 {
		erow := s.energy[pos*ne : pos*ne+ne]
		for j, c := range s.ccols {
			erow[j] = counterAt(r.Energy, l, c)
		}
		if g.newSource {
			// A new source's counters do not go on from the old one's
			// (each counts from where its own reader started): none is
			// kept for its first reading, so that no pair of samples takes
			// the difference of two sources' counters as energy.
			for j := range erow {
				erow[j] = math.NaN()
			}
		}
	}

	s.head = pos + 1
	if s.head == s.capacity {
		s.head = 0
	}
	s.last = t
	s.total++
}

// install puts in place what grow allocated, under the lock; the arrays a
// change of source replaced are released (no reader holds them: the lock
// is the writer's).
func (s *Store) install(t int64, g *growth) {
	var old mappings
	if g.times != nil {
		s.set = true
		s.times = g.times
		s.maps.times = g.maps.times
		s.firstEver = t
	}
	if g.vals != nil {
		old.vals = s.maps.vals
		s.layout = g.layout
		s.stride = g.layout.Columns()
		s.vals = g.vals
		s.maps.vals = g.maps.vals
	}
	s.expect = g.expect
	if g.energy != nil {
		old.energy = s.maps.energy
		s.counting = true
		s.energy = g.energy
		s.maps.energy = g.maps.energy
	}
	if g.ccols != nil || g.others != nil {
		s.ccols, s.others = g.ccols, g.others
	}
	if g.newSource {
		s.newSource.Store(false)
		old.unmap()
	}
}

// growth is what Append allocates for a reading that fixes the layout or
// the counted columns, or the first after a change of source.
type growth struct {
	ok            bool
	layout        sample.Layout
	expect        sample.Layout
	times         []int64   // nil: the layout is already fixed
	vals          []float32 // nil: the values stay where they are
	ccols, others []int     // nil: unchanged
	energy        []float64 // nil: the counters stay where they are
	maps          mappings  // the memory of times, vals and energy
	mismatch      bool      // the reading is counted in LayoutMismatch
	newSource     bool      // the first reading after NewSource
}

// grow allocates the ring for r's layout if none is fixed yet, and the
// counters if r is the first reading with one. After a change of source it
// widens the ring to hold r's layout as well as the samples held, and adds
// the columns r counts that are not counted yet. It reads the store
// without the lock: only the writer changes what it reads.
func (s *Store) grow(r *sample.Reading) growth {
	g := growth{ok: true, layout: s.layout, expect: s.expect}
	switch {
	case !s.set:
		g.layout = r.Layout()
		g.expect = g.layout
		g.times, g.maps.times = mapped[int64](s.capacity)
		g.vals, g.maps.vals = mapped[float32](s.capacity * g.layout.Columns())
	case s.newSource.Load():
		g.newSource = true
		g.expect = r.Layout()
		if u := widest(s.layout, g.expect); u != s.layout {
			g.layout = u
			g.vals, g.maps.vals = mapped[float32](s.capacity * u.Columns())
			moveColumns(g.vals, s.vals, s.layout, u)
			g.ccols = make([]int, len(s.ccols))
			for i, c := range s.ccols {
				g.ccols[i] = column(c, s.layout, u)
			}
			g.others = othersOf(g.ccols, u)
		}
	default:
		g.mismatch = r.Layout() != s.expect
	}
	if !r.Energy.Counted() { // (the counters are never decided before the layout)
		return g
	}
	if !s.counting {
		g.ccols, g.others = countedColumns(r.Energy, g.layout)
		g.energy, g.maps.energy = mapped[float64](s.capacity * len(g.ccols))
		nan := math.NaN()
		for i := range g.energy {
			g.energy[i] = nan
		}
	} else if g.newSource {
		have := s.ccols
		if g.ccols != nil {
			have = g.ccols
		}
		counted, _ := countedColumns(r.Energy, g.layout)
		all := append(slices.Clone(have), counted...)
		slices.Sort(all)
		if all = slices.Compact(all); len(all) > len(have) {
			g.ccols, g.others = all, othersOf(all, g.layout)
			g.energy, g.maps.energy = mapped[float64](s.capacity * len(all))
			moveCounters(g.energy, s.energy, have, all, s.capacity)
		}
	}
	if g.ccols == nil {
		g.mismatch = g.mismatch || dropsCounters(r.Energy, g.layout, s.others)
	} else {
		g.mismatch = g.mismatch || dropsCounters(r.Energy, g.layout, g.others)
	}
	return g
}

// NewSource tells the ring that the readings from the next one on come
// from another source (a configuration reload): the first of them may have
// another layout, and counters in other columns. The ring then widens its
// layout, per kind of domain, to the larger count of the two, keeping every
// sample (a column a sample lacks is NaN: not measured then), and counts
// the new reading's counters too; the readings of the new layout are not
// counted in LayoutMismatch. Call it between two Appends, from the
// writer's side (the sampler stopped).
func (s *Store) NewSource() { s.newSource.Store(true) }

// widest is the layout with, per kind of domain, the larger count of a's
// and b's.
func widest(a, b sample.Layout) sample.Layout {
	return sample.Layout{CPU: max(a.CPU, b.CPU), Mem: max(a.Mem, b.Mem), GPU: max(a.GPU, b.GPU)}
}

// column is where value column c of layout from is in layout to, which is
// at least as wide.
func column(c int, from, to sample.Layout) int {
	switch {
	case c == 0:
		return 0
	case c <= from.CPU:
		return c
	case c <= from.CPU+from.Mem:
		return c - from.CPU + to.CPU
	default:
		return c - from.CPU - from.Mem + to.CPU + to.Mem
	}
}

// moveColumns copies every row of src (layout from) into dst (layout to,
// at least as wide), each value to its column; the columns from lacks are
// NaN.
func moveColumns(dst, src []float32, from, to sample.Layout) {
	nan := float32(math.NaN())
	for i := range dst {
		dst[i] = nan
	}
	fs, ts := from.Columns(), to.Columns()
	for row := 0; row*fs < len(src); row++ {
		for c := range fs {
			dst[row*ts+column(c, from, to)] = src[row*fs+c]
		}
	}
}

// othersOf is the columns of l not in counted.
func othersOf(counted []int, l sample.Layout) []int {
	others := []int{}
	k := 0
	for c := range l.Columns() {
		if k < len(counted) && counted[k] == c {
			k++
			continue
		}
		others = append(others, c)
	}
	return others
}

// moveCounters copies the counters of capacity rows kept for the columns
// from into dst, kept for the columns to (a superset); the others are NaN.
func moveCounters(dst, src []float64, from, to []int, capacity int) {
	nan := math.NaN()
	for i := range dst {
		dst[i] = nan
	}
	if len(from) == 0 {
		return
	}
	pos := make([]int, len(from))
	for i, c := range from {
		for j, d := range to {
			if d == c {
				pos[i] = j
			}
		}
	}
	for row := range capacity {
		for i := range from {
			dst[row*len(to)+pos[i]] = src[row*len(from)+i]
		}
	}
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

// counterAt is the counter of value column c of layout l in e, as stored:
// NaN unless e has a finite, non-negative value there.
func counterAt(e *sample.Energy, l sample.Layout, c int) float64 {
	if e == nil {
		return math.NaN()
	}
	var v float64
	switch {
	case c == 0:
		v = e.Node
	case c <= l.CPU:
		v = at(e.CPU, c-1)
	case c <= l.CPU+l.Mem:
		v = at(e.Mem, c-1-l.CPU)
	default:
		v = at(e.GPU, c-1-l.CPU-l.Mem)
	}
	if !sample.Measured(v) || math.IsInf(v, 0) {
		return math.NaN()
	}
	return v
}

func at(vs []float64, i int) float64 {
	if i < len(vs) {
		return vs[i]
	}
	return math.NaN()
}

// countedColumns splits the value columns of layout l into those for
// which e has a counter and the others.
func countedColumns(e *sample.Energy, l sample.Layout) (counted, others []int) {
	for c := range l.Columns() {
		if math.IsNaN(counterAt(e, l, c)) {
			others = append(others, c)
		} else {
			counted = append(counted, c)
		}
	}
	return counted, others
}

// dropsCounters reports whether storing e, once the counted columns are
// decided, drops a counter: e has one past l's columns (mapped by index),
// or in one of the others, the columns of l not counted.
func dropsCounters(e *sample.Energy, l sample.Layout, others []int) bool {
	if e == nil {
		return false
	}
	if beyond(e.CPU, l.CPU) || beyond(e.Mem, l.Mem) || beyond(e.GPU, l.GPU) {
		return true
	}
	for _, c := range others {
		if !math.IsNaN(counterAt(e, l, c)) {
			return true
		}
	}
	return false
}

// beyond reports whether vs has a counter past its first n values.
func beyond(vs []float64, n int) bool {
	for _, v := range vs[min(n, len(vs)):] {
		if sample.Measured(v) && !math.IsInf(v, 0) {
			return true
		}
	}
	return false
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

// SetPeriod sets the sampling period of the samples to come (a
// configuration reload). The gap and edge rules (package aggregate) use the
// longer of it and the period of the samples held, for as long as the ring
// holds a sample taken before the change.
func (s *Store) SetPeriod(p time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n > 0 {
		s.prevPeriod, s.prevUntil = s.periodLocked(), s.last
	}
	s.period = p
}

// Period is the sampling period the gap and edge rules use now: the one
// given to New or SetPeriod, or a longer one that samples still held were
// taken at.
func (s *Store) Period() time.Duration {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.periodLocked()
}

func (s *Store) periodLocked() time.Duration {
	if s.prevPeriod > s.period && s.n > 0 && s.times[s.oldest()] <= s.prevUntil {
		return s.prevPeriod
	}
	return s.period
}

// Stats returns the store's figures.
func (s *Store) Stats() Stats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := Stats{
		Len:            s.n,
		Cap:            s.capacity,
		BytesUsed:      int64(len(s.times))*8 + int64(len(s.vals))*4 + int64(len(s.energy))*8,
		Total:          s.total,
		Overwritten:    s.overwritten,
		FirstEver:      s.firstEver,
		LayoutMismatch: s.mismatch,
		Counters:       len(s.ccols),
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
		Period:      s.periodLocked(),
		Ordered:     s.descents == 0,
		CounterCols: s.ccols,
		Info: aggregate.StreamInfo{
			FirstEver:         s.firstEver,
			Overwritten:       s.overwritten,
			NewestOverwritten: s.newestOverwritten,
		},
	}
	st, ne := s.stride, len(s.ccols)
	if o := s.oldest(); o == 0 {
		ser.Times[0] = s.times[:s.n]
		ser.Values[0] = s.vals[:s.n*st]
		ser.Counters[0] = s.energy[:s.n*ne]
	} else { // full and wrapped: [o, cap) then [0, o)
		ser.Times[0], ser.Times[1] = s.times[o:], s.times[:o]
		ser.Values[0], ser.Values[1] = s.vals[o*st:], s.vals[:o*st]
		ser.Counters[0], ser.Counters[1] = s.energy[o*ne:], s.energy[:o*ne]
	}
	return ser
}

// Series aggregates the samples over the window [t0, t1] (unix ns) and
// over each of its n buckets (aggregate.Edges, aggregate.Buckets), under
// one hold of the lock, so that the buckets add up to the whole.
func (s *Store) Series(t0, t1 int64, n int) (whole aggregate.Result, buckets []aggregate.Result) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ser := s.series()
	return aggregate.Window(&ser, t0, t1), aggregate.Buckets(&ser, aggregate.Edges(t0, t1, n))
}
