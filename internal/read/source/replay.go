// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
	"github.com/flux-framework/power-monitor/internal/trace"
)

// Replay plays a recorded trace as if it were a sensor (module option
// replay:FILE). The whole file is parsed at Open; a bad line fails Open with
// "replay: FILE:LINE: why".
//
// Two formats are recognised from the first line:
//
//   - WattAMeter logs ('#' header lines; see WattAMeter's README): the last
//     header line before the samples names the columns, unit in brackets,
//     after "timestamp reading-time[ns]"; each row is a timestamp
//     YYYY-MM-DD_HH:MM:SS.ffffff (local time, no zone: only differences are
//     used), the read duration in ns and the values. gpu-N[mW] (or [W]) is
//     GPU N's power, cpu-N[W] (or [mW]) CPU socket N's power, cpu-N[uJ] its
//     RAPL energy counter, gpu-N[mJ] GPU N's NVML energy counter. Other
//     columns (cpu-N-core, temperatures in [C], unknown units) are ignored;
//     "nan" is an unmeasured value. Note that WattAMeter's cpu-N[W] on a row
//     is the mean power over the interval to the next row (the counter delta
//     ahead, to 1e-6 in the recorded logs), not behind: replayed as is, CPU
//     power leads the counters by one sample.
//   - power-monitor traces (JSON lines, package trace), which the agent
//     writes.
//
// Counters are replayed as joules since Open: relative to their first value
// in the trace, unwrapped. A RAPL counter (uJ) that decreases has wrapped at
// max_energy_range_uj, which a WattAMeter log does not record; the range is
// taken to be the largest value of that column in the whole file (R). The
// counter was read last, before the wrap, at prev <= R' (the true range),
// and prev <= R <= R', so the increment counted, (R - prev) + cur, misses
// R' - R <= R' - prev: part of that one interval's energy, never more, and
// never too much. (Assuming the common Intel range of 262143328850 uJ
// instead would overcount by about 196 kJ a wrap on AMD, whose range is
// about 65.5 kJ.) An NVML counter (mJ) that decreases was reset by a driver
// reload: the new value is counted from 0. In a power-monitor trace the
// counters are already unwrapped; one that decreases is an error.
//
// Trace time is mapped onto wall time: the first sample is "now" at Open,
// and Read returns the latest sample whose offset from the first is at most
// the time elapsed since Open times speed. At the end the trace loops: one
// loop lasts the trace's duration plus its mean sampling interval (so the
// last sample is held as long as any other), and counters keep counting
// across loops, each loop adding its energy scaled to that duration (the
// trace's mean power over the added interval), so they stay monotonic.
type Replay struct {
	path   string
	format string
	speed  float64
	layout sample.Layout
	offs   []float64        // trace seconds since the first sample
	rows   []sample.Reading // Energy relative to the first sample, or nil
	period float64          // trace seconds per loop
	loopE  *sample.Energy   // joules added per loop; nil: no counters
	wraps  int
	now    func() time.Time
	start  time.Time
}

// OpenReplay parses the trace at path and starts playing it now, speed
// trace seconds per wall second (1 real time, 10 ten times faster; 0 means
// 1).
func OpenReplay(path string, speed float64) (*Replay, error) {
	return openReplay(path, speed, time.Now)
}

func openReplay(path string, speed float64, now func() time.Time) (*Replay, error) {
	if speed == 0 {
		speed = 1
	}
	if !(speed > 0) || math.IsInf(speed, 0) {
		return nil, fmt.Errorf("replay: %s: speed %g: must be a positive number", path, speed)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	p := &Replay{path: path, speed: speed, now: now}
	first := bytes.TrimSpace(data)
	switch {
	case len(first) == 0:
		return nil, fmt.Errorf("replay: %s: empty file", path)
	case first[0] == '#':
		p.format = "WattAMeter log"
		err = p.parseWattAMeter(data)
	case first[0] == '{':
		p.format = "power-monitor trace"
		err = p.parseTrace(data)
	default:
		line := 1 + bytes.Count(data[:len(data)-len(bytes.TrimLeft(data, " \t\r\n"))], []byte("\n"))
		err = replayLineErr(line, "neither a WattAMeter log ('#' header lines) nor a power-monitor trace (JSON lines)")
	}
	if err != nil {
		return nil, fmt.Errorf("replay: %s%w", path, err)
	}
	if len(p.rows) == 0 {
		return nil, fmt.Errorf("replay: %s: no samples", path)
	}
	p.loop()
	p.start = now()
	return p, nil
}

// lineErr is an error at a line; Open puts the file name before it.
func replayLineErr(line int, format string, a ...any) error {
	return fmt.Errorf(":%d: %s", line, fmt.Sprintf(format, a...))
}

// loop sets the loop period and the energy of one loop.
func (p *Replay) loop() {
	n := len(p.offs)
	d := p.offs[n-1]
	if n < 2 || d <= 0 {
		p.period = 1
		if p.loopE != nil {
			p.loopE = replayZeroLike(p.loopE)
		}
		return
	}
	p.period = d + d/float64(n-1)
	if p.loopE == nil {
		return
	}
	// loopE holds, per domain, the last relative value; scale it to a loop.
	f := p.period / d
	scale := func(v []float64) {
		for i := range v {
			v[i] *= f
		}
	}
	p.loopE.Node *= f
	scale(p.loopE.CPU)
	scale(p.loopE.Mem)
	scale(p.loopE.GPU)
}

func replayZeroLike(e *sample.Energy) *sample.Energy {
	z := func(v []float64) []float64 {
		out := make([]float64, len(v))
		for i := range v {
			if math.IsNaN(v[i]) {
				out[i] = math.NaN()
			}
		}
		return out
	}
	out := &sample.Energy{Node: 0, CPU: z(e.CPU), Mem: z(e.Mem), GPU: z(e.GPU)}
	if math.IsNaN(e.Node) {
		out.Node = math.NaN()
	}
	return out
}

// Name says which file, its format and length, and the speed.
func (p *Replay) Name() string {
	return fmt.Sprintf("replay (%s: %s, %d samples over %.3g s, speed %g)",
		p.path, p.format, len(p.rows), p.offs[len(p.offs)-1], p.speed)
}

// Layout is the trace's layout.
func (p *Replay) Layout() sample.Layout { return p.layout }

// Wraps counts the counter wraps and resets found in the trace.
func (p *Replay) Wraps() int { return p.wraps }

// Read reads the trace sample due now.
func (p *Replay) Read(r *sample.Reading) error {
	el := p.now().Sub(p.start).Seconds() * p.speed
	if el < 0 {
		el = 0
	}
	k := math.Floor(el / p.period)
	off := el - k*p.period
	// the latest sample at or before off (the first is at 0)
	i := max(sort.Search(len(p.offs), func(j int) bool { return p.offs[j] > off })-1, 0)
	r.CopyFrom(&p.rows[i])
	if e := r.Energy; e != nil { // the counters go on across loops
		add := func(v, per []float64) {
			for j := range v {
				v[j] += k * per[j]
			}
		}
		e.Node += k * p.loopE.Node
		add(e.CPU, p.loopE.CPU)
		add(e.Mem, p.loopE.Mem)
		add(e.GPU, p.loopE.GPU)
	}
	return nil
}

// lines calls fn for each line of data with its 1-based number.
func replayLines(data []byte, fn func(n int, line string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		if err := fn(n, sc.Text()); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return replayLineErr(n+1, "%v", err)
	}
	return nil
}

// WattAMeter column kinds.
const (
	wmSkip = iota
	wmGPUPower
	wmCPUPower
	wmCPUEnergy // RAPL, uJ: wraps
	wmGPUEnergy // NVML, mJ: resets
)

type wmColumn struct {
	kind int
	idx  int
	div  float64 // to watts or joules (a division: exact decimal results)
}

var wmName = regexp.MustCompile(`^(cpu|gpu)-([0-9]+)\[([A-Za-z]+)\]$`)

func wmColumnOf(name string) wmColumn {
	m := wmName.FindStringSubmatch(name)
	if m == nil {
		return wmColumn{kind: wmSkip}
	}
	idx, err := strconv.Atoi(m[2])
	if err != nil || idx > 4096 {
		return wmColumn{kind: wmSkip}
	}
	switch m[1] + " " + m[3] {
	case "gpu mW":
		return wmColumn{wmGPUPower, idx, 1e3}
	case "gpu W":
		return wmColumn{wmGPUPower, idx, 1}
	case "cpu W":
		return wmColumn{wmCPUPower, idx, 1}
	case "cpu mW":
		return wmColumn{wmCPUPower, idx, 1e3}
	case "cpu uJ":
		return wmColumn{wmCPUEnergy, idx, 1e6}
	case "gpu mJ":
		return wmColumn{wmGPUEnergy, idx, 1e3}
	}
	return wmColumn{kind: wmSkip}
}

func (p *Replay) parseWattAMeter(data []byte) error {
	var cols []wmColumn
	var header []string
	var headerLine int
	var t0 time.Time
	var raw [][]float64 // counter columns' raw values per row
	var counters []int  // column index of each counter
	lastOff := 0.0

	err := replayLines(data, func(n int, line string) error {
		f := strings.Fields(line)
		if len(f) == 0 {
			return nil
		}
		if strings.HasPrefix(f[0], "#") {
			f[0] = strings.TrimPrefix(f[0], "#")
			if f[0] == "" {
				f = f[1:]
			}
			if len(f) == 0 || f[0] != "timestamp" {
				return nil // a comment: "Tracking started", ...
			}
			if header != nil && len(p.rows) > 0 {
				if strings.Join(f, " ") != strings.Join(header, " ") {
					return replayLineErr(n, "the columns change (first named at line %d)", headerLine)
				}
				return nil
			}
			return p.wmHeader(n, f, &cols, &counters, &header, &headerLine)
		}
		if header == nil {
			return replayLineErr(n, "a sample before the column header (# timestamp reading-time[ns] ...)")
		}
		if len(f) != len(header) {
			return replayLineErr(n, "%d fields, the header at line %d names %d", len(f), headerLine, len(header))
		}
		ts, err := time.Parse("2006-01-02_15:04:05.999999999", f[0])
		if err != nil {
			return replayLineErr(n, "timestamp %q: want YYYY-MM-DD_HH:MM:SS.ffffff", f[0])
		}
		if len(p.rows) == 0 {
			t0 = ts
		}
		off := float64(ts.Sub(t0).Nanoseconds()) / 1e9
		if off < lastOff {
			return replayLineErr(n, "timestamp %s goes back in time", f[0])
		}
		lastOff = off
		r := sample.Reading{Node: math.NaN(), CPU: replayNaNs(p.layout.CPU), Mem: []float64{}, GPU: replayNaNs(p.layout.GPU)}
		row := make([]float64, len(counters))
		ci := 0
		for j, c := range cols {
			if c.kind == wmSkip {
				continue
			}
			v, err := strconv.ParseFloat(f[j], 64)
			if err != nil {
				return replayLineErr(n, "column %s: %q is not a number", header[j], f[j])
			}
			switch c.kind {
			case wmGPUPower:
				r.GPU[c.idx] = v / c.div
			case wmCPUPower:
				r.CPU[c.idx] = v / c.div
			default:
				if v < 0 {
					return replayLineErr(n, "column %s: negative counter %s", header[j], f[j])
				}
				row[ci] = v
				ci++
			}
		}
		p.offs = append(p.offs, off)
		p.rows = append(p.rows, r)
		raw = append(raw, row)
		return nil
	})
	if err != nil {
		return err
	}
	if header == nil {
		return errors.New(": no column header (# timestamp reading-time[ns] ...)")
	}
	if len(counters) > 0 {
		p.wmCounters(cols, counters, raw)
	}
	return nil
}

func (p *Replay) wmHeader(n int, f []string, cols *[]wmColumn, counters *[]int, header *[]string, headerLine *int) error {
	if len(f) < 2 || f[1] != "reading-time[ns]" {
		return replayLineErr(n, "the columns must start with timestamp reading-time[ns]")
	}
	*header, *headerLine = f, n
	*cols = make([]wmColumn, len(f))
	seen := map[string]int{}
	for j, name := range f {
		if j < 2 {
			continue
		}
		c := wmColumnOf(name)
		(*cols)[j] = c
		if c.kind == wmSkip {
			continue
		}
		key := fmt.Sprintf("%d %d", c.kind, c.idx)
		if c.kind == wmCPUPower || c.kind == wmGPUPower {
			key = fmt.Sprintf("power %d %d", c.kind, c.idx)
		}
		if k, dup := seen[key]; dup {
			return replayLineErr(n, "columns %s and %s measure the same thing", f[k], name)
		}
		seen[key] = j
		switch c.kind {
		case wmGPUPower, wmGPUEnergy:
			p.layout.GPU = max(p.layout.GPU, c.idx+1)
		default:
			p.layout.CPU = max(p.layout.CPU, c.idx+1)
		}
		if c.kind == wmCPUEnergy || c.kind == wmGPUEnergy {
			*counters = append(*counters, j)
		}
	}
	if p.layout.CPU == 0 && p.layout.GPU == 0 {
		return replayLineErr(n, "no column to replay (gpu-N[mW], cpu-N[W], cpu-N[uJ], gpu-N[mJ])")
	}
	return nil
}

// wmCounters turns the raw counter columns into joules since the first
// row, unwrapped (see Replay), and sets the energy of every row.
func (p *Replay) wmCounters(cols []wmColumn, counters []int, raw [][]float64) {
	p.loopE = sample.NewEnergy(p.layout)
	for i := range p.rows {
		p.rows[i].Energy = sample.NewEnergy(p.layout)
	}
	for ci, j := range counters {
		c := cols[j]
		top := math.Inf(-1) // the largest value of the column
		for _, row := range raw {
			if v := row[ci]; !math.IsNaN(v) && v > top {
				top = v
			}
		}
		acc, prev, started := 0.0, 0.0, false
		for i, row := range raw {
			v := row[ci]
			if math.IsNaN(v) {
				continue
			}
			switch {
			case !started:
				started = true
			case v >= prev:
				acc += v - prev
			case c.kind == wmCPUEnergy: // wrapped at max_energy_range_uj
				acc += top - prev + v
				p.wraps++
			default: // NVML: reset by a driver reload
				acc += v
				p.wraps++
			}
			prev = v
			e := p.rows[i].Energy
			if c.kind == wmCPUEnergy {
				e.CPU[c.idx] = acc / c.div
			} else {
				e.GPU[c.idx] = acc / c.div
			}
		}
		if c.kind == wmCPUEnergy {
			p.loopE.CPU[c.idx] = acc / c.div
		} else {
			p.loopE.GPU[c.idx] = acc / c.div
		}
	}
}

func replayNaNs(n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = math.NaN()
	}
	return v
}

func (p *Replay) parseTrace(data []byte) error {
	tr, err := trace.NewReader(bytes.NewReader(data))
	if err != nil {
		return replayTraceErr(err)
	}
	l := tr.Layout()
	p.layout = l
	first, prev := sample.NewEnergy(l), sample.NewEnergy(l) // first and last counter values (NaN: none yet)
	var t0 float64
	for {
		s, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return replayTraceErr(err)
		}
		if len(p.rows) == 0 {
			t0 = s.T
		}
		r := s.Reading
		if e := r.Energy; e != nil {
			if err := replayRebase(e, first, prev); err != nil {
				return replayLineErr(s.Line, "%v", err)
			}
			if !e.Counted() {
				r.Energy = nil
			}
		}
		p.offs = append(p.offs, s.T-t0)
		p.rows = append(p.rows, r)
		if p.loopE == nil && r.Energy != nil {
			p.loopE = sample.NewEnergy(l)
		}
		if r.Energy != nil {
			replayCopyCounted(p.loopE, r.Energy)
		}
	}
}

// replayTraceErr puts an error of the trace reader in replay's form: ":LINE: why".
func replayTraceErr(err error) error {
	var le *trace.LineError
	if errors.As(err, &le) {
		return replayLineErr(le.Line, "%v", le.Err)
	}
	return fmt.Errorf(": %v", err)
}

// rebase makes the counters of e relative to their first values, checking
// that none decreases.
func replayRebase(e, first, prev *sample.Energy) error {
	one := func(what string, v, f, p *float64) error {
		if math.IsNaN(*v) {
			return nil
		}
		if math.IsNaN(*f) {
			*f, *p = *v, *v
		}
		if *v < *p {
			return fmt.Errorf("%s decreases from %v to %v", what, *p, *v)
		}
		*p = *v
		*v -= *f
		return nil
	}
	if err := one("energy.node", &e.Node, &first.Node, &prev.Node); err != nil {
		return err
	}
	for _, d := range []struct {
		what     string
		v, f, pr []float64
	}{{"energy.cpu", e.CPU, first.CPU, prev.CPU}, {"energy.mem", e.Mem, first.Mem, prev.Mem}, {"energy.gpu", e.GPU, first.GPU, prev.GPU}} {
		for i := range d.v {
			if err := one(fmt.Sprintf("%s[%d]", d.what, i), &d.v[i], &d.f[i], &d.pr[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// copyCounted copies the measured counters of src into dst.
func replayCopyCounted(dst, src *sample.Energy) {
	if !math.IsNaN(src.Node) {
		dst.Node = src.Node
	}
	for _, d := range [][2][]float64{{dst.CPU, src.CPU}, {dst.Mem, src.Mem}, {dst.GPU, src.GPU}} {
		for i, v := range d[1] {
			if !math.IsNaN(v) {
				d[0][i] = v
			}
		}
	}
}
