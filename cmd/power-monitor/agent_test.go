// SPDX-License-Identifier: LGPL-3.0-only

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/config"
	"github.com/flux-framework/power-monitor/internal/read/source"
	"github.com/flux-framework/power-monitor/internal/sample"
)

// The agent replays the recorded NVML trace ten times faster into a trace
// file, which replays again to the same readings.
func TestAgentWritesAReplayableTrace(t *testing.T) {
	o := agentOptions{Options: config.Defaults(), Duration: 600 * time.Millisecond}
	o.Sources = []string{"replay:" + filepath.Join("..", "..", "internal", "read", "source", "testdata", "replay-nvml_wattameter.log")}
	o.ReplaySpeed = 10
	o.Period = 50 * time.Millisecond
	var out bytes.Buffer
	var logs []string
	n, err := runAgent(context.Background(), o, &out, func(f string, a ...any) { logs = append(logs, f) })
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 || n > 20 {
		t.Fatalf("%d samples in 0.6 s at 50 ms", n)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if uint64(len(lines)) != n+1 || !strings.Contains(lines[0], `"format":"power-monitor-trace"`) || !strings.Contains(lines[0], `"gpu":4`) {
		t.Fatalf("%d lines for %d samples; header %s", len(lines), n, lines[0])
	}
	path := filepath.Join(t.TempDir(), "out.trace")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rp, err := source.OpenReplay(path, 1)
	if err != nil {
		t.Fatalf("the agent's trace does not replay: %v", err)
	}
	var r sample.Reading
	err = rp.Read(&r)
	if err != nil || len(r.GPU) != 4 || r.GPU[0] < 70 || r.GPU[0] > 80 {
		t.Fatalf("replayed %+v %v", r, err)
	}
}

func TestAgentWithoutSourceFails(t *testing.T) {
	o := agentOptions{Options: config.Defaults(), Duration: time.Second}
	o.Sources = []string{"replay:/nonexistent/trace"}
	_, err := runAgent(context.Background(), o, &bytes.Buffer{}, func(string, ...any) {})
	if err == nil || !strings.Contains(err.Error(), "no power source: ") || !strings.Contains(err.Error(), "/nonexistent/trace") {
		t.Fatalf("error %v", err)
	}
}

// Sources that were not asked for are named on one line; one that was
// asked for and cannot work says why.
func TestAgentNamesUnusedSourcesBriefly(t *testing.T) {
	o := agentOptions{Options: config.Defaults(), Duration: 100 * time.Millisecond}
	o.Sources = []string{"replay:" + filepath.Join("..", "..", "internal", "read", "source", "testdata", "replay-nvml_wattameter.log"), "rapl"}
	o.Sysfs = t.TempDir() // no powercap zones
	o.Period = 50 * time.Millisecond
	var logs []string
	if _, err := runAgent(context.Background(), o, &bytes.Buffer{}, func(f string, a ...any) { logs = append(logs, fmt.Sprintf(f, a...)) }); err != nil {
		t.Fatal(err)
	}
	all := strings.Join(logs, "\n")
	if !strings.Contains(all, "source rapl not used: rapl: no powercap RAPL zones under") {
		t.Fatalf("the listed source does not say why:\n%s", all)
	}
	if n := strings.Count(all, " not used: "); n != 1 {
		t.Fatalf("%d 'not used' reasons, want only rapl's:\n%s", n, all)
	}
	if !strings.Contains(all, "not used: variorum, nvml, hwmon (--source=KIND says why)") {
		t.Fatalf("the others are not named on one line:\n%s", all)
	}
}
