// SPDX-License-Identifier: LGPL-3.0-only

package wire

import (
	"encoding/json"
	"testing"

	"github.com/flux-framework/power-monitor/internal/store/aggregate"
)

// A rank sends each kind of CPU and memory domains summed over the
// domains measured in the bucket, each GPU apart, null where nothing was
// measured; a kind it does not have is absent.
func TestBucketColumns(t *testing.T) {
	m := func(e, lo, hi float64) aggregate.Domain {
		return aggregate.Domain{Measured: true, EnergyJ: e, MinW: lo, MaxW: hi}
	}
	none := aggregate.Domain{}
	bs := []aggregate.Result{
		{CoveredS: 2, Node: m(100, 40, 60), CPU: []aggregate.Domain{m(30, 10, 20), none, m(10, 4, 6)}, GPU: []aggregate.Domain{m(8, 4, 4), none}},
		{CoveredS: 0, Node: none, CPU: []aggregate.Domain{none, none, none}, GPU: []aggregate.Domain{none, none}},
	}
	rb := BucketColumns(bs)
	out, err := json.Marshal(rb)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"covered_s":[2,0],"node":{"energy_j":[100,null],"min_w":[40,null],"max_w":[60,null]},` +
		`"cpu":{"energy_j":[40,null],"min_w":[14,null],"max_w":[26,null]},` +
		`"gpu":[{"energy_j":[8,null],"min_w":[4,null],"max_w":[4,null]},{"energy_j":[null,null],"min_w":[null,null],"max_w":[null,null]}]}`
	if string(out) != want {
		t.Errorf("sent\n%s\nwant\n%s", out, want)
	}
	var back RankBuckets
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if back.Len() != 2 || back.Mem != nil || back.Check(2) != nil || back.Check(3) == nil {
		t.Errorf("read back %+v", back)
	}
	// and each bucket reads back as the kinds' sums, each GPU apart
	var f BucketFigures
	back.FiguresAt(0, &f)
	if f.CoveredS != 2 || f.Node != (Domain{Kind: "node", Index: -1, Measured: true, EnergyJ: 100, MinW: 40, MaxW: 60}) ||
		len(f.CPU) != 1 || f.CPU[0] != (Domain{Kind: "cpu", Measured: true, EnergyJ: 40, MinW: 14, MaxW: 26}) ||
		len(f.Mem) != 0 || len(f.GPU) != 2 || f.GPU[0].EnergyJ != 8 || f.GPU[1] != (Domain{Kind: "gpu", Index: 1}) {
		t.Errorf("bucket 0 read back as %+v", f)
	}
	back.FiguresAt(1, &f)
	if f.CoveredS != 0 || f.Node.Measured || f.CPU[0].Measured || len(f.GPU) != 2 || f.GPU[0].Measured {
		t.Errorf("bucket 1 read back as %+v", f)
	}
	if out, _ := json.Marshal(BucketColumns(nil)); string(out) != `{"covered_s":[],"node":{"energy_j":[],"min_w":[],"max_w":[]},"gpu":[]}` {
		t.Errorf("no bucket sent as %s", out)
	}
}
