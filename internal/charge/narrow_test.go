// SPDX-License-Identifier: LGPL-3.0-only

package charge

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/flux-framework/power-monitor/internal/wire"
)

// job J on ranks 0-3 from t=1000 to t=1100.
var narrowJob = JobRun{JobID: "ƒJ", Start: 1000, End: 1100, Ranks: []uint32{0, 1, 2, 3}}

func parseReq(t *testing.T, js string) Narrowing {
	t.Helper()
	var req wire.QueryRequest
	if err := json.Unmarshal([]byte(js), &req); err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	n, err := ParseNarrowing(req)
	if err != nil {
		t.Fatalf("%s: %v", js, err)
	}
	return n
}

func TestNarrowingParseErrors(t *testing.T) {
	for _, c := range []struct{ req, want string }{
		{`{"jobid": 1, "ranks": "0-x"}`, "ranks: invalid idset"},
		{`{"jobid": 1, "ranks": "[]"}`, `ranks "[]" names no rank`},
		{`{"jobid": 1, "start": -1}`, "times must be unix times"},
		{`{"jobid": 1, "start": 20, "end": 10}`, "start must not be after end"},
		{`{"jobid": 1, "share": {"x": {"cores": "0"}}}`, `share: "x" is not a rank`},
		{`{"jobid": 1, "share": {"-1": {"cores": "0"}}}`, `share: "-1" is not a rank`},
		{`{"jobid": 1, "share": {"1": {"cores": ""}}}`, "share on rank 1 has no cores"},
		{`{"jobid": 1, "share": {"1": {"cores": "0", "gpus": "a"}}}`, "share on rank 1: gpus: invalid idset"},
	} {
		var req wire.QueryRequest
		if err := json.Unmarshal([]byte(c.req), &req); err != nil {
			t.Fatalf("%s: %v", c.req, err)
		}
		_, err := ParseNarrowing(req)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.req, err, c.want)
		}
	}
}

func TestNarrowingOK(t *testing.T) {
	for _, c := range []struct {
		req   string
		guest bool
		want  Narrowed
	}{
		{`{"jobid": 1}`, true, Narrowed{1000, 1100, []uint32{0, 1, 2, 3}}},
		{`{"jobid": 1, "ranks": "1,3"}`, true, Narrowed{1000, 1100, []uint32{1, 3}}},
		{`{"jobid": 1, "start": 1010}`, true, Narrowed{1010, 1100, []uint32{0, 1, 2, 3}}},
		{`{"jobid": 1, "end": 1050}`, true, Narrowed{1000, 1050, []uint32{0, 1, 2, 3}}},
		{`{"jobid": 1, "ranks": "2-3", "start": 1010, "end": 1050}`, true, Narrowed{1010, 1050, []uint32{2, 3}}},
		// float rounding of the job's own times is not refused
		{`{"jobid": 1, "start": 999.9995, "end": 1100.0009}`, true, Narrowed{999.9995, 1100.0009, []uint32{0, 1, 2, 3}}},
		{`{"jobid": 1, "ranks": "2", "share": {"2": {"cores": "0-1", "gpus": "1"}}}`, true, Narrowed{1000, 1100, []uint32{2}}},
		// the owner may ask anything
		{`{"jobid": 1, "ranks": "5-6", "start": 10, "end": 5000}`, false, Narrowed{10, 5000, []uint32{5, 6}}},
	} {
		got, err := parseReq(t, c.req).Apply(narrowJob, c.guest)
		if err != nil {
			t.Errorf("%s (guest %v): %v", c.req, c.guest, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s (guest %v): %+v, want %+v", c.req, c.guest, got, c.want)
		}
	}
}

func TestNarrowingDenied(t *testing.T) {
	for _, c := range []struct{ req, want string }{
		{`{"jobid": 1, "start": 990, "end": 1050}`, "window [990.000000, 1050.000000] is outside job ƒJ's run [1000.000000, 1100.000000]"},
		{`{"jobid": 1, "start": 1050, "end": 1100.002}`, "window [1050.000000, 1100.002000] is outside job ƒJ's run [1000.000000, 1100.000000]"},
		{`{"jobid": 1, "start": 1200}`, "window [1200.000000, 1100.000000] is outside job ƒJ's run"},
		{`{"jobid": 1, "end": 900}`, "window [1000.000000, 900.000000] is outside job ƒJ's run"},
		{`{"jobid": 1, "ranks": "2-5"}`, "rank 4 is not one of job ƒJ's ranks (0-3)"},
		{`{"jobid": 1, "share": {"7": {"cores": "0"}}}`, "rank 7 is not one of job ƒJ's ranks (0-3)"},
	} {
		_, err := parseReq(t, c.req).Apply(narrowJob, true)
		var d *Denied
		if !errors.As(err, &d) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v (%T), want Denied %q", c.req, err, err, c.want)
		}
		if _, err := parseReq(t, c.req).Apply(narrowJob, false); errors.As(err, &d) {
			t.Errorf("%s: the owner is denied: %v", c.req, err)
		}
	}
}

func TestNarrowingInvalid(t *testing.T) {
	for _, c := range []struct {
		req   string
		guest bool
		want  string
	}{
		// the owner's window must still be a window
		{`{"jobid": 1, "start": 1200}`, false, "start must not be after end"},
		// a share on a rank that is not asked
		{`{"jobid": 1, "ranks": "1", "share": {"2": {"cores": "0"}}}`, true, "share names rank 2, which the request does not ask about (ranks 1)"},
		{`{"jobid": 1, "ranks": "1", "share": {"2": {"cores": "0"}}}`, false, "share names rank 2, which the request does not ask about (ranks 1)"},
	} {
		_, err := parseReq(t, c.req).Apply(narrowJob, c.guest)
		var d *Denied
		if err == nil || errors.As(err, &d) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s (guest %v): error %v, want a plain error %q", c.req, c.guest, err, c.want)
		}
	}
}

func TestCheckShare(t *testing.T) {
	jobR := wire.Resources{
		0: {Cores: []uint32{0, 1, 2, 3, 4, 5, 6, 7}, GPUs: []uint32{0, 1}},
		1: {Cores: []uint32{0, 1, 2, 3, 4, 5, 6, 7}},
	}
	share := func(js string) map[uint32]wire.RankResources {
		return parseReq(t, `{"jobid": 1, "share": `+js+`}`).Share
	}
	for _, c := range []struct{ share, want string }{
		{`{"0": {"cores": "0-3", "gpus": "1"}, "1": {"cores": "7"}}`, ""},
		{`{"1": {"cores": "6-9"}}`, "core 8 on rank 1 is not job ƒJ's (0-7)"},
		{`{"0": {"cores": "0", "gpus": "1-2"}}`, "gpu 2 on rank 0 is not job ƒJ's (0-1)"},
		{`{"1": {"cores": "0", "gpus": "0"}}`, "gpu 0 on rank 1 is not job ƒJ's (none)"},
		{`{"2": {"cores": "0"}}`, "rank 2 is not one of job ƒJ's ranks (0-1)"},
	} {
		err := CheckShare("ƒJ", share(c.share), jobR)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", c.share, err)
			}
			continue
		}
		var d *Denied
		if !errors.As(err, &d) || err.Error() != c.want {
			t.Errorf("%s: error %v, want Denied %q", c.share, err, c.want)
		}
	}
}

// An inner job's share is charged over the instance's R on the rank, as
// the job's own would be: its cores over the node's, its GPUs whole.
func TestInnerShareOverInstance(t *testing.T) {
	inst := wire.Resources{1: {Cores: []uint32{0, 1, 2, 3, 4, 5, 6, 7}, GPUs: []uint32{0, 1, 2, 3}}}
	inner := parseReq(t, `{"jobid": 1, "share": {"1": {"cores": "2-3", "gpus": "3"}}}`).Share
	s, err := ShareOf(1, wire.Resources{1: inner[1]}, inst)
	if err != nil {
		t.Fatal(err)
	}
	want := wire.Share{Cores: "2-3", GPUs: "3", NCores: 2, NGPUs: 1, NodeCores: 8, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: 0.25}
	if s != want {
		t.Errorf("share %+v, want %+v", s, want)
	}
}
