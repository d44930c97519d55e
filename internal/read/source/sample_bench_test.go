// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/export"
	"github.com/flux-framework/power-monitor/internal/read/sampler"
	"github.com/flux-framework/power-monitor/internal/store/ring"
)

// openVariorumStub builds the stand-in libvariorum (t/variorum-stub) with
// its defaults: 2 sockets with CPU and memory power, 2 GPUs a socket. It
// skips without a C compiler or cgo.
func openVariorumStub(tb testing.TB) *Variorum {
	tb.Helper()
	for _, e := range os.Environ() {
		if name, _, _ := strings.Cut(e, "="); strings.HasPrefix(name, "VARIORUM_STUB_") {
			tb.Setenv(name, "")
		}
	}
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		tb.Skipf("no C compiler (%s) to build the libvariorum stub: %v", cc, err)
	}
	lib := filepath.Join(tb.TempDir(), "libvariorum.so")
	src := filepath.Join("..", "..", "..", "t", "variorum-stub", "variorum-stub.c")
	if out, err := exec.Command(cc, "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		tb.Fatalf("%s: %v\n%s", cc, err, out)
	}
	v, err := OpenVariorum(lib)
	if err != nil {
		if strings.Contains(err.Error(), "without cgo") {
			tb.Skip(err)
		}
		tb.Fatal(err)
	}
	tb.Cleanup(func() { v.Close() })
	return v
}

// wholeSample is the module's sampling path on the stand-in libvariorum:
// the merged source (as internal/node opens it), the sampler, the ring of
// ringSize samples and an exporter with no sink (the hand-off to its
// writer goroutine; what the writer does with a record is
// internal/export's BenchmarkSpooled). The first sample has been taken:
// the layout is fixed and the ring allocated.
func wholeSample(tb testing.TB, ringSize int) (s *sampler.Sampler, st *ring.Store) {
	m, _, err := Merge([]Part{{"variorum", openVariorumStub(tb)}})
	if err != nil {
		tb.Fatal(err)
	}
	st = ring.New(ringSize, time.Second)
	ex, err := export.New(export.Config{}, export.Meta{Hostname: "node1", Rank: 3}, m.Provenance(), nil, nil)
	if err != nil {
		tb.Fatal(err)
	}
	ex.Start()
	tb.Cleanup(func() {
		ex.Stop(time.Second)
		st.Close()
	})
	s = sampler.New(m, sampler.Tee{st, ex}, time.Second, nil)
	s.Once()
	if got := s.Stats(); got.Samples != 1 {
		tb.Fatalf("first sample: %+v", got)
	}
	return s, st
}

// BenchmarkSample is one whole sample as the module's sampler pays it at
// every period: variorum_get_power_json of the stand-in libvariorum (2
// sockets, 4 GPUs), the copy of its JSON, parsing, merging, the store in a
// 100,000-sample ring and the hand-off to the exporter.
func BenchmarkSample(b *testing.B) {
	s, st := wholeSample(b, 100_000)
	b.ReportAllocs()
	for b.Loop() {
		s.Once()
	}
	b.StopTimer()
	if got := s.Stats(); got.Errors != 0 || st.Stats().Total != got.Samples {
		b.Fatalf("sampler %+v, ring %+v", got, st.Stats())
	}
}

// TestSampleAllocates: once the first sample is taken, a sample allocates
// nothing but, now and then, the array of a record that waits for the
// exporter's writer (none is free when the writer lags: the test's
// samples come back to back, the module's a period apart).
func TestSampleAllocates(t *testing.T) {
	s, _ := wholeSample(t, 1000)
	if n := testing.AllocsPerRun(1000, s.Once); n > 0.5 {
		t.Errorf("%v allocations a sample", n)
	}
}
