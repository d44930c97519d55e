// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
)

// RAPL reads the CPU package, DRAM and platform (psys) energy counters of the
// Linux powercap framework (ROOT/class/powercap/intel-rapl:*), the interface
// that the intel_rapl_msr and intel_rapl_tpmi drivers register for Intel and
// for AMD/Hygon CPUs alike (there is no "amd-rapl" control type).
//
// Layout, as the kernel registers it (drivers/powercap/intel_rapl_common.c,
// powercap_sys.c): each top-level zone intel-rapl:N is a package named
// "package-P" (or "package-P-die-D" on multi-die packages) or the platform
// zone "psys" (newer kernels: "psys-P" beyond the first package); the core,
// uncore and dram domains of a package are its sub-zones intel-rapl:N:M.
// Zone ids are printed in hex ("%s:%x"). Every zone is also a symlink in
// class/powercap into devices/virtual/powercap/intel-rapl/.
//
// Mapping: package-P -> CPU[P] (dies of one package are summed), its dram
// sub-zone -> Mem[P], psys -> Node (several psys zones are summed). core and
// uncore are parts of the package and are not read. Without psys, Node is NaN
// and the caller derives it.
//
// Energy: energy_uj (µJ) is the hardware's 32-bit counter times the energy
// unit; it wraps from max_energy_range_uj back to 0. A decrease is taken as
// one wrap, delta = max - prev + cur + 1, unless that would mean an
// implausible power (raplMaxPlausibleW), in which case it is a reset (resume
// from suspend): delta = cur. Energies are kept in integer µJ, so the joules
// reported are exact sums of counter deltas. Power is the counter delta
// over the monotonic time between two reads; Open takes a priming read so
// that the first Read has a power.
type RAPL struct {
	sysfsFS
	zones    []*raplZone
	nCPU     int // len(CPU): highest package index + 1
	packages int // distinct package indexes
	dram     bool
	psys     int // psys zones

	prevT  time.Time
	wraps  uint64
	resets uint64

	cur   []uint64       // each zone's counter, at the last Read
	delta sample.Reading // its counters: the µJ of each domain in the last interval
}

// raplMaxPlausibleW is the power above which a counter decrease is not
// believed to be a wrap: a real wrap means the zone used max_energy_range_uj
// (about 262 kJ at the usual 61 µJ unit) since the last read.
const raplMaxPlausibleW = 10000

type raplKind int

const (
	raplCPU raplKind = iota
	raplMem
	raplNode
)

// raplZone is one powercap zone that is read.
type raplZone struct {
	dir   string // ROOT/class/powercap/intel-rapl:0[:1]
	entry string // intel-rapl:0[:1]
	name  string // package-0, dram, psys
	kind  raplKind
	index int    // package index for CPU and Mem
	max   uint64 // max_energy_range_uj
	prev  uint64 // last energy_uj
	total uint64 // µJ since Open
}

// OpenRAPL finds the RAPL zones under sysfsRoot ("" means "/sys") and takes
// a priming read.
func OpenRAPL(sysfsRoot string) (*RAPL, error) {
	return openRAPL(sysfsRoot, os.ReadFile, os.ReadDir, time.Now)
}

func openRAPL(sysfsRoot string, readFile func(string) ([]byte, error), readDir func(string) ([]os.DirEntry, error), now func() time.Time) (*RAPL, error) {
	r := &RAPL{sysfsFS: newSysfsFS("rapl", sysfsRoot, readFile, readDir, now)}
	if err := r.discover(); err != nil {
		return nil, err
	}
	for _, z := range r.zones {
		maxUJ, err := r.readUint(filepath.Join(z.dir, "max_energy_range_uj"))
		if err != nil {
			return nil, err
		}
		z.max = maxUJ
	}
	t0 := r.now()
	for _, z := range r.zones {
		v, err := r.readEnergy(z)
		if err != nil {
			return nil, err
		}
		z.prev = v
	}
	r.prevT = sysfsMidTime(t0, r.now())
	return r, nil
}

// raplEntry is a class/powercap entry name split into control type and
// zone ids: "intel-rapl:0:1" -> "intel-rapl", [0 1].
type raplEntry struct {
	name  string
	ctype string
	ids   []uint64
}

func parseRAPLEntry(name string) (raplEntry, bool) {
	parts := strings.Split(name, ":")
	if len(parts) < 2 || !strings.HasPrefix(parts[0], "intel-rapl") {
		return raplEntry{}, false
	}
	e := raplEntry{name: name, ctype: parts[0]}
	for _, p := range parts[1:] {
		id, err := strconv.ParseUint(p, 16, 32) // powercap_sys.c: "%s:%x"
		if err != nil {
			return raplEntry{}, false
		}
		e.ids = append(e.ids, id)
	}
	return e, true
}

// raplControlTypes is the order in which control types are preferred. Only
// one is read, so that a package exposed twice is not counted twice:
// intel-rapl-mmio (the processor_thermal_device's MMIO interface on client
// parts) registers a second package-0 beside the MSR one.
var raplControlTypes = []string{"intel-rapl", "intel-rapl-tpmi", "intel-rapl-mmio"}

func (r *RAPL) discover() error {
	dir := filepath.Join(r.root, "class", "powercap")
	noZones := fmt.Errorf("rapl: no powercap RAPL zones under %s", dir)
	ents, err := r.readDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return noZones
		}
		return r.pathError(dir, err)
	}
	byType := map[string][]raplEntry{}
	for _, de := range ents {
		if e, ok := parseRAPLEntry(de.Name()); ok {
			byType[e.ctype] = append(byType[e.ctype], e)
		}
	}
	var types []string
	for t := range byType {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool {
		ri, rj := typeRank(types[i]), typeRank(types[j])
		if ri != rj {
			return ri < rj
		}
		return types[i] < types[j]
	})
	for _, t := range types {
		if err := r.zonesOf(dir, byType[t]); err != nil {
			return err
		}
		if len(r.zones) > 0 {
			return nil
		}
	}
	return noZones
}

func typeRank(t string) int {
	for i, p := range raplControlTypes {
		if p == t {
			return i
		}
	}
	return len(raplControlTypes)
}

// zonesOf takes the zones of one control type: top-level packages and psys,
// then the dram sub-zones of the packages.
func (r *RAPL) zonesOf(dir string, ents []raplEntry) error {
	sort.Slice(ents, func(i, j int) bool {
		a, b := ents[i].ids, ents[j].ids
		for k := 0; k < len(a) && k < len(b); k++ {
			if a[k] != b[k] {
				return a[k] < b[k]
			}
		}
		return len(a) < len(b)
	})
	pkgOf := map[string]int{} // top-level entry -> package index
	seen := map[int]bool{}
	var zones []*raplZone
	for _, e := range ents {
		if len(e.ids) != 1 {
			continue
		}
		zdir := filepath.Join(dir, e.name)
		name, err := r.readString(filepath.Join(zdir, "name"))
		if err != nil {
			return err
		}
		z := &raplZone{dir: zdir, entry: e.name, name: name}
		switch {
		case isPsys(name):
			z.kind = raplNode
			r.psys++
		case packageIndex(name) >= 0:
			z.kind, z.index = raplCPU, packageIndex(name)
			pkgOf[e.name] = z.index
			seen[z.index] = true
			if z.index+1 > r.nCPU {
				r.nCPU = z.index + 1
			}
		default:
			continue // a domain this source does not know
		}
		zones = append(zones, z)
	}
	for _, e := range ents {
		if len(e.ids) != 2 {
			continue
		}
		parent := e.name[:strings.LastIndex(e.name, ":")]
		pkg, ok := pkgOf[parent]
		if !ok {
			continue
		}
		zdir := filepath.Join(dir, e.name)
		name, err := r.readString(filepath.Join(zdir, "name"))
		if err != nil {
			return err
		}
		if name != "dram" {
			continue // core and uncore are inside the package
		}
		zones = append(zones, &raplZone{dir: zdir, entry: e.name, name: name, kind: raplMem, index: pkg})
		r.dram = true
	}
	r.zones = zones
	r.packages = len(seen)
	return nil
}

func isPsys(name string) bool {
	if name == "psys" {
		return true
	}
	n, ok := strings.CutPrefix(name, "psys-")
	_, err := strconv.Atoi(n)
	return ok && err == nil
}

// packageIndex returns P of "package-P" or "package-P-die-D", else -1.
func packageIndex(name string) int {
	s, ok := strings.CutPrefix(name, "package-")
	if !ok {
		return -1
	}
	if i := strings.Index(s, "-die-"); i >= 0 {
		if _, err := strconv.Atoi(s[i+len("-die-"):]); err != nil {
			return -1
		}
		s = s[:i]
	}
	p, err := strconv.Atoi(s)
	if err != nil || p < 0 {
		return -1
	}
	return p
}

// Name says what was found.
func (r *RAPL) Name() string {
	pk := "packages"
	if r.packages == 1 {
		pk = "package"
	}
	return fmt.Sprintf("rapl (%d %s, dram: %s, psys: %s)", r.packages, pk, sysfsYesNo(r.dram), sysfsYesNo(r.psys > 0))
}

func sysfsYesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// Wraps returns how many counter wraps and resets were seen since Open.
func (r *RAPL) Wraps() (wraps, resets uint64) { return r.wraps, r.resets }

// Read reads every zone's counter and returns the power since the last read
// and the energy since Open. On an error nothing is updated, so the next
// read covers the missed interval.
func (r *RAPL) Read(rd *sample.Reading) error {
	t0 := r.now()
	if len(r.cur) != len(r.zones) {
		r.cur = make([]uint64, len(r.zones))
	}
	cur := r.cur
	for i, z := range r.zones {
		v, err := r.readEnergy(z)
		if err != nil {
			return err
		}
		cur[i] = v
	}
	t := sysfsMidTime(t0, r.now())
	dt := t.Sub(r.prevT).Seconds()

	nMem := 0
	if r.dram {
		nMem = r.nCPU
	}
	l := sample.Layout{CPU: r.nCPU, Mem: nMem}
	rd.Reset(l)
	en := rd.Counters()
	r.delta.Reset(l)
	delta := r.delta.Counters() // µJ per domain this interval, NaN: none
	add := func(k raplKind, i int, total, d uint64) {
		var e, dd *float64
		switch k {
		case raplCPU:
			e, dd = &en.CPU[i], &delta.CPU[i]
		case raplMem:
			e, dd = &en.Mem[i], &delta.Mem[i]
		default:
			e, dd = &en.Node, &delta.Node
		}
		if math.IsNaN(*e) {
			*e, *dd = 0, 0
		}
		// Sums of integer µJ below 2^53 (9 GJ) are exact in float64.
		*e += float64(total)
		*dd += float64(d)
	}
	for i, z := range r.zones {
		d, wrapped, reset := raplDelta(z.prev, cur[i], z.max, dt)
		if wrapped {
			r.wraps++
		}
		if reset {
			r.resets++
		}
		z.prev = cur[i]
		z.total += d
		add(z.kind, z.index, z.total, d)
	}
	r.prevT = t

	watts := func(d float64) float64 {
		if math.IsNaN(d) || dt <= 0 {
			return math.NaN()
		}
		return d / 1e6 / dt
	}
	rd.Node = watts(delta.Node)
	for i := range rd.CPU {
		rd.CPU[i] = watts(delta.CPU[i])
	}
	for i := range rd.Mem {
		rd.Mem[i] = watts(delta.Mem[i])
	}
	en.Node /= 1e6
	for _, vs := range [][]float64{en.CPU, en.Mem} {
		for i := range vs {
			vs[i] /= 1e6
		}
	}
	return nil
}

// raplDelta is the energy in µJ between two readings of a counter that
// wraps at max: energy_uj runs 0..max_energy_range_uj and then starts again
// at 0, so a decrease is one wrap of max+1. (The kernel's max is
// ENERGY_STATUS_MASK, 0xffffffff, times the energy unit, so the true step
// from max to 0 is one unit, 61 µJ at the usual 2^-14 J, which sysfs does
// not expose: +1 undercounts by under one unit per wrap, 2.3e-10 of the
// energy between two wraps.)
// A decrease that would mean more than raplMaxPlausibleW is a reset, and
// counts the energy since the reset, cur.
func raplDelta(prev, cur, maxUJ uint64, dt float64) (d uint64, wrapped, reset bool) {
	if cur >= prev {
		return cur - prev, false, false
	}
	if maxUJ >= prev && dt > 0 {
		w := maxUJ - prev + cur + 1
		if float64(w)/1e6/dt <= raplMaxPlausibleW {
			return w, true, false
		}
	}
	return cur, false, true
}

// readEnergy reads a zone's energy_uj, saying plainly when only root may.
func (r *RAPL) readEnergy(z *raplZone) (uint64, error) {
	p := filepath.Join(z.dir, "energy_uj")
	v, err := r.readUint(p)
	if err != nil && errors.Is(err, fs.ErrPermission) {
		return 0, &sysfsError{msg: fmt.Sprintf("rapl: %s: permission denied (RAPL energy is readable by root only since Linux 5.10; run the broker as root or grant read access)", p), err: err}
	}
	return v, err
}
