// SPDX-License-Identifier: LGPL-3.0-only

package charge

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/flux-framework/power-monitor/internal/wire"
)

// tfig is one domain's figures over one bucket in a test; nil: not
// measured.
type tfig struct{ e, min, max float64 }

func fig(e, mn, mx float64) *tfig { return &tfig{e, mn, mx} }

// tbucket is one rank's bucket in a test, as the columns of RankBuckets
// hold it.
type tbucket struct {
	covered       float64
	node          *tfig
	cpu, mem, gpu []*tfig
}

// columns is a rank's buckets as it sends them.
func columns(bs ...tbucket) *wire.RankBuckets {
	n := len(bs)
	col := func(get func(tbucket) *tfig) wire.Column {
		c := wire.Column{EnergyJ: make(wire.Floats, n), MinW: make(wire.Floats, n), MaxW: make(wire.Floats, n)}
		for k, b := range bs {
			if f := get(b); f != nil {
				c.EnergyJ[k], c.MinW[k], c.MaxW[k] = f.e, f.min, f.max
			} else {
				c.EnergyJ[k], c.MinW[k], c.MaxW[k] = math.NaN(), math.NaN(), math.NaN()
			}
		}
		return c
	}
	list := func(count int, get func(tbucket) []*tfig) []wire.Column {
		out := []wire.Column{}
		for i := range count {
			out = append(out, col(func(b tbucket) *tfig { return get(b)[i] }))
		}
		return out
	}
	// a kind's sum over its measured domains
	sum := func(count int, get func(tbucket) []*tfig) *wire.Column {
		if count == 0 {
			return nil
		}
		c := col(func(b tbucket) *tfig {
			var s *tfig
			for _, f := range get(b) {
				if f != nil {
					if s == nil {
						s = &tfig{}
					}
					s.e, s.min, s.max = s.e+f.e, s.min+f.min, s.max+f.max
				}
			}
			return s
		})
		return &c
	}
	rb := &wire.RankBuckets{CoveredS: make(wire.Floats, n), Node: col(func(b tbucket) *tfig { return b.node })}
	for k, b := range bs {
		rb.CoveredS[k] = b.covered
	}
	rb.CPU = sum(len(bs[0].cpu), func(b tbucket) []*tfig { return b.cpu })
	rb.Mem = sum(len(bs[0].mem), func(b tbucket) []*tfig { return b.mem })
	rb.GPU = list(len(bs[0].gpu), func(b tbucket) []*tfig { return b.gpu })
	return rb
}

// A job over [100, 110] in 2 buckets on two ranks: rank 0 its own, rank 1
// shared (half the cores, gpu 1 of the node's 0-1); one rank asked did not
// answer.
func seriesFixture() ([]wire.RankResult, map[uint32]*wire.RankBuckets) {
	shared := wire.Share{Cores: "0-1", GPUs: "1", NCores: 2, NGPUs: 1, NodeCores: 4, NodeGPUs: 2, NodeGPUIDs: "0-1", CoreFraction: 0.5}
	ranks := []wire.RankResult{
		{Rank: 1, Hostname: "b", Share: &shared, Aggregate: wire.Aggregate{CPU: []wire.Domain{{}}, GPU: []wire.Domain{{}, {}}}},
		{Rank: 0, Hostname: "a", Aggregate: wire.Aggregate{CPU: []wire.Domain{{}}}},
	}
	buckets := map[uint32]*wire.RankBuckets{
		0: columns(
			tbucket{covered: 5, node: fig(1000, 190, 210), cpu: []*tfig{fig(500, 90, 110)}},
			tbucket{covered: 5, node: fig(1500, 290, 310), cpu: []*tfig{fig(750, 140, 160)}},
		),
		1: columns(
			tbucket{covered: 5, node: fig(3000, 600, 600), cpu: []*tfig{fig(1000, 200, 200)}, gpu: []*tfig{fig(500, 100, 100), fig(1000, 200, 200)}},
			tbucket{covered: 2.5, node: fig(1500, 600, 600), cpu: []*tfig{nil}, gpu: []*tfig{fig(250, 100, 100), fig(500, 200, 200)}},
		),
	}
	return ranks, buckets
}

func TestSumSeries(t *testing.T) {
	ranks, buckets := seriesFixture()
	s, err := SumSeries(100, 110, wire.SeriesSpec{Buckets: 2, PerRank: true, Node: true}, ranks, buckets, 1)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Buckets) != 2 || s.Buckets[0].Start != 100 || s.Buckets[0].End != 105 || s.Buckets[1].End != 110 {
		t.Fatalf("buckets %+v", s.Buckets)
	}
	// Rank 1, bucket 0: the job's gpu 1 (1000 J) + 0.5 x (3000 - 1500) = 1750 J;
	// bucket 1: 500 + 0.5 x (1500 - 750) = 875 J.
	want := [2]float64{1000 + 1750, 1500 + 875}
	for k, b := range s.Buckets {
		d := b.Domains["node"]
		if math.Abs(d.EnergyJ-want[k]) > 1e-9 || math.Abs(d.MeanW-want[k]/5) > 1e-9 {
			t.Errorf("bucket %d: node %+v, want %g J, %g W", k, d, want[k], want[k]/5)
		}
	}
	// cpu: rank 0's whole, rank 1's x 0.5; gpu: rank 1's gpu 1 only.
	if d := s.Buckets[0].Domains["cpu"]; d.EnergyJ != 500+500 || d.MinW != 90+100 || d.MaxW != 110+100 {
		t.Errorf("bucket 0 cpu %+v", d)
	}
	if d := s.Buckets[0].Domains["gpu"]; d.EnergyJ != 1000 || d.MinW != 200 {
		t.Errorf("bucket 0 gpu %+v", d)
	}
	if _, ok := s.Buckets[0].Domains["mem"]; ok {
		t.Errorf("no rank has mem, yet the bucket has it")
	}
	// Coverage: node over 3 ranks asked (one missing): (5+5)/15, then (5+2.5)/15;
	// cpu in bucket 1 is measured on rank 0 only.
	if c := s.Buckets[0].Domains["node"].Coverage; math.Abs(c-10.0/15) > 1e-12 {
		t.Errorf("bucket 0 node coverage %g", c)
	}
	if c := s.Buckets[1].Domains["cpu"].Coverage; math.Abs(c-5.0/15) > 1e-12 {
		t.Errorf("bucket 1 cpu coverage %g", c)
	}
	// The nodes' own figures, and per rank in rank order.
	if d := s.Node[0].Domains["node"]; d.EnergyJ != 4000 {
		t.Errorf("nodes' bucket 0: %+v, want 4000 J", d)
	}
	if len(s.Ranks) != 2 || s.Ranks[0].Rank != 0 || s.Ranks[1].Rank != 1 || s.Ranks[1].Hostname != "b" {
		t.Fatalf("ranks %+v", s.Ranks)
	}
	if d := s.Ranks[1].Buckets[1].Domains["node"]; d.EnergyJ != 875 || d.Coverage != 0.5 {
		t.Errorf("rank 1 bucket 1: %+v, want 875 J, coverage 0.5", d)
	}
	if d := s.Ranks[1].Node[1].Domains["node"]; d.EnergyJ != 1500 {
		t.Errorf("rank 1's node, bucket 1: %+v", d)
	}

	// The job's buckets add up to what Totals charges over the window.
	for i := range ranks {
		var a wire.Aggregate
		a.CoveredS = 0
		rb := buckets[ranks[i].Rank]
		for k := range rb.Len() {
			var f wire.BucketFigures
			rb.FiguresAt(k, &f)
			a.CoveredS += f.CoveredS
			a.Node = addDomain(a.Node, f.Node)
			a.CPU = addDomains(a.CPU, f.CPU)
			a.GPU = addDomains(a.GPU, f.GPU)
		}
		ranks[i].Aggregate = a
	}
	Charge(ranks)
	total := Totals(100, 110, ranks, 1)
	sum := s.Buckets[0].Domains["node"].EnergyJ + s.Buckets[1].Domains["node"].EnergyJ
	if math.Abs(sum-total.EnergyJ) > 1e-9 {
		t.Errorf("the buckets sum to %g J, the totals %g J", sum, total.EnergyJ)
	}

	// Only what was asked travels.
	s, _ = SumSeries(100, 110, wire.SeriesSpec{Buckets: 2}, ranks, buckets, 0)
	out, _ := json.Marshal(s)
	if strings.Contains(string(out), `"ranks"`) || strings.Contains(string(out), `"node":[`) {
		t.Errorf("per-rank or node series sent unasked: %s", out)
	}
	// The buckets end where the window does, though its end in ns rounds.
	const t0, t1 = 1796424717.7972474, 1796424718.8462355
	if s, _ := SumSeries(t0, t1, wire.SeriesSpec{Buckets: 10}, nil, nil, 1); s.Buckets[0].Start != t0 || s.Buckets[9].End != t1 {
		t.Errorf("a window [%v, %v] in buckets from %v to %v", t0, t1, s.Buckets[0].Start, s.Buckets[9].End)
	}
	if _, err := SumSeries(100, 110, wire.SeriesSpec{Buckets: 3}, ranks, buckets, 0); err == nil {
		t.Errorf("ranks with 2 buckets summed into 3")
	}
}

func addDomain(a, b wire.Domain) wire.Domain {
	a.Measured = a.Measured || b.Measured
	a.EnergyJ += b.EnergyJ
	a.Kind, a.Index = b.Kind, b.Index
	return a
}

func addDomains(a, b []wire.Domain) []wire.Domain {
	if a == nil {
		a = make([]wire.Domain, len(b))
	}
	for i := range b {
		a[i] = addDomain(a[i], b[i])
	}
	return a
}

// A bucket in which a GPU of a shared job was not measured charges the
// job nothing on that rank (its part cannot be computed), and only there.
func TestSumSeriesUnmeasuredGPU(t *testing.T) {
	ranks, buckets := seriesFixture()
	buckets[1].GPU[1].EnergyJ[1] = math.NaN() // the job's gpu 1, bucket 1
	s, err := SumSeries(100, 110, wire.SeriesSpec{Buckets: 2, PerRank: true}, ranks, buckets, 0)
	if err != nil {
		t.Fatal(err)
	}
	if d := s.Ranks[1].Buckets[1].Domains["node"]; d.EnergyJ != 0 || d.Coverage != 0 {
		t.Errorf("rank 1, bucket 1 charged %+v", d)
	}
	if d := s.Ranks[1].Buckets[0].Domains["node"]; d.EnergyJ != 1750 {
		t.Errorf("rank 1, bucket 0 charged %+v, want 1750 J", d)
	}
	if d := s.Buckets[1].Domains["node"]; d.EnergyJ != 1500 {
		t.Errorf("bucket 1 sums %+v, want rank 0's 1500 J", d)
	}
}
