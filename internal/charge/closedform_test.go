// SPDX-License-Identifier: LGPL-3.0-only

package charge

// The closed forms that t/t0010-share.t and t/t0012-nested.t check end to
// end, through a broker, the stand-in libvariorum and flux power-query,
// checked here on the charge alone: the same instance, the same jobs, the
// same numbers.
//
// The stand-in reads, on every rank, 2 sockets of 100 W cpu and 20 W mem
// and 4 GPUs of 50 W: a 440 W node, 240 W without its GPUs. The instance
// has two ranks of 8 cores and 4 GPUs (flux R encode -r 0-1 -c 0-7 -g 0-3).
// A job is charged, on each rank, the node (440 W) where it holds every
// core and GPU there, else its GPUs whole (50 W each) and its cores / 8 of
// the node without the instance's GPUs (240 W).
//
// Tolerance: the sharness tests allow 1%, for a real window's sampling.
// Here every figure is exact (watts times a window of 2 s), and the rule is
// a handful of products and sums of them, so its answer can differ from the
// closed form only by float rounding, a few units in the last place:
// closeTo allows 1e-9 of the expected value. A wrong rule is off by far
// more: the smallest step of the charge is one core's 30 W of a 440 W node.

import (
	"errors"
	"math"
	"slices"
	"testing"

	"github.com/flux-framework/power-monitor/internal/store/aggregate"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// The stand-in's draw, watts.
const (
	standInNodeW = 440.0
	standInCPUW  = 100.0 // each of 2 sockets
	standInMemW  = 20.0  // each of 2 memory domains
	standInGPUW  = 50.0  // each of 4 GPUs
)

// The window every job here is asked about: [cfT0, cfT0 + cfDur].
const cfT0, cfDur = 1000.0, 2.0

// cfInstanceR is the instance's R of both sharness tests.
const cfInstanceR = `{"version": 1, "execution": {"R_lite": [{"rank": "0-1", "children": {"core": "0-7", "gpu": "0-3"}}], "starttime": 0.0, "expiration": 0.0, "nodelist": ["n,n"]}}`

// closeTo says whether got is want within 1e-9 of want (see above).
func closeTo(got, want float64) bool {
	return math.Abs(got-want) <= 1e-9*math.Abs(want)
}

// standInResult is what the stand-in reads on a rank over [start, end],
// every moment of it sampled.
func standInResult(start, end float64) aggregate.Result {
	dur := end - start
	d := func(kind string, i int, w float64) aggregate.Domain {
		return aggregate.Domain{Kind: kind, Index: i, Measured: true, EnergyJ: w * dur, MeanW: w, MinW: w, MaxW: w,
			Method: aggregate.MethodPower, Source: "variorum"}
	}
	return aggregate.Result{Start: start, End: end, Samples: 21, FirstSample: start, LastSample: end,
		CoveredS: dur, Coverage: 1, Presence: aggregate.PresenceComplete,
		Node: d(aggregate.KindNode, -1, standInNodeW),
		CPU:  []aggregate.Domain{d(aggregate.KindCPU, 0, standInCPUW), d(aggregate.KindCPU, 1, standInCPUW)},
		Mem:  []aggregate.Domain{d(aggregate.KindMem, 0, standInMemW), d(aggregate.KindMem, 1, standInMemW)},
		GPU: []aggregate.Domain{d(aggregate.KindGPU, 0, standInGPUW), d(aggregate.KindGPU, 1, standInGPUW),
			d(aggregate.KindGPU, 2, standInGPUW), d(aggregate.KindGPU, 3, standInGPUW)},
	}
}

// standInRank is one rank's answer over the window.
func standInRank(rank uint32) wire.RankResult {
	return wire.RankResult{Rank: rank, Hostname: "n", Source: "variorum", Aggregate: wire.FromAggregate(standInResult(cfT0, cfT0+cfDur))}
}

// rliteR is an R of the given R_lite entries.
func rliteR(t *testing.T, rlite string) wire.Resources {
	t.Helper()
	return mustParseR(t, `{"version": 1, "execution": {"R_lite": `+rlite+`}}`)
}

// chargeJob is the answer about a job that holds held on each of its ranks,
// as the module computes it: each rank's share over the instance's R, the
// job's part of each rank, the totals.
func chargeJob(t *testing.T, held, instance wire.Resources) wire.QueryResponse {
	t.Helper()
	resp := wire.QueryResponse{Start: cfT0, End: cfT0 + cfDur}
	for _, rank := range sortedKeys(held) {
		r := standInRank(rank)
		s, err := ShareOf(rank, held, instance)
		if err != nil {
			t.Fatalf("ShareOf(%d): %v", rank, err)
		}
		r.Share = &s
		resp.Ranks = append(resp.Ranks, r)
	}
	Charge(resp.Ranks)
	Summarize(&resp)
	return resp
}

// checkCharged checks the answer about a job against the closed form: on
// each rank the job's power want[rank] (W) and the node's 440 W, and the
// totals their sums over the window.
func checkCharged(t *testing.T, resp *wire.QueryResponse, want map[uint32]float64, shared bool) {
	t.Helper()
	if len(resp.Ranks) != len(want) {
		t.Fatalf("%d ranks answered, want %d", len(resp.Ranks), len(want))
	}
	sumW, sumJ := 0.0, 0.0
	for i := range resp.Ranks {
		r := &resp.Ranks[i]
		w, ok := want[r.Rank]
		if !ok {
			t.Fatalf("rank %d answered, want ranks %v", r.Rank, want)
		}
		if r.Job == nil || r.JobError != "" {
			t.Fatalf("rank %d: job %+v, job_error %q", r.Rank, r.Job, r.JobError)
		}
		f := Charged(r)
		if !closeTo(f.EnergyJ, w*cfDur) || !closeTo(f.MeanW, w) || !sameFigures(f, *r.Job) {
			t.Errorf("rank %d charged %g J, %g W; want %g W x %g s = %g J", r.Rank, f.EnergyJ, f.MeanW, w, cfDur, w*cfDur)
		}
		if !closeTo(r.Node.EnergyJ, standInNodeW*cfDur) || !closeTo(r.Node.MeanW, standInNodeW) {
			t.Errorf("rank %d: node %g J, %g W; want %g W", r.Rank, r.Node.EnergyJ, r.Node.MeanW, standInNodeW)
		}
		if r.Share.Exclusive && (f.EnergyJ != r.Node.EnergyJ || f.MeanW != r.Node.MeanW) {
			t.Errorf("rank %d: exclusive, charged %g J, the node drew %g J", r.Rank, f.EnergyJ, r.Node.EnergyJ)
		}
		sumW += w
		sumJ += f.EnergyJ
	}
	tot := resp.Total
	n := float64(len(want))
	if !closeTo(tot.EnergyJ, sumW*cfDur) || !closeTo(tot.AvgPowerW, sumW) || tot.DurationS != cfDur {
		t.Errorf("total %g J, %g W over %g s; want %g W", tot.EnergyJ, tot.AvgPowerW, tot.DurationS, sumW)
	}
	if !closeTo(tot.EnergyJ, sumJ) {
		t.Errorf("total %g J is not the sum of the ranks, %g J", tot.EnergyJ, sumJ)
	}
	if !closeTo(tot.NodeEnergyJ, n*standInNodeW*cfDur) || !closeTo(tot.NodeAvgPowerW, n*standInNodeW) {
		t.Errorf("total node %g J, %g W; want %g nodes of %g W", tot.NodeEnergyJ, tot.NodeAvgPowerW, n, standInNodeW)
	}
	if tot.Shared != shared || tot.JobErrors != 0 || tot.Presence != aggregate.PresenceComplete || tot.Coverage != 1 {
		t.Errorf("total shared %v (want %v), job_errors %d, presence %s, coverage %g", tot.Shared, shared, tot.JobErrors, tot.Presence, tot.Coverage)
	}
	if !shared && tot.EnergyJ != tot.NodeEnergyJ {
		t.Errorf("exclusive everywhere: total %g J, the nodes drew %g J", tot.EnergyJ, tot.NodeEnergyJ)
	}
}

// sameFigures says whether a and b are the same figures (JobFigures hold
// lists: it compares the numbers).
func sameFigures(a, b wire.JobFigures) bool {
	return a.EnergyJ == b.EnergyJ && a.MeanW == b.MeanW && a.RestJ == b.RestJ && a.CoreFraction == b.CoreFraction
}

// checkSeries checks the series of the answer in 4 buckets against the
// same closed form: in every bucket the job draws sum(want) W and the
// nodes 440 W each.
func checkSeries(t *testing.T, resp *wire.QueryResponse, want map[uint32]float64) {
	t.Helper()
	const n = 4
	edges := aggregate.Edges(wire.UnixNano(resp.Start), wire.UnixNano(resp.End), n)
	buckets := map[uint32]*wire.RankBuckets{}
	for _, r := range resp.Ranks {
		var bs []aggregate.Result
		for k := range n {
			bs = append(bs, standInResult(float64(edges[k])/1e9, float64(edges[k+1])/1e9))
		}
		rb := wire.BucketColumns(bs)
		buckets[r.Rank] = &rb
	}
	s, err := SumSeries(resp.Start, resp.End, wire.SeriesSpec{Buckets: n, Node: true}, resp.Ranks, buckets, 0)
	if err != nil {
		t.Fatal(err)
	}
	sumW := 0.0
	for _, w := range want {
		sumW += w
	}
	for k := range n {
		job, node := s.Buckets[k].Domains[aggregate.KindNode], s.Node[k].Domains[aggregate.KindNode]
		if !closeTo(job.MeanW, sumW) || !closeTo(job.EnergyJ, sumW*cfDur/n) || job.Coverage != 1 {
			t.Errorf("bucket %d: the job %g W, %g J, coverage %g; want %g W", k, job.MeanW, job.EnergyJ, job.Coverage, sumW)
		}
		if nodeW := float64(len(want)) * standInNodeW; !closeTo(node.MeanW, nodeW) {
			t.Errorf("bucket %d: the nodes %g W, want %g W", k, node.MeanW, nodeW)
		}
	}
}

// TestClosedFormsShare: t/t0010-share.t's jobs, each charged its GPUs whole
// and its core fraction of the rest, or the node where it holds all of it.
func TestClosedFormsShare(t *testing.T) {
	inst := mustParseR(t, cfInstanceR)
	type share struct {
		ncores, ngpus int
		cf            float64
		exclusive     bool
	}
	for _, c := range []struct {
		name   string
		rlite  string             // the job's R
		want   map[uint32]float64 // W charged on each rank
		shares map[uint32]share
		shared bool
	}{
		// a: 50 + 4/8 x 240 = 170 W
		{"a: 4 cores and a GPU of rank 0", `[{"rank": "0", "children": {"core": "0-3", "gpu": "0"}}]`,
			map[uint32]float64{0: 170}, map[uint32]share{0: {4, 1, 0.5, false}}, true},
		// b: 2 x 50 + 2/8 x 240 = 160 W
		{"b: 2 cores and 2 GPUs of rank 0", `[{"rank": "0", "children": {"core": "4-5", "gpu": "1-2"}}]`,
			map[uint32]float64{0: 160}, map[uint32]share{0: {2, 2, 0.25, false}}, true},
		// c: 1/8 x 240 = 30 W
		{"c: a core of rank 0, no GPU", `[{"rank": "0", "children": {"core": "6"}}]`,
			map[uint32]float64{0: 30}, map[uint32]share{0: {1, 0, 0.125, false}}, true},
		// x: the node, 440 W
		{"x: all of rank 1", `[{"rank": "1", "children": {"core": "0-7", "gpu": "0-3"}}]`,
			map[uint32]float64{1: 440}, map[uint32]share{1: {8, 4, 1, true}}, false},
		// ab: 2 x 50 + 240 = 340 W on one rank (every core, not every
		// GPU: not exclusive), 50 + 4/8 x 240 = 170 W on the other: 510 W
		{"ab: a different share on each rank", `[{"rank": "0", "children": {"core": "0-7", "gpu": "0-1"}}, {"rank": "1", "children": {"core": "0-3", "gpu": "2"}}]`,
			map[uint32]float64{0: 340, 1: 170}, map[uint32]share{0: {8, 2, 1, false}, 1: {4, 1, 0.5, false}}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp := chargeJob(t, rliteR(t, c.rlite), inst)
			for _, r := range resp.Ranks {
				s, w := r.Share, c.shares[r.Rank]
				if s.NCores != w.ncores || s.NGPUs != w.ngpus || s.NodeCores != 8 || s.NodeGPUs != 4 || s.CoreFraction != w.cf || s.Exclusive != w.exclusive {
					t.Errorf("rank %d: share %+v, want %+v of 8 cores and 4 GPUs", r.Rank, *s, w)
				}
			}
			checkCharged(t, &resp, c.want, c.shared)
			checkSeries(t, &resp, c.want)
		})
	}
}

// TestClosedFormsSideBySide: a, b and c of t0010 ran at the same time on
// rank 0: 170 + 160 + 30 = 360 W, the node less its free core (30 W) and
// its free GPU (50 W), and never more than the node.
func TestClosedFormsSideBySide(t *testing.T) {
	inst := mustParseR(t, cfInstanceR)
	sum := 0.0
	for _, rlite := range []string{
		`[{"rank": "0", "children": {"core": "0-3", "gpu": "0"}}]`,
		`[{"rank": "0", "children": {"core": "4-5", "gpu": "1-2"}}]`,
		`[{"rank": "0", "children": {"core": "6"}}]`,
	} {
		resp := chargeJob(t, rliteR(t, rlite), inst)
		sum += resp.Ranks[0].Job.MeanW
	}
	if !closeTo(sum, standInNodeW-30-standInGPUW) || sum > standInNodeW {
		t.Errorf("the jobs on rank 0 draw %g W together, want 360 W (the node's 440 W less a free core and GPU)", sum)
	}
}

// TestClosedFormsNoShare: without the job's R (t0010 without job-info) no
// rank has a share: each is charged the node, and nothing is shared.
func TestClosedFormsNoShare(t *testing.T) {
	resp := wire.QueryResponse{Start: cfT0, End: cfT0 + cfDur, Ranks: []wire.RankResult{standInRank(0)}}
	Charge(resp.Ranks)
	Summarize(&resp)
	if r := &resp.Ranks[0]; r.Job != nil || r.JobError != "" || Charged(r).EnergyJ != r.Node.EnergyJ {
		t.Errorf("a rank without a share: job %+v, error %q, charged %g J", r.Job, r.JobError, Charged(r).EnergyJ)
	}
	if tot := resp.Total; tot.EnergyJ != tot.NodeEnergyJ || !closeTo(tot.AvgPowerW, standInNodeW) || tot.Shared {
		t.Errorf("totals %+v: want the node's 440 W, not shared", tot)
	}
}

// TestClosedFormsNested: t/t0012-nested.t's inner jobs, asked of the
// enclosing instance with the share they hold there (internal/nested maps
// their cores and GPUs onto the enclosing job's), as a guest: each inner
// job is charged its share of the node over the instance's R, not of the
// enclosing job's, however deep the nesting.
func TestClosedFormsNested(t *testing.T) {
	inst := mustParseR(t, cfInstanceR)
	// The enclosing jobs at the level of the module (level 0).
	const (
		// flux batch -N2, and flux alloc -N2 of the two levels: every
		// core and GPU of both ranks
		wholeNodes = `[{"rank": "0-1", "children": {"core": "0-7", "gpu": "0-3"}}]`
		// flux alloc -N2 -n2 -c4 -g2 beside a job that holds cores 0-1
		// and GPU 0 of rank 0
		besideBlocker = `[{"rank": "0", "children": {"core": "2-5", "gpu": "1-2"}}, {"rank": "1", "children": {"core": "0-3", "gpu": "0-1"}}]`
	)
	for _, c := range []struct {
		name      string
		enclosing string                    // the enclosing job's R
		share     map[string]wire.RankShare // the inner job's, in the enclosing ids
		want      map[uint32]float64        // W charged on each rank
	}{
		// a: -c2 -g1 on nested rank 0: 2/8 x 240 + 50 = 110 W
		{"batch: a", wholeNodes, map[string]wire.RankShare{"0": {Cores: "0-1", GPUs: "0"}}, map[uint32]float64{0: 110}},
		// b: -c1: 1/8 x 240 = 30 W
		{"batch: b", wholeNodes, map[string]wire.RankShare{"0": {Cores: "2"}}, map[uint32]float64{0: 30}},
		// c: -N2 -n2 -c1: 30 W on each of 2 nodes, 60 W
		{"batch: c", wholeNodes, map[string]wire.RankShare{"0": {Cores: "3"}, "1": {Cores: "0"}}, map[uint32]float64{0: 30, 1: 30}},
		// a in the alloc: nested cores 0-1 are the alloc's first two,
		// enclosing cores 2-3; GPU 1 kept: 2/8 (of the node, not 2/4 of
		// the alloc) x 240 + 50 = 110 W
		{"alloc beside a job: a", besideBlocker, map[string]wire.RankShare{"0": {Cores: "2-3", GPUs: "1"}}, map[uint32]float64{0: 110}},
		{"alloc beside a job: c", besideBlocker, map[string]wire.RankShare{"0": {Cores: "2"}, "1": {Cores: "0"}}, map[uint32]float64{0: 30, 1: 30}},
		// two levels: a batch inside an alloc of whole nodes, beside a
		// job of the alloc: the share of a share of a share, the same
		// 110 W
		{"two levels: a", wholeNodes, map[string]wire.RankShare{"0": {Cores: "2-3", GPUs: "1"}}, map[uint32]float64{0: 110}},
	} {
		t.Run(c.name, func(t *testing.T) {
			enclR := rliteR(t, c.enclosing)
			// what internal/nested asks: the ranks of the share, the
			// inner job's window, its share
			var ranks []uint32
			for k := range c.want {
				ranks = append(ranks, k)
			}
			slices.Sort(ranks)
			req := wire.QueryRequest{JobID: "1", Ranks: wire.FormatIDSet(ranks), Start: cfT0, End: cfT0 + cfDur, Share: c.share}
			n, err := ParseNarrowing(req)
			if err != nil {
				t.Fatal(err)
			}
			asked, err := n.Apply(JobRun{JobID: "ƒJ", Start: cfT0 - 10, End: cfT0 + 10, Ranks: sortedKeys(enclR)}, true)
			if err != nil {
				t.Fatal(err)
			}
			if err := CheckShare("ƒJ", n.Share, enclR); err != nil {
				t.Fatal(err)
			}
			if asked.Start != cfT0 || asked.End != cfT0+cfDur || len(asked.Ranks) != len(c.want) {
				t.Fatalf("asked %+v", asked)
			}
			// each rank charged the inner job's share over the instance's R
			held := wire.Resources{}
			for _, r := range asked.Ranks {
				held[r] = n.Share[r]
			}
			resp := chargeJob(t, held, inst)
			for _, r := range resp.Ranks {
				if r.Share.NodeCores != 8 || r.Share.CoreFraction != float64(r.Share.NCores)/8 {
					t.Errorf("rank %d: share %+v, want a fraction of the node's 8 cores", r.Rank, *r.Share)
				}
			}
			checkCharged(t, &resp, c.want, true)
		})
	}
}

// TestClosedFormsNestedOwnCoresOnly: a guest's inner share may hold only
// what the enclosing job holds: the alloc beside the other job cannot
// split that job's core 0 or GPU 0 (t0012's alloc and its blocker).
func TestClosedFormsNestedOwnCoresOnly(t *testing.T) {
	enclR := rliteR(t, `[{"rank": "0", "children": {"core": "2-5", "gpu": "1-2"}}, {"rank": "1", "children": {"core": "0-3", "gpu": "0-1"}}]`)
	for _, share := range []map[string]wire.RankShare{
		{"0": {Cores: "0-1"}},
		{"0": {Cores: "2", GPUs: "0"}},
	} {
		n, err := ParseNarrowing(wire.QueryRequest{JobID: "1", Share: share})
		if err != nil {
			t.Fatal(err)
		}
		var d *Denied
		if err := CheckShare("ƒJ", n.Share, enclR); !errors.As(err, &d) {
			t.Errorf("share %v of the alloc: %v, want Denied", share, err)
		}
	}
}
