// SPDX-License-Identifier: LGPL-3.0-only

package export

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/flux-framework/power-monitor/internal/charge"
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

// The agent's summary of a job on one node: the job totals of one rank; the
// job has the node to itself, so its figures are the node's.
func TestSummaryFromWindow(t *testing.T) {
	got := SummaryFromWindow("job1", "host", result(100, 110, 2000, 800, 900, 10, aggregate.PresenceComplete))
	want := JobSummary{ID: "job1", Start: 100, End: 110, DurationS: 10, EnergyJ: 2000, PowerW: 200,
		NodeEnergyJ: 2000, NodePowerW: 200,
		CPUJ: 800, GPUJ: 900, Ranks: 1, Missing: []uint32{}, Coverage: 1, Presence: aggregate.PresenceComplete,
		Nodes: []JobNode{{Rank: 0, Hostname: "host", EnergyJ: 2000, PowerW: 200, NodeEnergyJ: 2000, NodePowerW: 200}}}
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
// No share is known (the R's could not be read): the job is charged its
// nodes.
func TestSummaryFromQuery(t *testing.T) {
	uid := uint32(7)
	q := wire.QueryResponse{JobID: "ƒ2", UserID: &uid, Start: 100, End: 110,
		Ranks: []wire.RankResult{
			{Rank: 2, Hostname: "n2", Aggregate: wire.FromAggregate(result(100, 110, 3000, 1000, 1500, 10, aggregate.PresenceComplete))},
			{Rank: 0, Hostname: "n0", Aggregate: wire.FromAggregate(result(100, 110, 2000, 800, 900, 10, aggregate.PresenceComplete))},
		},
		Missing: []wire.Missing{{Rank: 1, Reason: wire.ReasonNoAnswer}},
	}
	charge.Summarize(&q)
	got := SummaryFromQuery(&q)
	want := JobSummary{ID: "ƒ2", UserID: &uid, Start: 100, End: 110, DurationS: 10, EnergyJ: 5000, PowerW: 500,
		NodeEnergyJ: 5000, NodePowerW: 500,
		CPUJ: 1800, GPUJ: 2400, Ranks: 3, Missing: []uint32{1}, Coverage: 20.0 / 30, Presence: aggregate.PresencePartial,
		Nodes: []JobNode{{Rank: 0, Hostname: "n0", EnergyJ: 2000, PowerW: 200, NodeEnergyJ: 2000, NodePowerW: 200},
			{Rank: 2, Hostname: "n2", EnergyJ: 3000, PowerW: 300, NodeEnergyJ: 3000, NodePowerW: 300}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// A job that shared its nodes: the summary carries its part of each rank
// (as charge.Totals charges it: its figures where its share is known, nothing
// where that part could not be computed) and the nodes' whole beside it.
func TestSummaryFromQueryShared(t *testing.T) {
	node := func(rank uint32, e float64) wire.RankResult {
		return wire.RankResult{Rank: rank, Hostname: "n", Aggregate: wire.FromAggregate(result(100, 110, e, e/2, 0, 10, aggregate.PresenceComplete))}
	}
	r0, r1, r2 := node(0, 2000), node(1, 3000), node(2, 1000)
	// rank 0: half its cores; rank 1: all of it; rank 2: a GPU it cannot see
	r0.Share = &wire.Share{Cores: "0-3", NCores: 4, NodeCores: 8, CoreFraction: 0.5}
	r0.Job = &wire.JobFigures{CoreFraction: 0.5, EnergyJ: 1000, MeanW: 100}
	r1.Share = &wire.Share{Cores: "0-7", NCores: 8, NodeCores: 8, CoreFraction: 1, Exclusive: true}
	r1.Job = &wire.JobFigures{Exclusive: true, CoreFraction: 1, EnergyJ: 3000, MeanW: 300}
	r2.Share = &wire.Share{Cores: "0", GPUs: "5", NCores: 1, NGPUs: 1, NodeCores: 8, CoreFraction: 0.125}
	r2.JobError = "rank 2: the job holds gpu 5, which the rank's reading does not have"
	q := wire.QueryResponse{JobID: "ƒ3", Start: 100, End: 110, Ranks: []wire.RankResult{r0, r1, r2}}
	charge.Summarize(&q)
	got := SummaryFromQuery(&q)
	if got.EnergyJ != 4000 || got.PowerW != 400 || got.NodeEnergyJ != 6000 || got.NodePowerW != 600 || !got.Shared {
		t.Errorf("job %g J %g W, nodes %g J %g W, shared %v; want 4000 J 400 W, 6000 J 600 W, shared",
			got.EnergyJ, got.PowerW, got.NodeEnergyJ, got.NodePowerW, got.Shared)
	}
	want := []JobNode{
		{Rank: 0, Hostname: "n", EnergyJ: 1000, PowerW: 100, NodeEnergyJ: 2000, NodePowerW: 200},
		{Rank: 1, Hostname: "n", EnergyJ: 3000, PowerW: 300, NodeEnergyJ: 3000, NodePowerW: 300},
		{Rank: 2, Hostname: "n", EnergyJ: 0, PowerW: 0, NodeEnergyJ: 1000, NodePowerW: 100},
	}
	if !reflect.DeepEqual(got.Nodes, want) {
		t.Errorf("nodes\n got  %+v\n want %+v", got.Nodes, want)
	}
	// the job's figures over the ranks add up to its total
	sum := 0.0
	for _, n := range got.Nodes {
		sum += n.EnergyJ
	}
	if sum != got.EnergyJ {
		t.Errorf("the ranks' parts sum to %g J, the total says %g J", sum, got.EnergyJ)
	}
}

// A summary goes through a spool as JSON and comes back the same; one
// spooled by an earlier version, without node figures, charged the job its
// nodes: they come back as its node figures.
func TestJobSummaryJSON(t *testing.T) {
	uid := uint32(3)
	js := JobSummary{ID: "f1", UserID: &uid, EnergyJ: 10, PowerW: 1, NodeEnergyJ: 20, NodePowerW: 2, Shared: true,
		Missing: []uint32{}, Nodes: []JobNode{{Rank: 1, EnergyJ: 10, PowerW: 1, NodeEnergyJ: 20, NodePowerW: 2}}}
	b, err := json.Marshal(js)
	if err != nil {
		t.Fatal(err)
	}
	var back JobSummary
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, js) {
		t.Errorf("%s came back as %+v (%v)", b, back, err)
	}
	old := `{"jobid":"f2","start":0,"end":5,"duration_s":5,"energy_j":50,"power_w":10,"missing_ranks":[],` +
		`"nodes":[{"rank":0,"hostname":"h","energy_j":50,"power_w":10}]}`
	var o JobSummary
	if err := json.Unmarshal([]byte(old), &o); err != nil {
		t.Fatal(err)
	}
	if o.NodeEnergyJ != 50 || o.NodePowerW != 10 || o.Shared || o.Nodes[0].NodeEnergyJ != 50 || o.Nodes[0].NodePowerW != 10 {
		t.Errorf("an earlier version's summary read as %+v", o)
	}
	if err := json.Unmarshal([]byte(`{"energy_j":"x"}`), &o); err == nil {
		t.Error("a summary with a string energy decoded without error")
	}
}
