// SPDX-License-Identifier: LGPL-3.0-only

package node

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/config"
	"github.com/flux-framework/power-monitor/internal/export"
	"github.com/flux-framework/power-monitor/internal/read/source"
	"github.com/flux-framework/power-monitor/internal/sample"
)

var replayNVML = "replay:" + filepath.Join("..", "read", "source", "testdata", "replay-nvml_wattameter.log")

// logs records the node's log lines, from any goroutine.
type logs struct {
	mu    sync.Mutex
	lines []string
}

func (l *logs) Log(sev Severity, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf("%s %s", [...]string{"info", "notice", "warning", "error"}[sev], msg))
}

func (l *logs) all() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// A listed source that is not used says why at warning level; the others
// not used are named in one line at info level.
func TestOpenSaysWhyAListedSourceIsNotUsed(t *testing.T) {
	o := config.Defaults()
	o.Sources = []string{replayNVML, "rapl"}
	o.Sysfs = t.TempDir() // no powercap zones
	var l logs
	n, err := Open(Config{Options: o}, &l)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Stop()
	root := filepath.Join(o.Sysfs, "class", "powercap")
	want := "warning source rapl not used: rapl: no powercap RAPL zones under " + root + "\n" +
		"info not used: variorum, nvml, hwmon (--source=KIND says why)"
	if got := l.all(); got != want {
		t.Fatalf("log\n%s\nwant\n%s", got, want)
	}
	if !strings.HasPrefix(n.SourceName(), "replay (") || n.SourceErr() != nil || n.Sampler() == nil || n.Exporter() != nil {
		t.Fatalf("source %q, error %v, sampler %v, exporter %v", n.SourceName(), n.SourceErr(), n.Sampler(), n.Exporter())
	}
	if len(n.Statuses()) != 5 {
		t.Fatalf("statuses %+v, want variorum, rapl, nvml, hwmon and replay", n.Statuses())
	}
}

// Under auto, Variorum is the source asked for: when it does not load, it
// says why; the sensors auto falls back to are named in one line.
func TestAutoSaysWhyVariorumIsNotUsed(t *testing.T) {
	var l logs
	n := &Node{opts: config.Options{Sources: []string{"auto"}}, log: &l, statuses: []source.Status{
		{Kind: "variorum", Reason: "variorum: cannot load libvariorum.so"},
		{Kind: "rapl", Used: true, Name: "rapl (1 package)"},
		{Kind: "nvml", Reason: "nvml: no GPU"},
		{Kind: "hwmon", Name: "hwmon (node)", Reason: "adds nothing"},
	}}
	n.reportUnused()
	want := "warning source variorum not used: variorum: cannot load libvariorum.so\n" +
		"info not used: nvml, hwmon (--source=KIND says why)"
	if got := l.all(); got != want {
		t.Fatalf("log\n%s\nwant\n%s", got, want)
	}
}

// With no source that works, Open fails with every reason where a source
// is required (the agent); otherwise the node runs without sampling and
// says why (the module).
func TestNoSource(t *testing.T) {
	o := config.Defaults()
	o.Sources = []string{"replay:/nonexistent/trace", "rapl"}
	o.Sysfs = t.TempDir()
	var l logs
	_, err := Open(Config{Options: o, RequireSource: true}, &l)
	if err == nil || !strings.HasPrefix(err.Error(), "no power source: ") || !strings.Contains(err.Error(), "/nonexistent/trace") ||
		!strings.Contains(err.Error(), "no powercap RAPL zones") {
		t.Fatalf("error %v, want every reason", err)
	}
	n, err := Open(Config{Options: o}, &l)
	if err != nil {
		t.Fatal(err)
	}
	n.Start()
	n.Stop()
	if n.SourceErr() == nil || !strings.Contains(n.SourceErr().Error(), "/nonexistent/trace") || n.SourceName() != "none" ||
		n.Source() != nil || n.Sampler() != nil || n.Store().Stats().Len != 0 {
		t.Fatalf("source error %v, name %q, sampler %v", n.SourceErr(), n.SourceName(), n.Sampler())
	}
	if all := l.all(); all != "" {
		t.Fatalf("the error gives the reasons, nothing else does; log:\n%s", all)
	}
}

// counter is a store that counts its samples.
type counter struct {
	mu sync.Mutex
	n  uint64
}

func (c *counter) Append(int64, *sample.Reading) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
}

func (c *counter) count() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Every sample taken reaches the ring, the extra store and the exporter;
// after Stop none is taken.
func TestSamplesReachEveryStore(t *testing.T) {
	o := config.Defaults()
	o.Sources = []string{replayNVML}
	o.Period = 20 * time.Millisecond
	o.Export.MetricsListen = "127.0.0.1:0"
	extra := &counter{}
	var l logs
	n, err := Open(Config{Options: o, Meta: export.Meta{Hostname: "h", Rank: -1}, Extra: extra}, &l)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(l.all(), "info publishing to prometheus /metrics on http://127.0.0.1:") {
		t.Fatalf("the exporter is not named:\n%s", l.all())
	}
	n.Start()
	time.Sleep(200 * time.Millisecond)
	n.Stop()
	taken := n.Sampler().Stats().Samples
	if taken < 3 {
		t.Fatalf("%d samples in 200 ms at 20 ms", taken)
	}
	if got := extra.count(); got != taken {
		t.Errorf("the extra store has %d samples, the sampler took %d", got, taken)
	}
	if got := n.Store().Stats().Total; got != taken { // (Stop released the ring: Len is 0)
		t.Errorf("the ring has %d samples, the sampler took %d", got, taken)
	}
	if st := n.Store().Stats(); st.BytesUsed != 0 || st.Len != 0 {
		t.Errorf("the ring holds memory after Stop: %+v", st)
	}
	if got := n.Exporter().Stats().Taken; got != taken {
		t.Errorf("the exporter took %d samples, the sampler %d", got, taken)
	}
	time.Sleep(60 * time.Millisecond)
	if got := extra.count(); got != taken {
		t.Errorf("%d samples after Stop, %d before", got, taken)
	}
}

// An exporter that cannot start fails Open, leaving nothing open.
func TestExporterFailureFailsOpen(t *testing.T) {
	o := config.Defaults()
	o.Sources = []string{replayNVML}
	o.Export.MetricsListen = "127.0.0.1:-1"
	if _, err := Open(Config{Options: o}, &logs{}); err == nil || !strings.Contains(err.Error(), "option --prometheus-listen") {
		t.Fatalf("error %v", err)
	}
}
