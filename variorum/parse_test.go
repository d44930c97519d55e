// SPDX-License-Identifier: LGPL-3.0-only

package variorum

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flux-framework/power-monitor/internal/sample"
)

var nan = math.NaN()

// sum adds float64 values in order, as sample.DeriveNode does.
func sum(vs ...float64) float64 {
	s := 0.0
	for _, v := range vs {
		s += v
	}
	return s
}

func sameFloat(a, b float64) bool {
	return a == b || (math.IsNaN(a) && math.IsNaN(b))
}

func sameFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !sameFloat(a[i], b[i]) {
			return false
		}
	}
	return true
}

func sameReading(a, b sample.Reading) bool {
	return sameFloat(a.Node, b.Node) && a.NodeDerived == b.NodeDerived &&
		sameFloats(a.CPU, b.CPU) && sameFloats(a.Mem, b.Mem) && sameFloats(a.GPU, b.GPU)
}

// fixtures maps every file in testdata/ to the reading and host it holds.
var fixtures = map[string]struct {
	host string
	want sample.Reading
}{
	"v0.6.0-intel.json": {"quartz1234", sample.Reading{
		Node: 179.72076416015625,
		CPU:  []float64{82.471923828125, 76.20538330078125},
		Mem:  []float64{11.3853759765625, 9.6580810546875},
		GPU:  []float64{nan, nan},
	}},
	"v0.6.0-ibm-power9.json": {"lassen708", sample.Reading{
		Node: 1162,
		CPU:  []float64{186, 171},
		Mem:  []float64{42, 38},
		GPU:  []float64{302, 288},
	}},
	"v0.6.0-arm-juno-r2.json": {"juno-r2", sample.Reading{
		Node: 4.2183669999999998,
		CPU:  []float64{1.0942210000000001, 0.26511299999999999},
		Mem:  []float64{nan, nan},
		GPU:  []float64{0.31287700000000002, nan},
	}},
	"v0.7.0-intel.json": {"ruby1022", sample.Reading{
		Node: 315.8416748046875,
		CPU:  []float64{141.52178955078125, 129.0487060546875},
		Mem:  []float64{23.9110107421875, 21.36016845703125},
		GPU:  []float64{nan, nan},
	}},
	"v0.7.0-amd-epyc.json": {"corona171", sample.Reading{
		Node: 282.12099999999998,
		CPU:  []float64{143.21700000000001, 138.904},
		Mem:  []float64{nan, nan},
		GPU:  []float64{nan, nan},
	}},
	"v0.7.0-ibm-power9.json": {"lassen12", sample.Reading{
		Node: 1047,
		CPU:  []float64{174, 165},
		Mem:  []float64{39, 41},
		GPU:  []float64{263, 251},
	}},
	"v0.7.0-arm-juno-r2.json": {"juno-r2", sample.Reading{
		Node: 4.3028810000000002,
		CPU:  []float64{1.1870019999999999, 0.25498700000000002},
		Mem:  []float64{nan, nan},
		GPU:  []float64{0.402113, nan},
	}},
	// No node power: derived from the CPU; power_io_watts has no place.
	"v0.7.0-arm-neoverse-n1.json": {"altra01", sample.Reading{
		Node:        87.453125,
		NodeDerived: true,
		CPU:         []float64{87.453125},
		Mem:         []float64{nan},
		GPU:         []float64{nan},
	}},
	"v0.8.0-intel.json": {"ruby1022", sample.Reading{
		Node: 212.821533203125,
		CPU:  []float64{97.2354736328125, 88.61126708984375},
		Mem:  []float64{14.10260009765625, 12.8721923828125},
	}},
	"v0.8.0-intel-nvidia.json": {"pascal17", sample.Reading{
		Node: 413.65239730116446,
		CPU:  []float64{104.8218994140625, 95.37615966796875},
		Mem:  []float64{16.75128173828125, 15.0240478515625},
		GPU:  []float64{41.234001958509907, 39.876001894008368, 62.018002945696935, 38.551001831074245},
	}},
	"v0.8.0-amd-epyc.json": {"corona171", sample.Reading{
		Node: 366.54300000000001,
		CPU:  []float64{187.53200000000001, 179.011},
		Mem:  []float64{nan, nan},
	}},
	"v0.8.0-amd-epyc-instinct.json": {"tioga18", sample.Reading{
		Node: 1311.8430000000001,
		CPU:  []float64{211.84299999999999},
		Mem:  []float64{nan},
		GPU:  []float64{91, 88, 274, 269, 90, 89, 102, 97},
	}},
	"v0.8.0-ibm-power9.json": {"lassen708", sample.Reading{
		Node: 611,
		CPU:  []float64{181, 169},
		Mem:  []float64{44, 40},
	}},
	"v0.8.0-ibm-power9-nvidia.json": {"lassen708", sample.Reading{
		Node: 1204,
		CPU:  []float64{192, 176},
		Mem:  []float64{46, 43},
		GPU:  []float64{52.114002475282177, 49.870002368697897, 243.99301158904564, 61.207002907176502},
	}},
	// GPU-only build: no node power, derived from the GPUs.
	"v0.8.0-nvidia.json": {"pascal17", sample.Reading{
		Node:        sum(38.211001814925112, 37.765001793741249, 40.120001905597746, 39.004001852590591),
		NodeDerived: true,
		GPU:         []float64{38.211001814925112, 37.765001793741249, 40.120001905597746, 39.004001852590591},
	}},
	"v0.8.0-arm-juno-r2.json": {"juno-r2", sample.Reading{
		Node: 4.2761139999999997,
		CPU:  []float64{1.150326, 0.26174399999999998},
		GPU:  []float64{0.35621799999999998, nan},
	}},
	// Variorum v0.8.0 loses the CPU and I/O power here (it writes
	// "Socket_0" and then looks up "socket_0"): nothing is measured.
	"v0.8.0-arm-neoverse-n1.json": {"altra01", sample.Reading{
		Node: nan,
		Mem:  []float64{nan},
	}},
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	js, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func TestParseFixtures(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(fixtures) {
		t.Errorf("%d fixtures in testdata, %d in the table: keep them in step", len(files), len(fixtures))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			fx, ok := fixtures[name]
			if !ok {
				t.Fatalf("%s is not in the table", name)
			}
			js := readFixture(t, name)
			got, err := Parse(js)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !sameReading(got, fx.want) {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, fx.want)
			}
			if h := Hostname(js); h != fx.host {
				t.Errorf("Hostname = %q, want %q", h, fx.host)
			}
		})
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, js string
		want     sample.Reading
	}{
		{"node only", `{"power_node_watts": 250.5}`,
			sample.Reading{Node: 250.5}},
		{"unsorted sockets", `{"h": {"socket_10": {"power_cpu_watts": 10}, "socket_2": {"power_cpu_watts": 2},
			"socket_0": {"power_cpu_watts": 0.5}, "socket_1": {"power_cpu_watts": 1}, "power_node_watts": 20}}`,
			sample.Reading{Node: 20, CPU: []float64{0.5, 1, 2, 10}}},
		{"unsorted flat sockets", `{"power_cpu_watts_socket_10": 10, "power_cpu_watts_socket_2": 2,
			"power_cpu_watts_socket_1": 1, "power_node_watts": 20}`,
			sample.Reading{Node: 20, CPU: []float64{1, 2, 10}}},
		{"GPU_10 after GPU_2", `{"h": {"socket_0": {"power_gpu_watts":
			{"GPU_10": 10, "GPU_2": 2, "GPU_11": 11, "GPU_1": 1}}, "power_node_watts": 30}}`,
			sample.Reading{Node: 30, GPU: []float64{1, 2, 10, 11}}},
		{"GPUs flattened in socket order", `{"h": {
			"socket_1": {"power_gpu_watts": {"GPU_3": 3, "GPU_2": 2}},
			"socket_0": {"power_gpu_watts": {"GPU_1": 1, "GPU_0": 0.25}}}}`,
			sample.Reading{Node: 6.25, NodeDerived: true, GPU: []float64{0.25, 1, 2, 3}}},
		{"other GPU names", `{"h": {"socket_0": {"power_gpu_watts": {"b": 2, "gpu7": 7, "a": 1, "gpu0": 0}}}}`,
			sample.Reading{Node: 10, NodeDerived: true, GPU: []float64{0, 7, 1, 2}}},
		{"-1 everywhere", `{"h": {"timestamp": 1, "power_node_watts": -1.0, "socket_0": {"power_cpu_watts": -1.0,
			"power_mem_watts": -1.0, "power_gpu_watts": {"GPU_0": -1.0, "GPU_1": -1.0}}}}`,
			sample.Reading{Node: nan, CPU: []float64{nan}, Mem: []float64{nan}, GPU: []float64{nan, nan}}},
		{"-1 everywhere, flat", `{"host": "h", "power_node_watts": -1.0, "power_cpu_watts_socket_0": -1.0,
			"power_mem_watts_socket_0": -1.0, "power_gpu_watts_socket_0": -1.0}`,
			sample.Reading{Node: nan, CPU: []float64{nan}, Mem: []float64{nan}, GPU: []float64{nan}}},
		{"node -1 derived", `{"h": {"power_node_watts": -1.0, "socket_0": {"power_cpu_watts": 100.0,
			"power_mem_watts": -1.0}, "socket_1": {"power_cpu_watts": 90.0, "power_mem_watts": 10.0}}}`,
			sample.Reading{Node: 200, NodeDerived: true, CPU: []float64{100, 90}, Mem: []float64{nan, 10}}},
		{"any negative is unmeasured", `{"power_node_watts": -0.5, "power_cpu_watts_socket_0": -3}`,
			sample.Reading{Node: nan, CPU: []float64{nan}}},
		{"null, -0 and overflow", `{"power_node_watts": null, "power_cpu_watts_socket_0": -0.0,
			"power_cpu_watts_socket_1": 1e400, "power_mem_watts_socket_0": null}`,
			sample.Reading{Node: 0, NodeDerived: true, CPU: []float64{0, nan}, Mem: []float64{nan, nan}}},
		{"memory on one socket only", `{"h": {"socket_0": {"power_cpu_watts": 1, "power_mem_watts": 2},
			"socket_1": {"power_cpu_watts": 3}, "power_node_watts": 9}}`,
			sample.Reading{Node: 9, CPU: []float64{1, 3}, Mem: []float64{2, nan}}},
		{"CPU on one socket only", `{"h": {"socket_0": {"power_mem_watts": 2},
			"socket_1": {"power_cpu_watts": 3, "power_mem_watts": 4}, "power_node_watts": 9}}`,
			sample.Reading{Node: 9, CPU: []float64{nan, 3}, Mem: []float64{2, 4}}},
		{"GPU number on one socket pads", `{"h": {"socket_0": {"power_cpu_watts": 1, "power_gpu_watts": 5},
			"socket_1": {"power_cpu_watts": 3}, "power_node_watts": 9}}`,
			sample.Reading{Node: 9, CPU: []float64{1, 3}, GPU: []float64{5, nan}}},
		{"GPU objects on one socket do not pad", `{"h": {"socket_0": {"power_cpu_watts": 1},
			"socket_1": {"power_cpu_watts": 3, "power_gpu_watts": {"GPU_0": 5, "GPU_1": 6}}, "power_node_watts": 15}}`,
			sample.Reading{Node: 15, CPU: []float64{1, 3}, GPU: []float64{5, 6}}},
		{"empty GPU object", `{"h": {"socket_0": {"power_cpu_watts": 1, "power_gpu_watts": {}}, "power_node_watts": 1}}`,
			sample.Reading{Node: 1, CPU: []float64{1}}},
		{"socket without power values is skipped", `{"h": {"socket_0": {"power_cpu_watts": 1},
			"socket_1": {"temperature": 40}, "power_node_watts": 1}}`,
			sample.Reading{Node: 1, CPU: []float64{1}}},
		{"unknown keys ignored", `{"h": {"timestamp": 5, "num_gpus_per_socket": 2, "note": "x",
			"socket_0": {"power_cpu_watts": 1, "power_io_watts": 7, "extra": [1]}, "power_node_watts": 1}}`,
			sample.Reading{Node: 1, CPU: []float64{1}}},
		{"Socket_N", `{"h": {"Socket_0": {"power_cpu_watts": 4}}}`,
			sample.Reading{Node: 4, NodeDerived: true, CPU: []float64{4}}},
		{"host named like a key", `{"timestamps": {"power_node_watts": 3}}`,
			sample.Reading{Node: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse([]byte(tc.js))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !sameReading(got, tc.want) {
				t.Errorf("Parse:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, js, want string }{
		{"empty", ``, "variorum JSON: empty input"},
		{"blank", " \n\t", "variorum JSON: empty input"},
		{"not JSON", `power: 12 W`, "variorum JSON: not JSON: invalid character 'p'"},
		{"truncated", `{"h": {"power_node_watts": 12`, "variorum JSON: not JSON"},
		{"trailing garbage", `{"power_node_watts": 12} x`, "variorum JSON: not JSON"},
		{"array", `[{"power_node_watts": 1}]`, "variorum JSON: top level is an array, want an object"},
		{"number", `42`, "variorum JSON: top level is a number, want an object"},
		{"string", `"x"`, "variorum JSON: top level is a string, want an object"},
		{"empty object", `{}`, "variorum JSON: empty object: no power_node_watts and no socket data"},
		{"no data flat", `{"host": "h", "timestamp": 1}`, "variorum JSON: no power_node_watts and no socket data"},
		{"no data wrapped", `{"h": {"timestamp": 1}}`, "variorum JSON: no power_node_watts and no socket data"},
		{"no power in sockets", `{"h": {"socket_0": {"CPU": {"temp": 40}}}}`,
			"variorum JSON: no power_node_watts and no socket data"},
		{"host not an object", `{"h": 12}`, "variorum JSON: no power_node_watts and no socket data"},
		{"two hosts", `{"a": {"power_node_watts": 1}, "b": {"power_node_watts": 2}}`,
			`variorum JSON: 2 top-level objects ("a", "b"): want the one of a single host`},
		{"socket value string", `{"h": {"socket_0": {"power_cpu_watts": "100"}}}`,
			"variorum JSON: socket_0.power_cpu_watts is a string, want a number"},
		{"flat value boolean", `{"power_mem_watts_socket_1": true}`,
			"variorum JSON: power_mem_watts_socket_1 is a boolean, want a number"},
		{"node value object", `{"power_node_watts": {"w": 1}}`,
			"variorum JSON: power_node_watts is an object, want a number"},
		{"GPU value array", `{"h": {"socket_0": {"power_gpu_watts": [1, 2]}}}`,
			"variorum JSON: socket_0.power_gpu_watts is an array, want a number"},
		{"GPU entry string", `{"h": {"socket_0": {"power_gpu_watts": {"GPU_0": "5"}}}}`,
			"variorum JSON: socket_0.power_gpu_watts.GPU_0 is a string, want a number"},
		{"socket not an object", `{"h": {"socket_0": 100}}`,
			"variorum JSON: socket_0 is a number, want an object"},
		{"socket index too large", `{"h": {"socket_123456789": {"power_cpu_watts": 1}}}`,
			`variorum JSON: socket index in "socket_123456789" is too large`},
		{"flat socket index too large", `{"power_cpu_watts_socket_99999999999999999999": 1}`,
			`variorum JSON: socket index in "power_cpu_watts_socket_99999999999999999999" is too large`},
		{"flat and nested twice", `{"power_cpu_watts_socket_0": 1, "socket_0": {"power_cpu_watts": 2}}`,
			"variorum JSON: socket 0 CPU power given twice (again as socket_0.power_cpu_watts)"},
		{"unsuffixed and suffixed twice", `{"power_cpu_watts": 1, "power_cpu_watts_socket_0": 2}`,
			"variorum JSON: socket 0 CPU power given twice (again as power_cpu_watts_socket_0)"},
		{"node twice", `{"power_node_watts": 1, "power_node_watts": 2}`,
			"variorum JSON: power_node_watts given twice"},
		{"GPU twice", `{"h": {"socket_0": {"power_gpu_watts": {"GPU_0": 1, "GPU_0": 2}}}}`,
			"variorum JSON: socket_0.power_gpu_watts: GPU_0 given twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := Parse([]byte(tc.js))
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want an error", tc.js, r)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("Parse(%q) error\n got %q\nwant %q...", tc.js, err, tc.want)
			}
		})
	}
}

func TestHostname(t *testing.T) {
	for js, want := range map[string]string{
		`{"lassen708": {"power_node_watts": 1}}`:        "lassen708",
		`{"host": "quartz7", "power_node_watts": 1}`:    "quartz7",
		`{"power_node_watts": 1}`:                       "",
		`{"host": 12, "power_node_watts": 1}`:           "",
		`not json`:                                      "",
		`{"a": {"power_node_watts": 1}, "b": {"x": 1}}`: "",
	} {
		if got := Hostname([]byte(js)); got != want {
			t.Errorf("Hostname(%s) = %q, want %q", js, got, want)
		}
	}
}

// checkReading fails t when r breaks what Parse promises of any reading.
func checkReading(t *testing.T, r sample.Reading) {
	t.Helper()
	measured := 0.0
	anyMeasured := false
	for _, vs := range [][]float64{{r.Node}, r.CPU, r.Mem, r.GPU} {
		for _, v := range vs {
			if !math.IsNaN(v) && (v < 0 || math.IsInf(v, 0) || math.Signbit(v)) {
				t.Fatalf("value %v in %+v: want NaN or a finite value >= 0", v, r)
			}
		}
	}
	for _, vs := range [][]float64{r.CPU, r.Mem, r.GPU} {
		for _, v := range vs {
			if sample.Measured(v) {
				measured += v
				anyMeasured = true
			}
		}
	}
	if len(r.CPU) > 0 && len(r.Mem) > 0 && len(r.CPU) != len(r.Mem) {
		t.Fatalf("%d CPU and %d memory values: want one of each per socket", len(r.CPU), len(r.Mem))
	}
	if math.IsNaN(r.Node) && anyMeasured {
		t.Fatalf("node not derived although components are measured: %+v", r)
	}
	if r.NodeDerived {
		if !anyMeasured || !sameFloat(r.Node, measured) {
			t.Fatalf("derived node %v, components sum to %v: %+v", r.Node, measured, r)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, file := range files {
		js, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(js)
	}
	for _, s := range []string{
		``, `{}`, `[]`, `null`, `{"h": {}}`, `{"power_node_watts": -1}`,
		`{"h": {"socket_10": {"power_cpu_watts": 1}, "socket_2": {"power_gpu_watts": {"GPU_10": 1, "GPU_2": 2}}}}`,
		`{"power_cpu_watts_socket_0": 1, "power_gpu_watts_socket_3": 2, "power_cpu_watts": 3}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, js []byte) {
		_ = Hostname(js)
		r, err := Parse(js)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "variorum JSON: ") {
				t.Fatalf("error %q does not say where it comes from", err)
			}
			return
		}
		checkReading(t, r)
		again, err := Parse(js)
		if err != nil || !sameReading(r, again) {
			t.Fatalf("Parse is not deterministic: %+v then %+v, %v", r, again, err)
		}
	})
}

// TestParserReuse parses every fixture, and every document of TestParse,
// one after the other with one Parser into one reading, as the sampler
// does: each reading is what Parse makes of the document alone, and a
// document parsed again allocates nothing.
func TestParserReuse(t *testing.T) {
	var docs [][]byte
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		docs = append(docs, readFixture(t, filepath.Base(f)))
	}
	for _, s := range []string{
		`{"h": {"socket_10": {"power_cpu_watts": 1}, "socket_2": {"power_gpu_watts": {"GPU_10": 1, "GPU_2": 2, "x": 3}}}}`,
		`{"power_cpu_watts_socket_0": 1, "power_gpu_watts_socket_3": 2, "power_cpu_watts": 3}`,
		`{"h": {"socket_0": {"power_cpu_watts": 1, "power_cpu_watts": 2}}}`,
		`{"h": {"socket_1": {"power_gpu_watts": 4}, "socket_0": {}}}`,
	} {
		docs = append(docs, []byte(s))
	}
	var p Parser
	var r sample.Reading
	for round := range 2 {
		for i := range docs {
			js := docs[(i*7+round)%len(docs)] // another order each round
			want, wantErr := Parse(js)
			err := p.Parse(js, &r)
			if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
				t.Fatalf("%s: error %v, alone %v", js, err, wantErr)
			}
			if err == nil && !sameReading(r, want) {
				t.Errorf("%s: reused\n got %+v\nwant %+v", js, r, want)
			}
		}
	}
	js := docs[0]
	if n := testing.AllocsPerRun(100, func() {
		if err := p.Parse(js, &r); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations to parse %s again", n, js)
	}
}
