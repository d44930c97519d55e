// SPDX-License-Identifier: LGPL-3.0-only

package aggregate

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
)

func TestEdges(t *testing.T) {
	e := Edges(1000, 1010, 4)
	if want := []int64{1000, 1002, 1005, 1007, 1010}; !slices.Equal(e, want) {
		t.Errorf("Edges(1000, 1010, 4) = %v, want %v", e, want)
	}
	if e := Edges(5, 8, 10); !slices.Equal(e, []int64{5, 6, 7, 8}) {
		t.Errorf("a 3 ns window in 10 buckets: %v, want one a ns", e)
	}
	if e := Edges(5, 5, 3); !slices.Equal(e, []int64{5, 5}) {
		t.Errorf("an empty window: %v, want one bucket of length 0", e)
	}
	if e := Edges(9, 5, 0); !slices.Equal(e, []int64{9, 9}) {
		t.Errorf("t1 < t0, n 0: %v", e)
	}
	// A year in 10,000 buckets: (t1-t0)*k overflows 64 bits, the edges do
	// not; they increase and tile the window.
	t0 := int64(1_700_000_000) * int64(time.Second)
	t1 := t0 + 366*24*int64(time.Hour)
	e = Edges(t0, t1, 10000)
	if len(e) != 10001 || e[0] != t0 || e[10000] != t1 {
		t.Fatalf("a year: %d edges from %d to %d", len(e), e[0], e[len(e)-1])
	}
	step := (t1 - t0) / 10000
	for k := 1; k < len(e); k++ {
		if d := e[k] - e[k-1]; d < step || d > step+1 {
			t.Fatalf("bucket %d is %d ns, want %d or %d", k-1, d, step, step+1)
		}
	}
}

// stepRamp is a known power: 200 W until 30 s, 500 W until 60 s, then a
// ramp from 100 W at 60 s to 700 W at 120 s, and 700 W after.
func stepRamp(t float64) float64 {
	switch {
	case t < 30:
		return 200
	case t < 60:
		return 500
	case t < 120:
		return 100 + 10*(t-60)
	}
	return 700
}

// stepRampEnergy is the exact integral of stepRamp from 0 to t.
func stepRampEnergy(t float64) float64 {
	e := 0.0
	e += 200 * math.Min(t, 30)
	if t > 30 {
		e += 500 * (math.Min(t, 60) - 30)
	}
	if t > 60 {
		u := math.Min(t, 120) - 60
		e += 100*u + 5*u*u
	}
	if t > 120 {
		e += 700 * (t - 120)
	}
	return e
}

// stepRampSeries samples stepRamp every 100 ms from -1 s to 125 s (time 0
// at 1,700,000,000 s), on a node with a CPU (a quarter of the node) and a
// GPU (half of it); with counters, the node, the CPU and the GPU count
// their exact energy.
func stepRampSeries(counters bool) (*Series, int64) {
	base := int64(1_700_000_000) * int64(time.Second)
	l := sample.Layout{CPU: 1, GPU: 1}
	var s Series
	s.Layout, s.Period, s.Ordered = l, 100*time.Millisecond, true
	for i := -10; i <= 1250; i++ {
		x := float64(i) / 10
		p := stepRamp(x)
		s.Times[0] = append(s.Times[0], base+int64(i)*int64(100*time.Millisecond))
		s.Values[0] = append(s.Values[0], float32(p), float32(p/4), float32(p/2))
		if counters {
			e := stepRampEnergy(x) + 1000 // counters start anywhere
			s.Counters[0] = append(s.Counters[0], e, e/4, e/2)
		}
	}
	if counters {
		s.CounterCols = []int{0, 1, 2}
	}
	s.Info.FirstEver = s.Times[0][0]
	return &s, base
}

func TestBucketsKnownPower(t *testing.T) {
	for _, counters := range []bool{false, true} {
		s, base := stepRampSeries(counters)
		for _, n := range []int{12, 7, 120, 1} {
			if n == 120 && !counters {
				// Sampled power sees a step between two samples as a
				// ramp over one period: a 1 s bucket at a step is 7.5%
				// off. The counters count it exactly.
				continue
			}
			t0, t1 := base, base+120*int64(time.Second)
			edges := Edges(t0, t1, n)
			bs := Buckets(s, edges)
			if len(bs) != n {
				t.Fatalf("%d buckets, want %d", len(bs), n)
			}
			var sum [3]float64
			for k, b := range bs {
				a, z := float64(edges[k]-base)/1e9, float64(edges[k+1]-base)/1e9
				exact := (stepRampEnergy(z) - stepRampEnergy(a)) / (z - a)
				for c, frac := range []float64{1, 0.25, 0.5} {
					d := b.Domain(c)
					if rel := math.Abs(d.MeanW-exact*frac) / (exact * frac); rel > 0.01 {
						t.Errorf("counters %v, n %d, bucket %d [%g, %g] %s: mean %g W, exact %g W (%.2g%% off)",
							counters, n, k, a, z, d.Kind, d.MeanW, exact*frac, 100*rel)
					}
					if d.MinW > d.MaxW || d.MinW < 100*frac-1e-3 || d.MaxW > 700*frac+1e-3 {
						t.Errorf("bucket %d %s: min %g max %g outside the power's range", k, d.Kind, d.MinW, d.MaxW)
					}
					sum[c] += d.EnergyJ
				}
				if b.Coverage != 1 || b.Presence != PresenceComplete {
					t.Errorf("bucket %d: coverage %g, presence %s", k, b.Coverage, b.Presence)
				}
			}
			whole := Window(s, t0, t1)
			for c := range sum {
				w := whole.Domain(c).EnergyJ
				if math.Abs(sum[c]-w) > 1e-9*w {
					t.Errorf("counters %v, n %d, %s: the buckets sum to %.12g J, the window has %.12g J",
						counters, n, whole.Domain(c).Kind, sum[c], w)
				}
			}
		}
	}
	// In a bucket of the 500 W step only, min = max = 500.
	s, base := stepRampSeries(false)
	b := Buckets(s, []int64{base + 35*int64(time.Second), base + 55*int64(time.Second)})[0]
	if b.Node.MinW != 500 || b.Node.MaxW != 500 || b.Node.MeanW != 500 {
		t.Errorf("[35, 55] s: min %g, mean %g, max %g, want 500 W", b.Node.MinW, b.Node.MeanW, b.Node.MaxW)
	}
}

// The buckets add up to the window past the samples (edge holds) and
// across a gap, and with a derived node corrected by counters.
func TestBucketsSumEdgesAndGaps(t *testing.T) {
	s, base := stepRampSeries(true)
	s.NodeDerived = true
	// a 3 s gap: remove the samples between 40 s and 43 s
	var cut Series = *s
	cut.Times[0], cut.Values[0], cut.Counters[0] = nil, nil, nil
	for i, ts := range s.Times[0] {
		if x := float64(ts-base) / 1e9; x > 40 && x < 43 {
			continue
		}
		cut.Times[0] = append(cut.Times[0], ts)
		cut.Values[0] = append(cut.Values[0], s.Values[0][i*3:i*3+3]...)
		cut.Counters[0] = append(cut.Counters[0], s.Counters[0][i*3:i*3+3]...)
	}
	t0, t1 := base-3*int64(time.Second), base+130*int64(time.Second)
	for _, n := range []int{13, 100, 997} {
		edges := Edges(t0, t1, n)
		whole := Window(&cut, t0, t1)
		var sum [3]float64
		covered := 0.0
		for _, b := range Buckets(&cut, edges) {
			for c := range sum {
				sum[c] += b.Domain(c).EnergyJ
			}
			covered += b.CoveredS
		}
		for c := range sum {
			w := whole.Domain(c).EnergyJ
			if math.Abs(sum[c]-w) > 1e-9*w {
				t.Errorf("n %d, %s: the buckets sum to %.12g J, the window has %.12g J", n, whole.Domain(c).Kind, sum[c], w)
			}
		}
		if math.Abs(covered-whole.CoveredS) > 1e-6 {
			t.Errorf("n %d: the buckets cover %g s, the window %g s", n, covered, whole.CoveredS)
		}
	}
}

// BenchmarkBuckets1000In1M is the series of 1,000 buckets over a window of
// 1,000,000 samples (BenchmarkWindow1M's node: 9 values a sample, the ring
// wrapped), with and without counters on the CPU and GPU columns.
func BenchmarkBuckets1000In1M(b *testing.B) {
	const n = 1_000_000
	l := sample.Layout{CPU: 2, Mem: 2, GPU: 4}
	st := l.Columns()
	counted := []int{1, 2, 5, 6, 7, 8}
	ne := len(counted)
	ts := make([]int64, n)
	vs := make([]float32, n*st)
	es := make([]float64, n*ne)
	base := int64(1_700_000_000) * int64(time.Second)
	for i := range ts {
		ts[i] = base + int64(i)*int64(100*time.Millisecond)
		for c := range st {
			vs[i*st+c] = float32(100 + (i+c)%50)
		}
		for k := range ne {
			es[i*ne+k] = float64(i) * 10
		}
	}
	at := n / 3
	for _, withCounters := range []bool{false, true} {
		s := &Series{
			Times:   [2][]int64{ts[:at], ts[at:]},
			Values:  [2][]float32{vs[:at*st], vs[at*st:]},
			Layout:  l,
			Period:  100 * time.Millisecond,
			Ordered: true,
			Info:    StreamInfo{FirstEver: ts[0]},
		}
		name := "power"
		if withCounters {
			name = "counters"
			s.Counters = [2][]float64{es[:at*ne], es[at*ne:]}
			s.CounterCols = counted
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bs := Buckets(s, Edges(ts[0], ts[n-1], 1000))
				if len(bs) != 1000 || bs[999].Presence != PresenceComplete {
					b.Fatalf("%d buckets, last %+v", len(bs), bs[len(bs)-1])
				}
			}
		})
	}
}
