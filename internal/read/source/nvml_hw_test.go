// SPDX-License-Identifier: LGPL-3.0-only

//go:build cgo

package source

import (
	"os"
	"testing"
	"time"
)

// TestNVMLHardware reports what the real GPUs of this machine do, to check
// the behaviour the fake table in nvml_test.go encodes. It runs only with
// PM_NVML_HARDWARE=1 (go test -v -run NVMLHardware ./source/).
func TestNVMLHardware(t *testing.T) {
	if os.Getenv("PM_NVML_HARDWARE") != "1" {
		t.Skip("set PM_NVML_HARDWARE=1 to probe the real GPUs")
	}
	n, err := OpenNVML()
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	t.Logf("source: %s", n.Name())
	lib := n.lib
	if d, ok := lib.(*goNVML); ok {
		t.Logf("driver %s", d.DriverVersion())
	}
	for _, sym := range []string{"nvmlDeviceGetFieldValues", "nvmlDeviceGetTotalEnergyConsumption", "nvmlDeviceGetArchitecture"} {
		t.Logf("symbol %s: %v", sym, lib.HasSymbol(sym))
	}

	type probe struct {
		instant, usage float64
		instErr        string
		usageErr       error
		energy         uint64
		energyErr      error
		at             time.Time
	}
	take := func(d nvmlDev) probe {
		var p probe
		p.at = time.Now()
		if w, err := n.instant(d); err != nil {
			p.instErr = err.Error()
		} else {
			p.instant = w
		}
		mw, err := d.PowerUsage()
		p.usage, p.usageErr = float64(mw)/1000, err
		p.energy, p.energyErr = d.TotalEnergyConsumption()
		return p
	}

	gpus := n.GPUs()
	devs := make([]nvmlDev, len(gpus))
	first := make([]probe, len(gpus))
	for i, g := range gpus {
		d, err := lib.Device(g.NVMLIndex)
		if err != nil {
			t.Fatalf("GPU %d (NVML device %d): %v", i, g.NVMLIndex, err)
		}
		devs[i] = d
		arch, aerr := d.Architecture()
		pci, perr := d.PCIDeviceID()
		t.Logf("GPU %d: NVML device %d at %s: %q arch %d (%v) pci device 0x%04x (%v): method %s, instant reason %q, energy counter %v",
			i, g.NVMLIndex, g.BusID, g.Name, arch, aerr, pci>>16, perr, g.Power, g.InstantReason, g.Energy)
		f := []nvmlField{{ID: nvmlFieldPowerInstant}}
		err = d.FieldValues(f)
		t.Logf("GPU %d: FieldValues(POWER_INSTANT): call %v, field return %d (%s), value type %d, raw % x",
			i, err, f[0].Return, lib.ErrorString(f[0].Return), f[0].Type, f[0].Value)
		first[i] = take(d)
	}
	time.Sleep(time.Second)
	for i, d := range devs {
		a, b := first[i], take(d)
		t.Logf("GPU %d: instant %.3f W -> %.3f W (%s); GetPowerUsage %.3f W -> %.3f W (%v)",
			i, a.instant, b.instant, b.instErr, a.usage, b.usage, b.usageErr)
		if a.energyErr != nil || b.energyErr != nil {
			t.Logf("GPU %d: energy counter: %v / %v", i, a.energyErr, b.energyErr)
			continue
		}
		dt := b.at.Sub(a.at).Seconds()
		de := float64(b.energy-a.energy) / 1000
		t.Logf("GPU %d: energy %d mJ -> %d mJ: %.3f J in %.3f s = %.3f W mean", i, a.energy, b.energy, de, dt, de/dt)
	}
	r, err := readNew(n)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Read: GPU %v W, energy since Open %v J", r.GPU, r.Energy)
}
