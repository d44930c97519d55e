// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
)

// Hwmon reads power meters and energy counters of the hwmon class
// (ROOT/class/hwmon/hwmonN, symlinks into the devices tree), in the units of
// Documentation/hwmon/sysfs-interface.rst: power*_input (instantaneous) and
// power*_average in microwatts, energy*_input (cumulative) in microjoules.
//
// Mapping: devices named "amdgpu" are GPUs, one per device, numbered in the
// order of their PCI addresses (the target of hwmonN/device,
// .../0000:c1:00.0) as flux-core numbers GPUs (gpuorder.go), not in hwmon
// index order; one without a PCI address is ignored, since which of R's
// GPUs it is cannot be known. Their power is power1_average, else power1_input (amdgpu exposes
// the one its firmware supports; "On APUs this includes the CPU"), and an
// energy*_input is that GPU's counter. Devices named "power_meter" (the ACPI
// 4.0 power meter driver, ACPI000D) are the node: their power*_average
// (averaged over power1_average_interval ms by the firmware) is Node, summed
// when there are several. Other devices with power or energy files are
// listed in Name as ignored, since what they measure (a rail, a board, a
// CPU) is not known here.
//
// Energy counters are 64-bit and are not unwrapped; a decrease is a reset
// (driver reload, device reset): the count goes on from the new value and
// the reset is counted. A read that a driver refuses for the moment (EPERM:
// amdgpu when the GPU is runtime-suspended or in reset; ENODATA: a disabled
// sensor; EAGAIN, EBUSY) gives NaN for that device in that reading; any other
// error fails the read.
type Hwmon struct {
	sysfsFS
	gpus    []*hwmonDev
	meters  []*hwmonDev
	ignored []string // "hwmon3 nouveau"

	resets      uint64
	unavailable uint64

	all []*hwmonDev // gpus then meters
	got []hwmonRead // what each of all gave, at the last Read
}

// hwmonDev is one hwmon device that is read.
type hwmonDev struct {
	entry    string // hwmon3
	num      int
	dir      string  // where name and the attributes are
	name     string  // amdgpu, power_meter
	power    string  // attribute read for power; "" none
	energy   string  // attribute read for energy; "" none
	interval string  // averaging interval of power, e.g. "1000 ms"
	pci      pciAddr // a GPU's PCI address

	primed bool      // prev holds a reading of energy
	prev   uint64    // last energy µJ
	prevT  time.Time // time of prev
	total  uint64    // µJ since Open
}

var (
	hwmonPowerFile  = regexp.MustCompile(`^power([0-9]+)_(input|average)$`)
	hwmonEnergyFile = regexp.MustCompile(`^energy([0-9]+)_input$`)
)

// OpenHwmon finds the power meters under sysfsRoot ("" means "/sys") and
// takes a first reading.
func OpenHwmon(sysfsRoot string) (*Hwmon, error) {
	return openHwmon(sysfsRoot, os.ReadFile, os.ReadDir, time.Now)
}

func openHwmon(sysfsRoot string, readFile func(string) ([]byte, error), readDir func(string) ([]os.DirEntry, error), now func() time.Time) (*Hwmon, error) {
	h := &Hwmon{sysfsFS: newSysfsFS("hwmon", sysfsRoot, readFile, readDir, now)}
	if err := h.discover(); err != nil {
		return nil, err
	}
	if err := h.Read(&sample.Reading{}); err != nil {
		return nil, err
	}
	return h, nil
}

func (h *Hwmon) discover() error {
	dir := filepath.Join(h.root, "class", "hwmon")
	ents, err := h.readDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return h.pathError(dir, err)
	}
	var devs []*hwmonDev
	for _, de := range ents {
		n, ok := strings.CutPrefix(de.Name(), "hwmon")
		num, err := strconv.Atoi(n)
		if !ok || err != nil {
			continue
		}
		devs = append(devs, &hwmonDev{entry: de.Name(), num: num})
	}
	sort.Slice(devs, func(i, j int) bool { return devs[i].num < devs[j].num })
	for _, d := range devs {
		if err := h.classify(filepath.Join(dir, d.entry), d); err != nil {
			return err
		}
	}
	sort.SliceStable(h.gpus, func(i, j int) bool { return h.gpus[i].pci.less(h.gpus[j].pci) })
	if len(h.gpus) == 0 && len(h.meters) == 0 {
		msg := fmt.Sprintf("hwmon: no power or energy sensors under %s", dir)
		if len(h.ignored) > 0 {
			msg += " (ignored: " + strings.Join(h.ignored, ", ") + ")"
		}
		return errors.New(msg)
	}
	return nil
}

// classify finds a device's attributes and decides what it is. Drivers on
// the current hwmon API put name and attributes in hwmonN itself; older ones
// (acpi_power_meter among them) put them in the parent device, hwmonN/device.
func (h *Hwmon) classify(entryDir string, d *hwmonDev) error {
	for _, dir := range []string{entryDir, filepath.Join(entryDir, "device")} {
		name, err := h.readFile(filepath.Join(dir, "name"))
		if err == nil {
			d.dir, d.name = dir, strings.TrimSpace(string(name))
			break
		}
	}
	if d.dir == "" {
		return nil // no name: not a sensor chip
	}
	files, err := h.readDir(d.dir)
	if err != nil {
		return h.pathError(d.dir, err)
	}
	power := map[string]bool{}
	var energies []string
	for _, f := range files {
		switch n := f.Name(); {
		case hwmonPowerFile.MatchString(n):
			power[n] = true
		case hwmonEnergyFile.MatchString(n):
			energies = append(energies, n)
		}
	}
	if len(power) == 0 && len(energies) == 0 {
		return nil
	}
	sort.Slice(energies, func(i, j int) bool { return hwmonChannel(energies[i]) < hwmonChannel(energies[j]) })
	switch d.name {
	case "amdgpu":
		d.power = hwmonFirstOf(power, "power1_average", "power1_input")
	case "power_meter":
		d.power = hwmonLowest(power, "_average")
		if d.power == "" {
			d.power = hwmonLowest(power, "_input")
		}
	default:
		h.ignored = append(h.ignored, d.entry+" "+d.name)
		return nil
	}
	if len(energies) > 0 {
		d.energy = energies[0]
	}
	if d.power == "" && d.energy == "" {
		h.ignored = append(h.ignored, d.entry+" "+d.name)
		return nil
	}
	if strings.HasSuffix(d.power, "_average") {
		p := filepath.Join(d.dir, strings.TrimSuffix(d.power, "_average")+"_average_interval")
		if ms, err := h.readUint(p); err == nil {
			d.interval = fmt.Sprintf("%d ms", ms)
		}
	}
	if d.name == "amdgpu" {
		// The device link's target is the PCI device: ../../../0000:c1:00.0.
		link := filepath.Join(entryDir, "device")
		target, err := os.Readlink(link)
		if err == nil {
			d.pci, err = parsePCIAddr(filepath.Base(target))
		}
		if err != nil {
			h.ignored = append(h.ignored, fmt.Sprintf("%s %s (no PCI address: %v)", d.entry, d.name, err))
			return nil
		}
		h.gpus = append(h.gpus, d)
	} else {
		h.meters = append(h.meters, d)
	}
	return nil
}

// hwmonChannel is N of powerN_* or energyN_*.
func hwmonChannel(file string) int {
	s := strings.TrimLeft(file, "abcdefghijklmnopqrstuvwxyz")
	n, _ := strconv.Atoi(s[:strings.IndexByte(s, '_')])
	return n
}

func hwmonFirstOf(have map[string]bool, names ...string) string {
	for _, n := range names {
		if have[n] {
			return n
		}
	}
	return ""
}

func hwmonLowest(have map[string]bool, suffix string) string {
	best := ""
	for n := range have {
		if strings.HasSuffix(n, suffix) && (best == "" || hwmonChannel(n) < hwmonChannel(best)) {
			best = n
		}
	}
	return best
}

// Name lists the devices read, each GPU with its index in the reading and
// its PCI address ("gpu0=0000:41:00.0 hwmon10 amdgpu power1_input"), and
// those ignored.
func (h *Hwmon) Name() string {
	var parts []string
	desc := func(d *hwmonDev) string {
		s := d.entry + " " + d.name
		files := []string{}
		if d.power != "" {
			files = append(files, d.power)
		}
		if d.energy != "" {
			files = append(files, d.energy)
		}
		s += " " + strings.Join(files, "+")
		if d.interval != "" {
			s += " (" + d.interval + " average)"
		}
		return s
	}
	if len(h.gpus) > 0 {
		var ds []string
		for i, d := range h.gpus {
			ds = append(ds, fmt.Sprintf("gpu%d=%s %s", i, d.pci, desc(d)))
		}
		gpus := "GPUs"
		if len(h.gpus) == 1 {
			gpus = "GPU"
		}
		parts = append(parts, fmt.Sprintf("%d %s: %s", len(h.gpus), gpus, strings.Join(ds, ", ")))
	}
	if len(h.meters) > 0 {
		var ds []string
		for _, d := range h.meters {
			ds = append(ds, desc(d))
		}
		parts = append(parts, "node: "+strings.Join(ds, ", "))
	}
	if len(h.ignored) > 0 {
		parts = append(parts, "ignored: "+strings.Join(h.ignored, ", "))
	}
	return "hwmon (" + strings.Join(parts, "; ") + ")"
}

// Resets returns how many energy counter resets were seen, and how many
// device readings were refused for the moment (NaN in the reading).
func (h *Hwmon) Resets() (resets, unavailable uint64) { return h.resets, h.unavailable }

// hwmonRead is what one device gave in one reading.
type hwmonRead struct {
	watts  float64 // NaN: no power file or refused
	energy uint64
	hasE   bool
}

// Read reads every device. On an error nothing is updated.
func (h *Hwmon) Read(r *sample.Reading) error {
	t0 := h.now()
	if len(h.all) != len(h.gpus)+len(h.meters) {
		h.all = append(append([]*hwmonDev{}, h.gpus...), h.meters...)
		h.got = make([]hwmonRead, len(h.all))
	}
	all, got := h.all, h.got
	var refused uint64
	for i, d := range all {
		g := hwmonRead{watts: math.NaN()}
		if d.power != "" {
			uw, err := h.readInt(filepath.Join(d.dir, d.power))
			switch {
			case err == nil:
				g.watts = float64(uw) / 1e6
			case hwmonRefused(err):
				refused++
			default:
				return err
			}
		}
		if d.energy != "" {
			uj, err := h.readUint(filepath.Join(d.dir, d.energy))
			switch {
			case err == nil:
				g.energy, g.hasE = uj, true
			case hwmonRefused(err):
				refused++
			default:
				return err
			}
		}
		got[i] = g
	}
	t := sysfsMidTime(t0, h.now())
	h.unavailable += refused

	anyEnergy := false
	for i, d := range all {
		g := &got[i]
		if d.energy != "" {
			anyEnergy = true
		}
		if !g.hasE {
			continue
		}
		var delta uint64
		if d.primed {
			if g.energy >= d.prev {
				delta = g.energy - d.prev
			} else {
				delta = g.energy // reset: counting again from 0
				h.resets++
			}
			if d.power == "" {
				if dt := t.Sub(d.prevT).Seconds(); dt > 0 {
					g.watts = float64(delta) / 1e6 / dt
				}
			}
		}
		d.total += delta
		d.prev, d.prevT, d.primed = g.energy, t, true
	}

	r.Reset(sample.Layout{GPU: len(h.gpus)})
	for i := range h.gpus {
		r.GPU[i] = got[i].watts
	}
	if len(h.meters) > 0 {
		r.Node = 0
		for i := range h.meters {
			r.Node += got[len(h.gpus)+i].watts // NaN if any is
		}
	}
	if anyEnergy {
		r.Counters()
		for i, d := range h.gpus {
			if d.energy != "" {
				r.Energy.GPU[i] = float64(d.total) / 1e6
			}
		}
		for _, d := range h.meters {
			if d.energy != "" {
				if math.IsNaN(r.Energy.Node) {
					r.Energy.Node = 0
				}
				r.Energy.Node += float64(d.total) / 1e6
			}
		}
	}
	return nil
}

// hwmonRefused reports whether a driver refused a read for the moment.
func hwmonRefused(err error) bool {
	for _, e := range []error{syscall.EPERM, syscall.ENODATA, syscall.EAGAIN, syscall.EBUSY} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
