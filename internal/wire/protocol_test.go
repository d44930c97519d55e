// SPDX-License-Identifier: LGPL-3.0-only

package wire

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/flux-framework/power-monitor/internal/store/aggregate"
)

func TestJobIDAcceptsNumberOrString(t *testing.T) {
	for in, want := range map[string]JobID{
		`{"jobid": 1234}`:       "1234",
		`{"jobid": "ƒ2Xyz"}`:    "ƒ2Xyz",
		`{"jobid": "0x4d2"}`:    "0x4d2",
		`{"ranks": "0-3"}`:      "",
		`{"jobid": "f3s9Rz3G"}`: "f3s9Rz3G",
	} {
		var r QueryRequest
		if err := json.Unmarshal([]byte(in), &r); err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if r.JobID != want {
			t.Errorf("%s: jobid %q, want %q", in, r.JobID, want)
		}
	}
	for _, in := range []string{`{"jobid": -1}`, `{"jobid": 1.5}`, `{"jobid": true}`, `{"jobid": [1]}`} {
		var r QueryRequest
		if err := json.Unmarshal([]byte(in), &r); err == nil {
			t.Errorf("%s: accepted as %q", in, r.JobID)
		}
	}
}

// TestAggregateJSON: how FromAggregate's result is sent (moved from the
// aggregate package's tests when aggregate.Result lost its JSON tags).
func TestAggregateJSON(t *testing.T) {
	// A complete window of node 100 W, cpu read from a counter, mem from
	// power, gpu never measured; no domain has a source yet.
	r := aggregate.Result{Start: 100, End: 104, Samples: 5, CoveredS: 4, Coverage: 1,
		Presence: aggregate.PresenceComplete, NodeDerived: true,
		Node: aggregate.Domain{Kind: "node", Index: -1, Measured: true, EnergyJ: 400, MeanW: 100, MinW: 100, MaxW: 100, Method: aggregate.MethodPower},
		CPU:  []aggregate.Domain{{Kind: "cpu", Measured: true, EnergyJ: 240, MeanW: 60, MinW: 50, MaxW: 50, Method: aggregate.MethodCounter}},
		Mem:  []aggregate.Domain{{Kind: "mem", Measured: true, EnergyJ: 40, MeanW: 10, MinW: 10, MaxW: 10, Method: aggregate.MethodPower}},
		GPU:  []aggregate.Domain{{Kind: "gpu", Index: 0}},
	}
	b, err := json.Marshal(FromAggregate(r))
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"start":100,`, `"end":104,`, `"data_presence":"complete"`, `"node_derived":true`,
		`"max_w":50,"method":"counter"}`, `"max_w":10,"method":"power"}`,
		`"gpu":[{"kind":"gpu","index":0,"measured":false,"energy_j":0,"mean_w":0,"min_w":0,"max_w":0}]`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("json lacks %s: %s", key, b)
		}
	}
	if strings.Contains(string(b), "source") {
		t.Errorf("a domain without a source sent one: %s", b)
	}
	if strings.Contains(string(b), "reason") {
		t.Errorf("complete result has a reason: %s", b)
	}
	// Every field of aggregate.Result is carried over.
	r.Reason, r.Node.Source, r.FirstSample, r.LastSample = aggregate.ReasonGap, "rapl", 100, 104
	a := FromAggregate(r)
	if a.Reason != r.Reason || a.Node.Source != "rapl" || a.FirstSample != 100 || a.LastSample != 104 ||
		a.Samples != 5 || a.CoveredS != 4 || a.Coverage != 1 || len(a.CPU) != 1 || a.CPU[0].EnergyJ != 240 {
		t.Errorf("FromAggregate(%+v) = %+v", r, a)
	}
	if a := FromAggregate(aggregate.Result{CPU: []aggregate.Domain{}}); a.CPU == nil || a.Mem != nil {
		t.Errorf("an empty list must stay empty and a nil one nil: cpu %#v mem %#v", a.CPU, a.Mem)
	}
}
