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
