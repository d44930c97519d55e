// SPDX-License-Identifier: LGPL-3.0-only

package charge

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/flux-framework/power-monitor/internal/store/aggregate"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// goldenResponse sets every field of a QueryResponse: three answered ranks
// (one measured with every kind of domain, a share of the node and the
// job's part of it, one without a source, whose domain lists are empty or
// absent, and without a share, which share_error explains, and one whose
// share names a GPU its reading does not have: a job_error) and a missing
// rank.
func goldenResponse() wire.QueryResponse {
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
		Start: 100.25, End: 110.25, Presence: aggregate.PresenceNone, Reason: wire.ReasonNoSource + ": variorum: not found",
		Node: aggregate.Domain{Kind: aggregate.KindNode, Index: -1},
		CPU:  []aggregate.Domain{},
	}
	resp := wire.QueryResponse{
		ID: 1234, JobID: "ƒ2eoTe1ogb", UserID: &uid, State: "RUN", Running: true,
		Start: 100.25, End: 110.25, RankSet: "0-3",
		Ranks: []wire.RankResult{
			{Rank: 0, Hostname: "node0", Source: "rapl+nvml", Aggregate: wire.FromAggregate(measured),
				Share: &wire.Share{Cores: "0-3", GPUs: "0", NCores: 4, NGPUs: 1, NodeCores: 8, NodeGPUs: 1, NodeGPUIDs: "0", CoreFraction: 0.5}},
			{Rank: 2, Hostname: "node2", Source: "none", Aggregate: wire.FromAggregate(none)},
			{Rank: 3, Hostname: "node3", Source: "rapl+nvml", Aggregate: wire.FromAggregate(measured),
				Share: &wire.Share{Cores: "0-7", GPUs: "1", NCores: 8, NGPUs: 1, NodeCores: 8, NodeGPUs: 2, NodeGPUIDs: "0-1", CoreFraction: 1}},
		},
		Missing:    []wire.Missing{{Rank: 1, Hostname: "node1", Reason: wire.ReasonNoAnswer, Error: "no answer within 10s"}},
		ShareError: "the instance's R has no rank 2",
	}
	Charge(resp.Ranks)
	Summarize(&resp)
	return resp
}

// TestAnswerGolden: the answer that Charge and Summarize make of the
// golden ranks is, byte for byte, the one that pins the wire format,
// internal/wire/testdata/query-response.json (whose own test,
// wire.TestWireJSONGolden, checks that it reads back unchanged). It fails
// when a field changes on the wire, or when a figure of the job's part of a
// rank or of the totals changes. A deliberate change updates the file
// (WIRE_GOLDEN_UPDATE=1 go test ./internal/charge -run Golden) with it.
func TestAnswerGolden(t *testing.T) {
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
	path := filepath.Join("..", "wire", "testdata", "query-response.json")
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
}
