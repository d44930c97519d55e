// SPDX-License-Identifier: LGPL-3.0-only

package account

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/flux-framework/power-monitor/internal/wire"
)

func rank(r uint32, presence, reason string, methods ...string) wire.RankResult {
	rr := wire.RankResult{Rank: r, Hostname: fmt.Sprintf("node%d", r)}
	rr.Presence, rr.Reason = presence, reason
	rr.Node = wire.Domain{Kind: "node", Index: -1}
	for i, m := range methods {
		d := wire.Domain{Kind: "gpu", Index: i, Measured: m != "", Method: m, EnergyJ: 10}
		if i == 0 {
			d.Kind, d.Index = "node", -1
			rr.Node = d
			continue
		}
		rr.GPU = append(rr.GPU, d)
	}
	return rr
}

// The record carries the query's totals as they are, and says why
// anything is missing.
func TestFromQuery(t *testing.T) {
	resp := &wire.QueryResponse{
		Start: 100, End: 160, RankSet: "0-3",
		Ranks: []wire.RankResult{
			rank(0, "complete", "", "counter", "counter"),
			rank(1, "partial", "overwritten", "counter", "power"),
		},
		Missing: []wire.Missing{
			{Rank: 2, Hostname: "node2", Reason: wire.ReasonNoAnswer, Error: "no answer within 5s"},
			{Rank: 3, Reason: wire.ReasonNotLoaded},
		},
		ShareError: "reading the instance's R: resource.get on rank 0 did not answer within 5s",
		Total: wire.Total{EnergyJ: 1200.5, AvgPowerW: 20.008, NodeEnergyJ: 2400, NodeAvgPowerW: 40,
			CPUEnergyJ: 1, MemEnergyJ: 2, GPUEnergyJ: 3, DurationS: 60, Ranks: 4, Answered: 2,
			Coverage: 0.4, Presence: "partial", Shared: true},
	}
	resp.Ranks[1].JobError = "rank 1: the job holds gpu 3, which the rank's reading does not have (it reads 2 GPUs)"
	got := FromQuery(resp)
	want := Record{Version: 1, EnergyJ: 1200.5, AvgPowerW: 20.008, NodeEnergyJ: 2400, NodeAvgPowerW: 40,
		CPUEnergyJ: 1, MemEnergyJ: 2, GPUEnergyJ: 3, Start: 100, End: 160, DurationS: 60,
		NNodes: 4, Ranks: "0-3", Coverage: 0.4, Presence: "partial", Method: MethodMixed, Shared: true,
		Missing: "2-3",
		Reason: "rank 2 (node2): rank did not answer (no answer within 5s); rank 3: module not loaded on rank; " +
			"rank 1 (node1): overwritten; reading the instance's R: resource.get on rank 0 did not answer within 5s; " +
			"rank 1: the job holds gpu 3, which the rank's reading does not have (it reads 2 GPUs)"}
	if got != want {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	// The event's keys are those doc/rpc.md lists; the plugin's are absent.
	b, _ := json.Marshal(got)
	var keys map[string]any
	json.Unmarshal(b, &keys)
	for _, k := range []string{"version", "energy_j", "avg_power_w", "node_energy_j", "node_avg_power_w",
		"cpu_energy_j", "mem_energy_j", "gpu_energy_j", "start", "end", "duration_s", "nnodes", "ranks",
		"coverage", "data_presence", "method", "shared", "missing", "reason"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("key %s missing from %s", k, b)
		}
	}
	for _, k := range []string{"userid", "queue", "bank", "project"} {
		if _, ok := keys[k]; ok {
			t.Errorf("key %s set by the module: %s", k, b)
		}
	}
}

// A complete answer has no reason and no missing ranks.
func TestFromQueryComplete(t *testing.T) {
	resp := &wire.QueryResponse{Start: 1, End: 2, RankSet: "0",
		Ranks: []wire.RankResult{rank(0, "complete", "", "power", "power")},
		Total: wire.Total{EnergyJ: 5, Ranks: 1, Answered: 1, Coverage: 1, Presence: "complete", DurationS: 1}}
	got := FromQuery(resp)
	if got.Reason != "" || got.Missing != "" || got.Method != MethodPower || got.NNodes != 1 {
		t.Fatalf("%+v", got)
	}
	b, _ := json.Marshal(got)
	if strings.Contains(string(b), `"missing"`) || strings.Contains(string(b), `"reason"`) {
		t.Fatalf("empty keys sent: %s", b)
	}
}

func TestMethod(t *testing.T) {
	for _, c := range []struct {
		ranks []wire.RankResult
		want  string
	}{
		{nil, MethodNone},
		{[]wire.RankResult{rank(0, "none", "no samples", "", "")}, MethodNone},
		{[]wire.RankResult{rank(0, "complete", "", "counter"), rank(1, "complete", "", "counter", "counter")}, MethodCounter},
		{[]wire.RankResult{rank(0, "complete", "", "power"), rank(1, "complete", "", "power", "")}, MethodPower},
		{[]wire.RankResult{rank(0, "complete", "", "power"), rank(1, "complete", "", "counter")}, MethodMixed},
		{[]wire.RankResult{rank(0, "complete", "", "mixed")}, MethodMixed},
	} {
		if got := method(c.ranks); got != c.want {
			t.Errorf("%+v: %s, want %s", c.ranks, got, c.want)
		}
	}
}

// Past eight parts the reason says how many more there are.
func TestReasonBound(t *testing.T) {
	resp := &wire.QueryResponse{Start: 1, End: 2}
	for r := uint32(0); r < 11; r++ {
		resp.Missing = append(resp.Missing, wire.Missing{Rank: r, Reason: wire.ReasonNoAnswer})
	}
	got := FromQuery(resp)
	if got.Missing != "0-10" || strings.Count(got.Reason, "; ") != 8 || !strings.HasSuffix(got.Reason, "; and 3 more") {
		t.Fatalf("%q %q", got.Missing, got.Reason)
	}
}
