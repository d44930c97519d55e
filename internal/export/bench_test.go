// SPDX-License-Identifier: LGPL-3.0-only

package export

import (
	"math"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
)

// benchReading is a node of 2 sockets, 2 memory domains and 4 GPUs, with
// counters on the CPUs and GPUs.
func benchReading() *sample.Reading {
	r := &sample.Reading{Node: math.NaN(), CPU: []float64{120, 130}, Mem: []float64{20, 21}, GPU: []float64{250, 260, 270, 280},
		Energy: &sample.Energy{Node: math.NaN(), CPU: []float64{1e6, 2e6}, Mem: []float64{math.NaN(), math.NaN()}, GPU: []float64{3e6, 4e6, 5e6, 6e6}}}
	r.DeriveNode()
	return r
}

var benchProv = Provenance{"node": "sum of rapl+nvml", "cpu": "rapl", "mem": "rapl", "gpu": "nvml"}

// BenchmarkAppend is what a sink adds to the sampling path: building the
// record and handing it to the writer (the sampler's goroutine pays this).
func BenchmarkAppend(b *testing.B) {
	ex, err := New(Config{Queue: 1 << 20}, Meta{Hostname: "node1", Rank: 3}, benchProv, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	ex.Start()
	r := benchReading()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ex.Append(int64(i)*1e6, r)
	}
	b.StopTimer()
	ex.Stop(time.Second)
}

// BenchmarkSpooled is the exporter's own cost per record and per sink,
// outside the sampler: encode, spool append, peek, decode, ack (the sink's
// send costs nothing here).
func BenchmarkSpooled(b *testing.B) {
	s := &scripted{mode: "ok"}
	ex, err := New(Config{SpoolDir: b.TempDir(), Queue: 1 << 20}, Meta{Hostname: "node1", Rank: 3}, benchProv, []Sink{s}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ex.Start()
	r := benchReading()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ex.Append(int64(i)*1e6, r)
	}
	ex.Stop(time.Minute)
	b.StopTimer()
	if got := len(s.received()); got != b.N {
		b.Fatalf("%d of %d delivered", got, b.N)
	}
}
