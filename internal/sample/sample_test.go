// SPDX-License-Identifier: LGPL-3.0-only

package sample

import (
	"math"
	"testing"
)

func TestDeriveNode(t *testing.T) {
	r := Reading{Node: math.NaN(), CPU: []float64{100, math.NaN()}, Mem: []float64{20}, GPU: []float64{50, -1}}
	r.DeriveNode()
	if r.Node != 170 || !r.NodeDerived {
		t.Fatalf("node %v derived %v, want 170 true", r.Node, r.NodeDerived)
	}
	m := Reading{Node: 300, CPU: []float64{100}}
	m.DeriveNode()
	if m.Node != 300 || m.NodeDerived {
		t.Fatalf("measured node changed: %+v", m)
	}
	none := Reading{Node: math.NaN()}
	none.DeriveNode()
	if !math.IsNaN(none.Node) || none.NodeDerived {
		t.Fatalf("nothing measured: %+v", none)
	}
}

func TestEnergy(t *testing.T) {
	var nilE *Energy
	if nilE.Counted() {
		t.Fatal("nil counts")
	}
	e := NewEnergy(Layout{CPU: 2, Mem: 1, GPU: 4})
	if e.Counted() || len(e.CPU) != 2 || len(e.GPU) != 4 {
		t.Fatalf("%+v", e)
	}
	e.GPU[3] = 12.5
	if !e.Counted() {
		t.Fatal("a GPU counter is not counted")
	}
	if (Layout{CPU: 2, Mem: 2, GPU: 4}).Columns() != 9 {
		t.Fatal("columns")
	}
}

func TestReuse(t *testing.T) {
	var r Reading
	l := Layout{CPU: 2, Mem: 1, GPU: 3}
	r.Reset(l)
	if r.Layout() != l || !math.IsNaN(r.Node) || !math.IsNaN(r.CPU[1]) || !math.IsNaN(r.GPU[2]) || r.Energy != nil {
		t.Fatalf("reset: %+v", r)
	}
	r.CPU[0], r.GPU[1] = 10, 20
	e := r.Counters()
	if r.Energy != e || len(e.CPU) != 2 || len(e.Mem) != 1 || len(e.GPU) != 3 || e.Counted() {
		t.Fatalf("counters: %+v", e)
	}
	e.GPU[2] = 7
	var c Reading
	c.CopyFrom(&r)
	r.GPU[1], e.GPU[2] = 0, 0
	if c.GPU[1] != 20 || c.CPU[0] != 10 || c.Energy == e || c.Energy.GPU[2] != 7 || c.Layout() != l {
		t.Fatalf("copy shares memory or differs: %+v %+v", c, c.Energy)
	}
	r.Reset(Layout{CPU: 2})
	c.CopyFrom(&r)
	if c.Energy != nil || c.Layout() != (Layout{CPU: 2}) {
		t.Fatalf("copy of a reading without counters: %+v", c)
	}
	// Once the layout is known, filling a reading again allocates nothing.
	if n := testing.AllocsPerRun(100, func() {
		r.Reset(l)
		r.CPU[1] = 5
		r.Counters().CPU[0] = 3
		r.DeriveNode()
		c.CopyFrom(&r)
		r.Reset(l)
		c.CopyFrom(&r)
	}); n != 0 {
		t.Errorf("%v allocations to fill and copy a reading", n)
	}
}
