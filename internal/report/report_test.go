package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/flux-framework/power-monitor/internal/store/aggregate"
	"github.com/flux-framework/power-monitor/internal/wire"
)

func dom(kind string, i int, measured bool, e, w float64) wire.Domain {
	return wire.Domain{Kind: kind, Index: i, Measured: measured, EnergyJ: e, MeanW: w, MinW: w, MaxW: w}
}

func sample() *wire.QueryResponse {
	uid := uint32(1000)
	r0 := wire.RankResult{Rank: 0, Hostname: "node0", Source: "variorum", Aggregate: wire.Aggregate{
		Start: 100, End: 110, Samples: 10, FirstSample: 100.5, LastSample: 109.5, CoveredS: 10, Coverage: 1,
		Presence: aggregate.PresenceComplete,
		Node:     dom("node", -1, true, 3400, 340),
		CPU:      []wire.Domain{dom("cpu", 0, true, 1000, 100), dom("cpu", 1, true, 1000, 100)},
		Mem:      []wire.Domain{dom("mem", 0, true, 200, 20), dom("mem", 1, false, 0, 0)},
		GPU:      []wire.Domain{dom("gpu", 0, true, 500, 50), dom("gpu", 1, true, 500, 50)},
	}}
	resp := &wire.QueryResponse{ID: 42, JobID: "ƒ2", UserID: &uid, State: "INACTIVE", Start: 100, End: 110, RankSet: "0-1",
		Ranks:   []wire.RankResult{r0},
		Missing: []wire.Missing{{Rank: 1, Hostname: "node1", Reason: wire.ReasonNotLoaded}},
		Total:   wire.Total{EnergyJ: 3400, DurationS: 10, AvgPowerW: 340, Ranks: 2, Answered: 1, Coverage: 0.5, Presence: aggregate.PresencePartial},
	}
	return resp
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	if err := Table(&b, sample()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"job ƒ2 (INACTIVE)", "10.000 s",
		"cpu_power_0", "cpu_power_1", "gpu_power_1", "mem_power_1", "data_presence",
		"node0", "340.0", "3400.0 J", "complete",
		"node1", "missing (module not loaded on rank)",
		"total", "1/2 ranks", "partial 50%",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "CPU_POWER") {
		t.Errorf("headers were upper-cased:\n%s", out)
	}
}

func TestJSON(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, sample()); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	r0 := doc["ranks"].([]any)[0].(map[string]any)
	if r0["rank"].(float64) != 0 || r0["hostname"] != "node0" || r0["energy_j"].(float64) != 3400 ||
		r0["node_power_w"].(float64) != 340 || r0["data_presence"] != "complete" {
		t.Fatalf("rank 0: %v", r0)
	}
	tot := doc["total"].(map[string]any)
	if tot["energy_j"].(float64) != 3400 || tot["duration_s"].(float64) != 10 {
		t.Fatalf("total: %v", tot)
	}
	if m := doc["missing"].([]any); len(m) != 1 {
		t.Fatalf("missing: %v", m)
	}
}

// TestJSONShare: each rank's share goes out as the answer has it, and a
// rank without one has no share field; share_error says why.
func TestJSONShare(t *testing.T) {
	resp := sample()
	resp.Ranks[0].Share = &wire.Share{Cores: "0-3", GPUs: "1", NCores: 4, NGPUs: 1, NodeCores: 8, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: 0.5}
	resp.Ranks = append(resp.Ranks, wire.RankResult{Rank: 2, Hostname: "node2", Source: "variorum"})
	resp.ShareError = "the instance's R has no rank 2"
	var b bytes.Buffer
	if err := JSON(&b, resp); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Ranks []struct {
			Rank  uint32           `json:"rank"`
			Share *json.RawMessage `json:"share"`
		} `json:"ranks"`
		ShareError string `json:"share_error"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	want := `{"cores":"0-3","gpus":"1","ncores":4,"ngpus":1,"node_cores":8,"node_gpus":4,"node_gpu_ids":"0-3","core_fraction":0.5,"exclusive":false}`
	var got bytes.Buffer
	if doc.Ranks[0].Share == nil || json.Compact(&got, *doc.Ranks[0].Share) != nil || got.String() != want {
		t.Errorf("rank 0 share %s, want %s", got.String(), want)
	}
	if doc.Ranks[1].Share != nil {
		t.Errorf("rank 2 has a share: %s", *doc.Ranks[1].Share)
	}
	if doc.ShareError != resp.ShareError {
		t.Errorf("share_error %q", doc.ShareError)
	}
}

func TestCSV(t *testing.T) {
	var b bytes.Buffer
	if err := CSV(&b, sample()); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	h := strings.Join(recs[0], ",")
	if !strings.HasPrefix(h, "hostname,node_power,result_start_time,result_end_time,data_presence,cpu_power_0,cpu_power_1,gpu_power_0,gpu_power_1,mem_power_0,mem_power_1,rank,energy_j") {
		t.Fatalf("header %s", h)
	}
	col := map[string]int{}
	for i, n := range recs[0] {
		col[n] = i
	}
	r0 := recs[1]
	if r0[col["hostname"]] != "node0" || r0[col["node_power"]] != "340" || r0[col["result_start_time"]] != "100000000" ||
		r0[col["mem_power_1"]] != "-1.0" || r0[col["energy_j"]] != "3400" || r0[col["gpu_energy_1_j"]] != "500" {
		t.Fatalf("row 0: %v", r0)
	}
	r1 := recs[2]
	if r1[col["rank"]] != "1" || r1[col["data_presence"]] != "none" || r1[col["reason"]] != wire.ReasonNotLoaded {
		t.Fatalf("missing row: %v", r1)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
}

func TestEnergyUnits(t *testing.T) {
	for j, want := range map[float64]string{12.34: "12.3 J", 12400: "12.40 kJ", 3.6e6: "3.60 MJ", 2e9: "2.00 GJ"} {
		if got := Energy(j); got != want {
			t.Errorf("Energy(%v) = %q, want %q", j, got, want)
		}
	}
}

func TestUnknownFormat(t *testing.T) {
	if err := Write(&bytes.Buffer{}, "xml", sample()); err == nil || !strings.Contains(err.Error(), `unknown format "xml"`) {
		t.Fatalf("err %v", err)
	}
}

func TestNotesGroupRanks(t *testing.T) {
	resp := sample()
	long := "no power source: variorum: cannot load libvariorum.so"
	resp.Ranks = append(resp.Ranks,
		wire.RankResult{Rank: 2, Aggregate: wire.Aggregate{Presence: aggregate.PresenceNone, Reason: long}},
		wire.RankResult{Rank: 3, Aggregate: wire.Aggregate{Presence: aggregate.PresenceNone, Reason: long}},
		wire.RankResult{Rank: 5, Aggregate: wire.Aggregate{Presence: aggregate.PresenceNone, Reason: long}})
	resp.Missing[0].Error = "power-monitor is not loaded on this rank"
	notes := Notes(resp)
	want := []string{
		"ranks 2-3,5: " + long,
		"rank 1: module not loaded on rank: power-monitor is not loaded on this rank",
	}
	if strings.Join(notes, "\n") != strings.Join(want, "\n") {
		t.Fatalf("notes %q, want %q", notes, want)
	}
	var b bytes.Buffer
	if err := Table(&b, resp); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "none 0% (no power source)") || !strings.Contains(b.String(), want[0]) {
		t.Fatalf("table:\n%s", b.String())
	}
}

func TestDomainNotesListEachMethod(t *testing.T) {
	r := wire.RankResult{Rank: 0, Aggregate: wire.Aggregate{
		Node: wire.Domain{Measured: true, Source: "sum of rapl+nvml", Method: "mixed"},
		CPU:  []wire.Domain{{Measured: true, Source: "rapl", Method: "counter"}, {Measured: true, Source: "rapl", Method: "counter"}},
		GPU:  []wire.Domain{{Measured: true, Source: "nvml", Method: "counter"}, {Measured: true, Source: "nvml", Method: "power"}, {Measured: false}},
	}}
	want := "node: sum of rapl+nvml, mixed; cpu: rapl, counter; gpu: nvml, counter/power"
	if got := domainNotes(&r); got != want {
		t.Fatalf("notes %q, want %q", got, want)
	}
}
