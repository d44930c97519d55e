// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/flux-framework/power-monitor/internal/read/sampler"
	"github.com/flux-framework/power-monitor/internal/sample"
)

type fake struct {
	name string
	r    sample.Reading
	err  error
}

func (f *fake) Name() string { return f.name }
func (f *fake) Read(r *sample.Reading) error {
	if f.err != nil {
		return f.err
	}
	r.CopyFrom(&f.r)
	return nil
}

// readNew is one Read into a new reading.
func readNew(s sampler.Source) (sample.Reading, error) {
	var r sample.Reading
	err := s.Read(&r)
	return r, err
}

func nan() float64 { return math.NaN() }

func TestMergeRAPLAndNVML(t *testing.T) {
	rapl := &fake{name: "rapl (2 packages)", r: sample.Reading{Node: nan(), CPU: []float64{80, 90}, Mem: []float64{10, 12},
		Energy: &sample.Energy{Node: nan(), CPU: []float64{100, 200}, Mem: []float64{5, 6}}}}
	nvml := &fake{name: "nvml (2 GPUs)", r: sample.Reading{Node: nan(), GPU: []float64{300, 310},
		Energy: &sample.Energy{Node: nan(), GPU: []float64{1000, 2000}}}}
	m, dropped, err := Merge([]Part{{"rapl", rapl}, {"nvml", nvml}})
	if err != nil || len(dropped) != 0 {
		t.Fatalf("Merge: %v %v", err, dropped)
	}
	r, err := readNew(m)
	if err != nil {
		t.Fatal(err)
	}
	// node = 80+90+10+12+300+310, derived
	if r.Node != 802 || !r.NodeDerived || r.CPU[1] != 90 || r.Mem[0] != 10 || r.GPU[1] != 310 {
		t.Fatalf("reading %+v", r)
	}
	if r.Energy == nil || r.Energy.CPU[1] != 200 || r.Energy.GPU[0] != 1000 || !math.IsNaN(r.Energy.Node) {
		t.Fatalf("energy %+v", r.Energy)
	}
	p := m.Provenance()
	if p["cpu"] != "rapl" || p["mem"] != "rapl" || p["gpu"] != "nvml" || p["node"] != "sum of rapl+nvml" {
		t.Fatalf("provenance %v", p)
	}
	if m.Name() != "rapl (2 packages) + nvml (2 GPUs)" {
		t.Fatalf("name %q", m.Name())
	}
}

func TestMergeFirstProviderWinsAndRedundantIsDropped(t *testing.T) {
	variorum := &fake{name: "variorum", r: sample.Reading{Node: 500, CPU: []float64{100}, GPU: []float64{50}}}
	nvml := &fake{name: "nvml", r: sample.Reading{Node: nan(), GPU: []float64{55}}}
	m, dropped, err := Merge([]Part{{"variorum", variorum}, {"nvml", nvml}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := dropped["nvml"]; !ok || !strings.Contains(dropped["nvml"].Error(), "provides nothing that variorum does not") {
		t.Fatalf("dropped %v", dropped)
	}
	r, _ := readNew(m)
	if r.Node != 500 || r.NodeDerived || r.GPU[0] != 50 {
		t.Fatalf("reading %+v", r)
	}
	if m.Provenance()["node"] != "variorum" {
		t.Fatalf("provenance %v", m.Provenance())
	}
}

func TestMergeFailures(t *testing.T) {
	bad := &fake{name: "rapl", err: errors.New("permission denied")}
	if _, dropped, err := Merge([]Part{{"rapl", bad}}); err == nil || !strings.Contains(err.Error(), "permission denied") || dropped["rapl"] == nil {
		t.Fatalf("all parts failing: %v %v", err, dropped)
	}
	cpu := &fake{name: "rapl", r: sample.Reading{Node: nan(), CPU: []float64{10}}}
	gpu := &fake{name: "nvml", r: sample.Reading{Node: nan(), GPU: []float64{20}}}
	m, _, err := Merge([]Part{{"rapl", cpu}, {"nvml", gpu}})
	if err != nil {
		t.Fatal(err)
	}
	// one part fails: its domains are NaN, the other's are read
	gpu.err = errors.New("GPU 0: Unknown Error")
	r, err := readNew(m)
	if err != nil || r.CPU[0] != 10 || !math.IsNaN(r.GPU[0]) || r.Node != 10 {
		t.Fatalf("partial failure: %+v %v", r, err)
	}
	if m.Errors()["nvml"] != "GPU 0: Unknown Error" {
		t.Fatalf("errors %v", m.Errors())
	}
	// both fail: an error naming both
	cpu.err = errors.New("EIO")
	if _, err := readNew(m); err == nil || !strings.Contains(err.Error(), "rapl: EIO") || !strings.Contains(err.Error(), "nvml: GPU 0") {
		t.Fatalf("all failing: %v", err)
	}
	// recovery clears the error
	cpu.err, gpu.err = nil, nil
	if _, err := readNew(m); err != nil || len(m.Errors()) != 0 {
		t.Fatalf("recovery: %v %v", err, m.Errors())
	}
}

func TestMergeErrorNamesSourceOnce(t *testing.T) {
	a := &fake{name: "variorum", r: sample.Reading{Node: 100}}
	b := &fake{name: "nvml", r: sample.Reading{Node: nan(), GPU: []float64{1}}}
	m, _, err := Merge([]Part{{"variorum", a}, {"nvml", b}})
	if err != nil {
		t.Fatal(err)
	}
	a.err = errors.New("variorum: variorum_get_power_json returned -1")
	b.err = errors.New("GPU 0: GPU is lost")
	_, err = readNew(m)
	if err == nil || err.Error() != "variorum: variorum_get_power_json returned -1; nvml: GPU 0: GPU is lost" {
		t.Fatalf("error %v", err)
	}
}
