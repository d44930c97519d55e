package export

import (
	"reflect"
	"testing"

	"github.com/flux-framework/power-monitor/internal/store/aggregate"
	"github.com/flux-framework/power-monitor/internal/wire"
)

func result(start, end, node, cpu, gpu, covered float64, presence string) aggregate.Result {
	return aggregate.Result{Start: start, End: end, Samples: 11, CoveredS: covered, Presence: presence,
		Node: aggregate.Domain{Kind: "node", Index: -1, Measured: true, EnergyJ: node, MeanW: node / (end - start)},
		CPU:  []aggregate.Domain{{Kind: "cpu", Measured: true, EnergyJ: cpu}, {Kind: "cpu", Index: 1, EnergyJ: 99}},
		GPU:  []aggregate.Domain{{Kind: "gpu", Measured: true, EnergyJ: gpu}},
	}
}

// The agent's summary of a job on one node: the job totals of one rank.
func TestSummaryFromWindow(t *testing.T) {
	got := SummaryFromWindow("job1", "host", result(100, 110, 2000, 800, 900, 10, aggregate.PresenceComplete))
	want := JobSummary{ID: "job1", Start: 100, End: 110, DurationS: 10, EnergyJ: 2000, PowerW: 200,
		CPUJ: 800, GPUJ: 900, Ranks: 1, Missing: []uint32{}, Coverage: 1, Presence: aggregate.PresenceComplete,
		Nodes: []JobNode{{Rank: 0, Hostname: "host", EnergyJ: 2000, PowerW: 200}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	// Nothing covered: no energy, presence none.
	got = SummaryFromWindow("job2", "host", aggregate.Result{Start: 5, End: 5, Presence: aggregate.PresenceNone})
	if got.Presence != aggregate.PresenceNone || got.EnergyJ != 0 || got.Coverage != 0 || got.Ranks != 1 {
		t.Errorf("empty window: %+v", got)
	}
}

// The module's summary of a job: its query answer, missing ranks included.
func TestSummaryFromQuery(t *testing.T) {
	uid := uint32(7)
	q := wire.QueryResponse{JobID: "ƒ2", UserID: &uid, Start: 100, End: 110,
		Ranks: []wire.RankResult{
			{Rank: 2, Hostname: "n2", Aggregate: wire.FromAggregate(result(100, 110, 3000, 1000, 1500, 10, aggregate.PresenceComplete))},
			{Rank: 0, Hostname: "n0", Aggregate: wire.FromAggregate(result(100, 110, 2000, 800, 900, 10, aggregate.PresenceComplete))},
		},
		Missing: []wire.Missing{{Rank: 1, Reason: wire.ReasonNoAnswer}},
	}
	wire.Summarize(&q)
	got := SummaryFromQuery(&q)
	want := JobSummary{ID: "ƒ2", UserID: &uid, Start: 100, End: 110, DurationS: 10, EnergyJ: 5000, PowerW: 500,
		CPUJ: 1800, GPUJ: 2400, Ranks: 3, Missing: []uint32{1}, Coverage: 20.0 / 30, Presence: aggregate.PresencePartial,
		Nodes: []JobNode{{Rank: 0, Hostname: "n0", EnergyJ: 2000, PowerW: 200}, {Rank: 2, Hostname: "n2", EnergyJ: 3000, PowerW: 300}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}
