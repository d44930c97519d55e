// SPDX-License-Identifier: LGPL-3.0-only

package nested

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/flux-framework/power-monitor/internal/wire"
)

func mustR(t *testing.T, r string) wire.Resources {
	t.Helper()
	res, err := wire.ParseR([]byte(r))
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The enclosing job of flux-core's own example (checked on v0.88): it holds
// cores 2-5 and gpu 1 on rank 0, cores 3-6 and gpu 3 on rank 1; the nested
// instance's R is then rank 0 {core 0-3, gpu 1}, rank 1 {core 0-3, gpu 3}.
const enclosingR = `{"version":1,"execution":{"R_lite":[
	{"rank":"0","children":{"core":"2-5","gpu":"1"}},
	{"rank":"1","children":{"core":"3-6","gpu":"3"}}]}}`

func TestMapUpRenumbersRanksAndCoresKeepsGPUs(t *testing.T) {
	encl := mustR(t, enclosingR)
	inner := mustR(t, `{"version":1,"execution":{"R_lite":[
		{"rank":"0","children":{"core":"0,2","gpu":"1"}},
		{"rank":"1","children":{"core":"3"}}]}}`)
	got, from, err := MapUp(inner, encl)
	if err != nil {
		t.Fatal(err)
	}
	want := wire.Resources{
		0: {Cores: []uint32{2, 4}, GPUs: []uint32{1}},
		1: {Cores: []uint32{6}, GPUs: []uint32{}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("MapUp = %v, want %v", got, want)
	}
	if !reflect.DeepEqual(from, map[uint32]uint32{0: 0, 1: 1}) {
		t.Errorf("from = %v", from)
	}
	share := ShareOf(got)
	if share["0"] != (wire.RankShare{Cores: "2,4", GPUs: "1"}) || share["1"] != (wire.RankShare{Cores: "6", GPUs: ""}) {
		t.Errorf("ShareOf = %v", share)
	}
}

func TestMapUpSparseEnclosingRanks(t *testing.T) {
	// enclosing job on ranks 2 and 5: nested rank 1 is rank 5
	encl := mustR(t, `{"version":1,"execution":{"R_lite":[
		{"rank":"5","children":{"core":"0-7","gpu":"0-3"}},
		{"rank":"2","children":{"core":"0-7","gpu":"0-3"}}]}}`)
	inner := mustR(t, `{"version":1,"execution":{"R_lite":[{"rank":"1","children":{"core":"7","gpu":"2"}}]}}`)
	got, from, err := MapUp(inner, encl)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wire.Resources{5: {Cores: []uint32{7}, GPUs: []uint32{2}}}) || from[5] != 1 || len(from) != 1 {
		t.Errorf("MapUp = %v, %v", got, from)
	}
}

func TestMapUpRefusesWhatTheEnclosingJobLacks(t *testing.T) {
	encl := mustR(t, enclosingR)
	for _, c := range []struct{ inner, want string }{
		{`{"rank":"2","children":{"core":"0"}}`, "nested rank 2 has no rank in the enclosing job's R"},
		{`{"rank":"0","children":{"core":"4"}}`, "nested core 4 on rank 0: the enclosing job holds only 4 cores on rank 0 (2-5)"},
		{`{"rank":"1","children":{"core":"0","gpu":"1"}}`, "nested gpu 1 on rank 1 is not one of the enclosing job's GPUs on rank 1"},
	} {
		_, _, err := MapUp(mustR(t, `{"version":1,"execution":{"R_lite":[`+c.inner+`]}}`), encl)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.inner, err, c.want)
		}
	}
}

func TestTwoLevels(t *testing.T) {
	// level 0 job on ranks 4-5 cores 8-15; level 1 job on its ranks 0-1
	// (level 0's 4-5) cores 4-7 of those (level 0's 12-15); the inner job
	// on level 2's rank 1, core 1.
	l0 := mustR(t, `{"version":1,"execution":{"R_lite":[{"rank":"4-5","children":{"core":"8-15","gpu":"0-3"}}]}}`)
	l1 := mustR(t, `{"version":1,"execution":{"R_lite":[{"rank":"0-1","children":{"core":"4-7","gpu":"2-3"}}]}}`)
	inner := mustR(t, `{"version":1,"execution":{"R_lite":[{"rank":"1","children":{"core":"1","gpu":"3"}}]}}`)
	toInner := map[uint32]uint32{1: 1}
	m1, f1, err := MapUp(inner, l1)
	if err != nil {
		t.Fatal(err)
	}
	toInner = Compose(f1, toInner)
	m0, f0, err := MapUp(m1, l0)
	if err != nil {
		t.Fatal(err)
	}
	toInner = Compose(f0, toInner)
	if !reflect.DeepEqual(m0, wire.Resources{5: {Cores: []uint32{13}, GPUs: []uint32{3}}}) {
		t.Errorf("two levels up: %v", m0)
	}
	if !reflect.DeepEqual(toInner, map[uint32]uint32{5: 1}) {
		t.Errorf("rank map %v", toInner)
	}
}

func TestRelabel(t *testing.T) {
	resp := &wire.QueryResponse{RankSet: "4-5",
		Ranks:   []wire.RankResult{{Rank: 5}},
		Missing: []wire.Missing{{Rank: 4, Reason: "x"}}}
	enc := Relabel(resp, map[uint32]uint32{4: 0, 5: 1})
	if resp.Ranks[0].Rank != 1 || resp.Missing[0].Rank != 0 || resp.RankSet != "0-1" {
		t.Errorf("relabelled %+v", resp)
	}
	if !reflect.DeepEqual(enc, map[uint32]uint32{0: 4, 1: 5}) {
		t.Errorf("enclosing %v", enc)
	}
}

func TestRequestJSON(t *testing.T) {
	r := wire.QueryRequest{JobID: "123", Ranks: "4-5", Start: 10, End: 20,
		Share: ShareOf(wire.Resources{4: {Cores: []uint32{0, 1}, GPUs: []uint32{2}}})}
	b, err := json.Marshal(&r)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got["jobid"] != "123" || got["ranks"] != "4-5" || got["start"] != 10.0 || got["end"] != 20.0 {
		t.Errorf("request %s", b)
	}
	if s, _ := got["share"].(map[string]any)["4"].(map[string]any); s["cores"] != "0-1" || s["gpus"] != "2" {
		t.Errorf("share in %s", b)
	}
}

func TestOriginLine(t *testing.T) {
	if l := (&Origin{This: true}).Line(); l != "samples from this instance" {
		t.Error(l)
	}
	o := &Origin{URI: "local:///run/flux/local", JobID: "ƒX", Level: 0, Ranks: "2-3"}
	if l := o.Line(); !strings.Contains(l, "enclosing instance at local:///run/flux/local") || !strings.Contains(l, "job ƒX, ranks 2-3") {
		t.Error(l)
	}
}
