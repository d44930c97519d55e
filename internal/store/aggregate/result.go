// SPDX-License-Identifier: LGPL-3.0-only

package aggregate

// Data presence of a Result.
const (
	PresenceComplete = "complete" // Coverage >= CompleteCoverage
	PresencePartial  = "partial"  // 0 < Coverage < CompleteCoverage
	PresenceNone     = "none"     // nothing of the window is covered
)

// CompleteCoverage is the coverage at and above which a window is complete.
const CompleteCoverage = 0.999

// Reasons for the uncovered part of a window. Other layers add their own
// (no power source, rank did not answer).
const (
	// ReasonNotYetSampled: the window, or its start, precedes the first
	// sample ever taken.
	ReasonNotYetSampled = "not yet sampled"
	// ReasonOverwritten: samples of the window were lost to the ring
	// wrapping.
	ReasonOverwritten = "overwritten"
	// ReasonGap: the samples of the window have a gap (a stall, a clock
	// step, or no sample since more than maxGap before the window end).
	ReasonGap = "gap in samples"
	// ReasonNoSamples: the store holds no sample.
	ReasonNoSamples = "no samples"
)

// Domain kinds.
const (
	KindNode = "node"
	KindCPU  = "cpu"
	KindMem  = "mem"
	KindGPU  = "gpu"
)

// Methods by which a domain's energy was obtained (Domain.Method).
const (
	// MethodCounter: every integrated part came from energy counters.
	MethodCounter = "counter"
	// MethodPower: every integrated part came from integrated power.
	MethodPower = "power"
	// MethodMixed: some parts came from counters, some from power.
	MethodMixed = "mixed"
)

// Domain is the aggregate of one power domain over a window.
type Domain struct {
	Kind     string // "node", "cpu", "mem", "gpu"
	Index    int    // -1 for node
	Measured bool   // false: no measured value (all NaN)
	EnergyJ  float64
	MeanW    float64 // EnergyJ / seconds covered for this domain
	MinW     float64
	MaxW     float64
	// Method is how EnergyJ was obtained: MethodCounter, MethodPower or
	// MethodMixed. It is set for every measured domain and empty for a
	// domain that is not measured.
	Method string
	// Source names where the domain's values came from. Window leaves it
	// empty; the module fills it in.
	Source string
}

// Result is the aggregate of one rank over a window: the integrator's output.
// It is not a wire format; internal/wire converts it (wire.FromAggregate).
type Result struct {
	Start       float64 // window, unix seconds
	End         float64
	Samples     int     // samples with time in [start, end]
	FirstSample float64 // unix seconds, 0 if none
	LastSample  float64 // unix seconds, 0 if none
	CoveredS    float64
	Coverage    float64 // CoveredS / window length, in [0,1]
	Presence    string  // PresenceComplete, PresencePartial or PresenceNone
	Reason      string  // why part of the window is uncovered (Reason...)
	NodeDerived bool
	Node        Domain
	CPU         []Domain
	Mem         []Domain
	GPU         []Domain
}

// Domain returns the domain of value column c (0 node, then CPU, memory
// and GPU in index order), or nil if there is no such column.
func (r *Result) Domain(c int) *Domain {
	if c < 0 {
		return nil
	}
	if c == 0 {
		return &r.Node
	}
	c--
	for _, ds := range [][]Domain{r.CPU, r.Mem, r.GPU} {
		if c < len(ds) {
			return &ds[c]
		}
		c -= len(ds)
	}
	return nil
}
