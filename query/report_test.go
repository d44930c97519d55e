// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/account"
	"github.com/flux-framework/power-monitor/internal/wire"
)

func TestParseReportArgs(t *testing.T) {
	o, err := parseArgs([]string{"--report", "--since=2026-01-01", "--until", "2026-02-01 12:00", "--by=user,month",
		"--user=alice", "--price=0.12", "--carbon", "350", "-f", "csv", "-o", "r.csv"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	a := o.rep
	if !o.report || o.user != "alice" || o.format != "csv" || o.output != "r.csv" ||
		!reflect.DeepEqual(a.by, []string{"user", "month"}) || *a.price != 0.12 || *a.carbon != 350 ||
		!a.since.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.Local)) ||
		!a.until.Equal(time.Date(2026, 2, 1, 12, 0, 0, 0, time.Local)) {
		t.Fatalf("%+v %+v", o, a)
	}
	o, err = parseArgs([]string{"--report"}, &bytes.Buffer{})
	if err != nil || !o.rep.since.IsZero() || !o.rep.until.IsZero() || o.rep.by != nil || o.rep.price != nil {
		t.Fatalf("%+v %v", o.rep, err)
	}
	for args, want := range map[string]string{
		"--report -j 1":                    "--report sums the records of many jobs: give it without -j",
		"--report --since=garbage":         `--since: invalid time "garbage"`,
		"--report --until=-1y":             `--until: invalid time "-1y"`,
		"--report --since=-1h --until=-2h": "is not before --until",
		"--report --since=+1h":             "is not before --until",
		"--report --by=week":               `--by: unknown key "week"`,
		"--report --price=-1":              `--price: "-1" is not a non-negative number`,
		"--report --carbon=x":              `--carbon: "x" is not a non-negative number`,
		"--report --ranks=0 --start=1":     "--report selects jobs with --since and --until",
		"--report --sources":               "--report goes with",
		"--report --timeline":              "--report goes with",
		"--report -f xml":                  `-f takes table, json or csv`,
		"--since=-1h":                      "--since goes with --report",
		"-j 1 --by=user":                   "--by goes with --report",
		"-j 1 --price=1":                   "--price goes with --report",
	} {
		_, err := parseArgs(strings.Fields(args), &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseArgs(%q) = %v, want an error containing %q", args, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("parseArgs(%q): not one line: %q", args, err)
		}
	}
}

func TestReportErrorsAreOneLine(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"--report", "--by=users"}, &out, &errb); rc != 1 {
		t.Fatalf("rc %d", rc)
	}
	if got := errb.String(); got != "flux-power-query: --by: unknown key \"users\": use user, bank, project, queue, day or month, or a comma list of them\n" {
		t.Fatalf("%q", got)
	}
}

func TestListConstraint(t *testing.T) {
	uid := uint32(1000)
	b, _ := json.Marshal(listConstraint(1700000000.5, 1700003600, &uid))
	want := `{"and":[{"states":["inactive"]},{"t_inactive":[">=1700000000.5"]},{"t_inactive":["<1700003600"]},{"userid":[1000]}]}`
	var got, exp any
	json.Unmarshal(b, &got)
	json.Unmarshal([]byte(want), &exp)
	if !reflect.DeepEqual(got, exp) {
		t.Fatalf("%s\nwant %s", b, want)
	}
	b, _ = json.Marshal(listConstraint(0, 0, nil))
	if string(b) != `{"and":[{"states":["inactive"]}]}` {
		t.Fatalf("%s", b)
	}
}

func TestRecordIn(t *testing.T) {
	log := `{"timestamp":1764950400.0,"name":"submit","context":{"userid":1000,"urgency":16,"flags":0,"version":1}}
{"timestamp":1764950400.1,"name":"alloc","context":{"annotations":{"power":"x"}}}
{"timestamp":1764950424.3,"name":"power","context":{"version":1,"energy_j":12400.5,"nnodes":2,"duration_s":24.1,"data_presence":"complete","userid":1000,"bank":"physics","future_key":[1,2]}}
{"timestamp":1764950424.4,"name":"memo","context":{"energy_j":12400.5}}
{"timestamp":1764950424.5,"name":"clean"}
`
	r, err := recordIn(log)
	if err != nil || r == nil || r.EnergyJ != 12400.5 || r.NNodes != 2 || *r.UserID != 1000 || r.Bank != "physics" {
		t.Fatalf("%+v %v", r, err)
	}
	if r, err := recordIn(strings.Replace(log, `"name":"power"`, `"name":"powerx"`, 1)); r != nil || err != nil {
		t.Fatalf("no power event: %+v %v", r, err)
	}
	if _, err := recordIn(`{"timestamp":1,"name":"power","context":{"energy_j":"x"}}`); err == nil {
		t.Fatal("a bad record")
	}
	if _, err := recordIn(`{"timestamp":1,"name":"power"}`); err == nil || !strings.Contains(err.Error(), "no context") {
		t.Fatalf("no context: %v", err)
	}
	// job-info's answer: the eventlog as a JSON string
	ans, _ := json.Marshal(map[string]any{"id": 1, "eventlog": log})
	if r, err := eventlogOf(string(ans)); err != nil || r == nil || r.EnergyJ != 12400.5 {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := eventlogOf(`{"id":1}`); err == nil {
		t.Fatal("no eventlog")
	}
}

// The record answers where the module failed, or where the samples of an
// inactive job cover less than they did when it ended.
func TestRecordFallbackRule(t *testing.T) {
	answer := func(state string, running bool, presence string, coverage float64) *wire.QueryResponse {
		r := &wire.QueryResponse{State: state, Running: running}
		r.Total.Presence, r.Total.Coverage = presence, coverage
		r.Ranks = []wire.RankResult{{Rank: 0}, {Rank: 1}}
		r.Ranks[0].Presence, r.Ranks[0].Reason = presence, "not yet sampled"
		r.Ranks[1].Presence, r.Ranks[1].Reason = presence, "overwritten: the ring holds 1000 samples"
		r.Missing = []wire.Missing{{Rank: 2, Reason: wire.ReasonNotLoaded}}
		return r
	}
	full := &account.Record{Coverage: 1, Presence: "complete", NNodes: 2}
	for _, c := range []struct {
		name string
		resp *wire.QueryResponse
		err  error
		need bool
		why  string
	}{
		{"module failed", nil, errors.New("the power-monitor module is not loaded"), true, "the power-monitor module is not loaded"},
		{"complete", answer("INACTIVE", false, "complete", 1), nil, false, ""},
		{"running", answer("RUN", true, "partial", 0.5), nil, false, ""},
		{"cleanup", answer("CLEANUP", false, "partial", 0.5), nil, false, ""},
		{"samples gone", answer("INACTIVE", false, "none", 0), nil, true,
			"they cover 0% of the job's run, the record 100%: module not loaded on rank, not yet sampled, overwritten"},
		{"partly overwritten", answer("INACTIVE", false, "partial", 0.25), nil, true,
			"they cover 25% of the job's run, the record 100%: module not loaded on rank, not yet sampled, overwritten"},
	} {
		if got := needRecord(c.resp, c.err); got != c.need {
			t.Errorf("%s: needRecord %v", c.name, got)
		}
		if !c.need {
			continue
		}
		if got := recordWhy(c.resp, c.err, full); got != c.why {
			t.Errorf("%s: why %q, want %q", c.name, got, c.why)
		}
		if got := recordWhy(c.resp, c.err, nil); got != "" {
			t.Errorf("%s: without a record %q", c.name, got)
		}
	}
	// a record that covered no more than the answer does not answer
	if got := recordWhy(answer("INACTIVE", false, "partial", 0.5), nil, &account.Record{Coverage: 0.5, NNodes: 1}); got != "" {
		t.Errorf("equal coverage: %q", got)
	}
	// nor that of a job that never ran: the module's error says so
	if got := recordWhy(nil, errors.New("job ƒ2 has not run (state INACTIVE): there is no power data for it"), &account.Record{Reason: "the job never ran"}); got != "" {
		t.Errorf("never ran: %q", got)
	}
}
