// SPDX-License-Identifier: LGPL-3.0-only

package aggregate

import (
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
)

// BenchmarkWindow1M aggregates a window over 1,000,000 samples of a node
// with 2 CPU sockets, 2 memory domains and 4 GPUs (9 values per sample),
// split over the two segments of a wrapped ring.
func BenchmarkWindow1M(b *testing.B) {
	const n = 1_000_000
	l := sample.Layout{CPU: 2, Mem: 2, GPU: 4}
	st := l.Columns()
	ts := make([]int64, n)
	vs := make([]float32, n*st)
	base := int64(1_700_000_000) * int64(time.Second)
	for i := range ts {
		ts[i] = base + int64(i)*int64(100*time.Millisecond)
		for c := range st {
			vs[i*st+c] = float32(100 + (i+c)%50)
		}
	}
	at := n / 3 // wrapped: segment 0 is the older part of the ring
	s := &Series{
		Times:   [2][]int64{ts[:at], ts[at:]},
		Values:  [2][]float32{vs[:at*st], vs[at*st:]},
		Layout:  l,
		Period:  100 * time.Millisecond,
		Ordered: true,
		Info:    StreamInfo{FirstEver: ts[0]},
	}
	t0, t1 := ts[0], ts[n-1]
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := Window(s, t0, t1)
		if r.Samples != n || r.Presence != PresenceComplete {
			b.Fatalf("%+v", r)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/sample")
}

// BenchmarkWindow1MCounters is BenchmarkWindow1M with energy counters on
// the 2 CPU and 4 GPU columns (6 float64 counters per sample); every
// counter is valid, so every domain with one gets its energy from it.
func BenchmarkWindow1MCounters(b *testing.B) {
	const n = 1_000_000
	l := sample.Layout{CPU: 2, Mem: 2, GPU: 4}
	st := l.Columns()
	counted := []int{1, 2, 5, 6, 7, 8} // cpu 0-1, gpu 0-3
	ne := len(counted)
	ts := make([]int64, n)
	vs := make([]float32, n*st)
	es := make([]float64, n*ne)
	base := int64(1_700_000_000) * int64(time.Second)
	for i := range ts {
		ts[i] = base + int64(i)*int64(100*time.Millisecond)
		for c := range st {
			vs[i*st+c] = float32(100 + (i+c)%50)
		}
		for k, c := range counted {
			if i == 0 {
				es[k] = float64(1000 * c)
			} else {
				es[i*ne+k] = es[(i-1)*ne+k] + float64(vs[i*st+c])*0.1 + 1e-6
			}
		}
	}
	at := n / 3
	s := &Series{
		Times:       [2][]int64{ts[:at], ts[at:]},
		Values:      [2][]float32{vs[:at*st], vs[at*st:]},
		Counters:    [2][]float64{es[:at*ne], es[at*ne:]},
		CounterCols: counted,
		Layout:      l,
		Period:      100 * time.Millisecond,
		Ordered:     true,
		Info:        StreamInfo{FirstEver: ts[0]},
	}
	t0, t1 := ts[0], ts[n-1]
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		r := Window(s, t0, t1)
		if r.Samples != n || r.Presence != PresenceComplete || r.CPU[0].Method != MethodCounter ||
			r.Mem[0].Method != MethodPower || r.GPU[3].EnergyJ != es[(n-1)*ne+5]-es[5] {
			b.Fatalf("%+v", r)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/sample")
}
