// SPDX-License-Identifier: LGPL-3.0-only

package node

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/config"
	"github.com/flux-framework/power-monitor/internal/export"
	"github.com/flux-framework/power-monitor/internal/sample"
)

var replayRAPL = "replay:" + filepath.Join("..", "read", "source", "testdata", "replay-rapl_wattameter.log")

// waitSamples waits until the ring has taken at least n samples in all.
func waitSamples(t *testing.T, n *Node, want uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for n.Store().Stats().Total < want {
		if time.Now().After(deadline) {
			t.Fatalf("only %d samples of %d after 5 s", n.Store().Stats().Total, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func openReplay(t *testing.T, o config.Options) (*Node, *logs) {
	t.Helper()
	var l logs
	n, err := Open(Config{Options: o, Meta: export.Meta{Hostname: "h", Rank: -1}}, &l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Stop)
	n.Start()
	return n, &l
}

// A new period, new sources and new exports take effect while the ring
// keeps every sample, and the new source's layout joins the ring's.
func TestReconfigureKeepsTheRing(t *testing.T) {
	o := config.Defaults()
	o.BufferSize = 1000
	o.Sources = []string{replayNVML} // 4 GPUs
	o.Period = 10 * time.Millisecond
	o.ReplaySpeed = 10
	n, l := openReplay(t, o)
	waitSamples(t, n, 5)

	// The period.
	p := o
	p.Period = 20 * time.Millisecond
	if err := n.Reconfigure(p); err != nil {
		t.Fatal(err)
	}
	before := n.Store().Stats().Total
	waitSamples(t, n, before+3)
	if got := n.Store().Period(); got != 20*time.Millisecond {
		t.Fatalf("ring period %v, want 20 ms", got)
	}

	// The sources: RAPL's 2 CPUs (with counters) instead of NVML's 4 GPUs.
	s := p
	s.Sources = []string{replayRAPL}
	if err := n.Reconfigure(s); err != nil {
		t.Fatal(err)
	}
	held := n.Store().Stats().Len
	waitSamples(t, n, n.Store().Stats().Total+3)
	st := n.Store().Stats()
	if l, _ := n.Store().Layout(); l.GPU != 4 || l.CPU != 2 {
		t.Fatalf("layout %+v: want the GPUs held and the CPUs added", l)
	}
	if st.LayoutMismatch != 0 || st.Len < held+3 || st.Counters == 0 {
		t.Fatalf("stats %+v (held %d before)", st, held)
	}
	if !strings.HasPrefix(n.SourceName(), "replay (") || n.Source() == nil {
		t.Fatalf("source %q", n.SourceName())
	}
	if got := n.Sampler().Stats().Samples; got != st.Total {
		t.Fatalf("the sampler's count (%d) did not go on: the ring has %d", got, st.Total)
	}

	// The exports: on, then off.
	e := s
	e.Export.MetricsListen = "127.0.0.1:0"
	if err := n.Reconfigure(e); err != nil || n.Exporter() == nil {
		t.Fatalf("%v, exporter %v", err, n.Exporter())
	}
	waitSamples(t, n, n.Store().Stats().Total+3)
	if n.Exporter().Stats().Taken == 0 {
		t.Fatal("the new exporter takes no sample")
	}
	if !strings.Contains(l.all(), "publishing to prometheus /metrics on http://127.0.0.1:") {
		t.Fatalf("log:\n%s", l.all())
	}
	if err := n.Reconfigure(s); err != nil || n.Exporter() != nil {
		t.Fatalf("%v, exporter %v", err, n.Exporter())
	}
	total := n.Store().Stats().Total
	waitSamples(t, n, total+2) // sampling goes on
}

// What cannot change, or does not work, is refused, and the node goes on
// as it was.
func TestReconfigureRefuses(t *testing.T) {
	o := config.Defaults()
	o.BufferSize = 1000
	o.Sources = []string{replayNVML}
	o.Period = 10 * time.Millisecond
	o.ReplaySpeed = 10
	o.Export.MetricsListen = "127.0.0.1:0"
	n, _ := openReplay(t, o)
	ex := n.Exporter()
	waitSamples(t, n, 3)

	b := o
	b.BufferSize = 500
	if err := n.Reconfigure(b); err == nil || err.Error() != "buffer-size 1000 -> 500 needs a reload of the module, which empties the ring (flux module reload power-monitor)" {
		t.Fatalf("error %v", err)
	}
	// Sources none of which works, where the old ones do.
	s := o
	s.Sources = []string{"rapl"}
	s.Sysfs = t.TempDir()
	err := n.Reconfigure(s)
	if err == nil || !strings.HasPrefix(err.Error(), "source rapl: none works, still sampling replay (") || !strings.Contains(err.Error(), "no powercap RAPL zones") {
		t.Fatalf("error %v", err)
	}
	// An exporter that does not start.
	e := o
	e.Export.MetricsListen = "127.0.0.1:-1"
	e.Period = 50 * time.Millisecond
	if err := n.Reconfigure(e); err == nil || !strings.Contains(err.Error(), "prometheus-listen") {
		t.Fatalf("error %v", err)
	}
	// Still as it was: the old exports (started again), period and source.
	if n.Exporter() == nil || n.Exporter() == ex || n.Exporter().MetricsAddr() == "" {
		t.Fatalf("exporter %v (was %v)", n.Exporter(), ex)
	}
	if n.opts.Period != o.Period || n.opts.BufferSize != 1000 || n.Source() == nil {
		t.Fatalf("options %+v", n.opts)
	}
	total := n.Store().Stats().Total
	waitSamples(t, n, total+3)
	if l, _ := n.Store().Layout(); l != (sample.Layout{GPU: 4}) {
		t.Fatalf("layout %+v", l)
	}
}

// A node without a source at first samples once a reload names one that
// works.
func TestReconfigureFromNoSource(t *testing.T) {
	o := config.Defaults()
	o.Sources = []string{"rapl"}
	o.Sysfs = t.TempDir()
	n, _ := openReplay(t, o)
	if n.Sampler() != nil || n.SourceErr() == nil {
		t.Fatal("a sampler without a source")
	}
	s := o
	s.Sources = []string{replayNVML}
	s.Period = 10 * time.Millisecond
	s.ReplaySpeed = 10
	if err := n.Reconfigure(s); err != nil {
		t.Fatal(err)
	}
	if n.SourceErr() != nil || n.Sampler() == nil {
		t.Fatalf("source error %v", n.SourceErr())
	}
	waitSamples(t, n, 3)
}

// The exporter a reload starts, or starts again after a failure, tags the
// samples with the jobs the old one did.
func TestReconfigureKeepsTheJobIDs(t *testing.T) {
	o := config.Defaults()
	o.Sources = []string{replayNVML}
	o.Period = 10 * time.Millisecond
	o.Export.MetricsListen = "127.0.0.1:0"
	n, _ := openReplay(t, o)
	n.Exporter().SetJobID("f1,f2")
	e := o
	e.Export.SpoolMax = 1 << 20
	if err := n.Reconfigure(e); err != nil {
		t.Fatal(err)
	}
	if got := n.Exporter().JobID(); got != "f1,f2" {
		t.Fatalf("new exporter's job ids %q", got)
	}
	bad := e
	bad.Export.MetricsListen = "127.0.0.1:-1"
	if err := n.Reconfigure(bad); err == nil {
		t.Fatal("a bad listen address accepted")
	}
	if got := n.Exporter().JobID(); got != "f1,f2" {
		t.Fatalf("restored exporter's job ids %q", got)
	}
}
