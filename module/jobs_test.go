// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"encoding/json"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/flux-framework/power-monitor/internal/wire"
)

// feed decodes journal responses (one JSON object per line, as the
// job-manager sends them) into t, and returns the jobs they ended and the
// errors apply reported.
func feed(t *testing.T, tab *jobTable, lines string) (ended []jobRecord, errs []string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(lines), "\n") {
		var r journalResponse
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if r.ID == -1 {
			if v := tab.caughtUpNow(); len(v) > 0 {
				errs = append(errs, "vanished")
			}
			continue
		}
		j, err := tab.apply(r)
		if err != nil {
			errs = append(errs, err.Error())
		}
		if j != nil {
			ended = append(ended, *j)
		}
	}
	return ended, errs
}

const rOn01 = `{"version":1,"execution":{"R_lite":[{"rank":"0-1","children":{"core":"0"}}],"starttime":0,"expiration":0}}`

// The first stream: the backlog's active jobs, the sentinel,
// then live events, one per response; times by job-list's rules.
func TestJobTableLive(t *testing.T) {
	tab := newJobTable()
	tab.restart()
	ended, errs := feed(t, tab, `
{"id":100,"events":[{"timestamp":10.5,"name":"submit","context":{"userid":1001,"urgency":16}},{"timestamp":11.25,"name":"alloc","context":{}}],"R":`+rOn01+`}
{"id":200,"events":[{"timestamp":12,"name":"submit","context":{"userid":1002}}]}
{"id":-1,"events":[]}
{"id":300,"events":[{"timestamp":13,"name":"submit","context":{"userid":1003}}]}
{"id":300,"events":[{"timestamp":13.1,"name":"invalidate","context":{}}]}
{"id":100,"events":[{"timestamp":14,"name":"exception","context":{"type":"test","severity":1,"userid":0}}]}
{"id":100,"events":[{"timestamp":15,"name":"finish","context":{"status":0}}]}
{"id":100,"events":[{"timestamp":15.5,"name":"exception","context":{"type":"late","severity":0}}]}
{"id":100,"events":[{"timestamp":16,"name":"clean","context":{}}]}
{"id":200,"events":[{"timestamp":17,"name":"exception","context":{"type":"cancel","severity":0}}]}
{"id":200,"events":[{"timestamp":18,"name":"clean"}]}
`)
	want := []jobRecord{
		{ID: 100, UserID: 1001, TRun: 11.25, TCleanup: 15, TInactive: 16, Ranks: "0-1"},
		{ID: 200, UserID: 1002, TCleanup: 17, TInactive: 18}, // never ran: no summary
	}
	if len(errs) > 0 || !reflect.DeepEqual(ended, want) {
		t.Fatalf("ended %+v, errors %q; want %+v", ended, errs, want)
	}
	if len(tab.active) != 0 {
		t.Fatalf("still active: %v", tab.active)
	}
}

// A job cancelled while it runs: t_cleanup is the fatal exception's time,
// not the finish that follows. R with two entries: the union of ranks.
func TestJobTableExceptionAndRanks(t *testing.T) {
	tab := newJobTable()
	tab.restart()
	ended, errs := feed(t, tab, `
{"id":-1,"events":[]}
{"id":7,"events":[{"timestamp":1,"name":"submit","context":{"userid":5}}]}
{"id":7,"events":[{"timestamp":2,"name":"alloc"}],"R":{"version":1,"execution":{"R_lite":[{"rank":"3","children":{}},{"rank":"0-1","children":{}}]}}}
{"id":7,"events":[{"timestamp":3,"name":"exception","context":{"type":"cancel","severity":0}}]}
{"id":7,"events":[{"timestamp":4,"name":"finish","context":{"status":15}}]}
{"id":7,"events":[{"timestamp":5,"name":"clean"}]}
{"id":8,"events":[{"timestamp":6,"name":"submit","context":{"userid":5}}]}
{"id":8,"events":[{"timestamp":7,"name":"alloc"}]}
`)
	want := []jobRecord{{ID: 7, UserID: 5, TRun: 2, TCleanup: 3, TInactive: 5, Ranks: "0-1,3"}}
	if !reflect.DeepEqual(ended, want) {
		t.Fatalf("ended %+v, want %+v", ended, want)
	}
	if len(errs) != 1 || !strings.Contains(errs[0], "R: missing") {
		t.Fatalf("errors %q, want one about job 8's missing R", errs)
	}
}

// The stream is lost with jobs 1 (running) and 2 (pending) and 3 active.
// The next request replays the inactive jobs too: job 1's clean there is an
// end missed while away and is reported; job 9, inactive long before, is
// not; job 2 is still active; job 3 is unknown to the job-manager now.
func TestJobTableLostStream(t *testing.T) {
	tab := newJobTable()
	tab.restart()
	feed(t, tab, `
{"id":1,"events":[{"timestamp":1,"name":"submit","context":{"userid":10}},{"timestamp":2,"name":"alloc"}],"R":`+rOn01+`}
{"id":2,"events":[{"timestamp":1,"name":"submit","context":{"userid":20}}]}
{"id":3,"events":[{"timestamp":1,"name":"submit","context":{"userid":30}}]}
{"id":-1,"events":[]}
`)
	tab.restart()
	ended, errs := feed(t, tab, `
{"id":9,"events":[{"timestamp":0.1,"name":"submit","context":{"userid":90}},{"timestamp":0.2,"name":"alloc"},{"timestamp":0.3,"name":"finish"},{"timestamp":0.4,"name":"clean"}],"R":`+rOn01+`}
{"id":1,"events":[{"timestamp":1,"name":"submit","context":{"userid":10}},{"timestamp":2,"name":"alloc"},{"timestamp":3,"name":"finish"},{"timestamp":4,"name":"clean"}],"R":`+rOn01+`}
{"id":2,"events":[{"timestamp":1,"name":"submit","context":{"userid":20}}]}
{"id":-1,"events":[]}
{"id":2,"events":[{"timestamp":5,"name":"exception","context":{"severity":0}}]}
{"id":2,"events":[{"timestamp":6,"name":"clean"}]}
`)
	ids := []uint64{}
	for _, j := range ended {
		ids = append(ids, j.ID)
	}
	if !slices.Equal(ids, []uint64{1, 2}) || !reflect.DeepEqual(ended[0], jobRecord{ID: 1, UserID: 10, TRun: 2, TCleanup: 3, TInactive: 4, Ranks: "0-1"}) {
		t.Fatalf("ended %+v, want jobs 1 (missed while away) and 2", ended)
	}
	if !slices.Equal(errs, []string{"vanished"}) {
		t.Fatalf("errors %q, want job 3 vanished", errs)
	}
	if len(tab.lost) != 0 {
		t.Fatalf("still lost: %v", tab.lost)
	}
}

// The request asks for the events the table uses, and only those.
func TestJournalRequest(t *testing.T) {
	var req struct {
		Full  bool           `json:"full"`
		Allow map[string]int `json:"allow"`
	}
	if err := json.Unmarshal([]byte(journalRequest(true)), &req); err != nil || !req.Full {
		t.Fatalf("%s: %v", journalRequest(true), err)
	}
	var names []string
	for n := range req.Allow {
		names = append(names, n)
	}
	slices.Sort(names)
	if strings.Join(names, " ") != "alloc clean exception finish invalidate power submit" {
		t.Fatalf("allow %v", names)
	}
}

// The records index: every inactive job of the backlog and every job that
// ends afterwards, with its power event's context exactly as posted, or
// none; a running job has its R; a purge forgets jobs; a new stream starts
// the index afresh.
func TestRecordIndex(t *testing.T) {
	tab := newJobTable()
	tab.restart()
	const rec = `{"version":1,"energy_j":12.5,"userid":10,"bank":"b1"}`
	feed(t, tab, `
{"id":5,"events":[{"timestamp":1,"name":"submit","context":{"userid":10}},{"timestamp":2,"name":"alloc"},{"timestamp":3,"name":"finish"},{"timestamp":3.5,"name":"power","context":`+rec+`},{"timestamp":4,"name":"clean"}],"R":`+rOn01+`}
{"id":6,"events":[{"timestamp":1,"name":"submit","context":{"userid":20}},{"timestamp":2,"name":"clean"}]}
{"id":7,"events":[{"timestamp":1,"name":"submit","context":{"userid":20}},{"timestamp":2,"name":"alloc"}],"R":`+rOn01+`}
{"id":-1,"events":[]}
{"id":7,"events":[{"timestamp":8,"name":"finish"}]}
{"id":7,"events":[{"timestamp":9,"name":"power","context":{"energy_j":1}}]}
`)
	if j := tab.active[7]; j == nil || len(j.Held) != 2 || j.Held[0].Cores[0] != 0 || string(j.Power) != `{"energy_j":1}` {
		t.Fatalf("job 7 while active: %+v", j)
	}
	feed(t, tab, `{"id":7,"events":[{"timestamp":10,"name":"clean"}]}`)
	if tab.active[7] != nil {
		t.Fatal("job 7 is still active after its clean")
	}
	got := func(req wire.RecordsRequest) string {
		out, err := json.Marshal(tab.done.list(req))
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	all := `[{"id":5,"userid":10,"t_inactive":4,"record":` + rec + `},` +
		`{"id":6,"userid":20,"t_inactive":2,"record":null},` +
		`{"id":7,"userid":20,"t_inactive":10,"record":{"energy_j":1}}]`
	if s := got(wire.RecordsRequest{}); s != all {
		t.Fatalf("all records:\n%s\nwant\n%s", s, all)
	}
	uid := uint32(20)
	for _, c := range []struct {
		req  wire.RecordsRequest
		want string
	}{
		{wire.RecordsRequest{UserID: &uid}, "6 7"},
		{wire.RecordsRequest{Since: 4}, "5 7"},
		{wire.RecordsRequest{Until: 4}, "6"},
		{wire.RecordsRequest{Since: 2, Until: 10}, "5 6"},
	} {
		var ids []string
		for _, r := range tab.done.list(c.req) {
			ids = append(ids, strconv.FormatUint(r.ID, 10))
		}
		if strings.Join(ids, " ") != c.want {
			t.Errorf("%+v: jobs %v, want %s", c.req, ids, c.want)
		}
	}
	tab.done.purge([]uint64{5, 6, 99})
	if s := got(wire.RecordsRequest{}); s != `[{"id":7,"userid":20,"t_inactive":10,"record":{"energy_j":1}}]` {
		t.Fatalf("after the purge: %s", s)
	}
	tab.restart()
	if s := got(wire.RecordsRequest{}); s != `[]` || tab.caughtUp {
		t.Fatalf("a new stream starts afresh: %s, caught up %v", s, tab.caughtUp)
	}
}
