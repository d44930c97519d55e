// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"errors"
	"fmt"
	"math"

	"github.com/prometheus/procfs"

	"github.com/flux-framework/power-monitor/internal/sample"
)

// Estimate guesses the CPU power of a machine that has no power sensor (a
// virtual machine, typically) from its CPU utilisation in /proc/stat:
//
//	CPU[0] = n*idleW + u*n*(peakW - idleW)
//
// where n is the number of CPUs /proc/stat lists (logical CPUs: vCPUs in a
// VM, hardware threads on metal) and u the fraction of their time spent
// busy between two reads. It is one domain for the whole node; memory and
// GPUs are not estimated, node power is NaN (the caller derives it) and
// there are no energy counters: an estimate is not a measurement, and Name
// says so.
//
// Busy is user + nice + system + irq + softirq (guest and guest_nice are
// already inside user and nice); idle is idle + iowait; u is busy over
// busy + idle + steal. Steal, the time the hypervisor gave the physical CPU
// to someone else, counts as time this machine drew no power. A sum that
// goes back (iowait does on some kernels) counts as 0. When no jiffy has
// passed since the last read, the last estimate is returned again; before
// any interval, the utilisation since boot is used.
//
// Sensible per-CPU figures: the Cloud Carbon Footprint coefficients, from
// the SPECpower_ssj2008 results, are per vCPU 0.74 W idle and 3.5 W at full
// load (AWS average), 0.71/4.26 W (GCP median), 0.78/3.76 W (Azure
// average); whole servers, memory included, per hardware thread. For a
// physical core of a current server CPU, roughly 1-2 W idle and 5-10 W at
// full load (TDP over cores, plus the idle share). They are guesses either
// way: errors of a factor of two are to be expected.
type Estimate struct {
	fs    procfs.FS
	root  string
	n     int
	idleW float64
	peakW float64
	prev  cpuJiffies
	lastU float64 // utilisation of the last interval
}

// cpuJiffies are the /proc/stat CPU times that matter, in jiffies.
type cpuJiffies struct{ busy, idle, steal float64 }

// USER_HZ, the unit of /proc/stat; procfs divides by it.
const estimateUserHZ = 100

// OpenEstimate reads procRoot/stat ("" means /proc) once to count the CPUs
// and prime the counters. idleW and peakW are watts per CPU idle and fully
// busy.
func OpenEstimate(procRoot string, idleW, peakW float64) (*Estimate, error) {
	if procRoot == "" {
		procRoot = procfs.DefaultMountPoint
	}
	for _, w := range []float64{idleW, peakW} {
		if math.IsNaN(w) || math.IsInf(w, 0) || w < 0 {
			return nil, fmt.Errorf("estimate: %g W per core: want a number >= 0", w)
		}
	}
	if peakW < idleW {
		return nil, fmt.Errorf("estimate: peak %g W per core is below idle %g W", peakW, idleW)
	}
	fs, err := procfs.NewFS(procRoot)
	if err != nil {
		return nil, fmt.Errorf("estimate: %w", err)
	}
	e := &Estimate{fs: fs, root: procRoot, idleW: idleW, peakW: peakW}
	st, err := fs.Stat()
	if err != nil {
		return nil, fmt.Errorf("estimate: %w", err)
	}
	e.n = len(st.CPU)
	if e.n == 0 {
		return nil, fmt.Errorf("estimate: %s/stat lists no cpuN line", procRoot)
	}
	e.prev = jiffiesOf(st.CPUTotal)
	if t := e.prev.busy + e.prev.idle + e.prev.steal; t > 0 {
		e.lastU = e.prev.busy / t
	} else {
		return nil, fmt.Errorf("estimate: %s/stat has no cpu line", procRoot)
	}
	return e, nil
}

func jiffiesOf(c procfs.CPUStat) cpuJiffies {
	j := func(s float64) float64 { return math.Round(s * estimateUserHZ) }
	return cpuJiffies{
		busy:  j(c.User) + j(c.Nice) + j(c.System) + j(c.IRQ) + j(c.SoftIRQ),
		idle:  j(c.Idle) + j(c.Iowait),
		steal: j(c.Steal),
	}
}

// Name says that this is an estimate and from what.
func (e *Estimate) Name() string {
	return fmt.Sprintf("estimate (from %s/stat: %d logical CPUs, idle %g W/peak %g W per logical CPU)", e.root, e.n, e.idleW, e.peakW)
}

// Read estimates the power over the interval since the last read.
func (e *Estimate) Read(r *sample.Reading) error {
	st, err := e.fs.Stat()
	if err != nil {
		return err
	}
	cur := jiffiesOf(st.CPUTotal)
	if cur == (cpuJiffies{}) {
		return errors.New("stat has no cpu line")
	}
	d := func(a, b float64) float64 { return math.Max(a-b, 0) }
	busy, idle, steal := d(cur.busy, e.prev.busy), d(cur.idle, e.prev.idle), d(cur.steal, e.prev.steal)
	if t := busy + idle + steal; t > 0 {
		e.lastU = busy / t
		e.prev = cur
	}
	n := float64(e.n)
	r.Reset(sample.Layout{CPU: 1})
	r.CPU[0] = n*e.idleW + e.lastU*n*(e.peakW-e.idleW)
	return nil
}
