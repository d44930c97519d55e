// SPDX-License-Identifier: LGPL-3.0-only

package aggregate

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
)

const period = time.Second // maxGap = 5s; held 1 s before the oldest, 5 s after the newest

var nan = float32(math.NaN())

func ns(s float64) int64 { return int64(math.Round(s * 1e9)) }

// nodeSeries is a node-only series with samples at the given seconds.
func nodeSeries(times []float64, watts []float32) *Series {
	rows := make([][]float32, len(watts))
	for i, w := range watts {
		rows[i] = []float32{w}
	}
	return series(sample.Layout{}, times, rows)
}

func series(l sample.Layout, times []float64, rows [][]float32) *Series {
	s := &Series{Layout: l, Period: period, Ordered: true}
	for i, t := range times {
		s.Times[0] = append(s.Times[0], ns(t))
		s.Values[0] = append(s.Values[0], rows[i]...)
		if i > 0 && ns(t) < ns(times[i-1]) {
			s.Ordered = false
		}
	}
	if len(times) > 0 {
		s.Info.FirstEver = ns(times[0])
	}
	return s
}

// window runs Window on s and on every other way of presenting the same
// samples (split into two segments at every index, and flagged unordered),
// checks that all give the same result, and returns it.
func window(t *testing.T, s *Series, t0, t1 float64) Result {
	t.Helper()
	want := Window(s, ns(t0), ns(t1))
	stride, ne := s.Layout.Columns(), len(s.CounterCols)
	ts, vs, es := s.Times[0], s.Values[0], s.Counters[0]
	for at := 0; at <= len(ts); at++ {
		for _, ordered := range []bool{s.Ordered, false} {
			v := *s
			v.Ordered = ordered
			v.Times = [2][]int64{ts[:at], ts[at:]}
			v.Values = [2][]float32{vs[:at*stride], vs[at*stride:]}
			if ne > 0 {
				v.Counters = [2][]float64{es[:at*ne], es[at*ne:]}
			}
			if got := Window(&v, ns(t0), ns(t1)); !reflect.DeepEqual(got, want) {
				t.Fatalf("split at %d ordered=%v:\n got %+v\nwant %+v", at, ordered, got, want)
			}
		}
	}
	if _, err := json.Marshal(want); err != nil {
		t.Fatalf("json: %v", err)
	}
	return want
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

type expect struct {
	presence, reason string
	samples          int
	coveredS         float64
	coverage         float64
	energy           float64 // node
	mean, min, max   float64 // node
}

func check(t *testing.T, r Result, e expect) {
	t.Helper()
	if r.Presence != e.presence || r.Reason != e.reason {
		t.Errorf("presence %q reason %q, want %q %q", r.Presence, r.Reason, e.presence, e.reason)
	}
	if r.Samples != e.samples {
		t.Errorf("samples %d, want %d", r.Samples, e.samples)
	}
	if !near(r.CoveredS, e.coveredS) || !near(r.Coverage, e.coverage) {
		t.Errorf("covered %v s coverage %v, want %v s %v", r.CoveredS, r.Coverage, e.coveredS, e.coverage)
	}
	n := r.Node
	if !near(n.EnergyJ, e.energy) || !near(n.MeanW, e.mean) || !near(n.MinW, e.min) || !near(n.MaxW, e.max) {
		t.Errorf("node E=%v mean=%v min=%v max=%v, want %v %v %v %v",
			n.EnergyJ, n.MeanW, n.MinW, n.MaxW, e.energy, e.mean, e.min, e.max)
	}
}

func seq(from, to float64) []float64 {
	var ts []float64
	for t := from; t <= to; t++ {
		ts = append(ts, t)
	}
	return ts
}

func repeat(v float32, n int) []float32 {
	vs := make([]float32, n)
	for i := range vs {
		vs[i] = v
	}
	return vs
}

func TestConstantPowerExact(t *testing.T) {
	s := nodeSeries(seq(100, 110), repeat(100, 11))
	// 100 W for exactly 10 s = 1000 J, bit-exact.
	r := window(t, s, 100, 110)
	if r.Node.EnergyJ != 1000 || r.Node.MeanW != 100 || r.CoveredS != 10 || r.Coverage != 1 {
		t.Fatalf("not exact: %+v", r)
	}
	check(t, r, expect{PresenceComplete, "", 11, 10, 1, 1000, 100, 100, 100})
	if r.FirstSample != 100 || r.LastSample != 110 || r.Start != 100 || r.End != 110 {
		t.Errorf("times %v %v %v %v", r.FirstSample, r.LastSample, r.Start, r.End)
	}
	// Clipped inside: [102.5, 107.5] is 5 s at 100 W = 500 J; samples 103..107.
	r = window(t, s, 102.5, 107.5)
	check(t, r, expect{PresenceComplete, "", 5, 5, 1, 500, 100, 100, 100})
}

func TestRamp(t *testing.T) {
	// v(t) = 10*(t-100) W for t in [100, 110].
	var w []float32
	for i := range 11 {
		w = append(w, float32(10*i))
	}
	s := nodeSeries(seq(100, 110), w)
	// Integral of 10x over [0,10] = 5*100 = 500 J; trapezoid is exact on a line.
	check(t, window(t, s, 100, 110), expect{PresenceComplete, "", 11, 10, 1, 500, 50, 0, 100})
	// [100.5, 102.5]: 5*(2.5^2 - 0.5^2) = 5*6 = 30 J, over 2 s -> mean 15 W;
	// edges interpolated: v(100.5) = 5, v(102.5) = 25; samples 101, 102.
	check(t, window(t, s, 100.5, 102.5), expect{PresenceComplete, "", 2, 2, 1, 30, 15, 5, 25})
}

func TestShortJobBetweenSamples(t *testing.T) {
	s := nodeSeries([]float64{100, 101, 102}, []float32{100, 200, 200})
	// v(100.25) = 125, v(100.75) = 175: (125+175)/2 * 0.5 s = 75 J, mean 150.
	r := window(t, s, 100.25, 100.75)
	check(t, r, expect{PresenceComplete, "", 0, 0.5, 1, 75, 150, 125, 175})
	if r.FirstSample != 0 || r.LastSample != 0 {
		t.Errorf("first/last sample %v %v, want 0 0", r.FirstSample, r.LastSample)
	}
}

func TestBeforeFirstSample(t *testing.T) {
	s := nodeSeries(seq(100, 110), repeat(100, 11))
	// Entirely before the first sample and beyond the 1 s hold.
	r := window(t, s, 50, 60)
	check(t, r, expect{PresenceNone, ReasonNotYetSampled, 0, 0, 0, 0, 0, 0, 0})
	if !r.Node.Measured { // no data: Measured says whether the platform measures it
		t.Error("node not measured")
	}
	// [98.5, 99.5]: the hold of the first sample covers [99, 99.5]: 0.5 s of 1.
	check(t, window(t, s, 98.5, 99.5), expect{PresencePartial, ReasonNotYetSampled, 0, 0.5, 0.5, 50, 100, 100, 100})
	// Starts before the first sample ever: [95, 105] is covered on
	// [99, 105] (1 s hold + 5 s) = 6 s of 10 -> 600 J.
	check(t, window(t, s, 95, 105), expect{PresencePartial, ReasonNotYetSampled, 6, 6, 0.6, 600, 100, 100, 100})
	// Starts less than one period before the first sample: complete.
	check(t, window(t, s, 99.5, 101), expect{PresenceComplete, "", 2, 1.5, 1, 150, 100, 100, 100})
}

func TestOverwrittenStart(t *testing.T) {
	s := nodeSeries(seq(100, 110), repeat(100, 11))
	s.Info = StreamInfo{FirstEver: ns(90), Overwritten: 10, NewestOverwritten: ns(99)}
	// [95, 105]: [95, 99] lost (4 s), [99, 100] held, [100, 105] stored -> 0.6.
	check(t, window(t, s, 95, 105), expect{PresencePartial, ReasonOverwritten, 6, 6, 0.6, 600, 100, 100, 100})
	// Entirely overwritten.
	check(t, window(t, s, 91, 95), expect{PresenceNone, ReasonOverwritten, 0, 0, 0, 0, 0, 0, 0})
	// Started before the first sample ever: [80, 105] loses [80, 90] (10 s,
	// not yet sampled) and [90, 99] (9 s, overwritten): the larger wins.
	check(t, window(t, s, 80, 105), expect{PresencePartial, ReasonNotYetSampled, 6, 6, 6.0 / 25, 600, 100, 100, 100})
	// The overwritten sample was 20 s before the oldest stored one: that
	// time was a gap, not lost to the wrap.
	s.Info.NewestOverwritten = ns(80)
	check(t, window(t, s, 95, 105), expect{PresencePartial, ReasonGap, 6, 6, 0.6, 600, 100, 100, 100})
}

func TestOneSample(t *testing.T) {
	s := nodeSeries([]float64{100}, []float32{50})
	// Held 1 s before and up to 5 s (maxGap) after: [99.5, 100.5] fully
	// covered, 50 J.
	check(t, window(t, s, 99.5, 100.5), expect{PresenceComplete, "", 1, 1, 1, 50, 50, 50, 50})
	// [100, 105]: held to 105 (its successor may be late): complete.
	check(t, window(t, s, 100, 105), expect{PresenceComplete, "", 1, 5, 1, 250, 50, 50, 50})
	// [100, 108]: held to 105, then nothing: 5/8, a gap (no sample since).
	check(t, window(t, s, 100, 108), expect{PresencePartial, ReasonGap, 1, 5, 5.0 / 8, 250, 50, 50, 50})
	// [91, 115]: 8 s not yet sampled, 6 s held, 10 s after: gap is larger.
	check(t, window(t, s, 91, 115), expect{PresencePartial, ReasonGap, 1, 6, 6.0 / 24, 300, 50, 50, 50})
}

func TestEmpty(t *testing.T) {
	s := series(sample.Layout{CPU: 2, Mem: 2, GPU: 4}, nil, nil)
	r := window(t, s, 100, 200)
	check(t, r, expect{PresenceNone, ReasonNoSamples, 0, 0, 0, 0, 0, 0, 0})
	if len(r.CPU) != 2 || len(r.Mem) != 2 || len(r.GPU) != 4 || r.GPU[3].Kind != "gpu" || r.GPU[3].Index != 3 || r.Node.Index != -1 {
		t.Errorf("domains %+v", r)
	}
	for c := range 9 {
		if r.Domain(c).Measured {
			t.Errorf("column %d measured", c)
		}
	}
}

func TestClockStepBack(t *testing.T) {
	// Real time 100..107, one sample per second; after the sample at 103
	// the clock steps back 2 s, so the samples read 102, 103, 104, 105.
	s := nodeSeries([]float64{100, 101, 102, 103, 102, 103, 104, 105}, repeat(100, 8))
	if s.Ordered {
		t.Fatal("ordered")
	}
	// The job ran from clock 100 to clock 105 (7 real seconds). Each real
	// interval is integrated once, except the one across the step: 3+3 = 6 s,
	// 600 J; covered is capped at the window length (5 s) -> complete.
	r := window(t, s, 100, 105)
	check(t, r, expect{PresenceComplete, "", 8, 5, 1, 600, 100, 100, 100})
	if r.FirstSample != 100 || r.LastSample != 105 {
		t.Errorf("first/last %v %v", r.FirstSample, r.LastSample)
	}
	// [102.5, 103.5] overlaps (102,103) and (103,104) of the second run and
	// (102,103) of the first: 0.5 + 0.5 + 0.5 s at 100 W.
	check(t, window(t, s, 102.5, 103.5), expect{PresenceComplete, "", 2, 1, 1, 150, 100, 100, 100})
}

func TestClockStepForward(t *testing.T) {
	// The clock jumps 60 s forward after 102.
	s := nodeSeries([]float64{100, 101, 102, 163, 164, 165}, repeat(100, 6))
	// Covered 2 + 2 = 4 s of 65; the 61 s pair is a discontinuity.
	check(t, window(t, s, 100, 165), expect{PresencePartial, ReasonGap, 6, 4, 4.0 / 65, 400, 100, 100, 100})
}

func TestGapLimit(t *testing.T) {
	// dt = maxGap (5 s) is integrated; 5.5 s is not.
	s := nodeSeries([]float64{100, 105, 110.5}, []float32{10, 20, 20})
	// [100, 105]: (10+20)/2 * 5 = 75 J.
	check(t, window(t, s, 100, 105), expect{PresenceComplete, "", 2, 5, 1, 75, 15, 10, 20})
	// [100, 110.5]: 5 s covered of 10.5; sample 110.5 is inside (max 20).
	check(t, window(t, s, 100, 110.5), expect{PresencePartial, ReasonGap, 3, 5, 5 / 10.5, 75, 15, 10, 20})
}

func TestRunningJob(t *testing.T) {
	s := nodeSeries(seq(100, 110), repeat(100, 11))
	// Queried 0.6 s after the last sample: held, complete: 5.6 s * 100 W.
	check(t, window(t, s, 105, 110.6), expect{PresenceComplete, "", 6, 5.6, 1, 560, 100, 100, 100})
	// Started after the last sample, within one period: complete.
	check(t, window(t, s, 110.2, 110.7), expect{PresenceComplete, "", 0, 0.5, 1, 50, 100, 100, 100})
	// The next sample is late (a loaded node, a slow read): queried 4.9 s
	// after the last one, still complete.
	check(t, window(t, s, 105, 114.9), expect{PresenceComplete, "", 6, 9.9, 1, 990, 100, 100, 100})
	// Queried far after the last sample: [105, 120] covered 5+5 = 10 s,
	// the sampler stalled.
	check(t, window(t, s, 105, 120), expect{PresencePartial, ReasonGap, 6, 10, 10.0 / 15, 1000, 100, 100, 100})
}

func TestUnmeasuredDomains(t *testing.T) {
	l := sample.Layout{CPU: 1, Mem: 1, GPU: 1}
	// node 100, cpu 50, mem 10 with one NaN reading, gpu never measured.
	rows := [][]float32{
		{100, 50, 10, nan},
		{100, 50, 10, nan},
		{100, 50, nan, nan},
		{100, 50, 10, nan},
		{100, 50, 10, nan},
	}
	s := series(l, seq(100, 104), rows)
	s.NodeDerived = true
	r := window(t, s, 100, 104)
	check(t, r, expect{PresenceComplete, "", 5, 4, 1, 400, 100, 100, 100})
	if !r.NodeDerived {
		t.Error("node_derived not passed through")
	}
	if c := r.CPU[0]; !c.Measured || c.EnergyJ != 200 || c.MeanW != 50 {
		t.Errorf("cpu %+v", c)
	}
	// mem: pairs (101,102) and (102,103) have a NaN end: 2 s at 10 W = 20 J,
	// mean over the 2 s it is known = 10 W.
	if m := r.Mem[0]; !m.Measured || m.EnergyJ != 20 || m.MeanW != 10 || m.MinW != 10 || m.MaxW != 10 {
		t.Errorf("mem %+v", m)
	}
	if g := r.GPU[0]; g != (Domain{Kind: "gpu", Index: 0}) {
		t.Errorf("gpu %+v", g)
	}
	if r.Start != 100 || r.End != 104 {
		t.Errorf("window [%v, %v], want [100, 104]", r.Start, r.End)
	}
	// How these fields are sent: internal/wire's TestAggregateJSON.
}

func TestMinMaxInterpolatedEdges(t *testing.T) {
	s := nodeSeries([]float64{100, 101, 102}, []float32{0, 100, 0})
	// [100.5, 101.5]: edges v = 50, peak sample 100 inside:
	// (50+100)/2*0.5 + (100+50)/2*0.5 = 75 J.
	check(t, window(t, s, 100.5, 101.5), expect{PresenceComplete, "", 1, 1, 1, 75, 75, 50, 100})
	// [100.25, 100.75]: between samples, v = 25 .. 75: 25 J; the samples
	// 0 and 100 outside the window do not count.
	check(t, window(t, s, 100.25, 100.75), expect{PresenceComplete, "", 0, 0.5, 1, 25, 50, 25, 75})
}

func TestZeroLengthWindow(t *testing.T) {
	s := nodeSeries([]float64{100, 101}, []float32{0, 100})
	// The instant 100.5: v = 50, complete, no energy.
	check(t, window(t, s, 100.5, 100.5), expect{PresenceComplete, "", 0, 0, 1, 0, 50, 50, 50})
	// t1 < t0 is t1 = t0.
	check(t, window(t, s, 100.5, 90), expect{PresenceComplete, "", 0, 0, 1, 0, 50, 50, 50})
	check(t, window(t, s, 50, 50), expect{PresenceNone, ReasonNotYetSampled, 0, 0, 0, 0, 0, 0, 0})
	check(t, window(t, s, 150, 150), expect{PresenceNone, ReasonGap, 0, 0, 0, 0, 0, 0, 0})
}

func TestMaxGap(t *testing.T) {
	if MaxGap(100*time.Millisecond) != time.Second || MaxGap(2*time.Second) != 10*time.Second {
		t.Fatal("MaxGap")
	}
}

// referenceHolds applies the edge rule for the reference integrators: the
// oldest sample's value held back one period, the newest's held forward up
// to maxGap, each clipped to [t0, t1] and handed to piece.
func referenceHolds(s *Series, ts []int64, t0, t1 int64, v func(int) float64, piece func(a, b int64, x, y float64)) {
	n := len(ts)
	if n == 0 {
		return
	}
	if t0 < ts[0] {
		piece(max(t0, ts[0]-int64(s.Period)), min(t1, ts[0]), v(0), v(0))
	}
	if t1 > ts[n-1] {
		piece(max(t0, ts[n-1]), min(t1, ts[n-1]+int64(MaxGap(s.Period))), v(n-1), v(n-1))
	}
}

// reference is a naive implementation of the node energy, covered time,
// sample count and min/max: every pair clipped to the window, no search.
func reference(s *Series, t0, t1 int64) (e, covered float64, samples int, mn, mx float64) {
	ts := append(append([]int64{}, s.Times[0]...), s.Times[1]...)
	st := s.Layout.Columns()
	vs := append(append([]float32{}, s.Values[0]...), s.Values[1]...)
	v := func(k int) float64 { return float64(vs[k*st]) }
	maxGap := int64(MaxGap(s.Period))
	mn, mx = math.Inf(1), math.Inf(-1)
	see := func(x float64) {
		if !math.IsNaN(x) {
			mn, mx = math.Min(mn, x), math.Max(mx, x)
		}
	}
	piece := func(a, b int64, x, y float64) {
		if a > b {
			return
		}
		covered += float64(b-a) / 1e9
		if !math.IsNaN(x) && !math.IsNaN(y) {
			e += (x + y) / 2 * float64(b-a) / 1e9
			see(x)
			see(y)
		}
	}
	for k := range ts {
		if ts[k] >= t0 && ts[k] <= t1 {
			samples++
			see(v(k))
		}
		if k == 0 {
			continue
		}
		ta, tb := ts[k-1], ts[k]
		if tb-ta <= 0 || tb-ta > maxGap || tb < t0 || ta > t1 {
			continue
		}
		a, b := max(ta, t0), min(tb, t1)
		at := func(t int64) float64 { return v(k-1) + (v(k)-v(k-1))*float64(t-ta)/float64(tb-ta) }
		piece(a, b, at(a), at(b))
	}
	referenceHolds(s, ts, t0, t1, v, piece)
	return e, covered, samples, mn, mx
}

func TestAgainstReference(t *testing.T) {
	rng := uint64(1)
	rand := func(n int) int { // xorshift, deterministic
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return int(rng % uint64(n))
	}
	for iter := range 300 {
		n := rand(60)
		times := make([]float64, n)
		watts := make([]float32, n)
		tm := 100.0
		for i := range times {
			switch rand(20) {
			case 0:
				tm -= float64(rand(5)) // clock step back (or a repeated time)
			case 1:
				tm += float64(5 + rand(10)) // stall
			default:
				tm += 0.25 * float64(1+rand(8))
			}
			times[i] = tm
			watts[i] = float32(rand(400))
			if rand(30) == 0 {
				watts[i] = nan
			}
		}
		s := nodeSeries(times, watts)
		for range 20 {
			t0 := 95 + 0.125*float64(rand(8*(int(tm)-90)+8))
			t1 := t0 + 0.125*float64(rand(200))
			r := window(t, s, t0, t1)
			e, cov, samples, mn, mx := reference(s, ns(t0), ns(t1))
			cov = math.Min(cov, t1-t0)
			if mn > mx {
				mn, mx = 0, 0
			}
			if !near(r.Node.EnergyJ, e) || !near(r.CoveredS, cov) || r.Samples != samples ||
				(r.Node.Measured && (r.Node.MinW != mn || r.Node.MaxW != mx)) {
				t.Fatalf("iter %d [%v, %v] times %v watts %v:\n got E=%v cov=%v n=%d min=%v max=%v\nwant E=%v cov=%v n=%d min=%v max=%v",
					iter, t0, t1, times, watts, r.Node.EnergyJ, r.CoveredS, r.Samples, r.Node.MinW, r.Node.MaxW, e, cov, samples, mn, mx)
			}
		}
	}
}
