// SPDX-License-Identifier: LGPL-3.0-only

// Package sample defines one power reading of a node in the fixed layout that
// every source is read into, and that the store keeps per rank.
//
// A reading has one node value and, per index, CPU, memory and GPU values, all
// in watts. A quantity the platform cannot measure is NaN here (Variorum
// reports it as -1); output formats turn NaN back into -1 or null.
package sample

import "math"

// Layout is the number of CPU sockets, memory domains and GPUs of a node.
// It is fixed per rank by the first reading stored.
type Layout struct {
	CPU int `json:"cpu"`
	Mem int `json:"mem"`
	GPU int `json:"gpu"`
}

// Columns is the number of values in one reading of this layout
// (node first, then CPU, memory and GPU values in index order).
func (l Layout) Columns() int { return 1 + l.CPU + l.Mem + l.GPU }

// Reading is one power reading of a node, in watts.
type Reading struct {
	// Node is the whole node's power; NaN when not measured.
	Node float64
	// NodeDerived is true when the platform does not measure node power and
	// Node is the sum of the measured CPU, memory and GPU values.
	NodeDerived bool
	CPU         []float64 // per socket
	Mem         []float64 // per socket (memory domain)
	GPU         []float64 // per GPU, flattened across sockets in socket order

	// ReadNs is how long the read took, in ns (the sampler sets it; the
	// reading-time[ns] of the MQTT payload). Not stored.
	ReadNs int64

	// Energy holds the hardware energy counters of the domains that have
	// one (RAPL, NVML total energy, hwmon energy), nil when none has.
	Energy *Energy

	// spare keeps the counters' memory while Energy is nil (Reset), for
	// the next Counters.
	spare *Energy
}

// A Reading is filled in place every period (the sampler owns one and
// each source fills it): Reset, then the values and, where there are
// counters, Counters. These reuse the reading's arrays, so that taking a
// sample allocates nothing once the layout is known. A reading that is
// kept beyond the next period is copied with CopyFrom.

// Reset makes r an empty reading of layout l, to be filled: Node
// unmeasured and not derived, every CPU, memory and GPU value unmeasured
// (NaN), no counters, ReadNs 0. It keeps r's arrays for reuse.
func (r *Reading) Reset(l Layout) {
	r.Node, r.NodeDerived, r.ReadNs = math.NaN(), false, 0
	r.CPU = nanSlice(r.CPU, l.CPU)
	r.Mem = nanSlice(r.Mem, l.Mem)
	r.GPU = nanSlice(r.GPU, l.GPU)
	if r.Energy != nil {
		r.spare, r.Energy = r.Energy, nil
	}
}

// Counters sets r.Energy to counters in r's layout, all NaN (no counter),
// reusing r's memory, and returns it.
func (r *Reading) Counters() *Energy {
	e := r.Energy
	if e == nil {
		e = r.spare
		if e == nil {
			e = &Energy{}
		}
		r.Energy, r.spare = e, nil
	}
	e.Node = math.NaN()
	e.CPU = nanSlice(e.CPU, len(r.CPU))
	e.Mem = nanSlice(e.Mem, len(r.Mem))
	e.GPU = nanSlice(e.GPU, len(r.GPU))
	return e
}

// CopyFrom makes r a copy of o that shares no memory with it, reusing r's
// arrays.
func (r *Reading) CopyFrom(o *Reading) {
	r.Node, r.NodeDerived, r.ReadNs = o.Node, o.NodeDerived, o.ReadNs
	r.CPU = copySlice(r.CPU, o.CPU)
	r.Mem = copySlice(r.Mem, o.Mem)
	r.GPU = copySlice(r.GPU, o.GPU)
	if o.Energy == nil {
		if r.Energy != nil {
			r.spare, r.Energy = r.Energy, nil
		}
		return
	}
	e := r.Counters()
	e.Node = o.Energy.Node
	e.CPU = copySlice(e.CPU, o.Energy.CPU)
	e.Mem = copySlice(e.Mem, o.Energy.Mem)
	e.GPU = copySlice(e.GPU, o.Energy.GPU)
}

// nanSlice is s resized to n (reusing its array when it is large enough),
// every value NaN. An empty result is nil when s was.
func nanSlice(s []float64, n int) []float64 {
	if cap(s) < n {
		s = make([]float64, n)
	}
	s = s[:n]
	for i := range s {
		s[i] = math.NaN()
	}
	return s
}

// copySlice is dst holding a copy of src, reusing dst's array.
func copySlice(dst, src []float64) []float64 { return append(dst[:0], src...) }

// Energy is the reading of energy counters, in joules, in the same layout
// as the power values. Each value is cumulative since the source started
// and never decreases: the source has already accounted for wraps (RAPL's
// max_energy_range_uj) and resets (a driver reload). NaN where a domain has
// no counter. A window's energy is then the difference of two readings:
// exact, whatever the sampling period.
type Energy struct {
	Node float64
	CPU  []float64
	Mem  []float64
	GPU  []float64
}

// NewEnergy returns counters for layout l, all NaN (no counter).
func NewEnergy(l Layout) *Energy {
	nan := func(n int) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = math.NaN()
		}
		return v
	}
	return &Energy{Node: math.NaN(), CPU: nan(l.CPU), Mem: nan(l.Mem), GPU: nan(l.GPU)}
}

// Counted reports whether any domain has a counter.
func (e *Energy) Counted() bool {
	if e == nil {
		return false
	}
	if !math.IsNaN(e.Node) {
		return true
	}
	for _, vs := range [][]float64{e.CPU, e.Mem, e.GPU} {
		for _, v := range vs {
			if !math.IsNaN(v) {
				return true
			}
		}
	}
	return false
}

// Layout returns the layout of the reading.
func (r *Reading) Layout() Layout {
	return Layout{CPU: len(r.CPU), Mem: len(r.Mem), GPU: len(r.GPU)}
}

// Unmeasured is the value of a quantity that the platform cannot measure.
var Unmeasured = math.NaN()

// Measured reports whether v is a measured value (not NaN, not negative).
func Measured(v float64) bool { return !math.IsNaN(v) && v >= 0 }

// DeriveNode sets Node to the sum of the measured components when the node
// power itself is not measured, and marks it derived. It does nothing when
// Node is measured or no component is.
func (r *Reading) DeriveNode() {
	if Measured(r.Node) {
		return
	}
	sum, any := 0.0, false
	for _, vs := range [][]float64{r.CPU, r.Mem, r.GPU} {
		for _, v := range vs {
			if Measured(v) {
				sum += v
				any = true
			}
		}
	}
	if any {
		r.Node = sum
		r.NodeDerived = true
	}
}
