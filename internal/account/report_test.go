// SPDX-License-Identifier: LGPL-3.0-only

package account

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"github.com/flux-framework/power-monitor/internal/report"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"
)

// east is a fixed zone 5 hours ahead of UTC: days and months are local.
var east = time.FixedZone("EAST", 5*3600)

func u32(v uint32) *uint32   { return &v }
func f64(v float64) *float64 { return &v }

func rec(uid uint32, energy float64, nnodes int, dur float64, presence string) *Record {
	return &Record{Version: 1, EnergyJ: energy, NodeEnergyJ: 2 * energy, NNodes: nnodes, DurationS: dur,
		Presence: presence, UserID: u32(uid)}
}

func names(uid uint32) string {
	return map[uint32]string{1000: "alice", 1001: "bob"}[uid]
}

// A day in EAST: 2026-01-31 19:00 UTC is 2026-02-01 00:00 there.
var (
	jan31 = float64(time.Date(2026, 1, 31, 18, 59, 59, 0, time.UTC).Unix()) // 23:59:59 local
	feb1  = float64(time.Date(2026, 1, 31, 19, 0, 0, 0, time.UTC).Unix())   // 00:00 local
)

func sampleJobs() []Job {
	return []Job{
		{ID: 30, UserID: 1001, Queue: "debug", TInactive: feb1, NNodes: 2, Record: rec(1001, 300, 2, 1800, "complete")},
		{ID: 10, UserID: 1000, Queue: "batch", Bank: "physics", TInactive: jan31, NNodes: 1, Record: rec(1000, 100, 1, 3600, "complete")},
		{ID: 20, UserID: 1000, Queue: "batch", Bank: "physics", TInactive: feb1, NNodes: 4, Record: rec(1000, 200, 4, 900, "partial")},
		{ID: 40, UserID: 1000, Queue: "batch", TInactive: feb1, NNodes: 1}, // no record
		{ID: 50, UserID: 1001, TInactive: feb1, NNodes: 1, Record: rec(1001, 0, 1, 10, "none")},
		{ID: 60, UserID: 1001, TInactive: feb1, Record: rec(1001, 0, 0, 0, "none")}, // never ran
	}
}

func TestBuildNoGroupingIsOneTotal(t *testing.T) {
	r := Build(sampleJobs(), Options{Loc: east})
	if len(r.Groups) != 0 {
		t.Fatalf("groups %+v", r.Groups)
	}
	want := Sum{Jobs: 6, NoRecord: 1, Partial: 1, NoData: 1,
		NodeSeconds: 1*3600 + 4*900 + 2*1800 + 1*10, EnergyJ: 600, NodeEnergyJ: 1200}
	if r.Total != want {
		t.Fatalf("total %+v, want %+v", r.Total, want)
	}
	if r.Total.NodeHours() != (3600+3600+3600+10)/3600.0 || r.Total.KWh() != 600/3.6e6 {
		t.Fatalf("node-h %v kWh %v", r.Total.NodeHours(), r.Total.KWh())
	}
}

func TestBuildGroupsByUserAndMonthInTheLocalZone(t *testing.T) {
	r := Build(sampleJobs(), Options{By: []string{ByUser, ByMonth}, Loc: east, UserName: names})
	type line struct {
		keys   []string
		uid    uint32
		jobs   int
		energy float64
	}
	var got []line
	for _, g := range r.Groups {
		got = append(got, line{g.Keys, *g.UserID, g.Jobs, g.EnergyJ})
	}
	want := []line{
		{[]string{"alice", "2026-01"}, 1000, 1, 100},
		{[]string{"alice", "2026-02"}, 1000, 2, 200},
		{[]string{"bob", "2026-02"}, 1001, 3, 300},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("groups\n%+v\nwant\n%+v", got, want)
	}
	// in UTC both are on 2026-01-31
	r = Build(sampleJobs(), Options{By: []string{ByDay}, Loc: time.UTC})
	if len(r.Groups) != 1 || r.Groups[0].Keys[0] != "2026-01-31" || r.Groups[0].Jobs != 6 {
		t.Fatalf("UTC days %+v", r.Groups)
	}
	r = Build(sampleJobs(), Options{By: []string{ByDay}, Loc: east})
	if len(r.Groups) != 2 || r.Groups[0].Keys[0] != "2026-01-31" || r.Groups[1].Keys[0] != "2026-02-01" || r.Groups[1].Jobs != 5 {
		t.Fatalf("EAST days %+v", r.Groups)
	}
}

// Queue, bank and project are the record's where it has them, job-list's
// otherwise, "-" where neither has one. A user without a name is its uid.
func TestBuildKeysFromRecordThenJobList(t *testing.T) {
	jobs := []Job{
		{ID: 1, UserID: 5, Queue: "listq", Bank: "listbank", Record: &Record{Queue: "recq", UserID: u32(6), Presence: "complete"}},
		{ID: 2, UserID: 5, Queue: "listq"},
		{ID: 3, UserID: 5},
	}
	r := Build(jobs, Options{By: []string{ByQueue, ByBank, ByProject, ByUser}, Loc: east})
	var got [][]string
	for _, g := range r.Groups {
		got = append(got, g.Keys)
	}
	want := [][]string{{"-", "-", "-", "5"}, {"listq", "-", "-", "5"}, {"recq", "listbank", "-", "6"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%v, want %v", got, want)
	}
}

// Two uids with one name stay two lines.
func TestBuildUsersAreUids(t *testing.T) {
	jobs := []Job{{ID: 1, UserID: 7}, {ID: 2, UserID: 8}, {ID: 3, UserID: 7}}
	r := Build(jobs, Options{By: []string{ByUser}, UserName: func(uint32) string { return "same" }})
	if len(r.Groups) != 2 || *r.Groups[0].UserID != 7 || r.Groups[0].Jobs != 2 || *r.Groups[1].UserID != 8 {
		t.Fatalf("%+v", r.Groups)
	}
}

// The sums are those of the records added in job-id order, to the bit,
// whatever order the jobs come in; the groups' too.
func TestSumsAreExactInJobIDOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var jobs []Job
	for i := 0; i < 5000; i++ {
		e := rng.Float64() * math.Pow(10, float64(rng.Intn(9)))
		jobs = append(jobs, Job{ID: uint64(i + 1), UserID: uint32(1000 + i%3),
			Record: &Record{EnergyJ: e, NodeEnergyJ: e * 1.1, NNodes: 1 + i%4, DurationS: rng.Float64() * 1e4, Presence: "complete"}})
	}
	var total, nodeSec float64
	perUser := map[uint32]float64{}
	for _, j := range jobs {
		total += j.Record.EnergyJ
		nodeSec += float64(j.Record.NNodes) * j.Record.DurationS
		perUser[j.UserID] += j.Record.EnergyJ
	}
	rng.Shuffle(len(jobs), func(a, b int) { jobs[a], jobs[b] = jobs[b], jobs[a] })
	r := Build(jobs, Options{By: []string{ByUser}})
	if r.Total.EnergyJ != total || r.Total.NodeSeconds != nodeSec {
		t.Fatalf("total %v %v, want %v %v", r.Total.EnergyJ, r.Total.NodeSeconds, total, nodeSec)
	}
	for _, g := range r.Groups {
		if g.EnergyJ != perUser[*g.UserID] {
			t.Fatalf("user %d: %v, want %v", *g.UserID, g.EnergyJ, perUser[*g.UserID])
		}
	}
	// and the JSON carries them as they are
	var b bytes.Buffer
	if err := WriteReport(&b, report.FormatJSON, r, nil); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Total struct {
			EnergyJ  float64 `json:"energy_j"`
			EnergyKW float64 `json:"energy_kwh"`
		} `json:"total"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Total.EnergyJ != total || doc.Total.EnergyKW != total/3.6e6 {
		t.Fatalf("JSON total %v %v, want %v", doc.Total.EnergyJ, doc.Total.EnergyKW, total)
	}
}

func TestCostAndCarbon(t *testing.T) {
	jobs := []Job{{ID: 1, Record: &Record{EnergyJ: 7.2e6, Presence: "complete"}}} // 2 kWh
	r := Build(jobs, Options{Price: f64(0.25), Carbon: f64(400)})
	if r.Total.KWh() != 2 || r.Cost(&r.Total) != 0.5 || r.CO2eKg(&r.Total) != 0.8 {
		t.Fatalf("kWh %v cost %v co2e %v", r.Total.KWh(), r.Cost(&r.Total), r.CO2eKg(&r.Total))
	}
	r = Build(jobs, Options{})
	if r.Cost(&r.Total) != 0 || r.CO2eKg(&r.Total) != 0 {
		t.Fatal("cost without a price")
	}
}

func TestParseBy(t *testing.T) {
	by, err := ParseBy("user,month")
	if err != nil || !reflect.DeepEqual(by, []string{"user", "month"}) {
		t.Fatalf("%v %v", by, err)
	}
	if by, err := ParseBy(""); err != nil || by != nil {
		t.Fatalf("%v %v", by, err)
	}
	for in, want := range map[string]string{
		"users":      `--by: unknown key "users": use user, bank, project, queue, day or month`,
		"user,user":  `--by: "user" is given twice`,
		"user,":      `--by: unknown key ""`,
		"day,week":   `unknown key "week"`,
		"Day":        `unknown key "Day"`,
		"bank;queue": `unknown key "bank;queue"`,
	} {
		if _, err := ParseBy(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseBy(%q) = %v, want %q", in, err, want)
		}
	}
}

func TestParseRate(t *testing.T) {
	if v, err := ParseRate("price", "0.12"); err != nil || v != 0.12 {
		t.Fatalf("%v %v", v, err)
	}
	if v, err := ParseRate("carbon", "0"); err != nil || v != 0 {
		t.Fatalf("%v %v", v, err)
	}
	for _, bad := range []string{"-1", "x", "", "inf", "NaN", "1e400"} {
		_, err := ParseRate("price", bad)
		if err == nil || err.Error() != `--price: "`+bad+`" is not a non-negative number` {
			t.Errorf("ParseRate(%q) = %v", bad, err)
		}
	}
}

func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 3, 10, 14, 30, 15, 500e6, east)
	at := func(y int, m time.Month, d, h, mi, s int) time.Time { return time.Date(y, m, d, h, mi, s, 0, east) }
	for in, want := range map[string]time.Time{
		"now":                       now,
		"today":                     at(2026, 3, 10, 0, 0, 0),
		"yesterday":                 at(2026, 3, 9, 0, 0, 0),
		"tomorrow":                  at(2026, 3, 11, 0, 0, 0),
		"-1h":                       now.Add(-time.Hour),
		"-2d":                       now.Add(-48 * time.Hour),
		"-30m":                      now.Add(-30 * time.Minute),
		"-90":                       now.Add(-90 * time.Second),
		"-1.5h":                     now.Add(-90 * time.Minute),
		"+500ms":                    now.Add(500 * time.Millisecond),
		"2026-01-05":                at(2026, 1, 5, 0, 0, 0),
		"2026-01-05 10:30":          at(2026, 1, 5, 10, 30, 0),
		"2026-01-05 10:30:15":       at(2026, 1, 5, 10, 30, 15),
		"2026-01-05T10:30:15":       at(2026, 1, 5, 10, 30, 15),
		"10:30":                     at(2026, 3, 10, 10, 30, 0),
		"2026-01-05T10:30:15Z":      time.Date(2026, 1, 5, 10, 30, 15, 0, time.UTC),
		"2026-01-05T10:30:15+01:00": time.Date(2026, 1, 5, 9, 30, 15, 0, time.UTC),
		"1767607815":                time.Unix(1767607815, 0),
		"1767607815.25":             time.Unix(1767607815, 250e6),
		"  today ":                  at(2026, 3, 10, 0, 0, 0),
		"Yesterday":                 at(2026, 3, 9, 0, 0, 0),
	} {
		got, err := ParseWhen(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("ParseWhen(%q) = %v %v, want %v", in, got, err, want)
		}
		if err == nil && got.Location() != east {
			t.Errorf("ParseWhen(%q) is in %v, not the local zone", in, got.Location())
		}
	}
	for _, bad := range []string{"", "garbage", "-", "-1y", "-inf", "-nan", "--1h", "-0x10", "2026-13-01", "2026-01-05 25:00", "-40000d", "inf", "last week"} {
		if _, err := ParseWhen(bad, now); err == nil || !strings.HasPrefix(err.Error(), "invalid time") {
			t.Errorf("ParseWhen(%q): %v", bad, err)
		}
	}
}

func TestWriteReportTableCSVJSON(t *testing.T) {
	r := Build(sampleJobs(), Options{By: []string{ByUser, ByMonth}, Loc: east, UserName: names,
		Price: f64(0.2), Carbon: f64(300), Since: feb1 - 86400, Until: feb1 + 86400})
	var b bytes.Buffer
	if err := WriteReport(&b, report.FormatTable, r, east); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"jobs that became inactive from 2026-01-31 00:00:00 EAST to 2026-02-02 00:00:00 EAST: 6\n",
		"USER", "MONTH", "JOBS", "NODE-H", "ENERGY-KWH", "ENERGY-J", "COST", "CO2E-KG", "NO-RECORD", "PARTIAL", "NO-DATA",
		"TOTAL", "600 J", "alice", "bob", "2026-01",
		"NO-RECORD: 1 of 6 jobs have no power record",
		"PARTIAL, NO-DATA: 1 records cover part of their job, 1 none of it",
		"COST = ENERGY-KWH x 0.2; CO2E-KG = ENERGY-KWH x 300 g / 1000",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	if err := WriteReport(&b, report.FormatCSV, r, east); err != nil {
		t.Fatal(err)
	}
	lines, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	kwh := func(j float64) float64 { return j / 3.6e6 } // at run time, in float64 as the report does
	want := [][]string{
		{"user", "userid", "month", "jobs", "node_hours", "energy_kwh", "energy_j", "cost", "co2e_kg", "no_record", "partial", "no_data"},
		{"alice", "1000", "2026-01", "1", "1", full(kwh(100)), "100", full(kwh(100) * 0.2), full(kwh(100) * 300 / 1000), "0", "0", "0"},
		{"alice", "1000", "2026-02", "2", "1", full(kwh(200)), "200", full(kwh(200) * 0.2), full(kwh(200) * 300 / 1000), "1", "1", "0"},
		{"bob", "1001", "2026-02", "3", full((3600 + 10) / 3600.0), full(kwh(300)), "300", full(kwh(300) * 0.2), full(kwh(300) * 300 / 1000), "0", "0", "1"},
		{"TOTAL", "", "", "6", full(10810 / 3600.0), full(kwh(600)), "600", full(kwh(600) * 0.2), full(kwh(600) * 300 / 1000), "1", "1", "1"},
	}
	if !reflect.DeepEqual(lines, want) {
		t.Fatalf("CSV\n%v\nwant\n%v", lines, want)
	}
	b.Reset()
	if err := WriteReport(&b, report.FormatJSON, r, east); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	g := doc["groups"].([]any)
	first := g[0].(map[string]any)
	if len(g) != 3 || first["user"] != "alice" || first["userid"] != 1000.0 || first["month"] != "2026-01" ||
		first["energy_j"] != 100.0 || first["node_seconds"] != 3600.0 || first["cost"] != kwh(100)*0.2 {
		t.Fatalf("groups %v", g)
	}
	tot := doc["total"].(map[string]any)
	if tot["jobs"] != 6.0 || tot["no_record"] != 1.0 || tot["energy_j"] != 600.0 || tot["co2e_kg"] != kwh(600)*300/1000 ||
		doc["since"] != feb1-86400 || doc["price_per_kwh"] != 0.2 || doc["carbon_g_per_kwh"] != 300.0 {
		t.Fatalf("doc %v", doc)
	}
}

// Without keys the table and the CSV have the total alone, the JSON no
// groups; without a price nor a carbon intensity, no such columns.
func TestWriteReportWithoutKeys(t *testing.T) {
	r := Build(sampleJobs(), Options{Loc: east})
	var b bytes.Buffer
	if err := WriteReport(&b, report.FormatCSV, r, east); err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != "jobs,node_hours,energy_kwh,energy_j,no_record,partial,no_data\n6,"+full(10810/3600.0)+","+full(600/3.6e6)+",600,1,1,1\n" {
		t.Fatalf("CSV %q", got)
	}
	b.Reset()
	if err := WriteReport(&b, report.FormatTable, r, east); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "jobs that became inactive: 6\n") || !strings.Contains(out, "TOTAL") || strings.Contains(out, "COST") {
		t.Fatalf("table\n%s", out)
	}
	// the total is a row, not a footer under an empty body
	if lines := strings.Split(out, "\n"); len(lines) < 3 || !strings.HasPrefix(lines[2], "TOTAL ") {
		t.Fatalf("table\n%s", out)
	}
	b.Reset()
	if err := WriteReport(&b, report.FormatJSON, r, east); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	if len(doc["groups"].([]any)) != 0 || doc["since"] != nil || doc["by"] == nil || doc["price_per_kwh"] != nil {
		t.Fatalf("%v", doc)
	}
	if _, ok := doc["total"].(map[string]any)["cost"]; ok {
		t.Fatal("cost without a price")
	}
	if err := WriteReport(&b, "xml", r, east); err == nil {
		t.Fatal("xml")
	}
}

func TestWriteFallback(t *testing.T) {
	f := &Fallback{ID: 1234, JobID: "ƒ2Xyz", Why: "the module answers for 0% of the job, the record for 100%",
		Record: &Record{Version: 1, EnergyJ: 12400.5, AvgPowerW: 514.3, NodeEnergyJ: 12400.5, Start: 1764950400.1,
			End: 1764950424.2, DurationS: 24.1, NNodes: 2, Ranks: "0-1", Coverage: 1, Presence: "complete",
			Method: "counter", UserID: u32(1000), Bank: "physics"}}
	var b bytes.Buffer
	if err := WriteFallback(&b, report.FormatTable, f, time.UTC); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "job ƒ2Xyz: from the job's record, written when it ended (the power-monitor samples are gone: the module answers for 0% of the job, the record for 100%)\n"+
		"job ƒ2Xyz: 2025-12-05 16:00:00 to 16:00:24, 24.1 s\n") ||
		!strings.Contains(out, "12.4 kJ") || !strings.Contains(out, "514 W") || !strings.Contains(out, "0-1") {
		t.Fatalf("table\n%s", out)
	}
	b.Reset()
	if err := WriteFallbackOutput(&b, report.Output{Format: "long"}, f, time.UTC); err != nil {
		t.Fatal(err)
	}
	if out := b.String(); !strings.Contains(out, "counter") || !strings.Contains(out, "complete") {
		t.Fatalf("long table\n%s", out)
	}
	b.Reset()
	if err := WriteFallback(&b, report.FormatJSON, f, time.UTC); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		ID     uint64 `json:"id"`
		JobID  string `json:"jobid"`
		From   bool   `json:"from_record"`
		Why    string `json:"why"`
		Record Record `json:"record"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.ID != 1234 || doc.JobID != "ƒ2Xyz" || !doc.From || doc.Why != f.Why || !reflect.DeepEqual(doc.Record, *f.Record) {
		t.Fatalf("%+v", doc)
	}
	b.Reset()
	if err := WriteFallback(&b, report.FormatCSV, f, time.UTC); err != nil {
		t.Fatal(err)
	}
	lines, err := csv.NewReader(&b).ReadAll()
	if err != nil || len(lines) != 2 || lines[0][0] != "jobid" || lines[1][0] != "ƒ2Xyz" || lines[1][1] != "true" ||
		lines[1][4] != "12400.5" || lines[1][22] != "1000" || lines[1][24] != "physics" || len(lines[0]) != len(lines[1]) {
		t.Fatalf("%v %v", lines, err)
	}
}

// TestReportCSVNoHeader: --no-header leaves out the CSV's header line,
// and only it.
func TestReportCSVNoHeader(t *testing.T) {
	r := Build(sampleJobs(), Options{By: []string{ByUser}, Loc: east, UserName: names})
	var with, without bytes.Buffer
	if err := WriteReportOutput(&with, report.Output{Kind: report.FormatCSV}, r, east); err != nil {
		t.Fatal(err)
	}
	if err := WriteReportOutput(&without, report.Output{Kind: report.FormatCSV, NoHeader: true}, r, east); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfterN(with.String(), "\n", 2)
	if !strings.HasPrefix(lines[0], "user,userid,") || without.String() != lines[1] {
		t.Fatalf("with:\n%s\nwithout:\n%s", with.String(), without.String())
	}
}
