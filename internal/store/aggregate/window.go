// SPDX-License-Identifier: LGPL-3.0-only

package aggregate

import (
	"math"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
)

// StreamInfo is what a store knows about its stream of samples beyond the
// samples it still holds.
type StreamInfo struct {
	// FirstEver is the time (unix ns) of the first sample ever appended.
	FirstEver int64
	// Overwritten is the number of samples lost to the ring wrapping.
	Overwritten uint64
	// NewestOverwritten is the time (unix ns) of the sample overwritten
	// last, the one that preceded the oldest stored sample. It is
	// meaningful only when Overwritten > 0.
	NewestOverwritten int64
}

// Series is a read-only view of the samples of one store, in insertion
// order: all of segment 0, then all of segment 1 (either may be empty).
//
// Values[i] holds len(Times[i]) rows of Layout.Columns() values each, and
// Counters[i] len(Times[i]) rows of len(CounterCols) counter values each.
// The caller must keep the series unchanged while Window runs.
type Series struct {
	Times  [2][]int64   // unix ns
	Values [2][]float32 // watts: finite, or NaN = not measured
	// Counters are the energy counters of the columns in CounterCols, in
	// joules, cumulative and never decreasing: finite, or NaN where a sample
	// has no counter value. Empty when CounterCols is.
	Counters [2][]float64
	// CounterCols are the value columns (0 node, then CPU, memory and GPU in
	// index order, as in Values) that have an energy counter, in the order
	// of a row of Counters. Columns out of range are ignored.
	CounterCols []int
	Layout      sample.Layout
	NodeDerived bool
	// Period is the sampling period; it sets the edge hold and maxGap.
	Period time.Duration
	// Ordered promises that the times never decrease in insertion order
	// (no backward clock step). If false, Window finds the ordered runs
	// with one scan of the timestamps.
	Ordered bool
	Info    StreamInfo
}

// Len is the number of samples in the series.
func (s *Series) Len() int { return len(s.Times[0]) + len(s.Times[1]) }

// MaxGap is the longest interval between two consecutive samples that is
// still integrated: max(5*period, 1s).
func MaxGap(period time.Duration) time.Duration {
	return max(5*period, time.Second)
}

// Window aggregates the series over the window [t0, t1] (unix ns; t1 < t0
// is treated as t1 = t0). See the package documentation for the semantics.
func Window(s *Series, t0, t1 int64) Result {
	if t1 < t0 {
		t1 = t0
	}
	r := newResult(s.Layout, t0, t1, s.NodeDerived)
	n := s.Len()
	if n == 0 {
		r.Presence = PresenceNone
		r.Reason = ReasonNoSamples
		return r
	}
	stride := s.Layout.Columns()
	w := walker{
		t0: t0, t1: t1,
		maxGap: int64(MaxGap(s.Period)),
		stride: stride,
		ts0:    s.Times[0], ts1: s.Times[1],
		vs0: s.Values[0][:len(s.Times[0])*stride],
		vs1: s.Values[1][:len(s.Times[1])*stride],
		n0:  len(s.Times[0]),
	}
	w.cols = make([]column, stride)
	for c := range w.cols {
		w.cols[c] = column{mn: math.Inf(1), mx: math.Inf(-1), ci: -1}
	}
	if ne := len(s.CounterCols); ne > 0 {
		w.ne = ne
		w.es0 = s.Counters[0][:len(s.Times[0])*ne]
		w.es1 = s.Counters[1][:len(s.Times[1])*ne]
		w.counted = make([]int, 0, ne)
		for k, c := range s.CounterCols {
			if c >= 0 && c < stride && w.cols[c].ci < 0 {
				w.cols[c].ci = k
				w.counted = append(w.counted, c)
			}
		}
	}

	if s.Ordered {
		w.run(0, n)
	} else {
		w.runs(n)
	}

	// Edge holds: the oldest and newest samples have no neighbour beyond
	// them. The oldest is held back for at most one period. The newest is
	// held forward for as long as a pair may last (maxGap): its successor
	// may simply not have been taken yet (a read in progress, a late tick
	// on a loaded node), and the sampler is not called stalled after the
	// newest sample sooner than between two samples.
	hold := max(int64(s.Period), 0)
	oldest, newest := w.time(0), w.time(n-1)
	if t0 < oldest {
		w.hold(w.row(0), max(t0, oldest-hold), min(t1, oldest))
	}
	if t1 > newest {
		w.hold(w.row(n-1), max(t0, newest), min(t1, newest+w.maxGap))
	}

	// Window-level figures.
	length := t1 - t0
	covered := min(w.covered, length)
	r.Samples = w.samples
	if w.samples > 0 {
		r.FirstSample = seconds(w.first)
		r.LastSample = seconds(w.last)
	}
	r.CoveredS = seconds(covered)
	switch {
	case length > 0:
		r.Coverage = float64(covered) / float64(length)
	case w.touched:
		r.Coverage = 1
	}
	switch {
	case r.Coverage >= CompleteCoverage:
		r.Presence = PresenceComplete
	case r.Coverage > 0:
		r.Presence = PresencePartial
	default:
		r.Presence = PresenceNone
	}
	if r.Presence != PresenceComplete {
		r.Reason = w.reason(s, oldest, hold)
	}

	// Domains.
	noData := r.Presence == PresenceNone && w.samples == 0
	newestRow := w.row(n - 1)
	adj, adjusted := 0.0, false // derived node: counter minus power of counted domains
	for c := range w.cols {
		col := &w.cols[c]
		d := r.Domain(c)
		powered := col.mn <= col.mx // some measured power value seen
		counted := col.how&(countedPart|countedInstant) != 0
		if !powered && !counted {
			if noData {
				d.Measured = !math.IsNaN(float64(newestRow[c]))
				if k := col.ci; k >= 0 && !d.Measured {
					d.Measured = !math.IsNaN(w.counters(n - 1)[k])
				}
			}
			continue
		}
		d.Measured = true
		if powered {
			d.MinW, d.MaxW = col.mn, col.mx
		}
		d.Method = MethodPower
		d.EnergyJ = col.e / 2e9
		if counted {
			d.Method = method(col.how)
			d.EnergyJ += col.ec
			if c > 0 {
				adj += col.ec - col.ep/2e9
				adjusted = true
			}
		}
		if cov := w.covered - col.skip; cov > 0 {
			if counted {
				d.MeanW = d.EnergyJ / seconds(cov)
			} else {
				d.MeanW = col.e / (2 * float64(cov))
			}
		} else if length == 0 && powered {
			d.MeanW = (col.mn + col.mx) / 2
		}
	}
	if r.NodeDerived && adjusted && r.Node.Measured {
		counterNode(&r, adj)
	}
	return r
}

// counterNode corrects a derived node (the sum of its domains' power, no
// node sensor) by what its domains' counters know: for every part where a
// domain's energy came from its counter, the node's integral of that
// domain's sampled power is replaced by the counter's energy. The node is
// then as exact as its domains. Its method says how they were found.
func counterNode(r *Result, adj float64) {
	e := r.Node.EnergyJ + adj
	if r.Node.EnergyJ > 0 {
		r.Node.MeanW *= e / r.Node.EnergyJ
	}
	r.Node.EnergyJ = e
	methods := map[string]bool{}
	for _, ds := range [][]Domain{r.CPU, r.Mem, r.GPU} {
		for _, d := range ds {
			if d.Measured {
				methods[d.Method] = true
			}
		}
	}
	switch {
	case len(methods) == 1 && methods[MethodCounter]:
		r.Node.Method = MethodCounter
	default:
		r.Node.Method = MethodMixed
	}
}

// Kinds of the parts of a column's energy, in column.how: parts of
// positive length decide the method; parts of length 0 (an instant) only
// when there is none of positive length.
const (
	countedPart    = 1 << iota // from the counters
	poweredPart                // from integrated (or held) power
	countedInstant             // of length 0, counters valid
	poweredInstant             // of length 0, from power
)

// part is the flag of a part of length d.
func part(kind uint8, d int64) uint8 {
	if d > 0 {
		return kind
	}
	return kind << 2
}

// method names the method of a column from its part flags.
func method(how uint8) string {
	m := how & (countedPart | poweredPart)
	if m == 0 {
		m = how >> 2
	}
	switch m {
	case countedPart:
		return MethodCounter
	case countedPart | poweredPart:
		return MethodMixed
	}
	return MethodPower
}

func seconds(ns int64) float64 { return float64(ns) / 1e9 }

func newResult(l sample.Layout, t0, t1 int64, nodeDerived bool) Result {
	r := Result{
		Start:       seconds(t0),
		End:         seconds(t1),
		NodeDerived: nodeDerived,
		Node:        Domain{Kind: KindNode, Index: -1},
		CPU:         make([]Domain, max(l.CPU, 0)),
		Mem:         make([]Domain, max(l.Mem, 0)),
		GPU:         make([]Domain, max(l.GPU, 0)),
	}
	for i := range r.CPU {
		r.CPU[i] = Domain{Kind: KindCPU, Index: i}
	}
	for i := range r.Mem {
		r.Mem[i] = Domain{Kind: KindMem, Index: i}
	}
	for i := range r.GPU {
		r.GPU[i] = Domain{Kind: KindGPU, Index: i}
	}
	return r
}

// column accumulates one value column.
type column struct {
	e      float64 // sum of (a+b)*dt over pieces integrated from power: 2 * energy in W*ns
	skip   int64   // covered ns in which this column has no energy (power NaN, counter not used)
	mn, mx float64 // +Inf/-Inf until a measured value is seen

	// Counter columns (ci >= 0) only.
	ci     int     // index of the column's counter in a row of counters, -1: none
	ec     float64 // joules from the counters, open stretch not included
	ep     float64 // sum of (a+b)*dt of the power over the parts whose energy came from the counter
	open   bool    // a stretch of whole pairs with valid counters is open
	c0, c1 float64 // counter values at the start and the end of the open stretch
	how    uint8   // kinds of the parts integrated (countedPart, ...)
}

// flush adds the open stretch to the counter energy: its energy is the
// difference of the counters at its ends, one subtraction however many
// pairs it spans, so that a window between two samples gets exactly the
// counter difference.
func (c *column) flush() {
	if c.open {
		c.ec += c.c1 - c.c0
		c.open = false
	}
}

// stretch extends the open stretch (or opens one) by a whole pair whose
// counters are ca and cb.
func (c *column) stretch(ca, cb float64) {
	if !c.open {
		c.open, c.c0 = true, ca
	}
	c.c1 = cb
}

func (c *column) observe(v float64) {
	if v < c.mn {
		c.mn = v
	}
	if v > c.mx {
		c.mx = v
	}
}

// walker is the state of one Window call.
type walker struct {
	t0, t1   int64
	maxGap   int64
	stride   int
	ts0, ts1 []int64
	vs0, vs1 []float32
	n0       int // len(ts0)
	ne       int // counters per sample, 0: no counters
	es0, es1 []float64
	counted  []int // the columns with a counter

	covered     int64 // ns covered by pairs and holds (runs may overlap)
	touched     bool  // some covered piece, maybe of length 0
	samples     int
	first, last int64
	cols        []column
}

func (w *walker) time(k int) int64 {
	if k < w.n0 {
		return w.ts0[k]
	}
	return w.ts1[k-w.n0]
}

func (w *walker) row(k int) []float32 {
	st := w.stride
	if k < w.n0 {
		return w.vs0[k*st : k*st+st]
	}
	k -= w.n0
	return w.vs1[k*st : k*st+st]
}

// counters is the row of counters of sample k; nil when there are none.
func (w *walker) counters(k int) []float64 {
	ne := w.ne
	if ne == 0 {
		return nil
	}
	if k < w.n0 {
		return w.es0[k*ne : k*ne+ne]
	}
	k -= w.n0
	return w.es1[k*ne : k*ne+ne]
}

// breakStretches closes the open counter stretches: the next pair does not
// continue them.
func (w *walker) breakStretches() {
	for _, c := range w.counted {
		w.cols[c].flush()
	}
}

func (w *walker) inside(t int64) bool { return t >= w.t0 && t <= w.t1 }

// observe takes the measured values of a sample inside the window into
// the minimum and maximum.
func (w *walker) observe(v []float32) {
	for c := range w.cols {
		if x := float64(v[c]); x == x {
			w.cols[c].observe(x)
		}
	}
}

// runs splits an unordered series into runs whose times do not decrease
// and walks each of them.
func (w *walker) runs(n int) {
	start, k := 0, 0
	var prev int64
	for _, seg := range [2][]int64{w.ts0, w.ts1} {
		for _, t := range seg {
			if k > 0 && t < prev {
				w.run(start, k)
				start = k
			}
			prev = t
			k++
		}
	}
	w.run(start, n)
}

// run walks the samples [rs, re), whose times do not decrease: it finds the
// samples inside the window by binary search and integrates the pairs
// (k-1, k) that overlap the window.
func (w *walker) run(rs, re int) {
	lo, hi := rs, re // lo: first sample with time >= t0
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if w.time(m) < w.t0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	l, hi := lo, re // hi: first sample with time > t1
	for l < hi {
		m := int(uint(l+hi) >> 1)
		if w.time(m) <= w.t1 {
			l = m + 1
		} else {
			hi = m
		}
	}
	if lo < hi {
		w.samples += hi - lo
		ft, lt := w.time(lo), w.time(hi-1)
		if w.samples == hi-lo || ft < w.first {
			w.first = ft
		}
		if w.samples == hi-lo || lt > w.last {
			w.last = lt
		}
		w.observe(w.row(lo))
	}
	// Pairs (k-1, k) with t[k] >= t0 and t[k-1] <= t1. The first and the
	// last may need clipping; those in between lie inside the window.
	kFrom, kTo := max(lo, rs+1), min(hi, re-1)
	if kFrom > kTo {
		return
	}
	w.pairAt(kFrom)
	if kTo > kFrom {
		w.interior(kFrom+1, kTo)
		w.pairAt(kTo)
	}
	w.breakStretches() // the next run does not continue this one
}

func (w *walker) pairAt(k int) {
	w.pair(w.time(k-1), w.time(k), w.row(k-1), w.row(k), w.counters(k-1), w.counters(k))
}

// interior integrates the pairs (k-1, k), k in [a, b), a >= 1, all of which
// lie inside the window.
func (w *walker) interior(a, b int) {
	n0 := w.n0
	if a < n0 {
		w.segment(w.ts0, w.vs0, w.es0, a, min(b, n0))
	}
	if a <= n0 && n0 < b {
		w.pairAt(n0) // the pair across the two segments
	}
	if s := max(a, n0+1); s < b {
		w.segment(w.ts1, w.vs1, w.es1, s-n0, b-n0)
	}
}

// segment integrates the pairs (i-1, i), i in [from, to), of one segment,
// all inside the window.
func (w *walker) segment(ts []int64, vs []float32, es []float64, from, to int) {
	if w.ne == 0 {
		w.fast(ts, vs, from, to)
	} else {
		w.fastCounters(ts, vs, es, from, to)
	}
}

// fast integrates the pairs (i-1, i), i in [from, to), of one segment, all
// inside the window: no clipping. This is the hot loop.
func (w *walker) fast(ts []int64, vs []float32, from, to int) {
	stride := w.stride
	cols := w.cols[:stride]
	maxGap := w.maxGap
	covered := w.covered
	for i := from; i < to; i++ {
		dt := ts[i] - ts[i-1]
		vb := vs[i*stride : i*stride+stride]
		if dt <= 0 || dt > maxGap { // discontinuity
			w.observe(vb)
			continue
		}
		va := vs[i*stride-stride : i*stride]
		va, vb = va[:len(cols)], vb[:len(cols)]
		covered += dt
		fdt := float64(dt)
		for c := range cols {
			b := float64(vb[c])
			sum := float64(va[c]) + b
			col := &cols[c]
			if sum != sum { // a or b is NaN: not integrated for this column
				col.skip += dt
				if b == b {
					col.observe(b)
				}
				continue
			}
			col.e += sum * fdt
			if b < col.mn {
				col.mn = b
			}
			if b > col.mx {
				col.mx = b
			}
		}
	}
	w.covered = covered
}

// fastCounters is fast for a series with counters: a column whose counters
// are valid at both ends of a pair (cb - ca >= 0, so neither is NaN) takes
// the pair into its open stretch; any other pair is integrated from power
// and ends the column's stretch.
func (w *walker) fastCounters(ts []int64, vs []float32, es []float64, from, to int) {
	stride, ne := w.stride, w.ne
	cols := w.cols[:stride]
	maxGap := w.maxGap
	covered := w.covered
	for i := from; i < to; i++ {
		dt := ts[i] - ts[i-1]
		vb := vs[i*stride : i*stride+stride]
		if dt <= 0 || dt > maxGap { // discontinuity
			w.observe(vb)
			w.breakStretches()
			continue
		}
		va := vs[i*stride-stride : i*stride]
		va, vb = va[:len(cols)], vb[:len(cols)]
		ea, eb := es[i*ne-ne:i*ne], es[i*ne:i*ne+ne]
		covered += dt
		fdt := float64(dt)
		for c := range cols {
			col := &cols[c]
			b := float64(vb[c])
			if b == b {
				if b < col.mn {
					col.mn = b
				}
				if b > col.mx {
					col.mx = b
				}
			}
			if k := col.ci; k >= 0 {
				if ca, cb := ea[k], eb[k]; cb-ca >= 0 {
					col.stretch(ca, cb)
					col.how |= countedPart
					if sum := float64(va[c]) + b; sum == sum {
						col.ep += sum * fdt
					}
					continue
				}
				col.flush()
			}
			sum := float64(va[c]) + b
			if sum != sum { // a or b is NaN: not integrated for this column
				col.skip += dt
				continue
			}
			col.e += sum * fdt
			col.how |= poweredPart
		}
	}
	w.covered = covered
}

// pair integrates the pair (ta, va, ea), (tb, vb, eb) clipped to the
// window; ea and eb are the counters, nil when there are none.
func (w *walker) pair(ta, tb int64, va, vb []float32, ea, eb []float64) {
	dt := tb - ta
	if dt <= 0 || dt > w.maxGap { // discontinuity
		if w.inside(ta) {
			w.observe(va)
		}
		if w.inside(tb) {
			w.observe(vb)
		}
		w.breakStretches()
		return
	}
	a, b := max(ta, w.t0), min(tb, w.t1)
	if a > b {
		w.breakStretches()
		return
	}
	d := b - a
	whole := a == ta && b == tb
	w.touched = true
	w.covered += d
	fd := float64(d)
	for c := range w.cols {
		x, y := float64(va[c]), float64(vb[c])
		col := &w.cols[c]
		powered := x == x && y == y
		var xa, yb float64
		if powered {
			xa, yb = interp(ta, x, tb, y, a), interp(ta, x, tb, y, b)
			col.observe(xa)
			col.observe(yb)
		} else {
			if x == x && w.inside(ta) {
				col.observe(x)
			}
			if y == y && w.inside(tb) {
				col.observe(y)
			}
		}
		if k := col.ci; k >= 0 {
			if ca, cb := ea[k], eb[k]; cb-ca >= 0 {
				switch {
				case whole:
					col.stretch(ca, cb)
				case d > 0: // the clipped part's share of the pair
					col.ec += (cb - ca) * fd / float64(dt)
				}
				col.how |= part(countedPart, d)
				if powered {
					col.ep += (xa + yb) * fd
				}
				continue
			}
			col.flush()
		}
		if !powered {
			col.skip += d
			continue
		}
		col.e += (xa + yb) * fd
		col.how |= part(poweredPart, d)
	}
}

// interp is the value at t of the line through (ta, x) and (tb, y).
func interp(ta int64, x float64, tb int64, y float64, t int64) float64 {
	switch t {
	case ta:
		return x
	case tb:
		return y
	}
	return x + (y-x)*float64(t-ta)/float64(tb-ta)
}

// hold covers [a, b] with the constant values v.
func (w *walker) hold(v []float32, a, b int64) {
	if a > b {
		return
	}
	d := b - a
	w.touched = true
	w.covered += d
	fd := float64(d)
	for c := range w.cols {
		x := float64(v[c])
		col := &w.cols[c]
		if x != x {
			col.skip += d
			continue
		}
		col.e += 2 * x * fd
		col.observe(x)
		col.how |= part(poweredPart, d)
	}
}

// reason names the cause of the largest uncovered part of the window.
func (w *walker) reason(s *Series, oldest, hold int64) string {
	t0, t1 := w.t0, w.t1
	info := s.Info
	firstEver := info.FirstEver
	if firstEver == 0 && info.Overwritten == 0 {
		firstEver = oldest
	}
	// Samples before the oldest stored one were overwritten up to overEnd:
	// up to the oldest sample, unless a gap separated it from the sample
	// overwritten last.
	overwritten := info.Overwritten > 0
	overEnd := oldest
	if overwritten && oldest-info.NewestOverwritten > w.maxGap {
		overEnd = info.NewestOverwritten
	}
	leadEnd := oldest - hold // the window before leadEnd is uncovered

	if t1 == t0 { // an instant
		switch {
		case t0 < leadEnd && t0 < firstEver:
			return ReasonNotYetSampled
		case t0 < leadEnd && overwritten && t0 <= overEnd:
			return ReasonOverwritten
		}
		return ReasonGap
	}

	var notYet, over int64
	if end := min(t1, leadEnd); t0 < end {
		notYet = max(0, min(end, firstEver)-t0)
		if overwritten {
			over = max(0, min(end, overEnd)-max(t0, firstEver))
		}
	}
	uncovered := (t1 - t0) - min(w.covered, t1-t0)
	gap := uncovered - notYet - over
	switch {
	case notYet >= over && notYet >= gap:
		return ReasonNotYetSampled
	case over >= gap:
		return ReasonOverwritten
	}
	return ReasonGap
}
