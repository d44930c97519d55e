// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// raplTracePath is the RAPL trace recorded by WattAMeter on a real node
// (testdata/replay-wattameter-README.md), kept in this package.
var raplTracePath = filepath.Join("testdata", "replay-rapl_wattameter.log")

// wattTrace is a WattAMeter RAPL log: per row a timestamp, then for each
// socket the package and core counters (µJ) and the power WattAMeter
// derived from them (W).
type wattTrace struct {
	t    []time.Time
	pkg  [2][]uint64  // cpu-S[uJ]
	core [2][]uint64  // cpu-S-core[uJ]
	w    [2][]float64 // cpu-S[W]
}

func readWattTrace(path string) (*wattTrace, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	tr := &wattTrace{}
	var cols map[string]int // column name -> field index in a data line
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		if h, ok := strings.CutPrefix(line, "#"); ok {
			fs := strings.Fields(h)
			if len(fs) > 0 && fs[0] == "timestamp" {
				cols = map[string]int{}
				for i, c := range fs {
					cols[c] = i
				}
			}
			continue
		}
		if cols == nil {
			return nil, fmt.Errorf("%s:%d: data before the column header", path, n)
		}
		fs := strings.Fields(line)
		if len(fs) != len(cols) {
			return nil, fmt.Errorf("%s:%d: %d fields, header has %d", path, n, len(fs), len(cols))
		}
		ts, err := time.ParseInLocation("2006-01-02_15:04:05.000000", fs[0], time.UTC)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", path, n, err)
		}
		tr.t = append(tr.t, ts)
		for s := 0; s < 2; s++ {
			for _, c := range []struct {
				name string
				uj   *[]uint64
				w    *[]float64
			}{
				{fmt.Sprintf("cpu-%d[uJ]", s), &tr.pkg[s], nil},
				{fmt.Sprintf("cpu-%d-core[uJ]", s), &tr.core[s], nil},
				{fmt.Sprintf("cpu-%d[W]", s), nil, &tr.w[s]},
			} {
				i, ok := cols[c.name]
				if !ok {
					return nil, fmt.Errorf("%s: no column %s", path, c.name)
				}
				if c.uj != nil {
					v, err := strconv.ParseUint(fs[i], 10, 64)
					if err != nil {
						return nil, fmt.Errorf("%s:%d: %s: %v", path, n, c.name, err)
					}
					*c.uj = append(*c.uj, v)
				} else {
					v, err := strconv.ParseFloat(fs[i], 64)
					if err != nil {
						return nil, fmt.Errorf("%s:%d: %s: %v", path, n, c.name, err)
					}
					*c.w = append(*c.w, v)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(tr.t) < 3 {
		return nil, fmt.Errorf("%s: %d samples, want at least 3", path, len(tr.t))
	}
	return tr, nil
}

// raplReplay is what the RAPL source reported over a replayed trace.
type raplReplay struct {
	watts  [2][]float64 // per row from 1 on
	energy [2]float64   // Energy.CPU after the last row
	wraps  uint64
}

// replayRAPL feeds the trace's counters, each mapped by shift, through the
// RAPL source row by row, the clock at each row's timestamp.
func replayRAPL(t *testing.T, tr *wattTrace, shift func(uint64) uint64) raplReplay {
	t.Helper()
	root := sysfsFixture(t, "sysfs-rapl-trace.txt")
	write := func(i int) {
		for s := 0; s < 2; s++ {
			sysfsSet(t, raplZoneFile(root, fmt.Sprintf("intel-rapl:%d", s)), shift(tr.pkg[s][i]))
			sysfsSet(t, raplZoneFile(root, fmt.Sprintf("intel-rapl:%d:0", s)), shift(tr.core[s][i]))
		}
	}
	clk := &sysfsClock{t: tr.t[0]}
	write(0)
	r, err := openRAPL(root, os.ReadFile, os.ReadDir, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	var out raplReplay
	for i := 1; i < len(tr.t); i++ {
		write(i)
		clk.t = tr.t[i]
		rd, err := readNew(r)
		if err != nil {
			t.Fatalf("row %d: %v", i, err)
		}
		if len(rd.CPU) != 2 || len(rd.Mem) != 0 || !math.IsNaN(rd.Node) {
			t.Fatalf("row %d: reading %+v, want two CPUs only", i, rd)
		}
		for s := 0; s < 2; s++ {
			out.watts[s] = append(out.watts[s], rd.CPU[s])
			out.energy[s] = rd.Energy.CPU[s]
		}
	}
	out.wraps, _ = r.Wraps()
	return out
}

// trapezoid integrates samples p at times ts (seconds).
func trapezoid(ts, p []float64) float64 {
	e := 0.0
	for i := 1; i < len(ts); i++ {
		e += (p[i-1] + p[i]) / 2 * (ts[i] - ts[i-1])
	}
	return e
}

// TestRAPLTrace replays the recorded trace through the RAPL source. It
// checks that the energy is exactly the sum of the counter deltas (also with
// the counters shifted so that they wrap mid-trace), that the power matches
// what WattAMeter derived, and measures how far integrating sampled power
// lands from the counter energy.
func TestRAPLTrace(t *testing.T) {
	tr, err := readWattTrace(raplTracePath)
	if err != nil {
		t.Fatal(err)
	}
	n := len(tr.t)
	ts := make([]float64, n) // seconds since the first row
	for i := range tr.t {
		ts[i] = tr.t[i].Sub(tr.t[0]).Seconds()
	}
	const maxUJ = 262143328850 // sysfs-rapl-trace.txt

	plain := replayRAPL(t, tr, func(v uint64) uint64 { return v })
	// Shift every counter so that package-S reads 1234 µJ at the middle row:
	// it has wrapped just before it.
	mid := n / 2
	var shifted [2]raplReplay
	for s := 0; s < 2; s++ {
		k := (maxUJ + 1) - tr.pkg[s][mid] + 1234
		shifted[s] = replayRAPL(t, tr, func(v uint64) uint64 { return (v + k) % (maxUJ + 1) })
	}

	for s := 0; s < 2; s++ {
		// Energy: exactly the counter's advance, in µJ, as joules.
		var sum uint64
		for i := 1; i < n; i++ {
			sum += tr.pkg[s][i] - tr.pkg[s][i-1]
		}
		exact := float64(sum) / 1e6
		if got := plain.energy[s]; got != exact {
			t.Errorf("socket %d: energy %.6f J, want the counter's %.6f J", s, got, exact)
		}
		if got := shifted[s].energy[s]; got != exact {
			t.Errorf("socket %d, counters wrapping at row %d: energy %.6f J, want %.6f J", s, mid, got, exact)
		}
		if shifted[s].wraps == 0 {
			t.Errorf("socket %d: the shifted counters did not wrap", s)
		}
		for i := 1; i < n; i++ {
			if shifted[s].watts[s][i-1] != plain.watts[s][i-1] {
				t.Errorf("socket %d row %d: %v W across the wrap, %v W without", s, i, shifted[s].watts[s][i-1], plain.watts[s][i-1])
			}
		}

		// Power: WattAMeter's W on row i is the counter delta to row i+1
		// over its own clock; the log's timestamps have 1 µs resolution, so
		// each interval may differ by 2 µs: |P - W| <= W * 2 µs / dt.
		worst := 0.0
		for i := 1; i < n; i++ {
			p, w := plain.watts[s][i-1], tr.w[s][i-1]
			dt := ts[i] - ts[i-1]
			rel := math.Abs(p-w) / w
			if rel > 2e-6/dt+1e-12 {
				t.Errorf("socket %d row %d: %v W from the counters, WattAMeter %v W (%.2g relative, over %.2g allowed)", s, i, p, w, rel, 2e-6/dt)
			}
			worst = math.Max(worst, rel)
		}
		t.Logf("socket %d: counter energy %.6f J over %.3f s; power vs WattAMeter's W: worst relative difference %.3g", s, exact, ts[n-1], worst)
	}

	// Integration error, measured. Each row's W is the mean power over the
	// interval that starts at the row; the source's power is the mean over
	// the interval that ends at its read. Integrating either with the
	// trapezoid rule shifts each value by half an interval:
	//   trapz(W) - E = 1/2 [W_last dt_last - W_0 dt_0 + sum W_i (dt_i-1 - dt_i)]
	// (plus W's 2 µs timestamp rounding), so with the timing jitter of the
	// data (sum |dt_i - dt_i-1|) the error is at most
	//   1/2 |W_last dt_last - W_0 dt_0| + 1/2 max(W) sum |dt_i - dt_i-1| + 2 µs sum W.
	jitter := 0.0
	for i := 2; i < n; i++ {
		jitter += math.Abs((ts[i] - ts[i-1]) - (ts[i-1] - ts[i-2]))
	}
	t.Logf("rows %d, mean interval %.6f s (nominal 0.1 s), timing jitter sum|dt_i - dt_i-1| = %.4f s", n, ts[n-1]/float64(n-1), jitter)
	// Per period: W sampled every k-th row against the counter over the
	// same rows; the source's power (dE/dt over the period, known from the
	// second row on) against the counter from the second row, integrated
	// with the trapezoid rule, as a step back to the previous row, and with
	// dt taken as the nominal period instead of the measured time.
	t.Logf("%-6s %6s %4s %12s %20s %12s %20s %20s %20s", "socket", "period", "rows", "counter J", "trapz(W) J", "counter' J", "trapz(dE/dt) J", "step(dE/dt) J", "trapz(dE/T) J")
	for s := 0; s < 2; s++ {
		w := tr.w[s]
		e := func(i, j int) float64 { return float64(tr.pkg[s][j]-tr.pkg[s][i]) / 1e6 }

		// Full rate, with the bound.
		exact := e(0, n-1)
		tw := trapezoid(ts, w)
		maxW, sumW := 0.0, 0.0
		for _, v := range w {
			maxW, sumW = math.Max(maxW, v), sumW+v
		}
		boundW := 0.5*math.Abs(w[n-1]*(ts[n-1]-ts[n-2])-w[0]*(ts[1]-ts[0])) + 0.5*maxW*jitter + 2e-6*sumW
		if err := math.Abs(tw - exact); err > boundW {
			t.Errorf("socket %d: trapz(W) = %.6f J, counter %.6f J: error %.4f J over the bound %.4f J", s, tw, exact, err, boundW)
		}
		p := plain.watts[s] // rows 1..n-1
		tp := trapezoid(ts[1:], p)
		exact1 := e(1, n-1)
		maxP := 0.0
		for _, v := range p {
			maxP = math.Max(maxP, v)
		}
		boundP := 0.5*math.Abs(p[0]*(ts[2]-ts[1])-p[n-2]*(ts[n-1]-ts[n-2])) + 0.5*maxP*jitter + 1e-9*exact1
		if err := math.Abs(tp - exact1); err > boundP {
			t.Errorf("socket %d: trapz(dE/dt) = %.6f J, counter %.6f J: error %.4f J over the bound %.4f J", s, tp, exact1, err, boundP)
		}
		t.Logf("socket %d: trapz(W) error %+.4f J (%+.3f%%), bound %.3f J (%.2f%%); trapz(dE/dt) error %+.4f J (%+.3f%%), bound %.3f J (%.2f%%)",
			s, tw-exact, 100*(tw-exact)/exact, boundW, 100*boundW/exact, tp-exact1, 100*(tp-exact1)/exact1, boundP, 100*boundP/exact1)

		// The same at longer sampling periods: every k-th row.
		for _, k := range []int{1, 2, 5, 10, 20, 50} {
			var idx []int
			for i := 0; i < n; i += k {
				idx = append(idx, i)
			}
			var st, sw, sp, sn []float64
			step := 0.0
			for j, i := range idx {
				st, sw = append(st, ts[i]), append(sw, w[i])
				if j > 0 {
					d, dt := e(idx[j-1], i), ts[i]-ts[idx[j-1]]
					sp = append(sp, d/dt)
					sn = append(sn, d/(float64(k)*0.1))
					if j > 1 {
						step += d / dt * dt
					}
				}
			}
			ew, ep := e(idx[0], idx[len(idx)-1]), e(idx[1], idx[len(idx)-1])
			iw, ip, in := trapezoid(st, sw), trapezoid(st[1:], sp), trapezoid(st[1:], sn)
			pct := func(v, ref float64) string { return fmt.Sprintf("%.3f (%+.3f%%)", v, 100*(v-ref)/ref) }
			t.Logf("%-6d %5.1fs %4d %12.6f %20s %12.6f %20s %20s %20s", s, float64(k)*0.1, len(idx), ew, pct(iw, ew), ep, pct(ip, ep), pct(step, ep), pct(in, ep))
		}
	}
}
