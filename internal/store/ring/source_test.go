// SPDX-License-Identifier: LGPL-3.0-only

package ring

import (
	"math"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
	"github.com/flux-framework/power-monitor/internal/store/aggregate"
)

// A change of source keeps every sample held: the ring widens to the new
// layout as well as the old, the old samples have no value in the columns
// they lacked, and the new readings are not layout mismatches.
func TestNewSourceWidens(t *testing.T) {
	s := New(16, time.Second)
	// 1..4 s: node 100 W, 2 CPUs at 30 and 40 W (Variorum on a CPU-only platform)
	for i := int64(1); i <= 4; i++ {
		s.Append(i*sec, reading(100, []float64{30, 40}, nil, nil))
	}
	s.NewSource()
	// 5..8 s: the new source sees one CPU and 2 GPUs (node 300 W)
	for i := int64(5); i <= 8; i++ {
		s.Append(i*sec, reading(300, []float64{50}, nil, []float64{80, 90}))
	}
	if l, _ := s.Layout(); l != (sample.Layout{CPU: 2, GPU: 2}) {
		t.Fatalf("layout %+v, want 2 CPUs and 2 GPUs", l)
	}
	st := s.Stats()
	if st.LayoutMismatch != 0 || st.Len != 8 || st.Total != 8 || st.BytesUsed != 16*(8+5*4) {
		t.Fatalf("stats %+v", st)
	}
	// The old samples, intact; no GPU then.
	r := s.Window(1*sec, 4*sec)
	if r.Node.EnergyJ != 300 || r.CPU[0].EnergyJ != 90 || r.CPU[1].EnergyJ != 120 || r.GPU[0].Measured || r.GPU[1].Measured {
		t.Fatalf("before the change: %+v", r)
	}
	// The new ones; the second CPU is not measured any more.
	r = s.Window(5*sec, 8*sec)
	if r.Node.EnergyJ != 900 || r.CPU[0].EnergyJ != 150 || r.CPU[1].Measured || r.GPU[0].EnergyJ != 240 || r.GPU[1].EnergyJ != 270 {
		t.Fatalf("after the change: %+v", r)
	}
	// A reading of yet another layout, without a change of source, is one.
	s.Append(9*sec, reading(300, []float64{50, 1, 2}, nil, nil))
	if st := s.Stats(); st.LayoutMismatch != 1 {
		t.Fatalf("mismatch %d, want 1", st.LayoutMismatch)
	}
}

// The counters follow their columns when the ring widens, and the new
// source's counters in columns not counted before are counted from then
// on, the old samples having none there. The new source's counters do not
// go on from the old one's: its first reading keeps none, so the pairs
// around it take the power's integral, and a counter that starts far
// above where the old one stopped adds no energy.
func TestNewSourceCounters(t *testing.T) {
	s := New(8, time.Second)
	nan := math.NaN()
	// RAPL: 2 CPUs with counters (30 and 40 W: +30, +40 J a second)
	for i := int64(0); i < 4; i++ {
		s.Append((i+1)*sec, counted(reading(nan, []float64{30, 40}, nil, nil), nan,
			[]float64{float64(1000 + 30*i), float64(2000 + 40*i)}, nil, nil))
	}
	if st := s.Stats(); st.Counters != 2 {
		t.Fatalf("counters %d", st.Counters)
	}
	s.NewSource()
	// RAPL and NVML: 2 CPUs and a GPU (100 W, +100 J a second), all
	// counted; the CPUs' counters count from a million (a new reader).
	for i := int64(4); i < 8; i++ {
		s.Append((i+1)*sec, counted(reading(nan, []float64{30, 40}, nil, []float64{100}), nan,
			[]float64{float64(1e6 + 30*i), float64(1e6 + 40*i)}, nil, []float64{float64(5000 + 100*i)}))
	}
	st := s.Stats()
	if st.Counters != 3 || st.LayoutMismatch != 0 || st.BytesUsed != 8*(8+4*4+3*8) {
		t.Fatalf("stats %+v", st)
	}
	// The CPUs' energy across the change, 7 s: the counters before and
	// after it, the power around its first reading.
	r := s.Window(1*sec, 8*sec)
	if r.CPU[0].EnergyJ != 210 || r.CPU[1].EnergyJ != 280 || r.CPU[0].Method != aggregate.MethodMixed {
		t.Fatalf("CPUs %+v", r.CPU)
	}
	// After it, the counters alone.
	r = s.Window(6*sec, 8*sec)
	if r.CPU[0].EnergyJ != 60 || r.CPU[0].Method != aggregate.MethodCounter || r.GPU[0].EnergyJ != 200 || r.GPU[0].Method != aggregate.MethodCounter {
		t.Fatalf("CPU %+v GPU %+v", r.CPU[0], r.GPU[0])
	}
	// The GPU since it is there: 3 s, its first pair from its power.
	r = s.Window(5*sec, 8*sec)
	if r.GPU[0].EnergyJ != 300 || r.GPU[0].Method != aggregate.MethodMixed {
		t.Fatalf("GPU %+v", r.GPU[0])
	}
}

// A change of source of the same layout changes nothing; before the first
// sample there is nothing to widen.
func TestNewSourceSameLayout(t *testing.T) {
	s := New(4, time.Second)
	s.NewSource() // before any sample: the first reading fixes the layout
	s.Append(1*sec, reading(100, []float64{10}, nil, nil))
	s.NewSource()
	s.Append(2*sec, reading(100, []float64{10}, nil, nil))
	if l, _ := s.Layout(); l != (sample.Layout{CPU: 1}) {
		t.Fatalf("layout %+v", l)
	}
	if st := s.Stats(); st.LayoutMismatch != 0 || st.BytesUsed != 4*(8+2*4) {
		t.Fatalf("stats %+v", st)
	}
}

// After a change of period, the gap rule uses the longer period while the
// ring holds a sample taken at it.
func TestSetPeriod(t *testing.T) {
	s := New(4, 10*time.Second)
	for i := int64(1); i <= 3; i++ {
		s.Append(i*10*sec, reading(100, nil, nil, nil))
	}
	s.SetPeriod(time.Second)
	if p := s.Period(); p != 10*time.Second {
		t.Fatalf("period %v while samples at 10 s are held", p)
	}
	// 30 to 40 s: 10 s between two samples, within MaxGap(10 s) = 50 s.
	s.Append(40*sec, reading(100, nil, nil, nil))
	if r := s.Window(30*sec, 40*sec); r.Presence != aggregate.PresenceComplete || r.Node.EnergyJ != 1000 {
		t.Fatalf("%+v", r)
	}
	// Once the samples taken at 10 s are overwritten, the new period rules.
	for i := int64(41); i <= 44; i++ {
		s.Append(i*sec, reading(100, nil, nil, nil))
	}
	if p := s.Period(); p != time.Second {
		t.Fatalf("period %v, want 1 s", p)
	}
	// A longer period takes effect at once.
	s.SetPeriod(20 * time.Second)
	if p := s.Period(); p != 20*time.Second {
		t.Fatalf("period %v, want 20 s", p)
	}
}
