// SPDX-License-Identifier: LGPL-3.0-only

package ring

import (
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
	"github.com/flux-framework/power-monitor/internal/store/aggregate"
)

// layout224 is 2 sockets with CPU and memory domains and 4 GPUs.
func reading224(i int) *sample.Reading {
	f := float64(i % 50)
	return &sample.Reading{
		Node: 1000 + f,
		CPU:  []float64{100 + f, 110 + f},
		Mem:  []float64{20 + f, 25 + f},
		GPU:  []float64{300 + f, 310 + f, 320 + f, 330 + f},
	}
}

// BenchmarkAppend appends one 2/2/4 reading per op to a wrapped ring and
// reports the ring's bytes per sample.
func BenchmarkAppend(b *testing.B) {
	s := New(100_000, time.Second)
	r := reading224(0)
	t := int64(1_700_000_000) * int64(time.Second)
	b.ReportAllocs()
	for b.Loop() {
		t += int64(time.Second)
		s.Append(t, r)
	}
	b.ReportMetric(s.Stats().BytesPerSample, "bytes/sample")
}

// BenchmarkWindow1M aggregates, through the store, a window over all of a
// 1,000,000-sample wrapped ring of 2/2/4 readings.
func BenchmarkWindow1M(b *testing.B) {
	const n = 1_000_000
	s := New(n, 100*time.Millisecond)
	base := int64(1_700_000_000) * int64(time.Second)
	rs := make([]*sample.Reading, 50)
	for i := range rs {
		rs[i] = reading224(i)
	}
	for i := range n + n/3 { // wrapped a third of the way
		s.Append(base+int64(i)*int64(100*time.Millisecond), rs[i%50])
	}
	st := s.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := s.Window(st.Oldest, st.Newest)
		if r.Samples != n || r.Presence != aggregate.PresenceComplete {
			b.Fatalf("%+v", r)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/sample")
	b.ReportMetric(st.BytesPerSample, "bytes/sample")
}

// BenchmarkWindowHourIn1M aggregates a one-hour window (3600 samples at 1 s)
// out of a full 1,000,000-sample ring: the window is found by binary search.
func BenchmarkWindowHourIn1M(b *testing.B) {
	const n = 1_000_000
	s := New(n, time.Second)
	base := int64(1_700_000_000) * int64(time.Second)
	r := reading224(0)
	for i := range n + n/3 {
		s.Append(base+int64(i)*int64(time.Second), r)
	}
	t0 := s.Stats().Oldest + 500_000*int64(time.Second)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if r := s.Window(t0, t0+3600*int64(time.Second)); r.Samples != 3601 {
			b.Fatalf("%+v", r)
		}
	}
}

// reading224Counters is reading224 with energy counters on its 2 CPUs and
// 4 GPUs, i*0.1 s into a run at its power.
func reading224Counters(i int) *sample.Reading {
	r := reading224(i)
	e := sample.NewEnergy(r.Layout())
	for k, w := range r.CPU {
		e.CPU[k] = 1e6 + float64(i)*0.1*w
	}
	for k, w := range r.GPU {
		e.GPU[k] = 1e6 + float64(i)*0.1*w
	}
	r.Energy = e
	return r
}

// BenchmarkAppendCounters is BenchmarkAppend with 6 counters per reading.
func BenchmarkAppendCounters(b *testing.B) {
	s := New(100_000, time.Second)
	r := reading224Counters(1)
	t := int64(1_700_000_000) * int64(time.Second)
	b.ReportAllocs()
	for b.Loop() {
		t += int64(time.Second)
		s.Append(t, r)
	}
	b.ReportMetric(s.Stats().BytesPerSample, "bytes/sample")
}

// BenchmarkWindow1MCounters is BenchmarkWindow1M with counters on the 2
// CPUs and 4 GPUs.
func BenchmarkWindow1MCounters(b *testing.B) {
	const n = 1_000_000
	s := New(n, 100*time.Millisecond)
	base := int64(1_700_000_000) * int64(time.Second)
	r := reading224Counters(0)
	for i := range n + n/3 { // wrapped a third of the way
		nr := reading224(i)
		for k := range r.Energy.CPU {
			r.Energy.CPU[k] += 0.1 * nr.CPU[k]
		}
		for k := range r.Energy.GPU {
			r.Energy.GPU[k] += 0.1 * nr.GPU[k]
		}
		nr.Energy = r.Energy
		s.Append(base+int64(i)*int64(100*time.Millisecond), nr)
	}
	st := s.Stats()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := s.Window(st.Oldest, st.Newest)
		if r.Samples != n || r.Presence != aggregate.PresenceComplete || r.GPU[0].Method != aggregate.MethodCounter {
			b.Fatalf("%+v", r)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/sample")
	b.ReportMetric(st.BytesPerSample, "bytes/sample")
}
