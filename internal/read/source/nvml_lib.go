// SPDX-License-Identifier: LGPL-3.0-only

//go:build cgo

package source

import (
	"bytes"
	"fmt"

	"github.com/NVIDIA/go-nvml/pkg/dl"
	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

const nvmlLibName = "libnvidia-ml.so.1"

// OpenNVML loads libnvidia-ml.so.1 (nothing links against it: go-nvml
// dlopens it in nvml.Init), initialises NVML and probes every GPU. It fails
// with "nvml: cannot load libnvidia-ml.so.1: ..." where the library is
// missing and "nvml: no NVIDIA GPU" where it finds no device. Package
// nvmlshim (linked by nvml_shim.go) is what lets the broker load the module
// with go-nvml in it.
func OpenNVML() (*NVML, error) {
	return openNVML(newGoNVML(nvmlLibName))
}

// goNVML puts go-nvml behind nvmlLib.
type goNVML struct {
	path string
	lib  nvml.Interface
}

// newGoNVML is a go-nvml library instance of our own (not go-nvml's
// package-level one) that loads path.
func newGoNVML(path string) *goNVML {
	return &goNVML{path: path, lib: nvml.New(nvml.WithLibraryPath(path))}
}

// DriverVersion is the driver's version string ("" if NVML cannot say).
func (g *goNVML) DriverVersion() string {
	v, r := g.lib.SystemGetDriverVersion()
	if r != nvml.SUCCESS {
		return ""
	}
	return v
}

func (g *goNVML) err(r nvml.Return) error {
	if r == nvml.SUCCESS {
		return nil
	}
	msg := g.lib.ErrorString(r)
	if msg == "" { // the library is not loaded, or is not NVML
		msg = fmt.Sprintf("NVML return code %d", int(r))
	}
	return &nvmlError{code: nvmlReturn(r), msg: msg}
}

func (g *goNVML) Init() error {
	r := g.lib.Init()
	if r == nvml.ERROR_LIBRARY_NOT_FOUND {
		// go-nvml drops dlerror's text: load it once more to get it.
		probe := dl.New(g.path, dl.RTLD_LAZY|dl.RTLD_LOCAL)
		if err := probe.Open(); err != nil {
			return &nvmlLoadError{detail: err.Error()}
		}
		probe.Close()
		return &nvmlLoadError{detail: "go-nvml could not load it"}
	}
	return g.err(r)
}

func (g *goNVML) Shutdown() error { return g.err(g.lib.Shutdown()) }

func (g *goNVML) DeviceCount() (int, error) {
	n, r := g.lib.DeviceGetCount()
	return n, g.err(r)
}

func (g *goNVML) Device(i int) (nvmlDev, error) {
	d, r := g.lib.DeviceGetHandleByIndex(i)
	if r != nvml.SUCCESS {
		return nil, g.err(r)
	}
	return &goNVMLDev{g: g, d: d}, nil
}

func (g *goNVML) HasSymbol(name string) bool {
	return g.lib.Extensions().LookupSymbol(name) == nil
}

func (g *goNVML) ErrorString(r nvmlReturn) string { return g.lib.ErrorString(nvml.Return(r)) }

type goNVMLDev struct {
	g *goNVML
	d nvml.Device
}

func (d *goNVMLDev) Name() (string, error) {
	s, r := d.d.GetName()
	return s, d.g.err(r)
}

func (d *goNVMLDev) Architecture() (uint32, error) {
	a, r := d.d.GetArchitecture()
	return uint32(a), d.g.err(r)
}

func (d *goNVMLDev) PCIDeviceID() (uint32, error) {
	p, r := d.d.GetPciInfo()
	return p.PciDeviceId, d.g.err(r)
}

func (d *goNVMLDev) PCIAddress() (pciAddr, error) {
	p, r := d.d.GetPciInfo()
	if r != nvml.SUCCESS {
		return pciAddr{}, d.g.err(r)
	}
	id := p.BusId[:]
	if i := bytes.IndexByte(id, 0); i >= 0 {
		id = id[:i]
	}
	return nvmlPCIAddress(string(id), p.Domain, p.Bus, p.Device)
}

func (d *goNVMLDev) FieldValues(f []nvmlField) error {
	if len(f) == 0 {
		return nil
	}
	v := make([]nvml.FieldValue, len(f))
	for i := range f {
		v[i].FieldId, v[i].ScopeId = f[i].ID, f[i].Scope
	}
	if r := d.d.GetFieldValues(v); r != nvml.SUCCESS {
		return d.g.err(r)
	}
	for i := range f {
		f[i].Type = v[i].ValueType
		f[i].Return = nvmlReturn(v[i].NvmlReturn)
		f[i].Value = v[i].Value
	}
	return nil
}

func (d *goNVMLDev) PowerUsage() (uint32, error) {
	p, r := d.d.GetPowerUsage()
	return p, d.g.err(r)
}

func (d *goNVMLDev) TotalEnergyConsumption() (uint64, error) {
	e, r := d.d.GetTotalEnergyConsumption()
	return e, d.g.err(r)
}
