package wire

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func fig(e, mn, mx float64) *BucketFigure { return &BucketFigure{EnergyJ: e, MinW: mn, MaxW: mx} }

// A job over [100, 110] in 2 buckets on two ranks: rank 0 its own, rank 1
// shared (half the cores, gpu 1 of the node's 0-1); one rank asked did not
// answer.
func seriesFixture() ([]RankResult, map[uint32][]RankBucket) {
	shared := Share{Cores: "0-1", GPUs: "1", NCores: 2, NGPUs: 1, NodeCores: 4, NodeGPUs: 2, NodeGPUIDs: "0-1", CoreFraction: 0.5}
	ranks := []RankResult{
		{Rank: 1, Hostname: "b", Share: &shared, Aggregate: Aggregate{CPU: []Domain{{}}, GPU: []Domain{{}, {}}}},
		{Rank: 0, Hostname: "a", Aggregate: Aggregate{CPU: []Domain{{}}}},
	}
	buckets := map[uint32][]RankBucket{
		0: {
			{CoveredS: 5, Node: fig(1000, 190, 210), CPU: []*BucketFigure{fig(500, 90, 110)}},
			{CoveredS: 5, Node: fig(1500, 290, 310), CPU: []*BucketFigure{fig(750, 140, 160)}},
		},
		1: {
			{CoveredS: 5, Node: fig(3000, 600, 600), CPU: []*BucketFigure{fig(1000, 200, 200)}, GPU: []*BucketFigure{fig(500, 100, 100), fig(1000, 200, 200)}},
			{CoveredS: 2.5, Node: fig(1500, 600, 600), CPU: []*BucketFigure{nil}, GPU: []*BucketFigure{fig(250, 100, 100), fig(500, 200, 200)}},
		},
	}
	return ranks, buckets
}

func TestSumSeries(t *testing.T) {
	ranks, buckets := seriesFixture()
	s, err := SumSeries(100, 110, SeriesSpec{Buckets: 2, PerRank: true, Node: true}, ranks, buckets, 1)
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
		var a Aggregate
		a.CoveredS = 0
		for _, b := range buckets[ranks[i].Rank] {
			f := figuresOf(&b)
			a.CoveredS += f.covered
			a.Node = addDomain(a.Node, f.node)
			a.CPU = addDomains(a.CPU, f.cpu)
			a.GPU = addDomains(a.GPU, f.gpu)
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
	s, _ = SumSeries(100, 110, SeriesSpec{Buckets: 2}, ranks, buckets, 0)
	out, _ := json.Marshal(s)
	if strings.Contains(string(out), `"ranks"`) || strings.Contains(string(out), `"node":[`) {
		t.Errorf("per-rank or node series sent unasked: %s", out)
	}
	// The buckets end where the window does, though its end in ns rounds.
	const t0, t1 = 1796424717.7972474, 1796424718.8462355
	if s, _ := SumSeries(t0, t1, SeriesSpec{Buckets: 10}, nil, nil, 1); s.Buckets[0].Start != t0 || s.Buckets[9].End != t1 {
		t.Errorf("a window [%v, %v] in buckets from %v to %v", t0, t1, s.Buckets[0].Start, s.Buckets[9].End)
	}
	if _, err := SumSeries(100, 110, SeriesSpec{Buckets: 3}, ranks, buckets, 0); err == nil {
		t.Errorf("ranks with 2 buckets summed into 3")
	}
}

func addDomain(a, b Domain) Domain {
	a.Measured = a.Measured || b.Measured
	a.EnergyJ += b.EnergyJ
	a.Kind, a.Index = b.Kind, b.Index
	return a
}

func addDomains(a, b []Domain) []Domain {
	if a == nil {
		a = make([]Domain, len(b))
	}
	for i := range b {
		a[i] = addDomain(a[i], b[i])
	}
	return a
}
