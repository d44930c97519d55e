// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
	"github.com/flux-framework/power-monitor/internal/trace"
)

// testdata/replay-{nvml,rapl}_wattameter.log are WattAMeter logs recorded
// on a real node (WattAMeter, examples/post-process/, commit 1060d909;
// BSD-3-Clause, testdata/replay-wattameter-README.md and -LICENSE): 4 GPUs
// and 2 CPU sockets of one node, 100 ms sampling, 14 s.

// fakeClock is a settable clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func (c *fakeClock) at(start time.Time, sec float64) {
	c.t = start.Add(time.Duration(math.Round(sec * 1e9)))
}

func openReplayAt(t *testing.T, path string, speed float64) (*Replay, *fakeClock, time.Time) {
	t.Helper()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := &fakeClock{t: start}
	p, err := openReplay(path, speed, c.now)
	if err != nil {
		t.Fatal(err)
	}
	return p, c, start
}

func readReplay(t *testing.T, p *Replay) sample.Reading {
	t.Helper()
	r, err := readNew(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReplayWattAMeterGPU(t *testing.T) {
	path := filepath.Join("testdata", "replay-nvml_wattameter.log")
	p, c, start := openReplayAt(t, path, 1)
	if p.Layout() != (sample.Layout{GPU: 4}) {
		t.Fatalf("layout %+v, want 4 GPUs", p.Layout())
	}
	if got, want := p.Name(), "replay (testdata/replay-nvml_wattameter.log: WattAMeter log, 140 samples over 14.1 s, speed 1)"; got != want {
		t.Errorf("Name %q, want %q", got, want)
	}
	r := readReplay(t, p)
	if !eqf(r.GPU, []float64{75.832, 74.362, 75.288, 73.544}) || len(r.CPU) != 0 || len(r.Mem) != 0 || !math.IsNaN(r.Node) || r.Energy != nil {
		t.Errorf("first row %+v", r)
	}
	// The last row, 09:38:54.674885 - 09:38:40.623626 = 14.051259 s in.
	c.at(start, 14.051259)
	r = readReplay(t, p)
	if !eqf(r.GPU, []float64{670.918, 680.279, 672.015, 650.557}) {
		t.Errorf("last row %v", r.GPU)
	}
	// Just before it: the one before.
	c.at(start, 14.051258)
	if r = readReplay(t, p); !eqf(r.GPU, []float64{671.79, 679.328, 671.946, 649.866}) {
		t.Errorf("second to last row %v", r.GPU)
	}
}

func TestReplayWattAMeterCPU(t *testing.T) {
	path := filepath.Join("testdata", "replay-rapl_wattameter.log")
	p, c, start := openReplayAt(t, path, 1)
	if p.Layout() != (sample.Layout{CPU: 2}) {
		t.Fatalf("layout %+v, want 2 CPUs", p.Layout())
	}
	r := readReplay(t, p)
	if !eqf(r.CPU, []float64{82.89715211579444, 83.17583314191646}) || !eqf(r.Energy.CPU, []float64{0, 0}) {
		t.Errorf("first row %v W %v J", r.CPU, r.Energy.CPU)
	}
	if len(r.GPU) != 0 || !math.IsNaN(r.Energy.Node) || len(r.Energy.GPU) != 0 {
		t.Errorf("first row %+v %+v", r, r.Energy)
	}
	c.at(start, 14.051256) // 09:38:54.674944 - 09:38:40.623688
	r = readReplay(t, p)
	if !eqf(r.CPU, []float64{111.51056455687296, 109.98391793932183}) {
		t.Errorf("last row %v W", r.CPU)
	}
	// 25350875877 - 23803563318 uJ and 19665990898 - 18146807011 uJ
	if !eqf(r.Energy.CPU, []float64{1547.312559, 1519.183887}) {
		t.Errorf("last row %v J", r.Energy.CPU)
	}
	if p.Wraps() != 0 {
		t.Errorf("%d wraps in a log without any", p.Wraps())
	}

	// Counters never decrease, row after row. And WattAMeter's cpu-N[W]
	// on a row is the power over the interval to the next row: the counter
	// delta ahead, not behind.
	prev := []float64{-1, -1}
	for i, off := range p.offs {
		e := p.rows[i].Energy.CPU
		for s := range e {
			if e[s] < prev[s] {
				t.Fatalf("row %d: cpu %d energy %v after %v", i, s, e[s], prev[s])
			}
		}
		prev = append(prev[:0], e...)
		if i+1 < len(p.offs) {
			ahead := (p.rows[i+1].Energy.CPU[0] - e[0]) / (p.offs[i+1] - off)
			if w := p.rows[i].CPU[0]; math.Abs(ahead-w) > 1e-4*w {
				t.Errorf("row %d: %v W in the log, %v W from the counter ahead", i, w, ahead)
			}
		}
	}
}

func TestReplayLoopAndSpeed(t *testing.T) {
	log := `# timestamp reading-time[ns] cpu-0[uJ] cpu-0[W] gpu-1[mW] gpu-0[C]
2025-01-01_00:00:00.000000 100 5000000 10 100000 40
2025-01-01_00:00:01.000000 100 15000000 20 200000 41
2025-01-01_00:00:02.000000 100 35000000 30 300000 42
`
	path := filepath.Join(t.TempDir(), "loop.log")
	os.WriteFile(path, []byte(log), 0o644)
	p, c, start := openReplayAt(t, path, 1)
	if p.Layout() != (sample.Layout{CPU: 1, GPU: 2}) {
		t.Fatalf("layout %+v", p.Layout())
	}
	// Duration 2 s, 3 samples: a loop is 3 s and adds 30 J * 3/2 = 45 J.
	for _, c2 := range []struct {
		at       float64
		w, gpu1  float64
		energy   float64
		gpu0None bool
	}{
		{0, 10, 100, 0, true},
		{0.999, 10, 100, 0, true},
		{1, 20, 200, 10, true},
		{2.5, 30, 300, 30, true},
		{3, 10, 100, 45, true},
		{4, 20, 200, 55, true},
		{5.9, 30, 300, 75, true},
		{6, 10, 100, 90, true},
		{300 + 2, 30, 300, 100*45 + 30, true},
	} {
		c.at(start, c2.at)
		r := readReplay(t, p)
		if r.CPU[0] != c2.w || r.GPU[1] != c2.gpu1 || !math.IsNaN(r.GPU[0]) || r.Energy.CPU[0] != c2.energy {
			t.Errorf("at %v s: cpu %v W gpu %v W energy %v J, want %v W, [NaN %v] W, %v J",
				c2.at, r.CPU[0], r.GPU, r.Energy.CPU[0], c2.w, c2.gpu1, c2.energy)
		}
		if !math.IsNaN(r.Energy.GPU[0]) || !math.IsNaN(r.Energy.GPU[1]) {
			t.Errorf("at %v s: GPU energy %v, want no counter", c2.at, r.Energy.GPU)
		}
	}

	// Ten times faster: 0.1 s of wall time is 1 s of trace.
	p, c, start = openReplayAt(t, path, 10)
	for _, c2 := range []struct{ at, w float64 }{{0, 10}, {0.099, 10}, {0.1, 20}, {0.25, 30}, {0.3, 10}} {
		c.at(start, c2.at)
		if r := readReplay(t, p); r.CPU[0] != c2.w {
			t.Errorf("speed 10, at %v s: %v W, want %v W", c2.at, r.CPU[0], c2.w)
		}
	}
	// Readings are copies: changing one does not change the trace.
	r := readReplay(t, p)
	r.CPU[0] = -1
	if r = readReplay(t, p); r.CPU[0] != 10 {
		t.Errorf("the trace changed under a reading: %v", r.CPU)
	}
}

func TestReplayCounterWrapAndReset(t *testing.T) {
	log := `# 2025-10-07_09:38:40.617145 - Tracking started
# timestamp reading-time[ns] cpu-0[uJ] cpu-0-core[uJ] gpu-0[mJ]
2025-01-01_00:00:00.0 1 262143000000 1 5000
2025-01-01_00:00:00.1 1 262143300000 2 6000
2025-01-01_00:00:00.2 1 100000 0 200
2025-01-01_00:00:00.3 1 400000 1 900
`
	path := filepath.Join(t.TempDir(), "wrap.log")
	os.WriteFile(path, []byte(log), 0o644)
	p, _, _ := openReplayAt(t, path, 1)
	var cpu, gpu []float64
	for _, r := range p.rows {
		cpu = append(cpu, r.Energy.CPU[0])
		gpu = append(gpu, r.Energy.GPU[0])
		if !math.IsNaN(r.CPU[0]) || !math.IsNaN(r.GPU[0]) {
			t.Errorf("power %v %v from a log of counters only", r.CPU, r.GPU)
		}
	}
	// RAPL: wrapped at the largest value in the column, 262143300000 uJ.
	if !eqf(cpu, []float64{0, 0.3, 0.4, 0.7}) {
		t.Errorf("cpu energy %v", cpu)
	}
	// NVML: reset by a driver reload, counted from 0.
	if !eqf(gpu, []float64{0, 1, 1.2, 1.9}) {
		t.Errorf("gpu energy %v", gpu)
	}
	if p.Wraps() != 2 {
		t.Errorf("%d wraps and resets, want 2", p.Wraps())
	}
}

func TestReplayMalformed(t *testing.T) {
	const hdr = "# timestamp reading-time[ns] gpu-0[mW] cpu-0[W]\n"
	const row = "2025-01-01_00:00:00.000000 1 1000 2\n"
	for _, c := range []struct{ name, content, want string }{
		{"empty", "\n\n", ": empty file"},
		{"unknown", "\ntime,power\n", ":2: neither a WattAMeter log"},
		{"fields", hdr + row + "2025-01-01_00:00:00.100000 1 1000\n", ":3: 3 fields, the header at line 1 names 4"},
		{"timestamp", hdr + "2025-01-01T00:00:00 1 1000 2\n", `:2: timestamp "2025-01-01T00:00:00"`},
		{"number", hdr + row + row[:29] + "N/A 2\n", `:3: column gpu-0[mW]: "N/A" is not a number`},
		{"backwards", hdr + row + "2024-12-31_23:59:59.000000 1 1000 2\n", ":3: timestamp 2024-12-31_23:59:59.000000 goes back in time"},
		{"no header", "# Tracking started\n" + row, ":2: a sample before the column header"},
		{"no columns", "# timestamp reading-time[ns] gpu-0[C] cpu-0-core[W]\n" + row, ":1: no column to replay"},
		{"columns change", hdr + row + "# timestamp reading-time[ns] gpu-0[mW]\n", ":3: the columns change (first named at line 1)"},
		{"duplicate", "# timestamp reading-time[ns] gpu-0[mW] gpu-0[W]\n", ":1: columns gpu-0[mW] and gpu-0[W] measure the same thing"},
		{"no samples", hdr, ": no samples"},
		{"negative counter", "# timestamp reading-time[ns] cpu-0[uJ]\n2025-01-01_00:00:00.0 1 -5\n", ":2: column cpu-0[uJ]: negative counter -5"},
		{"json header", `{"format":"other"}` + "\n", `:1: format "other", want "power-monitor-trace"`},
		{"json version", `{"format":"power-monitor-trace","version":2,"layout":{"cpu":1,"mem":0,"gpu":0}}` + "\n", ":1: version 2"},
		{"json layout", `{"format":"power-monitor-trace","version":1}` + "\n", ":1: header without a valid layout"},
		{"json syntax", jsonHdr + `{"t":1,"cpu":[1]}` + "\n" + `{"t":2,"cpu":[1]` + "\n", ":3: unexpected end of JSON input"},
		{"json no t", jsonHdr + `{"cpu":[1]}` + "\n", ":2: no time (t)"},
		{"json length", jsonHdr + `{"t":1,"cpu":[1,2]}` + "\n", ":2: cpu has 2 values, the layout says 1"},
		{"json backwards", jsonHdr + `{"t":2,"cpu":[1]}` + "\n" + `{"t":1,"cpu":[1]}` + "\n", ":3: t 1 goes back in time"},
		{"json counter", jsonHdr + `{"t":1,"cpu":[1],"energy":{"cpu":[5]}}` + "\n" + `{"t":2,"cpu":[1],"energy":{"cpu":[4]}}` + "\n",
			":3: energy.cpu[0] decreases from 5 to 4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.log")
			os.WriteFile(path, []byte(c.content), 0o644)
			_, err := OpenReplay(path, 1)
			if err == nil || !strings.HasPrefix(err.Error(), "replay: "+path+c.want) {
				t.Errorf("error %v, want it to start with %q", err, "replay: "+path+c.want)
			}
		})
	}
	if _, err := OpenReplay(filepath.Join(t.TempDir(), "none"), 1); err == nil || !strings.HasPrefix(err.Error(), "replay: open ") {
		t.Errorf("missing file: %v", err)
	}
	path := filepath.Join("testdata", "replay-nvml_wattameter.log")
	for _, s := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := OpenReplay(path, s); err == nil || !strings.Contains(err.Error(), "must be a positive number") {
			t.Errorf("speed %v: %v", s, err)
		}
	}
}

const jsonHdr = `{"format":"power-monitor-trace","version":1,"layout":{"cpu":1,"mem":0,"gpu":0}}` + "\n"

func TestTraceRoundTrip(t *testing.T) {
	l := sample.Layout{CPU: 2, Mem: 1, GPU: 3}
	nan := math.NaN()
	var in []sample.Reading
	var buf bytes.Buffer
	if err := trace.WriteHeader(&buf, l); err != nil {
		t.Fatal(err)
	}
	t0 := 1759829920.5
	for i := 0; i < 50; i++ {
		f := float64(i)
		r := sample.Reading{
			Node: 400 + f*1.1,
			CPU:  []float64{80 + f/3, 90.25},
			Mem:  []float64{12.5e-3 * f},
			GPU:  []float64{300 + f*7.7, nan, 1e-300},
		}
		if i%7 == 3 {
			r.Node, r.NodeDerived = 500, true
		}
		if i%5 == 1 {
			r.CPU[1] = nan
		}
		if i >= 2 { // counters from the third sample on; GPU 1 has none
			r.Energy = sample.NewEnergy(l)
			r.Energy.CPU = []float64{1000.5 + f*40.1, 2e6 + f*f}
			r.Energy.Mem = []float64{f / 3}
			r.Energy.GPU = []float64{123456.789 + f*150, nan, f}
		}
		in = append(in, r)
		if err := trace.WriteSample(&buf, l, t0+f*0.5, &r); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "trace.jsonl")
	os.WriteFile(path, buf.Bytes(), 0o644)
	p, c, start := openReplayAt(t, path, 1)
	if p.Layout() != l {
		t.Fatalf("layout %+v", p.Layout())
	}
	if !strings.Contains(p.Name(), "power-monitor trace, 50 samples over 24.5 s") {
		t.Errorf("Name %q", p.Name())
	}
	first := in[2].Energy
	for i, want := range in {
		c.at(start, float64(i)*0.5)
		got := readReplay(t, p)
		if !eqf([]float64{got.Node}, []float64{want.Node}) || got.NodeDerived != want.NodeDerived ||
			!eqf(got.CPU, want.CPU) || !eqf(got.Mem, want.Mem) || !eqf(got.GPU, want.GPU) {
			t.Fatalf("sample %d: %+v, want %+v", i, got, want)
		}
		if want.Energy == nil {
			if got.Energy != nil {
				t.Fatalf("sample %d: energy %+v, want none", i, got.Energy)
			}
			continue
		}
		// Replayed counters count from the first counted sample.
		rel := func(v, f []float64) []float64 {
			out := make([]float64, len(v))
			for j := range v {
				out[j] = v[j] - f[j]
			}
			return out
		}
		w := want.Energy
		if !math.IsNaN(got.Energy.Node) || !eqf(got.Energy.CPU, rel(w.CPU, first.CPU)) ||
			!eqf(got.Energy.Mem, rel(w.Mem, first.Mem)) || !eqf(got.Energy.GPU, rel(w.GPU, first.GPU)) {
			t.Fatalf("sample %d: energy %+v, want %+v less %+v", i, got.Energy, w, first)
		}
	}
}
