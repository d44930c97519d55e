// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"
)

// The fake below reproduces what NVML does on real GPUs, from nvml.h in
// go-nvml v0.13.0-1 (pkg/nvml/nvml.h) and the drivers' behaviour:
//
//   - nvmlDeviceGetPowerUsage: mW; "On Ampere (except GA100) or newer GPUs,
//     the API returns power averaged over 1 sec interval. On GA100 and older
//     architectures, instantaneous power is returned."
//   - NVML_FI_DEV_POWER_INSTANT (186): mW, value type unsigned int, GPU
//     scope 0. Drivers older than the field (R470, R515) answer the
//     nvmlDeviceGetFieldValues call with SUCCESS and the field itself with
//     NOT_SUPPORTED: only the field's own nvmlReturn says so.
//   - nvmlDeviceGetTotalEnergyConsumption: mJ since the driver was loaded,
//     "For Volta or newer": NOT_SUPPORTED on Pascal and older. It restarts
//     from 0 when the driver is reloaded.
//   - Architectures (nvmlDeviceArchitecture_t): Pascal 4, Volta 5, Ampere 7,
//     Hopper 9. PCI device IDs: H100 SXM5 0x2330, A100 SXM4 0x20B0 (GA100),
//     A10 0x2236 (GA102), V100 SXM2 0x1DB1, P100 PCIe 0x15F8.
//   - Error strings are nvmlErrorString's.

var nvmlStrings = map[nvmlReturn]string{
	0:   "Success",
	2:   "Invalid Argument",
	3:   "Not Supported",
	9:   "Driver Not Loaded",
	13:  "Function Not Found",
	15:  "GPU is lost",
	999: "Unknown Error",
}

const (
	retInvalidArgument nvmlReturn = 2
	retDriverNotLoaded nvmlReturn = 9
	retGPUIsLost       nvmlReturn = 15
	retUnknown         nvmlReturn = 999
)

func fakeErr(r nvmlReturn) error {
	if r == nvmlSuccess {
		return nil
	}
	return &nvmlError{code: r, msg: nvmlStrings[r]}
}

type fakeNVML struct {
	loadErr   string     // the library does not load (dlerror)
	initRet   nvmlReturn // nvmlInit's answer
	gpus      []*fakeGPU
	missing   map[string]bool // symbols this driver lacks
	inits     int
	shutdowns int
}

func (f *fakeNVML) Init() error {
	f.inits++
	if f.loadErr != "" {
		return &nvmlLoadError{detail: f.loadErr}
	}
	return fakeErr(f.initRet)
}
func (f *fakeNVML) Shutdown() error            { f.shutdowns++; return nil }
func (f *fakeNVML) DeviceCount() (int, error)  { return len(f.gpus), nil }
func (f *fakeNVML) HasSymbol(name string) bool { return !f.missing[name] }
func (f *fakeNVML) ErrorString(r nvmlReturn) string {
	return nvmlStrings[r]
}
func (f *fakeNVML) Device(i int) (nvmlDev, error) {
	g := f.gpus[i]
	g.lib = f
	if g.busID == "" && g.bus == 0 { // in PCI order by default: 0000:10:00.0, 0000:11:00.0...
		g.busID = fmt.Sprintf("00000000:%02X:00.0", 0x10+i)
	}
	return g, nil
}

// fakeGPU is one recorded device. Each call of a kind takes the next value
// of its sequence (the last one repeats); fail makes the n-th call (0 is
// the probe at Open) of a kind fail with a code.
type fakeGPU struct {
	lib       *fakeNVML
	name      string
	arch      uint32
	pciID     uint32
	busID     string // nvmlPciInfo_t.busId, e.g. "00000000:3B:00.0"
	domain    uint32 // and its domain, bus and device fields
	bus       uint32
	device    uint32
	fieldRet  nvmlReturn // the instant field's own return
	fieldType uint32
	usageRet  nvmlReturn
	energyRet nvmlReturn
	instantMW []uint32
	usageMW   []uint32
	energyMJ  []uint64
	fail      map[string]map[int]nvmlReturn
	calls     map[string]int
}

func (g *fakeGPU) next(kind string) (int, error) {
	if g.calls == nil {
		g.calls = map[string]int{}
	}
	n := g.calls[kind]
	g.calls[kind]++
	if r, ok := g.fail[kind][n]; ok {
		return n, fakeErr(r)
	}
	return n, nil
}

func pick[T any](s []T, n int) T {
	if n >= len(s) {
		return s[len(s)-1]
	}
	return s[n]
}

func (g *fakeGPU) mustHave(sym string) {
	if g.lib.missing[sym] {
		panic("called " + sym + ", which this driver lacks: the process would die")
	}
}

func (g *fakeGPU) Name() (string, error) { return g.name, nil }
func (g *fakeGPU) Architecture() (uint32, error) {
	g.mustHave("nvmlDeviceGetArchitecture")
	return g.arch, nil
}
func (g *fakeGPU) PCIDeviceID() (uint32, error) { return g.pciID<<16 | 0x10de, nil }
func (g *fakeGPU) PCIAddress() (pciAddr, error) {
	if _, err := g.next("pci"); err != nil {
		return pciAddr{}, err
	}
	return nvmlPCIAddress(g.busID, g.domain, g.bus, g.device)
}

func (g *fakeGPU) FieldValues(f []nvmlField) error {
	g.mustHave("nvmlDeviceGetFieldValues")
	n, err := g.next("field-call")
	if err != nil {
		return err
	}
	for i := range f {
		if f[i].ID != nvmlFieldPowerInstant || f[i].Scope != 0 {
			f[i].Return = retInvalidArgument
			continue
		}
		f[i].Return = g.fieldRet
		if r, ok := g.fail["field"][n]; ok {
			f[i].Return = r
		}
		if f[i].Return != nvmlSuccess {
			f[i].Value = [8]byte{0xde, 0xad, 0xbe, 0xef} // undefined
			continue
		}
		f[i].Type = g.fieldType
		v := pick(g.instantMW, n)
		switch g.fieldType {
		case nvmlValueUnsignedInt:
			binary.LittleEndian.PutUint32(f[i].Value[:], v)
		case nvmlValueDouble:
			binary.LittleEndian.PutUint64(f[i].Value[:], math.Float64bits(float64(v)))
		case nvmlValueUnsignedLongLong:
			binary.LittleEndian.PutUint64(f[i].Value[:], uint64(v))
		}
	}
	return nil
}

func (g *fakeGPU) PowerUsage() (uint32, error) {
	n, err := g.next("usage")
	if err != nil {
		return 0, err
	}
	if g.usageRet != nvmlSuccess {
		return 0, fakeErr(g.usageRet)
	}
	return pick(g.usageMW, n), nil
}

func (g *fakeGPU) TotalEnergyConsumption() (uint64, error) {
	g.mustHave("nvmlDeviceGetTotalEnergyConsumption")
	n, err := g.next("energy")
	if err != nil {
		return 0, err
	}
	if g.energyRet != nvmlSuccess {
		return 0, fakeErr(g.energyRet)
	}
	return pick(g.energyMJ, n), nil
}

// H100 SXM5, driver R535: the instant field works; GetPowerUsage lags
// (1 s average); energy counter.
func fakeH100() *fakeGPU {
	return &fakeGPU{
		name: "NVIDIA H100 80GB HBM3", arch: 9, pciID: 0x2330,
		fieldType: nvmlValueUnsignedInt,
		instantMW: []uint32{69812, 612345, 700100, 98765},
		usageMW:   []uint32{70050, 350000, 655000, 400000},
		energyMJ:  []uint64{4015734512, 4015796012, 4015866024, 4015875900},
	}
}

// A100 SXM4 (GA100), driver R470: no instant field (the field says
// NOT_SUPPORTED, the call succeeds); GetPowerUsage is instantaneous on GA100.
func fakeA100() *fakeGPU {
	return &fakeGPU{
		name: "NVIDIA A100-SXM4-40GB", arch: 7, pciID: 0x20B0,
		fieldRet:  nvmlErrorNotSupported,
		usageMW:   []uint32{52107, 398250, 401000},
		energyMJ:  []uint64{9870001, 9910001, 9950001},
		fieldType: nvmlValueUnsignedInt,
	}
}

// A10 (GA102), driver R470: no instant field; GetPowerUsage is a 1 s average.
func fakeA10() *fakeGPU {
	g := fakeA100()
	g.name, g.pciID = "NVIDIA A10", 0x2236
	return g
}

// V100 SXM2, driver R535: instant field, energy counter.
func fakeV100() *fakeGPU {
	return &fakeGPU{
		name: "Tesla V100-SXM2-16GB", arch: 5, pciID: 0x1DB1,
		fieldType: nvmlValueUnsignedInt,
		instantMW: []uint32{39000, 250000},
		usageMW:   []uint32{39000, 250000},
		energyMJ:  []uint64{5000},
	}
}

// P100 PCIe (Pascal), driver R470: no instant field, no energy counter.
func fakeP100() *fakeGPU {
	return &fakeGPU{
		name: "Tesla P100-PCIE-16GB", arch: 4, pciID: 0x15F8,
		fieldRet:  nvmlErrorNotSupported,
		usageMW:   []uint32{31000, 180500},
		energyRet: nvmlErrorNotSupported,
	}
}

func mustOpenFake(t *testing.T, f *fakeNVML) *NVML {
	t.Helper()
	n, err := openNVML(f)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func mustRead(t *testing.T, n *NVML) ([]float64, []float64) {
	t.Helper()
	r, err := readNew(n)
	if err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(r.Node) || len(r.CPU) != 0 || len(r.Mem) != 0 {
		t.Fatalf("node %v cpu %v mem %v, want NaN and none", r.Node, r.CPU, r.Mem)
	}
	var e []float64
	if r.Energy != nil {
		e = r.Energy.GPU
		if len(e) != len(r.GPU) || !math.IsNaN(r.Energy.Node) || len(r.Energy.CPU) != 0 {
			t.Fatalf("energy layout %+v", r.Energy)
		}
	}
	return r.GPU, e
}

func eqf(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] && !(math.IsNaN(a[i]) && math.IsNaN(b[i])) {
			return false
		}
	}
	return true
}

func TestNVMLInstantAndEnergy(t *testing.T) {
	f := &fakeNVML{gpus: []*fakeGPU{fakeH100(), fakeH100(), fakeH100(), fakeH100()}}
	n := mustOpenFake(t, f)
	if got, want := n.Name(), "nvml (4 GPUs: power instant, energy counter; gpu0=0000:10:00.0 gpu1=0000:11:00.0 gpu2=0000:12:00.0 gpu3=0000:13:00.0)"; got != want {
		t.Errorf("Name %q, want %q", got, want)
	}
	// Open probed once (value 0 of each sequence); reads take 1, 2, 3.
	p, e := mustRead(t, n)
	if !eqf(p, []float64{612.345, 612.345, 612.345, 612.345}) {
		t.Errorf("power %v: want the instant field, not the 1 s average", p)
	}
	if !eqf(e, []float64{61.5, 61.5, 61.5, 61.5}) {
		t.Errorf("energy %v, want 61.5 J since Open", e)
	}
	mustRead(t, n)
	p, e = mustRead(t, n)
	if p[0] != 98.765 || e[0] != 141.388 {
		t.Errorf("third read: %v W %v J, want 98.765 W 141.388 J", p[0], e[0])
	}
	if f.gpus[0].calls["usage"] != 0 {
		t.Errorf("GetPowerUsage called %d times where the instant field works", f.gpus[0].calls["usage"])
	}
	if err := n.Close(); err != nil || f.shutdowns != 1 {
		t.Errorf("Close: %v, %d shutdowns", err, f.shutdowns)
	}
}

func TestNVMLInstantFieldUnsupported(t *testing.T) {
	// A100 on R470: the call succeeds, the field says NOT_SUPPORTED.
	f := &fakeNVML{gpus: []*fakeGPU{fakeA100()}}
	n := mustOpenFake(t, f)
	if got, want := n.Name(), "nvml (1 GPU: power usage (instantaneous), energy counter; gpu0=0000:10:00.0)"; got != want {
		t.Errorf("Name %q, want %q", got, want)
	}
	g := n.GPUs()[0]
	if g.Power != "usage" || g.InstantReason != "instant power field: Not Supported" || !g.Energy {
		t.Errorf("GPU %+v", g)
	}
	p, e := mustRead(t, n)
	if !eqf(p, []float64{398.25}) || !eqf(e, []float64{40}) {
		t.Errorf("read %v W %v J, want 398.25 W 40 J", p, e)
	}

	// GA102 on R470: GetPowerUsage is a 1 s average, and Name says so.
	n = mustOpenFake(t, &fakeNVML{gpus: []*fakeGPU{fakeA10()}})
	if got, want := n.Name(), "nvml (1 GPU: power usage (1 s average), energy counter; gpu0=0000:10:00.0)"; got != want {
		t.Errorf("Name %q, want %q", got, want)
	}

	// A field the driver rejects another way is not used either.
	a := fakeA100()
	a.fieldRet = retInvalidArgument
	n = mustOpenFake(t, &fakeNVML{gpus: []*fakeGPU{a}})
	if g := n.GPUs()[0]; g.Power != "usage" || g.InstantReason != "instant power field: Invalid Argument" {
		t.Errorf("GPU %+v", g)
	}

	// A value type it cannot decode is not used.
	h := fakeH100()
	h.fieldType = 42
	n = mustOpenFake(t, &fakeNVML{gpus: []*fakeGPU{h}})
	if g := n.GPUs()[0]; g.Power != "average" || g.InstantReason != "instant power field: value type 42" {
		t.Errorf("GPU %+v", g)
	}
}

func TestNVMLValueTypes(t *testing.T) {
	for _, ty := range []uint32{nvmlValueUnsignedInt, nvmlValueDouble, nvmlValueUnsignedLongLong} {
		h := fakeH100()
		h.fieldType = ty
		n := mustOpenFake(t, &fakeNVML{gpus: []*fakeGPU{h}})
		p, _ := mustRead(t, n)
		if p[0] != 612.345 {
			t.Errorf("type %d: %v W", ty, p[0])
		}
	}
	for _, c := range []struct {
		ty   uint32
		bits uint64
		want float64
	}{
		{nvmlValueSignedLongLong, uint64(1<<64 - 5), -5},
		{nvmlValueSignedInt, 0xfffffffe, -2},
		{nvmlValueUnsignedShort, 0x12345, 0x2345},
		{nvmlValueUnsignedLong, 1 << 40, 1 << 40},
	} {
		var f nvmlField
		f.Type = c.ty
		binary.LittleEndian.PutUint64(f.Value[:], c.bits)
		if v, ok := fieldValue(f); !ok || v != c.want {
			t.Errorf("type %d: %v %v, want %v", c.ty, v, ok, c.want)
		}
	}
}

func TestNVMLNoEnergyCounter(t *testing.T) {
	// Pascal: no counter at all -> no Energy in the reading.
	n := mustOpenFake(t, &fakeNVML{gpus: []*fakeGPU{fakeP100()}})
	if got, want := n.Name(), "nvml (1 GPU: power usage (instantaneous), no energy counter; gpu0=0000:10:00.0)"; got != want {
		t.Errorf("Name %q, want %q", got, want)
	}
	r, err := readNew(n)
	if err != nil {
		t.Fatal(err)
	}
	if r.Energy != nil || !eqf(r.GPU, []float64{180.5}) {
		t.Errorf("reading %+v, want 180.5 W and no energy", r)
	}

	// Mixed node: the counter where there is one, NaN beside it.
	n = mustOpenFake(t, &fakeNVML{gpus: []*fakeGPU{fakeH100(), fakeP100()}})
	want := "nvml (2 GPUs; GPU 0: power instant, energy counter; GPU 1: power usage (instantaneous), no energy counter; gpu0=0000:10:00.0 gpu1=0000:11:00.0)"
	if got := n.Name(); got != want {
		t.Errorf("Name %q, want %q", got, want)
	}
	p, e := mustRead(t, n)
	if !eqf(p, []float64{612.345, 180.5}) || !eqf(e, []float64{61.5, math.NaN()}) {
		t.Errorf("read %v W %v J", p, e)
	}
}

func TestNVMLOldDriverSymbols(t *testing.T) {
	// A driver without nvmlDeviceGetFieldValues, the energy call or the
	// architecture call: none of them may be called.
	f := &fakeNVML{
		gpus: []*fakeGPU{fakeV100()},
		missing: map[string]bool{
			"nvmlDeviceGetFieldValues":            true,
			"nvmlDeviceGetTotalEnergyConsumption": true,
			"nvmlDeviceGetArchitecture":           true,
		},
	}
	n := mustOpenFake(t, f)
	if got, want := n.Name(), "nvml (1 GPU: power usage (averaging unknown), no energy counter; gpu0=0000:10:00.0)"; got != want {
		t.Errorf("Name %q, want %q", got, want)
	}
	p, e := mustRead(t, n)
	if !eqf(p, []float64{250}) || e != nil {
		t.Errorf("read %v W %v J", p, e)
	}
}

func TestNVMLNoPower(t *testing.T) {
	// A board that reports no power at all (GetPowerUsage NOT_SUPPORTED).
	g := fakeP100()
	g.usageRet = nvmlErrorNotSupported
	n := mustOpenFake(t, &fakeNVML{gpus: []*fakeGPU{g}})
	if got, want := n.Name(), "nvml (1 GPU: no power reading, no energy counter; gpu0=0000:10:00.0)"; got != want {
		t.Errorf("Name %q, want %q", got, want)
	}
	p, _ := mustRead(t, n)
	if !math.IsNaN(p[0]) {
		t.Errorf("power %v, want NaN", p)
	}
}

func TestNVMLEnergyReset(t *testing.T) {
	g := fakeV100()
	// Open at 5000 mJ; the driver is reloaded between the 2nd and 3rd reads.
	g.energyMJ = []uint64{5000, 6000, 7500, 200, 900, 900, 1400}
	n := mustOpenFake(t, &fakeNVML{gpus: []*fakeGPU{g}})
	var got []float64
	for i := 0; i < 6; i++ {
		_, e := mustRead(t, n)
		got = append(got, e[0])
	}
	want := []float64{1, 2.5, 2.7, 3.4, 3.4, 3.9}
	if !eqf(got, want) {
		t.Errorf("energy %v, want %v", got, want)
	}
	if r := n.Resets(); len(r) != 1 || r[0] != 1 {
		t.Errorf("resets %v, want [1]", r)
	}
}

// NVML's index order is not PCI order: the reading's GPU k is the k-th in
// PCI order, as flux-core numbers GPUs (R's gpu k), and Name says which bus
// id each has. A busId that does not parse gives way to the domain, bus and
// device fields.
func TestNVMLPCIOrder(t *testing.T) {
	h, p, a, v := fakeH100(), fakeP100(), fakeA100(), fakeV100()
	h.busID = "00000000:3B:00.0"
	p.busID = "00000000:17:00.0"
	a.busID, a.bus = "", 0x86 // 0000:86:00.0 from the fields
	v.busID = "00000001:04:00.0"
	f := &fakeNVML{gpus: []*fakeGPU{h, p, a, v}}
	n := mustOpenFake(t, f)
	var got []string
	for _, g := range n.GPUs() {
		got = append(got, fmt.Sprintf("%d:%s:nvml%d:%s", g.Index, g.BusID, g.NVMLIndex, g.Name))
	}
	want := []string{
		"0:0000:17:00.0:nvml1:Tesla P100-PCIE-16GB",
		"1:0000:3b:00.0:nvml0:NVIDIA H100 80GB HBM3",
		"2:0000:86:00.0:nvml2:NVIDIA A100-SXM4-40GB",
		"3:0001:04:00.0:nvml3:Tesla V100-SXM2-16GB",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("GPUs\n%v\nwant (PCI order)\n%v", got, want)
	}
	wantName := "nvml (4 GPUs; GPU 0: power usage (instantaneous), no energy counter; GPU 1,3: power instant, energy counter; " +
		"GPU 2: power usage (instantaneous), energy counter; gpu0=0000:17:00.0 gpu1=0000:3b:00.0 gpu2=0000:86:00.0 gpu3=0001:04:00.0)"
	if got := n.Name(); got != wantName {
		t.Errorf("Name %q,\nwant %q", got, wantName)
	}
	pw, e := mustRead(t, n)
	if !eqf(pw, []float64{180.5, 612.345, 398.25, 250}) || !eqf(e, []float64{math.NaN(), 61.5, 40, 0}) {
		t.Errorf("read %v W %v J, want the P100, H100, A100, V100 in that order", pw, e)
	}
	// A failing GPU is named by its place in the reading and its bus id.
	h.fail = map[string]map[int]nvmlReturn{"field": {2: retGPUIsLost}}
	if _, err := readNew(n); err == nil || err.Error() != "GPU 1 (0000:3b:00.0): instant power field: GPU is lost" {
		t.Errorf("error %v", err)
	}
}

func TestNVMLPCIAddressErrors(t *testing.T) {
	// Without its bus id a GPU cannot be numbered: Open fails and says why.
	g := fakeA100()
	g.fail = map[string]map[int]nvmlReturn{"pci": {0: retUnknown}}
	f := &fakeNVML{gpus: []*fakeGPU{fakeA100(), g}}
	_, err := openNVML(f)
	if want := "nvml: NVML device 1: PCI bus id (needed to number it as flux-core does): Unknown Error"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
	if f.shutdowns != 1 {
		t.Errorf("%d shutdowns after a failed open, want 1", f.shutdowns)
	}
	g = fakeA100()
	g.busID, g.bus = "ZZZZ", 0x5a5a5a5a
	_, err = openNVML(&fakeNVML{gpus: []*fakeGPU{g}})
	if want := `nvml: NVML device 0: PCI bus id (needed to number it as flux-core does): busId "ZZZZ" is not a PCI address, nor are domain 0x0 bus 0x5a5a5a5a device 0x0`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}
}

func TestParsePCIAddr(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"0000:17:00.0", "0000:17:00.0"},
		{"00000000:3B:00.0", "0000:3b:00.0"},
		{"10000:01:1f.7", "10000:01:1f.7"},
		{"0000:17:00", ""},
		{"0000:17:20.0", ""},
		{"0000:100:00.0", ""},
		{"0000:17:00.8", ""},
		{"0000::00.0", ""},
		{"0x0:17:00.0", ""},
		{"", ""},
	} {
		a, err := parsePCIAddr(c.in)
		got := a.String()
		if err != nil {
			got = ""
			if want := fmt.Sprintf("%q is not a PCI address (domain:bus:device.function)", c.in); err.Error() != want {
				t.Errorf("%q: error %v, want %q", c.in, err, want)
			}
		}
		if got != c.want {
			t.Errorf("%q: %q, want %q", c.in, got, c.want)
		}
	}
	// Numbers, not strings: a 5-digit domain sorts after a 4-digit one.
	a, _ := parsePCIAddr("10000:01:00.0")
	b, _ := parsePCIAddr("0000:ff:00.0")
	c, _ := parsePCIAddr("0000:3b:00.0")
	d, _ := parsePCIAddr("0000:3b:00.1")
	if a.less(b) || !b.less(a) || !c.less(b) || !c.less(d) || d.less(c) || c.less(c) {
		t.Errorf("order of %v %v %v %v", a, b, c, d)
	}
}

func TestNVMLErrorMidRun(t *testing.T) {
	for _, c := range []struct {
		name string
		gpu  func() *fakeGPU
		fail map[string]map[int]nvmlReturn
		want string
	}{
		{"instant field", fakeH100, map[string]map[int]nvmlReturn{"field": {2: retGPUIsLost}},
			"GPU 1 (0000:11:00.0): instant power field: GPU is lost"},
		{"field call", fakeH100, map[string]map[int]nvmlReturn{"field-call": {2: retUnknown}},
			"GPU 1 (0000:11:00.0): instant power: Unknown Error"},
		{"power usage", fakeA100, map[string]map[int]nvmlReturn{"usage": {2: retGPUIsLost}},
			"GPU 1 (0000:11:00.0): power usage: GPU is lost"},
		{"energy", fakeA100, map[string]map[int]nvmlReturn{"energy": {2: retUnknown}},
			"GPU 1 (0000:11:00.0): total energy: Unknown Error"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := c.gpu()
			bad.fail = c.fail
			n := mustOpenFake(t, &fakeNVML{gpus: []*fakeGPU{c.gpu(), bad}})
			mustRead(t, n)
			_, err := readNew(n)
			if err == nil || err.Error() != c.want {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			// It recovers, and no energy is lost to the failed read.
			_, e := mustRead(t, n)
			want := float64(pick(bad.energyMJ, bad.calls["energy"]-1)-bad.energyMJ[0]) / 1000
			if e[1] != want {
				t.Errorf("energy after recovery %v J, want %v", e[1], want)
			}
		})
	}
}

func TestNVMLOpenErrors(t *testing.T) {
	f := &fakeNVML{loadErr: "libnvidia-ml.so.1: cannot open shared object file: No such file or directory"}
	_, err := openNVML(f)
	if want := "nvml: cannot load libnvidia-ml.so.1: libnvidia-ml.so.1: cannot open shared object file: No such file or directory"; err == nil || err.Error() != want {
		t.Errorf("error %v, want %q", err, want)
	}

	f = &fakeNVML{initRet: retDriverNotLoaded}
	if _, err = openNVML(f); err == nil || err.Error() != "nvml: init: Driver Not Loaded" {
		t.Errorf("error %v", err)
	}

	f = &fakeNVML{}
	if _, err = openNVML(f); err == nil || err.Error() != "nvml: no NVIDIA GPU" {
		t.Errorf("error %v", err)
	}
	if f.shutdowns != 1 {
		t.Errorf("%d shutdowns after a failed open, want 1", f.shutdowns)
	}

	g := fakeA100()
	g.fail = map[string]map[int]nvmlReturn{"usage": {0: retGPUIsLost}}
	f = &fakeNVML{gpus: []*fakeGPU{fakeA100(), g}}
	if _, err = openNVML(f); err == nil || err.Error() != "nvml: GPU 1 (0000:11:00.0): power usage: GPU is lost" {
		t.Errorf("error %v", err)
	}
	if f.shutdowns != 1 {
		t.Errorf("%d shutdowns after a failed open, want 1", f.shutdowns)
	}
}

// TestOpenNVMLHere opens the real library through go-nvml: where there is
// none, the error must say so plainly.
func TestOpenNVMLHere(t *testing.T) {
	n, err := OpenNVML()
	if err == nil {
		t.Logf("NVML here: %s", n.Name())
		n.Close()
		return
	}
	t.Logf("%v", err)
	msg := err.Error()
	if !strings.HasPrefix(msg, "nvml: cannot load libnvidia-ml.so.1: ") &&
		msg != "nvml: no NVIDIA GPU" && !strings.HasPrefix(msg, "nvml: init: ") {
		t.Errorf("error %q", msg)
	}
}
