// SPDX-License-Identifier: LGPL-3.0-only

package aggregate

import (
	"math"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
)

var nan64 = math.NaN()

// withCounters adds counters to s for the columns cols, one row per sample.
func withCounters(s *Series, cols []int, rows [][]float64) *Series {
	s.CounterCols = cols
	for _, row := range rows {
		s.Counters[0] = append(s.Counters[0], row...)
	}
	return s
}

// counterSeries is a node-only series with a node counter.
func counterSeries(times []float64, watts []float32, joules []float64) *Series {
	rows := make([][]float64, len(joules))
	for i, j := range joules {
		rows[i] = []float64{j}
	}
	return withCounters(nodeSeries(times, watts), []int{0}, rows)
}

func checkMethod(t *testing.T, d Domain, method string) {
	t.Helper()
	if d.Method != method {
		t.Errorf("%s %d method %q, want %q", d.Kind, d.Index, d.Method, method)
	}
	if d.Source != "" {
		t.Errorf("%s %d source %q set by aggregate", d.Kind, d.Index, d.Source)
	}
}

// steady is sampled at a constant 100 W while its counter advances by 100,
// 200, 50 and 200 J in the four seconds: the power between the samples was
// not constant, and only the counter saw it.
func steady() *Series {
	return counterSeries(seq(100, 104), repeat(100, 5), []float64{1000, 1100, 1300, 1350, 1550})
}

func TestCounterNotPower(t *testing.T) {
	// Counter: 1550 - 1000 = 550 J over 4 s, mean 137.5 W; min and max
	// stay those of the sampled power, 100 W.
	r := window(t, steady(), 100, 104)
	check(t, r, expect{PresenceComplete, "", 5, 4, 1, 550, 137.5, 100, 100})
	checkMethod(t, r.Node, MethodCounter)
	if r.Node.EnergyJ != 550 {
		t.Errorf("energy %v, want exactly 550", r.Node.EnergyJ)
	}
	// The same samples without counters: 100 W * 4 s = 400 J.
	p := window(t, nodeSeries(seq(100, 104), repeat(100, 5)), 100, 104)
	check(t, p, expect{PresenceComplete, "", 5, 4, 1, 400, 100, 100, 100})
	checkMethod(t, p.Node, MethodPower)
}

func TestCounterWindowBetweenSamples(t *testing.T) {
	// [101, 103]: 1350 - 1100 = 250 J exactly, over 2 s: 125 W.
	r := window(t, steady(), 101, 103)
	check(t, r, expect{PresenceComplete, "", 3, 2, 1, 250, 125, 100, 100})
	if r.Node.EnergyJ != 250 {
		t.Errorf("energy %v, want exactly 250", r.Node.EnergyJ)
	}
	checkMethod(t, r.Node, MethodCounter)

	// Counters at 1 uJ resolution (not exact in binary) from just after
	// the source started, advancing unevenly over 1000 samples: a window
	// from sample i to sample j is exactly the float64 difference
	// c[j] - c[i], bit for bit.
	const n = 1000
	c := make([]float64, n)
	c[0] = 12.345678
	for k := 1; k < n; k++ {
		c[k] = c[k-1] + float64(100+k%7*37)*1.000001 + float64(k%3)*1e-6
	}
	s := counterSeries(seq(100, 100+n-1), repeat(300, n), c)
	inexact := 0
	for _, ij := range [][2]int{{0, n - 1}, {1, n - 2}, {3, 700}, {500, 501}, {17, 18}, {250, 999}, {2, 40}} {
		i, j := ij[0], ij[1]
		r := Window(s, ns(100+float64(i)), ns(100+float64(j)))
		if r.Node.EnergyJ != c[j]-c[i] || r.Node.Method != MethodCounter {
			t.Errorf("[%d, %d]: %v J (%s), want %v", i, j, r.Node.EnergyJ, r.Node.Method, c[j]-c[i])
		}
		// Summing the pairs' differences one by one does not always give
		// the difference (here for [0, 999] and [2, 40]): that is why a
		// stretch of pairs is summed as one difference.
		sum := 0.0
		for k := i + 1; k <= j; k++ {
			sum += c[k] - c[k-1]
		}
		if sum != c[j]-c[i] {
			inexact++
		}
	}
	if inexact == 0 {
		t.Error("the pairwise sum was exact for every window: the data does not test exactness")
	}
}

func TestCounterClippedEdges(t *testing.T) {
	// [100.5, 102.25]: half of (100, 101): 100 * 0.5 = 50 J; all of
	// (101, 102): 200 J; a quarter of (102, 103): 50 * 0.25 = 12.5 J.
	// 262.5 J over 1.75 s = 150 W.
	r := window(t, steady(), 100.5, 102.25)
	check(t, r, expect{PresenceComplete, "", 2, 1.75, 1, 262.5, 150, 100, 100})
	checkMethod(t, r.Node, MethodCounter)
	// [101.25, 101.75] inside (101, 102): 200 J * 0.5 s / 1 s = 100 J,
	// 200 W although 100 W was sampled at both ends.
	r = window(t, steady(), 101.25, 101.75)
	check(t, r, expect{PresenceComplete, "", 0, 0.5, 1, 100, 200, 100, 100})
	checkMethod(t, r.Node, MethodCounter)
}

func TestCounterHeldEdges(t *testing.T) {
	// [99.5, 104.5]: held 100 W on [99.5, 100] and [104, 104.5], 50 J
	// each, and 550 J from the counter: 650 J over 5 s = 130 W. The holds
	// are power, the rest counters: mixed.
	r := window(t, steady(), 99.5, 104.5)
	check(t, r, expect{PresenceComplete, "", 5, 5, 1, 650, 130, 100, 100})
	checkMethod(t, r.Node, MethodMixed)
	// [99.5, 100.5]: 50 J held + half of (100, 101), 50 J: 100 J in 1 s.
	r = window(t, steady(), 99.5, 100.5)
	check(t, r, expect{PresenceComplete, "", 1, 1, 1, 100, 100, 100, 100})
	checkMethod(t, r.Node, MethodMixed)
	// A running job after the newest sample: held only, 100 W * 0.6 s.
	r = window(t, steady(), 104.2, 104.8)
	check(t, r, expect{PresenceComplete, "", 0, 0.6, 1, 60, 100, 100, 100})
	checkMethod(t, r.Node, MethodPower)
}

func TestCounterNaNFallsBack(t *testing.T) {
	// The counter is missing at 102: pairs (101, 102) and (102, 103) are
	// integrated from power, 100 J each; (100, 101) 100 J and (103, 104)
	// 200 J from the counter: 500 J over 4 s = 125 W, mixed.
	s := counterSeries(seq(100, 104), repeat(100, 5), []float64{1000, 1100, nan64, 1350, 1550})
	r := window(t, s, 100, 104)
	check(t, r, expect{PresenceComplete, "", 5, 4, 1, 500, 125, 100, 100})
	checkMethod(t, r.Node, MethodMixed)
	// Only the two power pairs: 100 W * 1 s.
	r = window(t, s, 101.5, 102.5)
	check(t, r, expect{PresenceComplete, "", 1, 1, 1, 100, 100, 100, 100})
	checkMethod(t, r.Node, MethodPower)
	// Only a counter pair: 200 J.
	r = window(t, s, 103, 104)
	check(t, r, expect{PresenceComplete, "", 2, 1, 1, 200, 200, 100, 100})
	checkMethod(t, r.Node, MethodCounter)

	// A counter that decreases (a source bug) is not trusted either:
	// (101, 102) falls back to 100 J; 100 + 100 + 100 = 300 J.
	s = counterSeries(seq(100, 103), repeat(100, 4), []float64{0, 100, 50, 150})
	r = window(t, s, 100, 103)
	check(t, r, expect{PresenceComplete, "", 4, 3, 1, 300, 100, 100, 100})
	checkMethod(t, r.Node, MethodMixed)
}

func TestCounterGap(t *testing.T) {
	// (101, 108) is a 7 s gap (> maxGap 5 s): not covered, and its 750 J
	// of counter is left out like its power would be. Covered: (100, 101)
	// 150 J and (108, 109) 100 J, 2 s of 9: 250 J, 125 W.
	s := counterSeries([]float64{100, 101, 108, 109}, repeat(100, 4), []float64{0, 150, 900, 1000})
	r := window(t, s, 100, 109)
	check(t, r, expect{PresencePartial, ReasonGap, 4, 2, 2.0 / 9, 250, 125, 100, 100})
	checkMethod(t, r.Node, MethodCounter)
}

func TestCounterClockStepBack(t *testing.T) {
	// As in TestClockStepBack: the clock reads 100..103, then 102..105.
	// The counter advances 10, 20, 30, 40, 50, 60, 70 J over the seven
	// real intervals.
	s := counterSeries([]float64{100, 101, 102, 103, 102, 103, 104, 105}, repeat(100, 8),
		[]float64{0, 10, 30, 60, 100, 150, 210, 280})
	// [100, 105]: the first run's pairs 10+20+30 = 60 J, the second's
	// 50+60+70 = 180 J; the 40 J across the step is a discontinuity.
	// 240 J; 6 s integrated (covered capped at 5 s): mean 240/6 = 40 W.
	r := window(t, s, 100, 105)
	check(t, r, expect{PresenceComplete, "", 8, 5, 1, 240, 40, 100, 100})
	checkMethod(t, r.Node, MethodCounter)
	// [102.5, 103.5]: halves of (102, 103) of the first run (15 J), and
	// of (102, 103) and (103, 104) of the second (25 + 30 J): 70 J over
	// 1.5 s integrated.
	r = window(t, s, 102.5, 103.5)
	check(t, r, expect{PresenceComplete, "", 2, 1, 1, 70, 70 / 1.5, 100, 100})
	checkMethod(t, r.Node, MethodCounter)
}

func TestCounterPowerNaN(t *testing.T) {
	// Power missing at 101 but the counter is there: the pairs get their
	// energy from it and are covered for the node: 300 J over 2 s.
	s := counterSeries(seq(100, 102), []float32{100, nan, 100}, []float64{0, 150, 300})
	r := window(t, s, 100, 102)
	check(t, r, expect{PresenceComplete, "", 3, 2, 1, 300, 150, 100, 100})
	checkMethod(t, r.Node, MethodCounter)
	// A domain with a counter and no power at all: measured, no min/max.
	s = counterSeries(seq(100, 102), repeat(nan, 3), []float64{0, 150, 300})
	r = window(t, s, 100.5, 102)
	if d := r.Node; !d.Measured || d.EnergyJ != 225 || d.MeanW != 150 || d.MinW != 0 || d.MaxW != 0 || d.Method != MethodCounter {
		t.Errorf("%+v", d)
	}
}

func TestCounterZeroLength(t *testing.T) {
	// The instant 101.5: no energy, the mean is the power there, and the
	// pair that holds it has counters.
	r := window(t, steady(), 101.5, 101.5)
	check(t, r, expect{PresenceComplete, "", 0, 0, 1, 0, 100, 100, 100})
	checkMethod(t, r.Node, MethodCounter)
}

func TestCounterDomainsWithout(t *testing.T) {
	l := sample.Layout{CPU: 1, Mem: 1, GPU: 1}
	// node 100 W, cpu 50 W sampled with a counter advancing 60 J/s, mem
	// 10 W, gpu never measured; only the cpu has a counter.
	rows := [][]float32{{100, 50, 10, nan}, {100, 50, 10, nan}, {100, 50, 10, nan}, {100, 50, 10, nan}, {100, 50, 10, nan}}
	s := withCounters(series(l, seq(100, 104), rows), []int{1}, [][]float64{{0}, {60}, {120}, {180}, {240}})
	r := window(t, s, 100, 104)
	check(t, r, expect{PresenceComplete, "", 5, 4, 1, 400, 100, 100, 100})
	checkMethod(t, r.Node, MethodPower)
	if c := r.CPU[0]; c.EnergyJ != 240 || c.MeanW != 60 || c.MinW != 50 || c.MaxW != 50 {
		t.Errorf("cpu %+v", c)
	}
	checkMethod(t, r.CPU[0], MethodCounter)
	if m := r.Mem[0]; m.EnergyJ != 40 {
		t.Errorf("mem %+v", m)
	}
	checkMethod(t, r.Mem[0], MethodPower)
	if g := r.GPU[0]; g != (Domain{Kind: "gpu", Index: 0}) {
		t.Errorf("gpu %+v", g)
	}
	// How these fields are sent: internal/wire's TestAggregateJSON.

	// Without counters every measured domain is "power".
	r = window(t, series(l, seq(100, 104), rows), 100, 104)
	for c := range 3 {
		checkMethod(t, *r.Domain(c), MethodPower)
	}
	checkMethod(t, r.GPU[0], "")
}

func TestCounterNoData(t *testing.T) {
	// No sample in the window: Measured says whether the newest sample has
	// power or a counter for the domain.
	l := sample.Layout{CPU: 1}
	s := withCounters(series(l, seq(100, 101), [][]float32{{nan, nan}, {nan, nan}}), []int{1},
		[][]float64{{5}, {6}})
	r := window(t, s, 200, 210)
	if r.Presence != PresenceNone || r.Node.Measured || !r.CPU[0].Measured || r.CPU[0].Method != "" {
		t.Errorf("%+v", r)
	}
}

// referenceCounters is a naive node energy with a node counter: every pair
// clipped to the window, the counter's share where both counters are valid,
// else the power trapezoid; holds from power. It also returns the method.
func referenceCounters(s *Series, t0, t1 int64) (e float64, method string) {
	ts := append(append([]int64{}, s.Times[0]...), s.Times[1]...)
	vs := append(append([]float32{}, s.Values[0]...), s.Values[1]...)
	cs := append(append([]float64{}, s.Counters[0]...), s.Counters[1]...)
	v := func(k int) float64 { return float64(vs[k]) }
	maxGap := int64(MaxGap(s.Period))
	var counted, powered bool
	piece := func(a, b int64, x, y float64) {
		if a < b && !math.IsNaN(x) && !math.IsNaN(y) {
			e += (x + y) / 2 * float64(b-a) / 1e9
			powered = true
		}
	}
	for k := 1; k < len(ts); k++ {
		ta, tb := ts[k-1], ts[k]
		if tb-ta <= 0 || tb-ta > maxGap || tb < t0 || ta > t1 {
			continue
		}
		a, b := max(ta, t0), min(tb, t1)
		if d := cs[k] - cs[k-1]; d >= 0 {
			if a < b {
				e += d * float64(b-a) / float64(tb-ta)
				counted = true
			}
			continue
		}
		at := func(t int64) float64 { return v(k-1) + (v(k)-v(k-1))*float64(t-ta)/float64(tb-ta) }
		piece(a, b, at(a), at(b))
	}
	referenceHolds(s, ts, t0, t1, v, piece)
	switch {
	case counted && powered:
		method = MethodMixed
	case counted:
		method = MethodCounter
	case powered:
		method = MethodPower
	}
	return e, method
}

func TestCountersAgainstReference(t *testing.T) {
	rng := uint64(7)
	rand := func(n int) int { // xorshift, deterministic
		rng ^= rng << 13
		rng ^= rng >> 7
		rng ^= rng << 17
		return int(rng % uint64(n))
	}
	for iter := range 300 {
		n := 1 + rand(60)
		times := make([]float64, n)
		watts := make([]float32, n)
		joules := make([]float64, n)
		tm, c := 100.0, float64(rand(1_000_000))/1e3
		for i := range times {
			switch rand(20) {
			case 0:
				tm -= float64(rand(5))
			case 1:
				tm += float64(5 + rand(10))
			default:
				tm += 0.25 * float64(1+rand(8))
			}
			times[i] = tm
			watts[i] = float32(rand(400))
			if rand(30) == 0 {
				watts[i] = nan
			}
			c += float64(rand(1000)) / 7
			joules[i] = c
			if rand(15) == 0 {
				joules[i] = nan64
			}
		}
		s := counterSeries(times, watts, joules)
		for range 20 {
			t0 := 95 + 0.125*float64(rand(8*(int(tm)-90)+8))
			t1 := t0 + 0.125*float64(rand(200))
			r := window(t, s, t0, t1)
			e, method := referenceCounters(s, ns(t0), ns(t1))
			if !near(r.Node.EnergyJ, e) || (r.Node.Measured && method != "" && r.Node.Method != method) {
				t.Fatalf("iter %d [%v, %v] times %v watts %v joules %v:\n got E=%v %s\nwant E=%v %s",
					iter, t0, t1, times, watts, joules, r.Node.EnergyJ, r.Node.Method, e, method)
			}
		}
	}
}

// A derived node (no node sensor) takes its energy from its domains, so it
// is as exact as their counters: here the CPU counter says 30 J over a
// window where the sampled power integrates to 20 J.
func TestDerivedNodeSumsDomainEnergies(t *testing.T) {
	lay := sample.Layout{CPU: 1, GPU: 1}
	// samples at 0 s and 1 s; node (derived) = cpu + gpu = 20 + 10 W
	s := &Series{
		Layout:      lay,
		NodeDerived: true,
		Period:      time.Second,
		Ordered:     true,
		Times:       [2][]int64{{0, 1e9}},
		Values:      [2][]float32{{30, 20, 10, 30, 20, 10}},
		CounterCols: []int{1},
		Counters:    [2][]float64{{100, 130}},
	}
	r := Window(s, 0, 1e9)
	// cpu: counter 130-100 = 30 J; gpu: 10 W x 1 s = 10 J; node: 40 J
	if r.CPU[0].EnergyJ != 30 || r.CPU[0].Method != MethodCounter || r.GPU[0].EnergyJ != 10 {
		t.Fatalf("domains %+v %+v", r.CPU[0], r.GPU[0])
	}
	if r.Node.EnergyJ != 40 || r.Node.Method != MethodMixed || r.Node.MeanW != 40 {
		t.Fatalf("node %+v, want 40 J mixed 40 W", r.Node)
	}
	s.NodeDerived = false
	if r := Window(s, 0, 1e9); r.Node.EnergyJ != 30 || r.Node.Method != MethodPower {
		t.Fatalf("measured node must keep its own integral: %+v", r.Node)
	}
}

// The same over many samples, so that the interior pairs take the fast
// path: a derived node whose two CPUs have counters gets exactly their
// counter energy, not the counters plus the sampled power.
func TestDerivedNodeCountersManySamples(t *testing.T) {
	const n = 50
	lay := sample.Layout{CPU: 2}
	var times []int64
	var vals []float32
	var ctrs []float64
	for i := 0; i < n; i++ {
		times = append(times, int64(i)*1e8)               // 0.1 s apart
		vals = append(vals, 20, 10, 10)                   // sampled: 10 W each
		ctrs = append(ctrs, 1.5*float64(i), 2*float64(i)) // counted: 15 W and 20 W
	}
	s := &Series{Layout: lay, NodeDerived: true, Period: 100 * time.Millisecond, Ordered: true,
		Times: [2][]int64{times}, Values: [2][]float32{vals},
		CounterCols: []int{1, 2}, Counters: [2][]float64{ctrs}}
	r := Window(s, 0, int64(n-1)*1e8)
	// 4.9 s: cpu0 1.5*49 = 73.5 J, cpu1 2*49 = 98 J, node 171.5 J
	if r.CPU[0].EnergyJ != 73.5 || r.CPU[1].EnergyJ != 98 {
		t.Fatalf("cpus %+v", r.CPU)
	}
	if d := r.Node.EnergyJ - 171.5; d > 1e-9 || d < -1e-9 || r.Node.Method != MethodCounter {
		t.Fatalf("node %+v, want 171.5 J counter", r.Node)
	}
}
