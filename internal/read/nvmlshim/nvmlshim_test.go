// SPDX-License-Identifier: LGPL-3.0-only

package nvmlshim

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// goNVML is the go-nvml module that go.mod names: its version and where
// the module cache holds it.
func goNVML(t *testing.T) (version, dir string) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}} {{.Dir}}", "github.com/NVIDIA/go-nvml").Output()
	if err != nil {
		t.Fatalf("go list -m github.com/NVIDIA/go-nvml: %v", err)
	}
	version, dir, ok := strings.Cut(strings.TrimSpace(string(out)), " ")
	if !ok || dir == "" {
		t.Fatalf("go list -m github.com/NVIDIA/go-nvml: %q: the module is not in the module cache (go mod download)", out)
	}
	return version, dir
}

// The vendored header is the nvml.h of the go-nvml version in go.mod: the
// trampolines must declare what go-nvml calls.
func TestHeaderMatchesGoNVML(t *testing.T) {
	version, dir := goNVML(t)
	want, err := os.ReadFile(filepath.Join(dir, "pkg", "nvml", "nvml.h"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join("third_party", "nvml", "nvml.h"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("third_party/nvml/nvml.h is not the nvml.h of github.com/NVIDIA/go-nvml %s (go.mod): run go generate ./internal/read/nvmlshim", version)
	}
}

// shim.c is what gen.go writes from the vendored header.
func TestShimIsGenerated(t *testing.T) {
	out := t.TempDir()
	cmd := exec.Command("go", "run", "gen.go", "-header", filepath.Join("third_party", "nvml", "nvml.h"), "-out", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run gen.go: %v\n%s", err, b)
	}
	want, err := os.ReadFile(filepath.Join(out, "shim.c"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("shim.c")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("shim.c is not what gen.go writes from third_party/nvml/nvml.h: run go generate ./internal/read/nvmlshim")
	}
	if n := bytes.Count(got, []byte(" = pm_nvml_sym(\"nvml")); n < 300 {
		t.Fatalf("shim.c has %d trampolines; the header declares about 400", n)
	}
	for _, fn := range []string{"nvmlInit_v2", "nvmlDeviceGetPowerUsage", "nvmlDeviceGetTotalEnergyConsumption", "nvmlErrorString"} {
		if !bytes.Contains(got, []byte("pm_nvml_sym(\""+fn+"\")")) {
			t.Errorf("shim.c has no trampoline for %s", fn)
		}
	}
}
