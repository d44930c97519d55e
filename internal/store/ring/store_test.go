// SPDX-License-Identifier: LGPL-3.0-only

package ring

import (
	"math"
	"sync"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
	"github.com/flux-framework/power-monitor/internal/store/aggregate"
)

const sec = int64(time.Second)

func reading(node float64, cpu, mem, gpu []float64) *sample.Reading {
	return &sample.Reading{Node: node, CPU: cpu, Mem: mem, GPU: gpu}
}

func TestEmpty(t *testing.T) {
	s := New(10, time.Second)
	if _, set := s.Layout(); set {
		t.Error("layout set before the first Append")
	}
	if st := s.Stats(); st != (Stats{Cap: 10}) {
		t.Errorf("stats %+v", st)
	}
	r := s.Window(0, 10*sec)
	if r.Presence != aggregate.PresenceNone || r.Reason != aggregate.ReasonNoSamples {
		t.Errorf("%+v", r)
	}
}

func TestWrap(t *testing.T) {
	s := New(5, time.Second)
	for i := int64(1); i <= 12; i++ { // 100 W at 1..12 s
		s.Append(i*sec, reading(100, nil, nil, nil))
	}
	st := s.Stats()
	// 12 appended into 5 slots: 7 lost, 8..12 s held.
	want := Stats{Len: 5, Cap: 5, BytesUsed: 5*8 + 5*4, BytesPerSample: 12,
		Oldest: 8 * sec, Newest: 12 * sec, Total: 12, Overwritten: 7, FirstEver: 1 * sec}
	if st != want {
		t.Errorf("stats\n got %+v\nwant %+v", st, want)
	}
	ser := s.series()
	if len(ser.Times[0]) != 3 || len(ser.Times[1]) != 2 || ser.Times[0][0] != 8*sec || ser.Times[1][1] != 12*sec {
		t.Errorf("segments %v %v", ser.Times[0], ser.Times[1])
	}
	if ser.Info.NewestOverwritten != 7*sec || !ser.Ordered {
		t.Errorf("info %+v ordered %v", ser.Info, ser.Ordered)
	}
	// [8, 12]: 4 s at 100 W across the wrap point, 400 J.
	r := s.Window(8*sec, 12*sec)
	if r.Presence != aggregate.PresenceComplete || r.Node.EnergyJ != 400 || r.Samples != 5 {
		t.Errorf("%+v", r)
	}
	// [3, 12]: [3, 7] lost to the wrap, [7, 8] held, [8, 12] stored: 5 s of 9.
	r = s.Window(3*sec, 12*sec)
	if r.Presence != aggregate.PresencePartial || r.Reason != aggregate.ReasonOverwritten ||
		r.CoveredS != 5 || r.Node.EnergyJ != 500 {
		t.Errorf("%+v", r)
	}
	// [0, 12] starts before the first sample ever: [0, 1] not yet sampled
	// (1 s), [1, 7] overwritten (6 s): overwritten is the larger part.
	if r = s.Window(0, 12*sec); r.Reason != aggregate.ReasonOverwritten {
		t.Errorf("%+v", r)
	}
}

func TestCapacityOne(t *testing.T) {
	s := New(0, time.Second) // at least 1
	for i := int64(1); i <= 3; i++ {
		s.Append(i*sec, reading(float64(10*i), nil, nil, nil))
	}
	st := s.Stats()
	if st.Cap != 1 || st.Len != 1 || st.Overwritten != 2 || st.Oldest != 3*sec || st.Newest != 3*sec {
		t.Errorf("%+v", st)
	}
	// The one sample, 30 W, held 1 s each side.
	if r := s.Window(2*sec+sec/2, 3*sec+sec/2); r.Presence != aggregate.PresenceComplete || r.Node.EnergyJ != 30 {
		t.Errorf("%+v", r)
	}
}

func TestBytesPerSample(t *testing.T) {
	s := New(1000, time.Second)
	two, four := []float64{1, 2}, []float64{1, 2, 3, 4}
	s.Append(sec, reading(500, two, two, four))
	st := s.Stats()
	// 2 cpu + 2 mem + 4 gpu + node = 9 float32 + one int64 = 44 bytes.
	if st.BytesPerSample != 44 || st.BytesUsed != 44000 {
		t.Errorf("%v bytes per sample, %d used", st.BytesPerSample, st.BytesUsed)
	}
	if st.BytesPerSample > 64 {
		t.Errorf("%v bytes per sample > 64", st.BytesPerSample)
	}
}

func TestLayoutMismatch(t *testing.T) {
	s := New(4, time.Second)
	s.Append(1*sec, reading(100, []float64{10, 20}, nil, []float64{30}))
	if l, set := s.Layout(); !set || l != (sample.Layout{CPU: 2, GPU: 1}) {
		t.Fatalf("layout %+v %v", l, set)
	}
	// One CPU missing (-> NaN), three GPUs for one slot (extra ignored).
	s.Append(2*sec, reading(101, []float64{11}, []float64{99}, []float64{31, 32, 33}))
	// Unmeasured values as Variorum reports them (-1) are NaN too.
	s.Append(3*sec, reading(-1, []float64{12, -1}, nil, []float64{34}))
	if st := s.Stats(); st.LayoutMismatch != 1 {
		t.Errorf("mismatch %d", st.LayoutMismatch)
	}
	nan := float32(math.NaN())
	want := [][]float32{{100, 10, 20, 30}, {101, 11, nan, 31}, {nan, 12, nan, 34}}
	vs := s.series().Values[0]
	for i, row := range want {
		for c, v := range row {
			got := vs[i*4+c]
			if got != v && !(math.IsNaN(float64(got)) && math.IsNaN(float64(v))) {
				t.Errorf("sample %d column %d = %v, want %v", i, c, got, v)
			}
		}
	}
}

func TestNodeDerived(t *testing.T) {
	s := New(4, time.Second)
	r := reading(math.NaN(), []float64{10}, nil, nil)
	r.DeriveNode()
	s.Append(sec, r)
	if !s.NodeDerived() || !s.Window(0, 2*sec).NodeDerived {
		t.Error("node derived not passed on")
	}
}

func TestClockStepTracking(t *testing.T) {
	s := New(4, time.Second)
	for _, ts := range []int64{10, 11, 9, 10} { // one step back
		s.Append(ts*sec, reading(100, nil, nil, nil))
	}
	if s.series().Ordered {
		t.Error("ordered with a step back held")
	}
	s.Append(11*sec, reading(100, nil, nil, nil)) // holds 11, 9, 10, 11
	if s.series().Ordered {
		t.Error("ordered with a step back held")
	}
	s.Append(12*sec, reading(100, nil, nil, nil)) // holds 9, 10, 11, 12
	if !s.series().Ordered {
		t.Error("not ordered once the step left the ring")
	}
	s.Append(5*sec, reading(100, nil, nil, nil)) // wrapped step back
	if s.series().Ordered {
		t.Error("ordered with a step back held")
	}
}

// TestConcurrent runs one writer against readers; run with -race.
func TestConcurrent(t *testing.T) {
	s := New(1000, time.Second)
	two, four := []float64{50, 60}, []float64{200, 210, 220, 230}
	const n = 20000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := int64(0); i < n; i++ {
			s.Append(i*sec, reading(1000, two, two, four))
		}
	}()
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(0); i < 2000; i++ {
				end := s.Stats().Newest
				r := s.Window(end-500*sec, end)
				if r.Coverage < 0 || r.Coverage > 1 || (r.Presence == aggregate.PresenceComplete && r.Node.MeanW != 1000) {
					t.Errorf("%+v", r)
					return
				}
			}
		}()
	}
	wg.Wait()
	if st := s.Stats(); st.Total != n || st.Overwritten != n-1000 {
		t.Errorf("%+v", st)
	}
}
