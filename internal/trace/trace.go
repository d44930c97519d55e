// SPDX-License-Identifier: LGPL-3.0-only

// Package trace is the power-monitor trace format: the file the agent
// (cmd/power-monitor) writes, one line per sample, and that the replay
// source (--source=replay:FILE) plays back.
//
// A trace is JSON lines. The first line is the header,
//
//	{"format":"power-monitor-trace","version":1,"layout":{"cpu":2,"mem":2,"gpu":4}}
//
// then one line per sample:
//
//	{"t":1759829920.623626,"node":null,"cpu":[82.9,83.2],"mem":[9.1,8.7],"gpu":[75.8,74.4,75.3,73.5],
//	 "energy":{"node":null,"cpu":[0,0],"mem":[0,0],"gpu":[0,0,0,0]}}
//
// t is the time in Unix seconds, never decreasing; values in watts,
// energies in joules (the source's monotonic counters, already unwrapped);
// null is "not measured". "energy" is left out when no domain has a
// counter; "node_derived":true marks a node power that is the sum of the
// domains. Blank lines are ignored.
package trace

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/flux-framework/power-monitor/internal/sample"
)

// Format and Version identify a power-monitor trace in its header.
const (
	Format  = "power-monitor-trace"
	Version = 1
)

type header struct {
	Format  string         `json:"format"`
	Version int            `json:"version"`
	Layout  *sample.Layout `json:"layout"`
}

type row struct {
	T           *float64   `json:"t"`
	Node        *float64   `json:"node"`
	NodeDerived bool       `json:"node_derived"`
	CPU         []*float64 `json:"cpu"`
	Mem         []*float64 `json:"mem"`
	GPU         []*float64 `json:"gpu"`
	Energy      *energy    `json:"energy"`
}

type energy struct {
	Node *float64   `json:"node"`
	CPU  []*float64 `json:"cpu"`
	Mem  []*float64 `json:"mem"`
	GPU  []*float64 `json:"gpu"`
}

// WriteHeader writes the first line of a trace of layout l.
func WriteHeader(w io.Writer, l sample.Layout) error {
	_, err := fmt.Fprintf(w, `{"format":%q,"version":%d,"layout":{"cpu":%d,"mem":%d,"gpu":%d}}`+"\n",
		Format, Version, l.CPU, l.Mem, l.GPU)
	return err
}

// WriteSample writes reading r, taken at t (Unix seconds), as one line of
// a trace of layout l. NaN and infinite values are written as null. It
// fails when r is not of layout l.
func WriteSample(w io.Writer, l sample.Layout, t float64, r *sample.Reading) error {
	if r.Layout() != l {
		return fmt.Errorf("trace: reading of layout %+v in a trace of layout %+v", r.Layout(), l)
	}
	if math.IsNaN(t) || math.IsInf(t, 0) {
		return fmt.Errorf("trace: time %g", t)
	}
	b := make([]byte, 0, 64+16*l.Columns()*2)
	b = append(b, `{"t":`...)
	b = strconv.AppendFloat(b, t, 'f', -1, 64)
	b = append(b, `,"node":`...)
	b = appendValue(b, r.Node)
	if r.NodeDerived {
		b = append(b, `,"node_derived":true`...)
	}
	b = appendValues(append(b, `,"cpu":`...), r.CPU)
	b = appendValues(append(b, `,"mem":`...), r.Mem)
	b = appendValues(append(b, `,"gpu":`...), r.GPU)
	if e := r.Energy; e.Counted() {
		if len(e.CPU) != l.CPU || len(e.Mem) != l.Mem || len(e.GPU) != l.GPU {
			return fmt.Errorf("trace: energy of layout cpu %d mem %d gpu %d in a trace of layout %+v",
				len(e.CPU), len(e.Mem), len(e.GPU), l)
		}
		b = append(b, `,"energy":{"node":`...)
		b = appendValue(b, e.Node)
		b = appendValues(append(b, `,"cpu":`...), e.CPU)
		b = appendValues(append(b, `,"mem":`...), e.Mem)
		b = appendValues(append(b, `,"gpu":`...), e.GPU)
		b = append(b, '}')
	}
	b = append(b, "}\n"...)
	_, err := w.Write(b)
	return err
}

func appendValue(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

func appendValues(b []byte, vs []float64) []byte {
	b = append(b, '[')
	for i, v := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendValue(b, v)
	}
	return append(b, ']')
}

// Writer writes samples as a trace: the header, with the layout of the
// first sample, then one line per sample, flushed at every sample so that
// a crash loses at most the sample being written. It is a sampler store
// (Append). Safe for one writer and concurrent Count and Err.
type Writer struct {
	mu     sync.Mutex
	w      *bufio.Writer
	layout sample.Layout
	header bool
	n      uint64
	err    error
}

// NewWriter writes to w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: bufio.NewWriter(w)} }

// Append writes one sample taken at ts (Unix ns). After the first error it
// writes nothing more.
func (t *Writer) Append(ts int64, r *sample.Reading) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return
	}
	if !t.header {
		t.layout = r.Layout()
		if t.err = WriteHeader(t.w, t.layout); t.err != nil {
			return
		}
		t.header = true
	}
	if t.err = WriteSample(t.w, t.layout, float64(ts)/1e9, r); t.err != nil {
		return
	}
	if t.err = t.w.Flush(); t.err == nil {
		t.n++
	}
}

// Count is the number of samples written.
func (t *Writer) Count() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// Err is the first write error, if any.
func (t *Writer) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// Sample is one sample read from a trace.
type Sample struct {
	Line int     // its line in the file, from 1
	T    float64 // Unix seconds
	// Reading's values are NaN where the trace has null; its Energy is nil
	// when the line has no "energy", else NaN where a counter is null.
	Reading sample.Reading
}

// LineError is a line of a trace that cannot be read.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

func lineErr(line int, format string, a ...any) error {
	return &LineError{Line: line, Err: fmt.Errorf(format, a...)}
}

// Reader reads a trace, one sample at a time.
type Reader struct {
	sc     *bufio.Scanner
	line   int
	layout sample.Layout
	lastT  float64
	n      int
}

// NewReader reads the header of the trace in r. Errors about a line are
// *LineError.
func NewReader(r io.Reader) (*Reader, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	tr := &Reader{sc: sc}
	line, err := tr.next()
	if err == io.EOF {
		return nil, errors.New("no header: the trace is empty")
	}
	if err != nil {
		return nil, err
	}
	var h header
	if err := json.Unmarshal([]byte(line), &h); err != nil {
		return nil, lineErr(tr.line, "header: %v", err)
	}
	if h.Format != Format {
		return nil, lineErr(tr.line, "format %q, want %q", h.Format, Format)
	}
	if h.Version != Version {
		return nil, lineErr(tr.line, "version %d: this reader knows version %d", h.Version, Version)
	}
	if h.Layout == nil || h.Layout.CPU < 0 || h.Layout.Mem < 0 || h.Layout.GPU < 0 {
		return nil, lineErr(tr.line, "header without a valid layout")
	}
	tr.layout = *h.Layout
	return tr, nil
}

// next is the next line that is not blank; io.EOF at the end.
func (r *Reader) next() (string, error) {
	for r.sc.Scan() {
		r.line++
		if line := strings.TrimSpace(r.sc.Text()); line != "" {
			return line, nil
		}
	}
	if err := r.sc.Err(); err != nil {
		return "", lineErr(r.line+1, "%v", err)
	}
	return "", io.EOF
}

// Layout is the layout the header gives.
func (r *Reader) Layout() sample.Layout { return r.layout }

// Next reads the next sample; io.EOF after the last.
func (r *Reader) Next() (Sample, error) {
	line, err := r.next()
	if err != nil {
		return Sample{}, err
	}
	var rw row
	if err := json.Unmarshal([]byte(line), &rw); err != nil {
		return Sample{}, lineErr(r.line, "%v", err)
	}
	if rw.T == nil {
		return Sample{}, lineErr(r.line, "no time (t)")
	}
	if r.n > 0 && *rw.T < r.lastT {
		return Sample{}, lineErr(r.line, "t %v goes back in time", *rw.T)
	}
	l := r.layout
	rd := sample.Reading{Node: value(rw.Node), NodeDerived: rw.NodeDerived}
	if rd.CPU, err = values("cpu", rw.CPU, l.CPU, false); err == nil {
		if rd.Mem, err = values("mem", rw.Mem, l.Mem, false); err == nil {
			rd.GPU, err = values("gpu", rw.GPU, l.GPU, false)
		}
	}
	if err != nil {
		return Sample{}, lineErr(r.line, "%v", err)
	}
	if rw.Energy != nil {
		e := &sample.Energy{Node: value(rw.Energy.Node)}
		if e.CPU, err = values("energy.cpu", rw.Energy.CPU, l.CPU, true); err == nil {
			if e.Mem, err = values("energy.mem", rw.Energy.Mem, l.Mem, true); err == nil {
				e.GPU, err = values("energy.gpu", rw.Energy.GPU, l.GPU, true)
			}
		}
		if err != nil {
			return Sample{}, lineErr(r.line, "%v", err)
		}
		rd.Energy = e
	}
	r.lastT = *rw.T
	r.n++
	return Sample{Line: r.line, T: *rw.T, Reading: rd}, nil
}

func value(v *float64) float64 {
	if v == nil {
		return math.NaN()
	}
	return *v
}

// values turns a JSON array into n values; a missing array is all NaN
// where optional (and when n is 0).
func values(what string, vs []*float64, n int, optional bool) ([]float64, error) {
	if vs == nil && (optional || n == 0) {
		out := make([]float64, n)
		for i := range out {
			out[i] = math.NaN()
		}
		return out, nil
	}
	if len(vs) != n {
		return nil, fmt.Errorf("%s has %d values, the layout says %d", what, len(vs), n)
	}
	out := make([]float64, n)
	for i, v := range vs {
		out[i] = value(v)
	}
	return out, nil
}
