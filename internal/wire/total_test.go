package wire

import (
	"math"
	"testing"

	"github.com/flux-framework/power-monitor/internal/store/aggregate"
)

func rank(r uint32, node, cpu0, gpu0, covered float64, presence string) RankResult {
	return RankResult{Rank: r, Aggregate: Aggregate{
		Samples:  10,
		CoveredS: covered,
		Presence: presence,
		Node:     Domain{Kind: "node", Index: -1, Measured: true, EnergyJ: node},
		CPU:      []Domain{{Kind: "cpu", Measured: true, EnergyJ: cpu0}, {Kind: "cpu", Index: 1, Measured: false, EnergyJ: 99}},
		GPU:      []Domain{{Kind: "gpu", Measured: true, EnergyJ: gpu0}},
	}}
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestSummarizeComplete(t *testing.T) {
	resp := QueryResponse{Start: 100, End: 110, Ranks: []RankResult{
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
		!near(tot.CPUEnergyJ, 1800) || !near(tot.GPUEnergyJ, 2400) || tot.MemEnergyJ != 0 {
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
	resp := QueryResponse{Start: 0, End: 10,
		Ranks:   []RankResult{rank(0, 1000, 0, 0, 10, aggregate.PresenceComplete)},
		Missing: []Missing{{Rank: 3, Reason: ReasonNoAnswer}, {Rank: 1, Reason: ReasonNotLoaded}},
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
	resp := QueryResponse{Start: 0, End: 10, Missing: []Missing{{Rank: 0, Reason: ReasonNoAnswer}}}
	Summarize(&resp)
	if resp.Total.Presence != aggregate.PresenceNone || resp.Total.EnergyJ != 0 || resp.Ranks == nil {
		t.Fatalf("%+v", resp)
	}
	r := rank(0, 0, 0, 0, 0, aggregate.PresenceNone)
	resp = QueryResponse{Start: 0, End: 10, Ranks: []RankResult{r}}
	Summarize(&resp)
	if resp.Total.Presence != aggregate.PresenceNone {
		t.Fatalf("presence %q, want none", resp.Total.Presence)
	}
}
