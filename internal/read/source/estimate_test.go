// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fixtures testdata/proc-stat-* are /proc/stat of a 4-CPU machine at
// successive reads (aggregate line: user nice system idle iowait irq softirq
// steal guest guest_nice, in jiffies):
//
//	boot    9000 200 3000 87000 500 100 200   0 1000  busy 12500 of 100000 since boot: 0.125
//	busy25  +350   0 +100 +1450 +50 +20 +30   0 +100  busy 500 of 2000: 0.25 (guest is inside user)
//	steal   +300   0  +75  +500   0   0   0 +125   0  busy 375 of 1000 (steal is not busy): 0.375
//	iowait +1024   0    0 +1034 -10   0   0   0    0  iowait goes back; idle+iowait +1024: 0.5
//	full   +2000   0    0     0   0   0   0   0    0  1
//
// With 4 CPUs at 2 W idle and 10 W peak: P = 8 + u*32 W.

func useStat(t *testing.T, dir, fixture string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", fixture))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "stat"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readWatts(t *testing.T, e *Estimate) float64 {
	t.Helper()
	r, err := readNew(e)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.CPU) != 1 || len(r.Mem) != 0 || len(r.GPU) != 0 || !math.IsNaN(r.Node) || r.Energy != nil {
		t.Fatalf("reading %+v: want one CPU domain and nothing else", r)
	}
	return r.CPU[0]
}

func TestEstimate(t *testing.T) {
	dir := t.TempDir()
	useStat(t, dir, "proc-stat-boot")
	e, err := OpenEstimate(dir, 2, 10)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.Name(), "estimate (from "+dir+"/stat: 4 logical CPUs, idle 2 W/peak 10 W per logical CPU)"; got != want {
		t.Errorf("Name %q, want %q", got, want)
	}
	// No jiffy since Open: the utilisation since boot.
	if w := readWatts(t, e); w != 12 {
		t.Errorf("at Open: %v W, want 12 W (0.125 busy since boot)", w)
	}
	for _, c := range []struct {
		fixture string
		want    float64
	}{
		{"proc-stat-busy25", 16},
		{"proc-stat-steal", 20},
		{"proc-stat-steal", 20}, // no jiffy since: the last estimate again
		{"proc-stat-iowait", 24},
		{"proc-stat-full", 40},
		{"proc-stat-full", 40},
	} {
		useStat(t, dir, c.fixture)
		if w := readWatts(t, e); w != c.want {
			t.Errorf("%s: %v W, want %v W", c.fixture, w, c.want)
		}
	}
	// Idle again (counters back at boot values: all deltas 0 or negative).
	useStat(t, dir, "proc-stat-boot")
	if w := readWatts(t, e); w != 40 {
		t.Errorf("counters gone back: %v W, want the last estimate, 40 W", w)
	}

	// A read that fails is an error, without a prefix (Merged adds one).
	os.Remove(filepath.Join(dir, "stat"))
	if _, err := readNew(e); err == nil || strings.HasPrefix(err.Error(), "estimate:") {
		t.Errorf("missing stat: %v", err)
	}
}

func TestEstimateIdlePeakEqual(t *testing.T) {
	dir := t.TempDir()
	useStat(t, dir, "proc-stat-boot")
	e, err := OpenEstimate(dir, 3.5, 3.5)
	if err != nil {
		t.Fatal(err)
	}
	useStat(t, dir, "proc-stat-full")
	if w := readWatts(t, e); w != 14 {
		t.Errorf("%v W, want 14 W whatever the load", w)
	}
}

func TestEstimateOpenErrors(t *testing.T) {
	dir := t.TempDir()
	useStat(t, dir, "proc-stat-boot")
	for _, c := range []struct {
		idle, peak float64
		want       string
	}{
		{-1, 10, "estimate: -1 W per core: want a number >= 0"},
		{2, math.NaN(), "estimate: NaN W per core: want a number >= 0"},
		{10, 2, "estimate: peak 2 W per core is below idle 10 W"},
	} {
		if _, err := OpenEstimate(dir, c.idle, c.peak); err == nil || err.Error() != c.want {
			t.Errorf("idle %v peak %v: %v, want %q", c.idle, c.peak, err, c.want)
		}
	}
	if _, err := OpenEstimate(filepath.Join(dir, "none"), 2, 10); err == nil || !strings.HasPrefix(err.Error(), "estimate: ") {
		t.Errorf("missing procfs: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "stat"), []byte("cpu  1 2 3 4 5 6 7 8 9 10\nctxt 5\n"), 0o644)
	if _, err := OpenEstimate(dir, 2, 10); err == nil || err.Error() != "estimate: "+dir+"/stat lists no cpuN line" {
		t.Errorf("no per-CPU lines: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "stat"), []byte("cpu0 1 2 3 4 5 6 7 8 9 10\nctxt 5\n"), 0o644)
	if _, err := OpenEstimate(dir, 2, 10); err == nil || err.Error() != "estimate: "+dir+"/stat has no cpu line" {
		t.Errorf("no aggregate line: %v", err)
	}
}

// TestEstimateHere reads this machine's /proc/stat.
func TestEstimateHere(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc/stat here")
	}
	e, err := OpenEstimate("", 2, 10)
	if err != nil {
		t.Fatal(err)
	}
	w := readWatts(t, e)
	n := float64(e.n)
	if w < 2*n || w > 10*n {
		t.Errorf("%v W outside [%v, %v]", w, 2*n, 10*n)
	}
	t.Logf("%s: %.1f W", e.Name(), w)
}
