// SPDX-License-Identifier: LGPL-3.0-only

package charge

import (
	"math"
	"testing"

	"github.com/flux-framework/power-monitor/internal/store/aggregate"
	"github.com/flux-framework/power-monitor/internal/wire"
)

func rank(r uint32, node, cpu0, gpu0, covered float64, presence string) wire.RankResult {
	return wire.RankResult{Rank: r, Aggregate: wire.Aggregate{
		Samples:  10,
		CoveredS: covered,
		Presence: presence,
		Node:     wire.Domain{Kind: "node", Index: -1, Measured: true, EnergyJ: node},
		CPU:      []wire.Domain{{Kind: "cpu", Measured: true, EnergyJ: cpu0}, {Kind: "cpu", Index: 1, Measured: false, EnergyJ: 99}},
		GPU:      []wire.Domain{{Kind: "gpu", Measured: true, EnergyJ: gpu0}},
	}}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestSummarizeComplete(t *testing.T) {
	resp := wire.QueryResponse{Start: 100, End: 110, Ranks: []wire.RankResult{
		rank(2, 3000, 1000, 1500, 10, aggregate.PresenceComplete),
		rank(0, 2000, 800, 900, 10, aggregate.PresenceComplete),
	}}
	Summarize(&resp)
	if resp.Ranks[0].Rank != 0 || resp.Ranks[1].Rank != 2 {
		t.Fatalf("ranks not sorted: %d %d", resp.Ranks[0].Rank, resp.Ranks[1].Rank)
	}
	tot := resp.Total
	// 2000+3000 J over 10 s: 500 W; unmeasured cpu1 (99 J) is not counted.
	if !near(tot.EnergyJ, 5000) || !near(tot.AvgPowerW, 500) || !near(tot.DurationS, 10) ||
		!near(tot.CPUEnergyJ, 1800) || !near(tot.GPUEnergyJ, 2400) || tot.MemEnergyJ != 0 ||
		!near(tot.NodeEnergyJ, 5000) || !near(tot.NodeAvgPowerW, 500) || tot.Shared || tot.JobErrors != 0 {
		t.Fatalf("totals %+v", tot)
	}
	if tot.Presence != aggregate.PresenceComplete || !near(tot.Coverage, 1) || tot.Samples != 20 || tot.Ranks != 2 || tot.Answered != 2 {
		t.Fatalf("presence/coverage %+v", tot)
	}
	if resp.Missing == nil {
		t.Fatal("missing must be an empty list, not null")
	}
}

func TestSummarizeMissingRankIsPartial(t *testing.T) {
	resp := wire.QueryResponse{Start: 0, End: 10,
		Ranks:   []wire.RankResult{rank(0, 1000, 0, 0, 10, aggregate.PresenceComplete)},
		Missing: []wire.Missing{{Rank: 3, Reason: wire.ReasonNoAnswer}, {Rank: 1, Reason: wire.ReasonNotLoaded}},
	}
	Summarize(&resp)
	tot := resp.Total
	if tot.Presence != aggregate.PresencePartial || tot.Ranks != 3 || tot.Answered != 1 {
		t.Fatalf("totals %+v", tot)
	}
	// 10 covered rank-seconds of 30
	if !near(tot.Coverage, 1.0/3) {
		t.Fatalf("coverage %v, want 1/3", tot.Coverage)
	}
	if resp.Missing[0].Rank != 1 || resp.Missing[1].Rank != 3 {
		t.Fatal("missing not sorted")
	}
}

func TestSummarizeNothing(t *testing.T) {
	resp := wire.QueryResponse{Start: 0, End: 10, Missing: []wire.Missing{{Rank: 0, Reason: wire.ReasonNoAnswer}}}
	Summarize(&resp)
	if resp.Total.Presence != aggregate.PresenceNone || resp.Total.EnergyJ != 0 || resp.Ranks == nil {
		t.Fatalf("%+v", resp)
	}
	r := rank(0, 0, 0, 0, 0, aggregate.PresenceNone)
	resp = wire.QueryResponse{Start: 0, End: 10, Ranks: []wire.RankResult{r}}
	Summarize(&resp)
	if resp.Total.Presence != aggregate.PresenceNone {
		t.Fatalf("presence %q, want none", resp.Total.Presence)
	}
}

// TestTotalsCharge: the totals sum the job's part of each rank (Job), 0
// where it failed (JobError, counted), and the node's figures where no
// share is known; the nodes' sums are beside them.
func TestTotalsCharge(t *testing.T) {
	job := rank(0, 2000, 800, 900, 10, aggregate.PresenceComplete)
	job.Share = &wire.Share{Cores: "0-3", NCores: 4, NodeCores: 8, CoreFraction: 0.5}
	job.Job = &wire.JobFigures{CoreFraction: 0.5, EnergyJ: 1000, CPU: []wire.Domain{{Kind: "cpu", Measured: true, EnergyJ: 400}},
		Mem: []wire.Domain{{Kind: "mem", Measured: true, EnergyJ: 50}}, GPU: []wire.Domain{{Kind: "gpu", Measured: true, EnergyJ: 300}}}
	noShare := rank(1, 3000, 1000, 1500, 10, aggregate.PresenceComplete)
	failed := rank(2, 500, 100, 100, 10, aggregate.PresenceComplete)
	failed.Share = &wire.Share{Cores: "0-7", NCores: 8, NodeCores: 8, CoreFraction: 1, Exclusive: true}
	failed.JobError = "rank 2: the job holds gpu 3, which the rank's reading does not have (it reads 1 GPUs)"
	tot := Totals(100, 110, []wire.RankResult{job, noShare, failed}, 0)
	if !near(tot.EnergyJ, 4000) || !near(tot.AvgPowerW, 400) || !near(tot.CPUEnergyJ, 1400) ||
		!near(tot.MemEnergyJ, 50) || !near(tot.GPUEnergyJ, 1800) {
		t.Errorf("the job's totals %+v, want 1000+3000+0 J", tot)
	}
	if !near(tot.NodeEnergyJ, 5500) || !near(tot.NodeAvgPowerW, 550) || !tot.Shared || tot.JobErrors != 1 {
		t.Errorf("the nodes' totals %+v, want 5500 J, shared, 1 job error", tot)
	}
	if tot.Presence != aggregate.PresenceComplete {
		t.Errorf("a job error is no gap in the data: presence %q", tot.Presence)
	}
	// exclusive everywhere: not shared, and the job's totals are the nodes'
	job.Share.Exclusive = true
	job.Job = &wire.JobFigures{Exclusive: true, CoreFraction: 1, EnergyJ: 2000}
	if tot := Totals(100, 110, []wire.RankResult{job, noShare}, 0); tot.Shared || !near(tot.EnergyJ, tot.NodeEnergyJ) || !near(tot.AvgPowerW, tot.NodeAvgPowerW) {
		t.Errorf("exclusive: %+v", tot)
	}
}
