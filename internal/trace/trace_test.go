// SPDX-License-Identifier: LGPL-3.0-only

package trace

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strings"
	"testing"

	"github.com/flux-framework/power-monitor/internal/sample"
)

func TestWriteSample(t *testing.T) {
	l := sample.Layout{CPU: 1, Mem: 0, GPU: 2}
	var buf bytes.Buffer
	WriteHeader(&buf, l)
	r := sample.Reading{Node: math.NaN(), CPU: []float64{81.25}, Mem: []float64{}, GPU: []float64{math.Inf(1), 0.001}}
	if err := WriteSample(&buf, l, 1759829920.623626, &r); err != nil {
		t.Fatal(err)
	}
	r.Energy = sample.NewEnergy(l)
	r.Energy.GPU[1] = 1e7
	r.Node, r.NodeDerived = 81.251, true
	if err := WriteSample(&buf, l, 1759829921, &r); err != nil {
		t.Fatal(err)
	}
	want := `{"format":"power-monitor-trace","version":1,"layout":{"cpu":1,"mem":0,"gpu":2}}
{"t":1759829920.623626,"node":null,"cpu":[81.25],"mem":[],"gpu":[null,0.001]}
{"t":1759829921,"node":81.251,"node_derived":true,"cpu":[81.25],"mem":[],"gpu":[null,0.001],"energy":{"node":null,"cpu":[null],"mem":[],"gpu":[null,1e+07]}}
`
	if buf.String() != want {
		t.Errorf("trace\n%s\nwant\n%s", buf.String(), want)
	}
	if err := WriteSample(&buf, sample.Layout{CPU: 2}, 0, &r); err == nil {
		t.Error("a reading of another layout was written")
	}
}

// What WriteSample writes, Reader reads back exactly: written again, the
// samples read give the same text (TestWriteSample pins the text).
func TestRoundTrip(t *testing.T) {
	l := sample.Layout{CPU: 2, Mem: 1, GPU: 3}
	nan := math.NaN()
	var in, want bytes.Buffer
	for _, b := range []*bytes.Buffer{&in, &want} {
		if err := WriteHeader(b, l); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 20; i++ {
		f := float64(i)
		r := sample.Reading{Node: 400 + f*1.1, CPU: []float64{80 + f/3, nan}, Mem: []float64{12.5e-3 * f},
			GPU: []float64{300 + f*7.7, nan, 1e-300}, NodeDerived: i%3 == 0}
		if i >= 2 {
			r.Energy = sample.NewEnergy(l)
			r.Energy.CPU = []float64{1000.5 + f*40.1, 2e6 + f*f}
			r.Energy.GPU = []float64{123456.789 + f*150, nan, f}
		}
		in.WriteString("\n") // blank lines are ignored
		for _, b := range []*bytes.Buffer{&in, &want} {
			if err := WriteSample(b, l, 1759829920.5+f*0.25, &r); err != nil {
				t.Fatal(err)
			}
		}
	}
	rd, err := NewReader(&in)
	if err != nil {
		t.Fatal(err)
	}
	if rd.Layout() != l {
		t.Fatalf("layout %+v, want %+v", rd.Layout(), l)
	}
	var got bytes.Buffer
	WriteHeader(&got, rd.Layout())
	for i := 0; ; i++ {
		s, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("sample %d: %v", i, err)
		}
		if s.Line != 2*i+3 {
			t.Errorf("sample %d at line %d, want %d", i, s.Line, 2*i+3)
		}
		if (s.Reading.Energy != nil) != (i >= 2) {
			t.Errorf("sample %d: energy %+v", i, s.Reading.Energy)
		}
		if err := WriteSample(&got, l, s.T, &s.Reading); err != nil {
			t.Fatal(err)
		}
	}
	if got.String() != want.String() {
		t.Fatalf("read and written again:\n%s\nwant\n%s", got.String(), want.String())
	}
}

const hdr = `{"format":"power-monitor-trace","version":1,"layout":{"cpu":1,"mem":0,"gpu":0}}` + "\n"

// A bad trace fails at its line, saying why.
func TestReaderErrors(t *testing.T) {
	for _, c := range []struct{ name, content, want string }{
		{"empty", "\n \n", "no header: the trace is empty"},
		{"header", "{\n", "line 1: header: unexpected end of JSON input"},
		{"format", "\n" + `{"format":"other"}` + "\n", `line 2: format "other", want "power-monitor-trace"`},
		{"version", `{"format":"power-monitor-trace","version":2,"layout":{"cpu":1,"mem":0,"gpu":0}}` + "\n", "line 1: version 2: this reader knows version 1"},
		{"layout", `{"format":"power-monitor-trace","version":1}` + "\n", "line 1: header without a valid layout"},
		{"syntax", hdr + `{"t":1,"cpu":[1]}` + "\n" + `{"t":2,"cpu":[1]` + "\n", "line 3: unexpected end of JSON input"},
		{"no t", hdr + `{"cpu":[1]}` + "\n", "line 2: no time (t)"},
		{"length", hdr + `{"t":1,"cpu":[1,2]}` + "\n", "line 2: cpu has 2 values, the layout says 1"},
		{"energy length", hdr + `{"t":1,"cpu":[1],"energy":{"cpu":[]}}` + "\n", "line 2: energy.cpu has 0 values, the layout says 1"},
		{"backwards", hdr + `{"t":2,"cpu":[1]}` + "\n" + `{"t":1,"cpu":[1]}` + "\n", "line 3: t 1 goes back in time"},
	} {
		t.Run(c.name, func(t *testing.T) {
			rd, err := NewReader(strings.NewReader(c.content))
			for err == nil {
				_, err = rd.Next()
			}
			if err.Error() != c.want {
				t.Errorf("error %q, want %q", err, c.want)
			}
			var le *LineError
			if strings.HasPrefix(c.want, "line ") != errors.As(err, &le) {
				t.Errorf("error %T: a *LineError exactly when it names a line", err)
			}
		})
	}
}

// lines records what reaches the file, write by write.
type lines struct{ writes []string }

func (l *lines) Write(b []byte) (int, error) {
	l.writes = append(l.writes, string(b))
	return len(b), nil
}

// The Writer writes the header with the first sample's layout, and every
// sample reaches the file whole when Append returns; a reading of another
// layout stops it with an error.
func TestWriterFlushesEverySample(t *testing.T) {
	var out lines
	w := NewWriter(&out)
	r := sample.Reading{Node: 100, CPU: []float64{60}, Mem: []float64{}, GPU: []float64{40}}
	w.Append(1759829920_500_000_000, &r)
	if len(out.writes) != 1 || out.writes[0] != `{"format":"power-monitor-trace","version":1,"layout":{"cpu":1,"mem":0,"gpu":1}}`+"\n"+
		`{"t":1759829920.5,"node":100,"cpu":[60],"mem":[],"gpu":[40]}`+"\n" {
		t.Fatalf("after the first sample the file has %q", out.writes)
	}
	w.Append(1759829921_000_000_000, &r)
	if len(out.writes) != 2 || out.writes[1] != `{"t":1759829921,"node":100,"cpu":[60],"mem":[],"gpu":[40]}`+"\n" {
		t.Fatalf("after the second sample the file has %q", out.writes)
	}
	if w.Count() != 2 || w.Err() != nil {
		t.Fatalf("count %d, err %v", w.Count(), w.Err())
	}
	other := sample.Reading{Node: 100, CPU: []float64{60, 61}, Mem: []float64{}, GPU: []float64{40}}
	w.Append(1759829922_000_000_000, &other)
	w.Append(1759829923_000_000_000, &r)
	if w.Count() != 2 || w.Err() == nil || !strings.Contains(w.Err().Error(), "trace: reading of layout") || len(out.writes) != 2 {
		t.Fatalf("after a reading of another layout: count %d, err %v, %d writes", w.Count(), w.Err(), len(out.writes))
	}
}
