// SPDX-License-Identifier: LGPL-3.0-only

//go:build cgo

package source

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// buildNVMLStub compiles testdata/nvml-stub.c against go-nvml's nvml.h
// (vendored in nvmlshim/third_party/nvml, as the Makefile's stub does; a
// test there checks it is go-nvml's) into a library that stands in for
// libnvidia-ml.so.1.
func buildNVMLStub(t *testing.T) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		if cc, err = exec.LookPath("gcc"); err != nil {
			t.Skip("no C compiler")
		}
	}
	inc := filepath.Join("..", "nvmlshim", "third_party", "nvml")
	lib := filepath.Join(t.TempDir(), "libnvidia-ml.so.1")
	// The soname is the real library's, which is how package nvmlshim's
	// trampolines find it once go-nvml has loaded it.
	cmd := exec.Command(cc, "-std=gnu99", "-Wall", "-shared", "-fPIC", "-Wl,-soname,libnvidia-ml.so.1", "-I", inc, "-o", lib, filepath.Join("testdata", "nvml-stub.c"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd, err, b)
	}
	return lib
}

// TestNVMLStubLibrary drives go-nvml (through package nvmlshim's
// trampolines) against a library built with NVIDIA's header: the structures
// it fills (nvmlFieldValue_t, nvmlPciInfo_t) must read back as it wrote
// them. Its NVML index order is not PCI order: the reading's GPUs must be in
// PCI order (the P100 at 0000:17:00.0 first), as flux-core numbers them.
func TestNVMLStubLibrary(t *testing.T) {
	path := buildNVMLStub(t)
	lib := newGoNVML(path)
	n, err := openNVML(lib)
	if err != nil {
		t.Fatal(err)
	}
	want := "nvml (2 GPUs; GPU 0: power usage (instantaneous), no energy counter; GPU 1: power instant, energy counter; " +
		"gpu0=0000:17:00.0 gpu1=0000:3b:00.0)"
	if got := n.Name(); got != want {
		t.Errorf("Name %q, want %q", got, want)
	}
	if v := lib.DriverVersion(); v != "535.104.05-stub" {
		t.Errorf("driver version %q", v)
	}
	g := n.GPUs()
	if g[0].Name != "Tesla P100-PCIE-16GB" || g[0].NVMLIndex != 1 || g[0].BusID != "0000:17:00.0" ||
		g[1].Name != "NVIDIA H100 80GB HBM3" || g[1].NVMLIndex != 0 || g[1].BusID != "0000:3b:00.0" ||
		g[0].InstantReason != "instant power field: Not Supported" {
		t.Errorf("GPUs %+v, want the P100 (NVML index 1, 0000:17:00.0) first", g)
	}
	d, _ := lib.Device(0)
	if a, err := d.PCIAddress(); a != (pciAddr{Bus: 0x3b}) || err != nil {
		t.Errorf("NVML device 0: PCI address %v %v, want 0000:3b:00.0", a, err)
	}
	if a, err := d.Architecture(); a != 9 || err != nil {
		t.Errorf("architecture %d %v, want 9 (Hopper)", a, err)
	}
	if id, err := d.PCIDeviceID(); id != 0x233010de || err != nil {
		t.Errorf("PCI device id %#x %v, want 0x233010de", id, err)
	}
	f := []nvmlField{{ID: nvmlFieldPowerInstant}, {ID: 999}}
	if err := d.FieldValues(f); err != nil || f[0].Return != nvmlSuccess || f[0].Type != nvmlValueUnsignedInt || f[1].Return != 2 {
		t.Errorf("fields %+v %v", f, err)
	}
	for i, wantE := range []float64{1, 2} {
		r, err := readNew(n)
		if err != nil {
			t.Fatal(err)
		}
		if !eqf(r.GPU, []float64{180.5, 612.345}) || !eqf(r.Energy.GPU, []float64{math.NaN(), wantE}) {
			t.Errorf("read %d: %v W %v J", i, r.GPU, r.Energy.GPU)
		}
	}
	if err := n.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}

	// A GPU lost after Open: the reading fails with NVML's words.
	t.Setenv("NVML_STUB_LOST", "1")
	n, err = openNVML(newGoNVML(path))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if _, err := readNew(n); err == nil || err.Error() != "GPU 0 (0000:17:00.0): power usage: GPU is lost" {
		t.Errorf("error %v", err)
	}
}

func TestNVMLLibraryErrors(t *testing.T) {
	_, err := openNVML(newGoNVML("/nonexistent/libnvidia-ml.so.1"))
	if want := "nvml: cannot load libnvidia-ml.so.1: /nonexistent/libnvidia-ml.so.1: cannot open shared object file: No such file or directory"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	// A library that is not NVML.
	if _, err := exec.LookPath("cc"); err != nil {
		t.Skip("no C compiler")
	}
	dir := t.TempDir()
	src, lib := filepath.Join(dir, "x.c"), filepath.Join(dir, "libx.so")
	os.WriteFile(src, []byte("int nvmlInit_v2(void) { return 0; }\n"), 0o644)
	if b, err := exec.Command("cc", "-shared", "-fPIC", "-o", lib, src).CombinedOutput(); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	_, err = openNVML(newGoNVML(lib))
	// go-nvml loads it, but it is not libnvidia-ml.so.1: NVML's calls
	// find no function (NVML_ERROR_FUNCTION_NOT_FOUND, 13).
	if err == nil || err.Error() != "nvml: init: NVML return code 13" {
		t.Errorf("error %v", err)
	}
}
