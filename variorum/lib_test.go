// SPDX-License-Identifier: LGPL-3.0-only

//go:build cgo

package variorum

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
)

// stubSource is the stand-in libvariorum's source, from this package.
var stubSource = filepath.Join("..", "t", "variorum-stub", "variorum-stub.c")

// buildStub compiles the stub into a temporary directory with cc and extra
// flags, and returns the library's path. It skips the test without cc.
func buildStub(t testing.TB, flags ...string) string {
	t.Helper()
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	if _, err := exec.LookPath(cc); err != nil {
		t.Skipf("no C compiler (%s) to build the libvariorum stub: %v", cc, err)
	}
	src, err := filepath.Abs(stubSource)
	if err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(t.TempDir(), "libvariorum.so")
	args := append([]string{"-shared", "-fPIC", "-o", lib}, flags...)
	out, err := exec.Command(cc, append(args, src)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", cc, strings.Join(args, " "), err, out)
	}
	return lib
}

func openStub(t testing.TB, flags ...string) *Lib {
	t.Helper()
	l, err := Open(buildStub(t, flags...))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return l
}

// stubEnv clears every stub variable and then sets kv (name, value, ...).
func stubEnv(t *testing.T, kv ...string) {
	t.Helper()
	for _, e := range os.Environ() {
		if name, _, _ := strings.Cut(e, "="); strings.HasPrefix(name, "VARIORUM_STUB_") {
			t.Setenv(name, "")
		}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		t.Setenv(kv[i], kv[i+1])
	}
}

func repeat(v float64, n int) []float64 {
	if n == 0 {
		return nil
	}
	vs := make([]float64, n)
	for i := range vs {
		vs[i] = v
	}
	return vs
}

func TestStubShapes(t *testing.T) {
	l := openStub(t)
	if l.Symbol() != SymbolPowerJSON {
		t.Errorf("Symbol() = %q, want %q", l.Symbol(), SymbolPowerJSON)
	}
	if !strings.HasSuffix(l.Path(), "libvariorum.so") || !filepath.IsAbs(l.Path()) {
		t.Errorf("Path() = %q, want the absolute path of the stub", l.Path())
	}
	host, _ := os.Hostname()

	for _, tc := range []struct {
		name string
		env  []string
		want sample.Reading
	}{
		{"default", nil, sample.Reading{Node: 440,
			CPU: repeat(100, 2), Mem: repeat(20, 2), GPU: repeat(50, 4)}},
		{"nested", []string{"VARIORUM_STUB_SHAPE", "nested", "VARIORUM_STUB_SOCKETS", "3",
			"VARIORUM_STUB_GPUS", "4", "VARIORUM_STUB_CPU_WATTS", "150.5",
			"VARIORUM_STUB_MEM_WATTS", "30.25", "VARIORUM_STUB_GPU_WATTS", "300"},
			sample.Reading{Node: 3*(150.5+30.25) + 12*300,
				CPU: repeat(150.5, 3), Mem: repeat(30.25, 3), GPU: repeat(300, 12)}},
		{"nested without GPUs", []string{"VARIORUM_STUB_GPUS", "0"},
			sample.Reading{Node: 240, CPU: repeat(100, 2), Mem: repeat(20, 2)}},
		{"nested, 11 sockets", []string{"VARIORUM_STUB_SOCKETS", "11", "VARIORUM_STUB_GPUS", "1"},
			sample.Reading{Node: 11 * 170, CPU: repeat(100, 11), Mem: repeat(20, 11), GPU: repeat(50, 11)}},
		{"nested-gpu-number", []string{"VARIORUM_STUB_SHAPE", "nested-gpu-number"},
			sample.Reading{Node: 440, CPU: repeat(100, 2), Mem: repeat(20, 2), GPU: repeat(100, 2)}},
		{"nested-gpu-number without GPUs", []string{"VARIORUM_STUB_SHAPE", "nested-gpu-number", "VARIORUM_STUB_GPUS", "0"},
			sample.Reading{Node: 240, CPU: repeat(100, 2), Mem: repeat(20, 2), GPU: repeat(nan, 2)}},
		{"gpu-only", []string{"VARIORUM_STUB_SHAPE", "gpu-only"},
			sample.Reading{Node: 200, NodeDerived: true, GPU: repeat(50, 4)}},
		{"gpu-only with node", []string{"VARIORUM_STUB_SHAPE", "gpu-only", "VARIORUM_STUB_NODE_WATTS", "900"},
			sample.Reading{Node: 900, GPU: repeat(50, 4)}},
		{"flat", []string{"VARIORUM_STUB_SHAPE", "flat"},
			sample.Reading{Node: 440, CPU: repeat(100, 2), Mem: repeat(20, 2), GPU: repeat(100, 2)}},
		{"flat without GPUs", []string{"VARIORUM_STUB_SHAPE", "flat", "VARIORUM_STUB_GPUS", "0"},
			sample.Reading{Node: 240, CPU: repeat(100, 2), Mem: repeat(20, 2), GPU: repeat(nan, 2)}},
		{"node not measured", []string{"VARIORUM_STUB_NODE_WATTS", "-1"},
			sample.Reading{Node: 440, NodeDerived: true,
				CPU: repeat(100, 2), Mem: repeat(20, 2), GPU: repeat(50, 4)}},
		{"node left out", []string{"VARIORUM_STUB_NODE_WATTS", "none", "VARIORUM_STUB_SHAPE", "flat"},
			sample.Reading{Node: 440, NodeDerived: true,
				CPU: repeat(100, 2), Mem: repeat(20, 2), GPU: repeat(100, 2)}},
		{"node given", []string{"VARIORUM_STUB_NODE_WATTS", "612.5"},
			sample.Reading{Node: 612.5, CPU: repeat(100, 2), Mem: repeat(20, 2), GPU: repeat(50, 4)}},
		{"memory not measured", []string{"VARIORUM_STUB_MEM_WATTS", "-1"},
			sample.Reading{Node: 400, CPU: repeat(100, 2), Mem: repeat(nan, 2), GPU: repeat(50, 4)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stubEnv(t, tc.env...)
			js, err := l.PowerJSON()
			if err != nil {
				t.Fatalf("PowerJSON: %v", err)
			}
			got, err := Parse(js)
			if err != nil {
				t.Fatalf("Parse: %v\n%s", err, js)
			}
			if !sameReading(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v\n%s", got, tc.want, js)
			}
			if h := Hostname(js); h != host {
				t.Errorf("Hostname = %q, want %q", h, host)
			}
		})
	}
}

// The v0.6/v0.7 API: only variorum_get_node_power_json, flat by default.
func TestStubNodePowerJSON(t *testing.T) {
	stubEnv(t)
	l := openStub(t, "-DVARIORUM_STUB_API=7")
	if l.Symbol() != SymbolNodePowerJSON {
		t.Fatalf("Symbol() = %q, want %q", l.Symbol(), SymbolNodePowerJSON)
	}
	js, err := l.PowerJSON()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(js), `{"host": `) || strings.Contains(string(js), "\n") {
		t.Errorf("want v0.6/v0.7's one-line flat JSON, got %s", js)
	}
	got, err := Parse(js)
	if err != nil {
		t.Fatal(err)
	}
	want := sample.Reading{Node: 440, CPU: repeat(100, 2), Mem: repeat(20, 2), GPU: repeat(100, 2)}
	if !sameReading(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// A v0.5 library's variorum_get_node_power_json takes a json_t*: refuse it.
func TestOpenRefusesV05(t *testing.T) {
	lib := buildStub(t, "-DVARIORUM_STUB_API=5")
	l, err := Open(lib)
	if err == nil {
		l.Close()
		t.Fatal("Open of a v0.5 library succeeded")
	}
	t.Log(err)
	for _, s := range []string{lib, "older than Variorum v0.6.0", "json_t*"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %q", err, s)
		}
	}
}

func TestStubFailures(t *testing.T) {
	l := openStub(t)
	// A non-zero return says where Variorum printed its reason.
	const failed = "variorum: variorum_get_power_json returned -1 (Variorum printed its reason on standard error, " +
		"the broker's for the module: the journal for a system instance, journalctl -u flux. " +
		"To see it, run: flux start -s1 flux module load power-monitor --source=variorum)"
	for _, tc := range []struct{ fail, want string }{
		{"1", failed},
		{"2", failed},
		{"3", "variorum: variorum_get_power_json returned 0 but no JSON string"},
	} {
		stubEnv(t, "VARIORUM_STUB_FAIL", tc.fail)
		js, err := l.PowerJSON()
		if err == nil || err.Error() != tc.want {
			t.Errorf("VARIORUM_STUB_FAIL=%s: PowerJSON = %q, %v; want error %q", tc.fail, js, err, tc.want)
		}
	}
	stubEnv(t, "VARIORUM_STUB_SHAPE", "no-such-shape")
	if _, err := l.PowerJSON(); err == nil {
		t.Error("unknown shape: want an error")
	}
	stubEnv(t)
	if _, err := l.PowerJSON(); err != nil {
		t.Errorf("after failures: %v", err)
	}
}

func TestStubDelay(t *testing.T) {
	l := openStub(t)
	stubEnv(t, "VARIORUM_STUB_DELAY_MS", "150")
	start := time.Now()
	if _, err := l.PowerJSON(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("PowerJSON took %v, want at least 150ms", d)
	}
}

func TestOpenMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-dir", "libvariorum.so")
	l, err := Open(missing)
	if err == nil {
		l.Close()
		t.Fatalf("Open(%q) succeeded", missing)
	}
	t.Log(err)
	if !strings.Contains(err.Error(), missing) {
		t.Errorf("error %q does not name %s", err, missing)
	}
	if !strings.Contains(err.Error(), "No such file") && !strings.Contains(err.Error(), "no such file") {
		t.Logf("error %q: expected dlerror's reason", err)
	}
}

func TestOpenNotALibrary(t *testing.T) {
	stubEnv(t)
	bogus := filepath.Join(t.TempDir(), "libvariorum.so")
	if err := os.WriteFile(bogus, []byte("not an ELF file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if l, err := Open(bogus); err == nil {
		l.Close()
		t.Fatal("Open of a text file succeeded")
	} else if !strings.Contains(err.Error(), bogus) {
		t.Errorf("error %q does not name %s", err, bogus)
	}
}

// Open("") goes through the linker's search path. Where no libvariorum is
// installed, the error lists every default name tried; where one is, it
// must load.
func TestOpenDefault(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux only")
	}
	l, err := Open("")
	if err == nil {
		t.Logf("a libvariorum is installed: %s (%s)", l.Path(), l.Symbol())
		l.Close()
		return
	}
	t.Log(err)
	for _, name := range defaultNames {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestClose(t *testing.T) {
	stubEnv(t)
	l, err := Open(buildStub(t))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.PowerJSON(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := l.PowerJSON(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Errorf("PowerJSON after Close: %v, want a closed error", err)
	}
}

// A Lib serialises its own calls: concurrent PowerJSON calls are safe.
func TestConcurrentPowerJSON(t *testing.T) {
	stubEnv(t)
	l := openStub(t)
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 25; i++ {
				js, err := l.PowerJSON()
				if err == nil {
					_, err = Parse(js)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
