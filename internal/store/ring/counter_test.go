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

// counted is reading with energy counters (nil cpu, mem or gpu: no counter).
func counted(r *sample.Reading, node float64, cpu, mem, gpu []float64) *sample.Reading {
	l := r.Layout()
	e := sample.NewEnergy(l)
	e.Node = node
	copy(e.CPU, cpu)
	copy(e.Mem, mem)
	copy(e.GPU, gpu)
	r.Energy = e
	return r
}

func isNaN(v float64) bool { return math.IsNaN(v) }

func TestCounters(t *testing.T) {
	s := New(8, time.Second)
	nan := math.NaN()
	p := func() *sample.Reading { return reading(100, []float64{50, 60}, nil, []float64{200}) }
	// Columns: 0 node, 1 cpu0, 2 cpu1, 3 gpu0.
	s.Append(1*sec, p())
	s.Append(2*sec, p())
	if st := s.Stats(); st.Counters != 0 || st.BytesPerSample != 8+4*4 {
		t.Fatalf("before counters %+v", st)
	}
	s.Append(3*sec, counted(p(), nan, []float64{1000, 2000}, nil, []float64{5000})) // decides: cpu0, cpu1, gpu0
	s.Append(4*sec, counted(p(), nan, []float64{1070, 2060}, nil, []float64{5300}))
	s.Append(5*sec, counted(p(), 777, []float64{1140, nan}, nil, []float64{5600})) // node not counted: dropped
	s.Append(6*sec, p())                                                           // no counters at all
	s.Append(7*sec, counted(p(), nan, []float64{1280, 2180}, nil, []float64{6200}))

	st := s.Stats()
	// 8 slots of 8 (time) + 4*4 (values) + 3*8 (counters) = 48 bytes.
	if st.Counters != 3 || st.BytesPerSample != 48 || st.BytesUsed != 8*48 || st.LayoutMismatch != 1 {
		t.Errorf("stats %+v", st)
	}
	ser := s.series()
	if len(ser.CounterCols) != 3 || ser.CounterCols[0] != 1 || ser.CounterCols[1] != 2 || ser.CounterCols[2] != 3 {
		t.Fatalf("counter columns %v", ser.CounterCols)
	}
	want := [][]float64{{nan, nan, nan}, {nan, nan, nan}, {1000, 2000, 5000}, {1070, 2060, 5300},
		{1140, nan, 5600}, {nan, nan, nan}, {1280, 2180, 6200}}
	es := ser.Counters[0]
	if len(es) != 7*3 || len(ser.Counters[1]) != 0 {
		t.Fatalf("counters %v %v", ser.Counters[0], ser.Counters[1])
	}
	for i, row := range want {
		for j, v := range row {
			if got := es[i*3+j]; got != v && !(isNaN(got) && isNaN(v)) {
				t.Errorf("sample %d counter %d = %v, want %v", i, j, got, v)
			}
		}
	}

	// [3, 5]: cpu0 1140 - 1000 = 140 J from the counter (70 W, sampled
	// 50 W); cpu1 60 J from the counter for (3, 4) and 60 W * 1 s of power
	// for (4, 5): 120 J, mixed; gpu0 600 J; node 100 W * 2 s from power.
	r := s.Window(3*sec, 5*sec)
	for _, c := range []struct {
		d      aggregate.Domain
		e      float64
		method string
	}{
		{r.Node, 200, aggregate.MethodPower},
		{r.CPU[0], 140, aggregate.MethodCounter},
		{r.CPU[1], 120, aggregate.MethodMixed},
		{r.GPU[0], 600, aggregate.MethodCounter},
	} {
		if c.d.EnergyJ != c.e || c.d.Method != c.method {
			t.Errorf("[3, 5] %s %d: %v J %s, want %v J %s", c.d.Kind, c.d.Index, c.d.EnergyJ, c.d.Method, c.e, c.method)
		}
	}
	// [1, 7], cpu0: power for (1, 2), (2, 3), (5, 6), (6, 7), 50 J each,
	// counters for (3, 4), (4, 5), 70 J each: 340 J.
	if r = s.Window(1*sec, 7*sec); r.CPU[0].EnergyJ != 340 || r.CPU[0].Method != aggregate.MethodMixed {
		t.Errorf("[1, 7] cpu0 %+v", r.CPU[0])
	}
}

func TestCountersBytesPerSample(t *testing.T) {
	two, four := []float64{1, 2}, []float64{1, 2, 3, 4}
	// An Energy without any counter value decides nothing.
	s := New(1000, time.Second)
	s.Append(sec, counted(reading(500, two, two, four), math.NaN(), nil, nil, nil))
	if st := s.Stats(); st.Counters != 0 || st.BytesPerSample != 44 {
		t.Errorf("no counter: %+v", st)
	}
	// 2 cpu + 2 mem + 4 gpu + node: 9 float32 + one int64 = 44 bytes, and
	// counters on the 2 cpus and 4 gpus: + 6 float64 = 92 bytes.
	s = New(1000, time.Second)
	s.Append(sec, counted(reading(500, two, two, four), math.NaN(), []float64{1, 2}, nil, []float64{1, 2, 3, 4}))
	if st := s.Stats(); st.Counters != 6 || st.BytesPerSample != 92 || st.BytesUsed != 92000 {
		t.Errorf("%+v", st)
	}
}

func TestCountersWrap(t *testing.T) {
	s := New(3, time.Second)
	// The counter of cpu0 advances 10, 20, 30, 40, 50, 60 J in the six
	// seconds; sampled power is 10 W.
	for i, c := range []float64{1e6, 1e6 + 10, 1e6 + 30, 1e6 + 60, 1e6 + 100, 1e6 + 150, 1e6 + 210} {
		s.Append(int64(i+1)*sec, counted(reading(10, []float64{10}, nil, nil), math.NaN(), []float64{c}, nil, nil))
	}
	// Holds 5, 6 (slots 1, 2) then 7 (slot 0).
	ser := s.series()
	if len(ser.Counters[0]) != 2 || len(ser.Counters[1]) != 1 || ser.Counters[0][0] != 1e6+100 || ser.Counters[1][0] != 1e6+210 {
		t.Fatalf("segments %v %v", ser.Counters[0], ser.Counters[1])
	}
	// [5, 7] across the wrap: exactly 210 - 100 = 110 J, 55 W.
	if r := s.Window(5*sec, 7*sec); r.CPU[0].EnergyJ != 110 || r.CPU[0].Method != aggregate.MethodCounter || r.CPU[0].MeanW != 55 {
		t.Errorf("%+v", r.CPU[0])
	}
}

func TestCountersLayoutMismatch(t *testing.T) {
	s := New(4, time.Second)
	s.Append(1*sec, counted(reading(100, []float64{10}, nil, nil), math.NaN(), []float64{5}, nil, nil))
	// Counters in a layout other than the ring's: mapped by index, counted.
	r := reading(100, []float64{10}, nil, nil)
	r.Energy = &sample.Energy{Node: math.NaN(), CPU: []float64{6, 7}}
	s.Append(2*sec, r)
	// The same layout, a counter gone (NaN), none added: not a mismatch.
	s.Append(3*sec, counted(reading(100, []float64{10}, nil, nil), math.NaN(), []float64{math.NaN()}, nil, nil))
	// Unmeasured as Variorum writes it (-1), or infinite: NaN.
	s.Append(4*sec, counted(reading(100, []float64{10}, nil, nil), math.NaN(), []float64{-1}, nil, nil))
	if st := s.Stats(); st.LayoutMismatch != 1 || st.Counters != 1 {
		t.Errorf("%+v", st)
	}
	es := s.series().Counters[0]
	if es[0] != 5 || es[1] != 6 || !isNaN(es[2]) || !isNaN(es[3]) {
		t.Errorf("counters %v", es)
	}
}

func TestAppendAllocs(t *testing.T) {
	s := New(100, time.Second)
	r := counted(reading224(0), math.NaN(), []float64{1, 2}, nil, []float64{1, 2, 3, 4})
	p := reading224(0)
	ts := int64(0)
	s.Append(ts, r)
	if n := testing.AllocsPerRun(1000, func() {
		ts += sec
		s.Append(ts, r)
		ts += sec
		s.Append(ts, p)
	}); n != 0 {
		t.Errorf("%v allocations per Append", n)
	}
}

// TestConcurrentCounters runs one writer with counters against readers;
// the writer starts without counters, so they are decided while readers
// read. Run with -race.
func TestConcurrentCounters(t *testing.T) {
	s := New(1000, time.Second)
	two, four := []float64{50, 60}, []float64{200, 210, 220, 230}
	const n = 20000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := int64(0); i < n; i++ {
			r := reading(1000, two, two, four)
			if i >= 100 { // the node counter advances 1000 J/s
				r.Energy = sample.NewEnergy(r.Layout())
				r.Energy.Node = float64(1000 * i)
			}
			s.Append(i*sec, r)
		}
	}()
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int64(0); i < 2000; i++ {
				end := s.Stats().Newest
				r := s.Window(end-500*sec, end)
				if r.Coverage < 0 || r.Coverage > 1 || (r.Presence == aggregate.PresenceComplete && math.Abs(r.Node.MeanW-1000) > 1e-9) {
					t.Errorf("%+v", r)
					return
				}
			}
		}()
	}
	wg.Wait()
	if st := s.Stats(); st.Total != n || st.Counters != 1 {
		t.Errorf("%+v", st)
	}
	if r := s.Window((n-500)*sec, (n-1)*sec); r.Node.EnergyJ != 499*1000 || r.Node.Method != aggregate.MethodCounter {
		t.Errorf("%+v", r.Node)
	}
}
