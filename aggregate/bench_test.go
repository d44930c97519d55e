package aggregate

import (
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/sample"
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
