package agent

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/config"
	"github.com/flux-framework/power-monitor/source"
)

// The agent replays the recorded NVML trace ten times faster into a trace
// file, which replays again to the same readings.
func TestRunWritesAReplayableTrace(t *testing.T) {
	o := Options{Options: config.Defaults(), Duration: 600 * time.Millisecond}
	o.Sources = []string{"replay:" + filepath.Join("..", "source", "testdata", "replay-nvml_wattameter.log")}
	o.ReplaySpeed = 10
	o.Period = 50 * time.Millisecond
	var out bytes.Buffer
	var logs []string
	n, err := Run(context.Background(), o, &out, func(f string, a ...any) { logs = append(logs, f) })
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
	r, err := rp.Read()
	if err != nil || len(r.GPU) != 4 || r.GPU[0] < 70 || r.GPU[0] > 80 {
		t.Fatalf("replayed %+v %v", r, err)
	}
}

func TestRunWithoutSourceFails(t *testing.T) {
	o := Options{Options: config.Defaults(), Duration: time.Second}
	o.Sources = []string{"replay:/nonexistent/trace"}
	_, err := Run(context.Background(), o, &bytes.Buffer{}, func(string, ...any) {})
	if err == nil || !strings.Contains(err.Error(), "no power source: ") || !strings.Contains(err.Error(), "/nonexistent/trace") {
		t.Fatalf("error %v", err)
	}
}
