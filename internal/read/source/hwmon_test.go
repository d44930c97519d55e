// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func hwmonFile(root, dev, file string) string {
	return filepath.Join(root, "class", "hwmon", dev, file)
}

const hwmonFixtureName = "hwmon (2 GPUs: gpu0=0000:41:00.0 hwmon10 amdgpu power1_input, " +
	"gpu1=0000:c1:00.0 hwmon2 amdgpu power1_average+energy1_input; " +
	"node: hwmon0 power_meter power1_average (1000 ms average); ignored: hwmon3 ina2xx)"

// Two GPUs, numbered in PCI order as flux-core numbers them (hwmon10 at
// 0000:41:00.0 is gpu 0, hwmon2 at 0000:c1:00.0 gpu 1: not hwmon index
// order), the ACPI power meter as the node, an energy counter that resets.
func TestHwmon(t *testing.T) {
	root := sysfsFixture(t, "sysfs-hwmon.txt")
	clk := newSysfsClock()
	h, err := openHwmon(root, os.ReadFile, os.ReadDir, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Name(); got != hwmonFixtureName {
		t.Errorf("Name() = %q,\nwant %q", got, hwmonFixtureName)
	}
	energy := hwmonFile(root, "hwmon2", "energy1_input")

	clk.advance(time.Second)
	sysfsSet(t, energy, 5_187_000_000)
	sysfsSet(t, hwmonFile(root, "hwmon2", "power1_average"), 190_000_000)
	sysfsSet(t, hwmonFile(root, "hwmon0", "device/power1_average"), 415_250_000)
	rd, err := readNew(h)
	if err != nil {
		t.Fatal(err)
	}
	checkFloat(t, "Node", rd.Node, 415.25)
	if rd.NodeDerived {
		t.Error("NodeDerived set for a measured node")
	}
	checkFloats(t, "CPU", rd.CPU, nil)
	checkFloats(t, "Mem", rd.Mem, nil)
	checkFloats(t, "GPU", rd.GPU, []float64{95.5, 190})
	if rd.Energy == nil {
		t.Fatal("Energy is nil with an energy counter")
	}
	checkFloat(t, "Energy.Node", rd.Energy.Node, nanW)
	checkFloats(t, "Energy.GPU", rd.Energy.GPU, []float64{nanW, 187})

	// The driver is reloaded: the counter starts again from 0 and is at
	// 2 J by the next read.
	clk.advance(time.Second)
	sysfsSet(t, energy, 2_000_000)
	if rd, err = readNew(h); err != nil {
		t.Fatal(err)
	}
	checkFloats(t, "Energy.GPU after a reset", rd.Energy.GPU, []float64{nanW, 189})
	clk.advance(time.Second)
	sysfsSet(t, energy, 12_500_000)
	if rd, err = readNew(h); err != nil {
		t.Fatal(err)
	}
	checkFloats(t, "Energy.GPU", rd.Energy.GPU, []float64{nanW, 199.5})
	if resets, unavailable := h.Resets(); resets != 1 || unavailable != 0 {
		t.Errorf("Resets() = %d, %d; want 1, 0", resets, unavailable)
	}
}

// A read the driver refuses for the moment (amdgpu answers EPERM while the
// GPU is runtime-suspended) is NaN for that GPU, and the energy counter
// catches up at the next read; any other error fails the read.
func TestHwmonRefused(t *testing.T) {
	root := sysfsFixture(t, "sysfs-hwmon.txt")
	refuse := map[string]error{}
	readFile := func(p string) ([]byte, error) {
		if err := refuse[p]; err != nil {
			return nil, &fs.PathError{Op: "read", Path: p, Err: err}
		}
		return os.ReadFile(p)
	}
	clk := newSysfsClock()
	h, err := openHwmon(root, readFile, os.ReadDir, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	energy := hwmonFile(root, "hwmon2", "energy1_input")
	refuse[hwmonFile(root, "hwmon10", "power1_input")] = syscall.EPERM
	refuse[energy] = syscall.EPERM
	clk.advance(time.Second)
	sysfsAdd(t, energy, 10_000_000)
	rd, err := readNew(h)
	if err != nil {
		t.Fatal(err)
	}
	checkFloats(t, "GPU", rd.GPU, []float64{nanW, 187})
	checkFloats(t, "Energy.GPU", rd.Energy.GPU, []float64{nanW, 0})
	if _, unavailable := h.Resets(); unavailable != 2 {
		t.Errorf("unavailable = %d, want 2", unavailable)
	}

	delete(refuse, hwmonFile(root, "hwmon10", "power1_input"))
	delete(refuse, energy)
	clk.advance(time.Second)
	sysfsAdd(t, energy, 5_000_000)
	if rd, err = readNew(h); err != nil {
		t.Fatal(err)
	}
	checkFloats(t, "GPU", rd.GPU, []float64{95.5, 187})
	checkFloats(t, "Energy.GPU", rd.Energy.GPU, []float64{nanW, 15})

	meter := hwmonFile(root, "hwmon0", "device/power1_average")
	refuse[meter] = syscall.EIO
	_, err = readNew(h)
	if want := "hwmon: " + meter + ": input/output error"; err == nil || err.Error() != want {
		t.Errorf("Read with %s failing: error %v, want %q", meter, err, want)
	}
	if !errors.Is(err, syscall.EIO) {
		t.Errorf("error %v does not wrap EIO", err)
	}
}

// A GPU with an energy counter and no power file gets its power from the
// counter.
func TestHwmonEnergyOnly(t *testing.T) {
	root := sysfsFixture(t, "sysfs-hwmon.txt")
	if err := os.Remove(hwmonFile(root, "hwmon2", "power1_average")); err != nil {
		t.Fatal(err)
	}
	clk := newSysfsClock()
	h, err := openHwmon(root, os.ReadFile, os.ReadDir, clk.now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := h.Name(), strings.Replace(hwmonFixtureName, "power1_average+energy1_input", "energy1_input", 1); got != want {
		t.Errorf("Name() = %q,\nwant %q", got, want)
	}
	clk.advance(500 * time.Millisecond)
	sysfsAdd(t, hwmonFile(root, "hwmon2", "energy1_input"), 50_000_000)
	rd, err := readNew(h)
	if err != nil {
		t.Fatal(err)
	}
	checkFloats(t, "GPU", rd.GPU, []float64{95.5, 100})
	checkFloats(t, "Energy.GPU", rd.Energy.GPU, []float64{nanW, 50})
}

// An amdgpu whose device is not a PCI address cannot be placed among R's
// GPUs: it is ignored, with the reason, and the others keep PCI order.
func TestHwmonNoPCIAddress(t *testing.T) {
	for _, c := range []struct{ what, target, why string }{
		{"no device link", "", "readlink ROOT/class/hwmon/hwmon2/device: no such file or directory"},
		{"not a PCI device", "../../../amdgpu.0", `"amdgpu.0" is not a PCI address (domain:bus:device.function)`},
	} {
		t.Run(c.what, func(t *testing.T) {
			root := sysfsFixture(t, "sysfs-hwmon.txt")
			link := hwmonFile(root, "hwmon2", "device")
			if err := os.Remove(link); err != nil {
				t.Fatal(err)
			}
			if c.target != "" {
				if err := os.Symlink(c.target, link); err != nil {
					t.Fatal(err)
				}
			}
			h, err := openHwmon(root, os.ReadFile, os.ReadDir, newSysfsClock().now)
			if err != nil {
				t.Fatal(err)
			}
			want := "hwmon (1 GPU: gpu0=0000:41:00.0 hwmon10 amdgpu power1_input; " +
				"node: hwmon0 power_meter power1_average (1000 ms average); " +
				"ignored: hwmon2 amdgpu (no PCI address: " + strings.ReplaceAll(c.why, "ROOT", root) + "), hwmon3 ina2xx)"
			if got := h.Name(); got != want {
				t.Errorf("Name() = %q,\nwant %q", got, want)
			}
			rd, err := readNew(h)
			if err != nil {
				t.Fatal(err)
			}
			checkFloats(t, "GPU", rd.GPU, []float64{95.5})
		})
	}
}

func TestHwmonNone(t *testing.T) {
	dev := func(root, entry, name string, files ...string) error {
		d := filepath.Join(root, "devices", "platform", entry)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		for _, f := range append([]string{"name " + name}, files...) {
			k, v, _ := strings.Cut(f, " ")
			if err := os.WriteFile(filepath.Join(d, k), []byte(v+"\n"), 0o444); err != nil {
				return err
			}
		}
		if err := os.MkdirAll(filepath.Join(root, "class", "hwmon"), 0o755); err != nil {
			return err
		}
		return os.Symlink("../../devices/platform/"+entry, filepath.Join(root, "class", "hwmon", entry))
	}
	for _, tc := range []struct {
		what   string
		setup  func(root string) error
		suffix string
	}{
		{"no class/hwmon", func(string) error { return nil }, ""},
		{"temperatures only", func(root string) error {
			return dev(root, "hwmon0", "coretemp", "temp1_input 45000")
		}, ""},
		{"a power sensor of unknown meaning", func(root string) error {
			if err := dev(root, "hwmon0", "coretemp", "temp1_input 45000"); err != nil {
				return err
			}
			return dev(root, "hwmon1", "ina2xx", "power1_input 12000000")
		}, " (ignored: hwmon1 ina2xx)"},
	} {
		t.Run(tc.what, func(t *testing.T) {
			root := t.TempDir()
			if err := tc.setup(root); err != nil {
				t.Fatal(err)
			}
			_, err := OpenHwmon(root)
			want := "hwmon: no power or energy sensors under " + root + "/class/hwmon" + tc.suffix
			if err == nil || err.Error() != want {
				t.Errorf("OpenHwmon: error %v, want %q", err, want)
			}
		})
	}
}
