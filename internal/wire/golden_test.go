// SPDX-License-Identifier: LGPL-3.0-only

package wire

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/flux-framework/power-monitor/internal/store/aggregate"
)

// goldenResponse sets every field of a QueryResponse: three answered ranks
// (one measured with every kind of domain, a share of the node and the
// job's part of it, one without a source, whose domain lists are empty or
// absent, and without a share, which share_error explains, and one whose
// share names a GPU its reading does not have: a job_error) and a missing
// rank.
func goldenResponse() QueryResponse {
	uid := uint32(1001)
	d := func(kind string, i int, e float64, method, src string) aggregate.Domain {
		return aggregate.Domain{Kind: kind, Index: i, Measured: true, EnergyJ: e, MeanW: e / 10, MinW: e / 20, MaxW: e / 5, Method: method, Source: src}
	}
	measured := aggregate.Result{
		Start: 100.25, End: 110.25, Samples: 11, FirstSample: 100.5, LastSample: 110, CoveredS: 9.75,
		Coverage: 0.975, Presence: aggregate.PresencePartial, Reason: aggregate.ReasonGap, NodeDerived: true,
		Node: d(aggregate.KindNode, -1, 3000, aggregate.MethodMixed, "sum of rapl+nvml"),
		CPU:  []aggregate.Domain{d(aggregate.KindCPU, 0, 1000, aggregate.MethodCounter, "rapl"), {Kind: aggregate.KindCPU, Index: 1}},
		Mem:  []aggregate.Domain{d(aggregate.KindMem, 0, 200, aggregate.MethodPower, "rapl")},
		GPU:  []aggregate.Domain{d(aggregate.KindGPU, 0, 1800, aggregate.MethodPower, "nvml")},
	}
	none := aggregate.Result{
		Start: 100.25, End: 110.25, Presence: aggregate.PresenceNone, Reason: ReasonNoSource + ": variorum: not found",
		Node: aggregate.Domain{Kind: aggregate.KindNode, Index: -1},
		CPU:  []aggregate.Domain{},
	}
	resp := QueryResponse{
		ID: 1234, JobID: "ƒ2eoTe1ogb", UserID: &uid, State: "RUN", Running: true,
		Start: 100.25, End: 110.25, RankSet: "0-3",
		Ranks: []RankResult{
			{Rank: 0, Hostname: "node0", Source: "rapl+nvml", Aggregate: FromAggregate(measured),
				Share: &Share{Cores: "0-3", GPUs: "0", NCores: 4, NGPUs: 1, NodeCores: 8, NodeGPUs: 1, NodeGPUIDs: "0", CoreFraction: 0.5}},
			{Rank: 2, Hostname: "node2", Source: "none", Aggregate: FromAggregate(none)},
			{Rank: 3, Hostname: "node3", Source: "rapl+nvml", Aggregate: FromAggregate(measured),
				Share: &Share{Cores: "0-7", GPUs: "1", NCores: 8, NGPUs: 1, NodeCores: 8, NodeGPUs: 2, NodeGPUIDs: "0-1", CoreFraction: 1}},
		},
		Missing:    []Missing{{Rank: 1, Hostname: "node1", Reason: ReasonNoAnswer, Error: "no answer within 10s"}},
		ShareError: "the instance's R has no rank 2",
	}
	Charge(resp.Ranks)
	Summarize(&resp)
	return resp
}

// TestWireJSONGolden fails when a field name, the order of the fields or a
// value's encoding changes on the wire: the shell plugin (plugin/power.c),
// flux power-query and doc/rpc.md read these names. A deliberate protocol
// change updates testdata/query-response.json with it.
func TestWireJSONGolden(t *testing.T) {
	resp := goldenResponse()
	b, err := json.Marshal(&resp)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := json.Indent(&got, b, "", "  "); err != nil {
		t.Fatal(err)
	}
	got.WriteByte('\n')
	path := filepath.Join("testdata", "query-response.json")
	if os.Getenv("WIRE_GOLDEN_UPDATE") != "" {
		if err := os.WriteFile(path, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Errorf("the JSON of a power-monitor.query response changed:\n got %s\nwant %s", got.Bytes(), want)
	}
	// The answer decodes back to what was sent.
	var back QueryResponse
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(&back)
	if !bytes.Equal(again, b) {
		t.Errorf("decoding and encoding again changed the answer:\n got %s\nwant %s", again, b)
	}
}
