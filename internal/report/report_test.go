// SPDX-License-Identifier: LGPL-3.0-only

package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strings"
	"testing"

	"github.com/flux-framework/power-monitor/internal/charge"
	"github.com/flux-framework/power-monitor/internal/nested"
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
		"job ƒ2 (INACTIVE)", "10.0 s",
		"RANK", "HOSTNAME", "ENERGY", "POWER", "CPU_E", "GPU_E", "MEM_E", "COVER",
		"node0", "340 W", "3.40 kJ", "100%",
		"node1",
		"total", "1/2 ranks", "50%",
		"rank 1: missing: module not loaded on rank",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "NODE_E") {
		t.Errorf("the node's columns where no rank is shared:\n%s", out)
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
	if !strings.HasPrefix(h, "hostname,node_power,result_start_time,result_end_time,data_presence,cpu_power_0,cpu_power_1,gpu_power_0,gpu_power_1,mem_power_0,mem_power_1,rank,node_energy_j") ||
		!strings.HasSuffix(h, ",job_energy_j,job_power_w,cores,gpus,core_fraction,exclusive") {
		t.Fatalf("header %s", h)
	}
	col := map[string]int{}
	for i, n := range recs[0] {
		col[n] = i
	}
	r0 := recs[1]
	if r0[col["hostname"]] != "node0" || r0[col["node_power"]] != "340" || r0[col["result_start_time"]] != "100000000" ||
		r0[col["mem_power_1"]] != "-1.0" || r0[col["node_energy_j"]] != "3400" || r0[col["gpu_energy_1_j"]] != "500" ||
		r0[col["job_energy_j"]] != "3400" || r0[col["job_power_w"]] != "340" || r0[col["cores"]] != "" || r0[col["exclusive"]] != "" {
		t.Fatalf("row 0: %v", r0)
	}
	r1 := recs[2]
	if r1[col["rank"]] != "1" || r1[col["data_presence"]] != "none" || r1[col["reason"]] != wire.ReasonNotLoaded ||
		r1[col["job_energy_j"]] != "-1.0" || len(r1) != len(recs[0]) {
		t.Fatalf("missing row: %v", r1)
	}
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
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
		"rank 1: missing: module not loaded on rank: power-monitor is not loaded on this rank",
	}
	if strings.Join(notes, "\n") != strings.Join(want, "\n") {
		t.Fatalf("notes %q, want %q", notes, want)
	}
	var b bytes.Buffer
	if err := Table(&b, resp); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), want[0]) {
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

// shared is sample() where the job holds 4 of rank 0's 8 cores and its
// GPU 1 (of the instance's 0-1): charged 500 + 0.5 x (3400 - 1000) J, and
// a rank 2 whose share names a GPU its reading lacks (a job_error).
func shared() *wire.QueryResponse {
	resp := sample()
	resp.Ranks[0].Share = &wire.Share{Cores: "0-3", GPUs: "1", NCores: 4, NGPUs: 1, NodeCores: 8, NodeGPUs: 2, NodeGPUIDs: "0-1", CoreFraction: 0.5}
	r2 := resp.Ranks[0]
	r2.Rank, r2.Hostname = 2, "node2"
	r2.Share = &wire.Share{Cores: "0-7", GPUs: "3", NCores: 8, NGPUs: 1, NodeCores: 8, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: 1}
	resp.Ranks = append(resp.Ranks, r2)
	resp.RankSet = "0-2"
	charge.Charge(resp.Ranks)
	charge.Summarize(resp)
	return resp
}

// TestTableShared: the table leads with the job's power and energy, the
// node's beside, and says under it what the job was charged for where it
// shared a rank, and why a rank charged it nothing.
func TestTableShared(t *testing.T) {
	resp := shared()
	var b bytes.Buffer
	if err := Table(&b, resp); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(out, "\n")
	var head, row0 string
	for _, l := range lines {
		if strings.Contains(l, "HOSTNAME") && head == "" {
			head = l
		}
		if strings.Contains(l, "node0") {
			row0 = l
		}
	}
	h, r := strings.Fields(head), strings.Fields(row0)
	if len(h) < 6 || strings.Join(h[:6], " ") != "RANK HOSTNAME ENERGY POWER NODE_E NODE_P" {
		t.Fatalf("header %q:\n%s", h, out)
	}
	// 1700 J over 10 s, the node's 3400 J beside
	if len(r) < 10 || strings.Join(r[:10], " ") != "0 node0 1.70 kJ 170 W 3.40 kJ 340 W" {
		t.Errorf("rank 0 %q:\n%s", r, out)
	}
	for _, want := range []string{
		"rank 0: shared: charged its GPU 1 whole and its 4 of 8 cores' part of the node without the instance's GPUs (0-1)",
		"rank 2: the job is charged nothing: the job holds gpu 3, which the rank's reading does not have (it reads 2 GPUs)",
		"total 2/3 ranks  1.70 kJ   170 W 6.80 kJ", // the totals: the job's, the nodes'
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestJSONJob: each rank's energy_j and power_w are what the job is
// charged there, the node's beside, with the share and the job's part.
func TestJSONJob(t *testing.T) {
	var b bytes.Buffer
	if err := JSON(&b, shared()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Ranks []struct {
			EnergyJ     float64          `json:"energy_j"`
			PowerW      float64          `json:"power_w"`
			NodeEnergyJ float64          `json:"node_energy_j"`
			NodePowerW  float64          `json:"node_power_w"`
			MinW        *float64         `json:"node_power_min_w"`
			Share       *wire.Share      `json:"share"`
			Job         *wire.JobFigures `json:"job"`
			JobError    string           `json:"job_error"`
		} `json:"ranks"`
		Total wire.Total `json:"total"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	r0 := doc.Ranks[0]
	if r0.EnergyJ != 1700 || r0.PowerW != 170 || r0.NodeEnergyJ != 3400 || r0.NodePowerW != 340 || r0.MinW == nil ||
		r0.Share == nil || r0.Share.NodeGPUIDs != "0-1" || r0.Job == nil || r0.Job.EnergyJ != 1700 || len(r0.Job.GPU) != 1 || r0.JobError != "" {
		t.Errorf("rank 0: %+v\n%s", r0, b.String())
	}
	r2 := doc.Ranks[1]
	if r2.EnergyJ != 0 || r2.NodeEnergyJ != 3400 || r2.Job != nil || !strings.Contains(r2.JobError, "gpu 3") {
		t.Errorf("rank 2: %+v", r2)
	}
	if tot := doc.Total; tot.EnergyJ != 1700 || tot.NodeEnergyJ != 6800 || !tot.Shared || tot.JobErrors != 1 {
		t.Errorf("total: %+v", tot)
	}
}

// TestCSVShared: flux-power-monitor's columns keep the node's figures; the
// job's columns say what it is charged and what it holds.
func TestCSVShared(t *testing.T) {
	var b bytes.Buffer
	if err := CSV(&b, shared()); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, n := range recs[0] {
		col[n] = i
	}
	get := func(rec []string, names ...string) string {
		var out []string
		for _, n := range names {
			out = append(out, rec[col[n]])
		}
		return strings.Join(out, " ")
	}
	names := []string{"node_power", "gpu_power_0", "node_energy_j", "job_energy_j", "job_power_w", "cores", "gpus", "core_fraction", "exclusive"}
	if got, want := get(recs[1], names...), "340 50 3400 1700 170 0-3 1 0.5 false"; got != want {
		t.Errorf("rank 0: %s, want %s", got, want)
	}
	// rank 2 (after missing rank 1): charged nothing, so no figure
	if got, want := get(recs[3], append([]string{"rank"}, names...)...), "2 340 50 3400 -1.0 -1.0 0-7 3 1 false"; got != want {
		t.Errorf("rank 2: %s, want %s", got, want)
	}
}

func TestSharedNote(t *testing.T) {
	for _, c := range []struct {
		s    wire.Share
		want string
	}{
		{wire.Share{Cores: "0", NCores: 1, NodeCores: 2, CoreFraction: 0.5}, "shared: charged its 1 of 2 cores' part of the node"},
		{wire.Share{Cores: "0-3", GPUs: "0-1", NCores: 4, NGPUs: 2, NodeCores: 8, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: 0.5},
			"shared: charged its GPUs 0-1 whole and its 4 of 8 cores' part of the node without the instance's GPUs (0-3)"},
	} {
		if got := SharedNote(&c.s); got != c.want {
			t.Errorf("SharedNote(%+v) = %q, want %q", c.s, got, c.want)
		}
	}
}

// Answered by an enclosing instance: the table says so under its title, the
// JSON in answered_by and each rank's enclosing_rank; answered here, at the
// top level, the table is as without an origin.
func TestAnsweredBy(t *testing.T) {
	o := &nested.Origin{URI: "local:///run/flux/local", JobID: "ƒX", Level: 0, Ranks: "4",
		Enclosing: map[uint32]uint32{0: 4}}
	var b bytes.Buffer
	if err := WriteFrom(&b, FormatTable, sample(), o); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if want := "samples from the enclosing instance at local:///run/flux/local (level 0; job ƒX, ranks 4 there)"; lines[1] != want {
		t.Errorf("second line %q, want %q", lines[1], want)
	}
	b.Reset()
	if err := WriteFrom(&b, FormatJSON, sample(), o); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		AnsweredBy map[string]any `json:"answered_by"`
		Ranks      []map[string]any
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.AnsweredBy["uri"] != o.URI || doc.AnsweredBy["this_instance"] != false || doc.AnsweredBy["jobid"] != "ƒX" {
		t.Errorf("answered_by %v", doc.AnsweredBy)
	}
	if doc.Ranks[0]["enclosing_rank"] != 4.0 {
		t.Errorf("rank 0: enclosing_rank %v", doc.Ranks[0]["enclosing_rank"])
	}
	var plain, here bytes.Buffer
	if err := Table(&plain, sample()); err != nil {
		t.Fatal(err)
	}
	if err := WriteFrom(&here, FormatTable, sample(), &nested.Origin{This: true}); err != nil {
		t.Fatal(err)
	}
	if plain.String() != here.String() {
		t.Errorf("answered here at the top level, the table changed:\n%s", here.String())
	}
	here.Reset()
	if err := WriteFrom(&here, FormatTable, sample(), &nested.Origin{This: true, Level: 1}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(here.String(), "\nsamples from this instance\n") {
		t.Errorf("a nested instance's own answer does not say so:\n%s", here.String())
	}
}

// TestCSVNoHeader: --no-header leaves out the CSV's header line, and only
// it.
func TestCSVNoHeader(t *testing.T) {
	var with, without bytes.Buffer
	if err := WriteOutput(&with, Output{Kind: FormatCSV}, sample(), nil); err != nil {
		t.Fatal(err)
	}
	if err := WriteOutput(&without, Output{Kind: FormatCSV, NoHeader: true}, sample(), nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfterN(with.String(), "\n", 2)
	if !strings.HasPrefix(lines[0], "hostname,node_power,") || without.String() != lines[1] {
		t.Fatalf("with:\n%s\nwithout:\n%s", with.String(), without.String())
	}
}
