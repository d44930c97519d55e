// SPDX-License-Identifier: LGPL-3.0-only

package wire

import (
	"reflect"
	"strings"
	"testing"
)

// instanceR is what `flux R encode -r 0-1 -c 0-7 -g 0-3 -H vm,vm` prints.
const instanceR = `{"version": 1, "execution": {"R_lite": [{"rank": "0-1", "children": {"gpu": "0-3", "core": "0-7"}}], "starttime": 0.0, "expiration": 0.0, "nodelist": ["vm,vm"]}}`

// jobR is an R that sched-simple gave a job of two ranks: a different share
// on each, and no "gpu" key where it has none.
const jobR = `{"version": 1, "execution": {"R_lite": [{"rank": "0", "children": {"core": "4-5"}}, {"rank": "1", "children": {"core": "0-7", "gpu": "0-3"}}], "starttime": 1796420656.4, "expiration": 0.0, "nslots": 2, "nodelist": ["vm,vm"]}}`

func mustParseR(t *testing.T, s string) Resources {
	t.Helper()
	r, err := ParseR([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseR(t *testing.T) {
	all := RankResources{Cores: []uint32{0, 1, 2, 3, 4, 5, 6, 7}, GPUs: []uint32{0, 1, 2, 3}}
	if got, want := mustParseR(t, instanceR), (Resources{0: all, 1: all}); !reflect.DeepEqual(got, want) {
		t.Errorf("instance R: %v, want %v", got, want)
	}
	want := Resources{0: {Cores: []uint32{4, 5}, GPUs: []uint32{}}, 1: all}
	if got := mustParseR(t, jobR); !reflect.DeepEqual(got, want) {
		t.Errorf("job R: %v, want %v", got, want)
	}
	// a rank named twice holds the union
	got := mustParseR(t, `{"version":1,"execution":{"R_lite":[{"rank":"0-1","children":{"core":"0-1"}},{"rank":"1","children":{"core":"3","gpu":"1"}}]}}`)
	if want := []uint32{0, 1, 3}; !reflect.DeepEqual(got[1].Cores, want) || !reflect.DeepEqual(got[1].GPUs, []uint32{1}) {
		t.Errorf("rank 1 of two entries: %v", got[1])
	}
	if !reflect.DeepEqual(got[0].Cores, []uint32{0, 1}) || len(got[0].GPUs) != 0 {
		t.Errorf("rank 0 of two entries: %v", got[0])
	}
	for in, wantErr := range map[string]string{
		`not json`:      "not valid JSON",
		`{"version":2}`: "version 2",
		`{"version":1}`: "no execution",
		`{"version":1,"execution":{"R_lite":[{"rank":"x","children":{"core":"0"}}]}}`:             "R_lite[0].rank",
		`{"version":1,"execution":{"R_lite":[{"rank":"0","children":{"core":"3-1"}}]}}`:           "R_lite[0].children.core",
		`{"version":1,"execution":{"R_lite":[{"rank":"0"},{"rank":"1","children":{"gpu":"a"}}]}}`: "R_lite[1].children.gpu",
	} {
		if _, err := ParseR([]byte(in)); err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Errorf("ParseR(%s): error %v, want one with %q", in, err, wantErr)
		}
	}
}
