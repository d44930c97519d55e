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
}

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
