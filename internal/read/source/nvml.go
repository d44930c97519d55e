// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/flux-framework/power-monitor/internal/sample"
)

// NVML reads NVIDIA GPUs through libnvidia-ml, loaded at run time (see
// nvml_lib.go): per GPU, the power in watts and, where the GPU has one, the
// total-energy counter in joules since Open.
//
// Power comes from the field NVML_FI_DEV_POWER_INSTANT where the driver
// serves it. Otherwise it comes from nvmlDeviceGetPowerUsage, which on
// Ampere (except GA100) and newer is a moving average over 1 s, not the
// power now (nvml.h, nvmlDeviceGetPowerUsage and NVML_FI_DEV_POWER_AVERAGE);
// Name says which method each GPU uses.
//
// Energy comes from nvmlDeviceGetTotalEnergyConsumption (mJ since the driver
// was loaded, Volta and newer). A value below the previous one means the
// driver was reloaded: the counter restarted from 0, so the new value is the
// energy since the reload and it is added on; the energy between the last
// read before the reload and the reload itself is lost (it cannot be known).
// Resets counts these.
//
// The reading's GPU k is the k-th GPU in PCI bus id order, which is how
// flux-core numbers GPUs (gpuorder.go), not NVML index k; Name gives each
// GPU's bus id. The reading has no CPU or memory domains and no node power.
type NVML struct {
	lib  nvmlLib
	gpus []*nvmlGPU
	name string
}

// NVMLGPU describes how one GPU is read; it does not change after Open.
type NVMLGPU struct {
	// Index is the GPU's place in the reading: R's gpu id on this rank.
	Index int
	// NVMLIndex is NVML's index of the GPU, which may differ.
	NVMLIndex int
	// BusID is its PCI address, e.g. "0000:17:00.0".
	BusID string
	Name  string
	// Power is the method: "instant" (NVML_FI_DEV_POWER_INSTANT),
	// "average" (nvmlDeviceGetPowerUsage on Ampere except GA100 and newer:
	// a 1 s moving average), "usage" (nvmlDeviceGetPowerUsage on GA100 and
	// older: instantaneous), "usage?" (nvmlDeviceGetPowerUsage, architecture
	// unknown) or "none" (the GPU reports no power; its value is NaN).
	Power string
	// Why the instant field is not used ("" when it is).
	InstantReason string
	// Energy is true when the GPU has a total-energy counter.
	Energy bool
}

type nvmlGPU struct {
	NVMLGPU
	dev nvmlDev

	prev   uint64 // last raw counter value, mJ
	acc    uint64 // energy since Open, mJ
	resets atomic.Uint64
}

// NVML field, value type and architecture numbers, as in nvml.h.
const (
	nvmlFieldPowerInstant = 186 // NVML_FI_DEV_POWER_INSTANT, mW

	nvmlValueDouble           = 0
	nvmlValueUnsignedInt      = 1
	nvmlValueUnsignedLong     = 2
	nvmlValueUnsignedLongLong = 3
	nvmlValueSignedLongLong   = 4
	nvmlValueSignedInt        = 5
	nvmlValueUnsignedShort    = 6

	nvmlArchAmpere  = 7
	nvmlArchUnknown = 0xffffffff
)

// nvmlReturn is an nvmlReturn_t.
type nvmlReturn uint32

// The nvmlReturn_t values this source tells apart (nvml.h).
const (
	nvmlSuccess           nvmlReturn = 0
	nvmlErrorNotSupported nvmlReturn = 3
)

// nvmlError is a failed NVML call: its code and NVML's own string for it
// (nvmlErrorString).
type nvmlError struct {
	code nvmlReturn
	msg  string
}

func (e *nvmlError) Error() string { return e.msg }

// nvmlCode is the nvmlReturn_t of err, nvmlSuccess for nil.
func nvmlCode(err error) nvmlReturn {
	var e *nvmlError
	if errors.As(err, &e) {
		return e.code
	}
	if err == nil {
		return nvmlSuccess
	}
	return math.MaxUint32
}

// nvmlField is one nvmlFieldValue_t: the request (ID, Scope) and the answer,
// whose own Return must be checked: the call can succeed while a field fails.
type nvmlField struct {
	ID, Scope uint32
	Type      uint32
	Return    nvmlReturn
	Value     [8]byte // the nvmlValue_t union, little-endian
}

// nvmlLib is the part of the NVML library this source uses; nvml_lib.go
// puts go-nvml behind it, the tests a table of recorded devices.
type nvmlLib interface {
	// Init loads the library and initialises NVML. A library that cannot be
	// loaded is an *nvmlLoadError.
	Init() error
	Shutdown() error
	DeviceCount() (int, error)
	Device(i int) (nvmlDev, error)
	// HasSymbol reports whether the loaded library exports the function:
	// calling one that an old driver lacks would kill the process.
	HasSymbol(name string) bool
	// ErrorString is nvmlErrorString.
	ErrorString(nvmlReturn) string
}

// nvmlDev is one GPU.
type nvmlDev interface {
	Name() (string, error)
	// Architecture is nvmlDeviceGetArchitecture (nvmlDeviceArchitecture_t).
	Architecture() (uint32, error)
	// PCIDeviceID is nvmlPciInfo_t.pciDeviceId: device ID << 16 | vendor ID.
	PCIDeviceID() (uint32, error)
	// PCIAddress is the GPU's PCI address, from nvmlPciInfo_t.busId (see
	// nvmlPCIAddress).
	PCIAddress() (pciAddr, error)
	FieldValues(f []nvmlField) error
	PowerUsage() (uint32, error)             // mW
	TotalEnergyConsumption() (uint64, error) // mJ since the driver was loaded
}

// nvmlLoadError says why libnvidia-ml.so.1 did not load (dlerror).
type nvmlLoadError struct{ detail string }

func (e *nvmlLoadError) Error() string { return e.detail }

// openNVML initialises lib and probes every GPU: which power method works,
// whether it has an energy counter. On error lib is shut down again.
func openNVML(lib nvmlLib) (*NVML, error) {
	if err := lib.Init(); err != nil {
		var le *nvmlLoadError
		if errors.As(err, &le) {
			return nil, fmt.Errorf("nvml: cannot load libnvidia-ml.so.1: %s", le.detail)
		}
		return nil, fmt.Errorf("nvml: init: %w", err)
	}
	n := &NVML{lib: lib}
	if err := n.probe(); err != nil {
		lib.Shutdown()
		return nil, err
	}
	n.name = n.describe()
	return n, nil
}

func (n *NVML) probe() error {
	count, err := n.lib.DeviceCount()
	if err != nil {
		return fmt.Errorf("nvml: device count: %w", err)
	}
	if count == 0 {
		return errors.New("nvml: no NVIDIA GPU")
	}
	// Every GPU's bus id first: it decides the GPU's index in the reading.
	addrs := make([]pciAddr, count)
	for i := 0; i < count; i++ {
		dev, err := n.lib.Device(i)
		if err != nil {
			return fmt.Errorf("nvml: NVML device %d: handle: %w", i, err)
		}
		a, err := dev.PCIAddress()
		if err != nil {
			return fmt.Errorf("nvml: NVML device %d: PCI bus id (needed to number it as flux-core does): %w", i, err)
		}
		addrs[i] = a
		n.gpus = append(n.gpus, &nvmlGPU{NVMLGPU: NVMLGPU{NVMLIndex: i, BusID: a.String()}, dev: dev})
	}
	sort.SliceStable(n.gpus, func(i, j int) bool {
		return addrs[n.gpus[i].NVMLIndex].less(addrs[n.gpus[j].NVMLIndex])
	})
	fields := n.lib.HasSymbol("nvmlDeviceGetFieldValues")
	energy := n.lib.HasSymbol("nvmlDeviceGetTotalEnergyConsumption")
	arch := n.lib.HasSymbol("nvmlDeviceGetArchitecture")
	for i, g := range n.gpus {
		g.Index = i
		dev := g.dev
		if name, err := dev.Name(); err == nil {
			g.Name = name
		}

		// Power: the instant field, else nvmlDeviceGetPowerUsage.
		if !fields {
			g.InstantReason = "nvmlDeviceGetFieldValues: not in this driver"
		} else if _, err := n.instant(dev); err != nil {
			g.InstantReason = err.Error()
		} else {
			g.Power = "instant"
		}
		if g.Power == "" {
			_, err := dev.PowerUsage()
			switch {
			case err == nil:
				g.Power = usageKind(dev, arch)
			case nvmlCode(err) == nvmlErrorNotSupported:
				g.Power = "none"
			default:
				return fmt.Errorf("nvml: %s: power usage: %w", g.what(), err)
			}
		}

		// Energy counter.
		if energy {
			e, err := dev.TotalEnergyConsumption()
			switch {
			case err == nil:
				g.Energy, g.prev = true, e
			case nvmlCode(err) == nvmlErrorNotSupported:
			default:
				return fmt.Errorf("nvml: %s: total energy: %w", g.what(), err)
			}
		}
	}
	return nil
}

// what names the GPU in errors: its index in the reading and its bus id,
// "GPU 1 (0000:3b:00.0)".
func (g *nvmlGPU) what() string { return fmt.Sprintf("GPU %d (%s)", g.Index, g.BusID) }

// nvmlPCIAddress is the address in an nvmlPciInfo_t: busId, which has the
// function; where that does not parse, the domain, bus and device fields
// with function 0.
func nvmlPCIAddress(busID string, domain, bus, device uint32) (pciAddr, error) {
	a, err := parsePCIAddr(busID)
	if err == nil {
		return a, nil
	}
	if bus > 0xff || device > 0x1f {
		return pciAddr{}, fmt.Errorf("busId %q is not a PCI address, nor are domain %#x bus %#x device %#x", busID, domain, bus, device)
	}
	return pciAddr{Domain: domain, Bus: bus, Device: device}, nil
}

// usageKind says what nvmlDeviceGetPowerUsage returns on dev: a 1 s
// average on Ampere except GA100 and newer, the power now before.
func usageKind(dev nvmlDev, haveArch bool) string {
	if !haveArch {
		return "usage?"
	}
	a, err := dev.Architecture()
	if err != nil || a == nvmlArchUnknown {
		return "usage?"
	}
	if a < nvmlArchAmpere {
		return "usage"
	}
	if a == nvmlArchAmpere {
		// GA100 (A100, A30, A800) has PCI device IDs 0x20xx; GA10x 0x22xx-0x25xx.
		if id, err := dev.PCIDeviceID(); err == nil {
			if id>>24 == 0x20 {
				return "usage"
			}
		} else {
			return "usage?"
		}
	}
	return "average"
}

// instant reads NVML_FI_DEV_POWER_INSTANT (GPU scope) in watts.
func (n *NVML) instant(dev nvmlDev) (float64, error) {
	f := []nvmlField{{ID: nvmlFieldPowerInstant, Scope: 0}}
	if err := dev.FieldValues(f); err != nil {
		return 0, fmt.Errorf("instant power: %w", err)
	}
	if f[0].Return != nvmlSuccess {
		return 0, fmt.Errorf("instant power field: %s", n.lib.ErrorString(f[0].Return))
	}
	v, ok := fieldValue(f[0])
	if !ok {
		return 0, fmt.Errorf("instant power field: value type %d", f[0].Type)
	}
	return v / 1000, nil
}

// fieldValue decodes the nvmlValue_t union of f.
func fieldValue(f nvmlField) (float64, bool) {
	b := f.Value[:]
	switch f.Type {
	case nvmlValueDouble:
		return math.Float64frombits(binary.LittleEndian.Uint64(b)), true
	case nvmlValueUnsignedInt:
		return float64(binary.LittleEndian.Uint32(b)), true
	case nvmlValueUnsignedLong, nvmlValueUnsignedLongLong:
		return float64(binary.LittleEndian.Uint64(b)), true
	case nvmlValueSignedLongLong:
		return float64(int64(binary.LittleEndian.Uint64(b))), true
	case nvmlValueSignedInt:
		return float64(int32(binary.LittleEndian.Uint32(b))), true
	case nvmlValueUnsignedShort:
		return float64(binary.LittleEndian.Uint16(b)), true
	}
	return 0, false
}

// describe makes Name: GPUs read the same way are listed together, then
// each GPU's bus id.
func (n *NVML) describe() string {
	var order []string
	which := map[string][]string{}
	for _, g := range n.gpus {
		d := powerWords[g.Power]
		if g.Energy {
			d += ", energy counter"
		} else {
			d += ", no energy counter"
		}
		if _, ok := which[d]; !ok {
			order = append(order, d)
		}
		which[d] = append(which[d], fmt.Sprint(g.Index))
	}
	gpus := fmt.Sprintf("%d GPUs", len(n.gpus))
	if len(n.gpus) == 1 {
		gpus = "1 GPU"
	}
	ids := make([]string, len(n.gpus))
	for i, g := range n.gpus {
		ids[i] = fmt.Sprintf("gpu%d=%s", g.Index, g.BusID)
	}
	if len(order) == 1 {
		return fmt.Sprintf("nvml (%s: %s; %s)", gpus, order[0], strings.Join(ids, " "))
	}
	parts := make([]string, len(order))
	for i, d := range order {
		parts[i] = fmt.Sprintf("GPU %s: %s", strings.Join(which[d], ","), d)
	}
	return fmt.Sprintf("nvml (%s; %s; %s)", gpus, strings.Join(parts, "; "), strings.Join(ids, " "))
}

var powerWords = map[string]string{
	"instant": "power instant",
	"average": "power usage (1 s average)",
	"usage":   "power usage (instantaneous)",
	"usage?":  "power usage (averaging unknown)",
	"none":    "no power reading",
}

// Name says how many GPUs there are, how each is read and each one's bus
// id, e.g. "nvml (2 GPUs: power instant, energy counter; gpu0=0000:17:00.0
// gpu1=0000:3b:00.0)".
func (n *NVML) Name() string { return n.name }

// GPUs says how each GPU is read.
func (n *NVML) GPUs() []NVMLGPU {
	out := make([]NVMLGPU, len(n.gpus))
	for i, g := range n.gpus {
		out[i] = g.NVMLGPU
	}
	return out
}

// Resets counts, per GPU, the energy counter resets (driver reloads) seen.
// It may be called from any goroutine.
func (n *NVML) Resets() []uint64 {
	out := make([]uint64, len(n.gpus))
	for i, g := range n.gpus {
		out[i] = g.resets.Load()
	}
	return out
}

// Read takes one reading of every GPU. An NVML error on any GPU fails the
// reading, naming the GPU and NVML's error string, e.g. "GPU 1
// (0000:3b:00.0): power usage: GPU is lost" (without a "nvml: " prefix:
// Merged adds the kind).
func (n *NVML) Read(r *sample.Reading) error {
	r.Reset(sample.Layout{GPU: len(n.gpus)})
	for i, g := range n.gpus {
		w, err := n.power(g)
		if err != nil {
			return fmt.Errorf("%s: %w", g.what(), err)
		}
		r.GPU[i] = w
		if !g.Energy {
			continue
		}
		e, err := g.dev.TotalEnergyConsumption()
		if err != nil {
			return fmt.Errorf("%s: total energy: %w", g.what(), err)
		}
		if e < g.prev { // the driver was reloaded: the counter restarted at 0
			g.resets.Add(1)
			g.acc += e
		} else {
			g.acc += e - g.prev
		}
		g.prev = e
		if r.Energy == nil {
			r.Counters()
		}
		r.Energy.GPU[i] = float64(g.acc) / 1000
	}
	return nil
}

func (n *NVML) power(g *nvmlGPU) (float64, error) {
	switch g.Power {
	case "instant":
		return n.instant(g.dev)
	case "none":
		return math.NaN(), nil
	}
	mw, err := g.dev.PowerUsage()
	if err != nil {
		return 0, fmt.Errorf("power usage: %w", err)
	}
	return float64(mw) / 1000, nil
}

// Close shuts NVML down; the NVML is not to be read after.
func (n *NVML) Close() error {
	if n.lib == nil {
		return nil
	}
	err := n.lib.Shutdown()
	n.lib = nil
	return err
}
