// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"fmt"
	"strconv"
	"strings"
)

// GPU numbering. A reading's GPU k must be the GPU that a job's R calls
// gpu k on that rank. flux-core numbers a node's GPUs 0..n-1 in the order
// of hwloc's OS devices, one per PCI device (librlist/rhwloc.c,
// rhwloc_gpu_objects), which is PCI address order, and the job shell's
// gpu-affinity exports R's ids as CUDA_VISIBLE_DEVICES with
// CUDA_DEVICE_ORDER=PCI_BUS_ID (shell/gpubind.c): to a job's tasks, gpu k is
// the k-th GPU by PCI address. So the sources that see GPUs one by one
// number them by PCI address, domain:bus:device.function compared as
// numbers: NVML by each device's bus id (not by NVML index, which carries
// no such promise), hwmon's amdgpu devices by the PCI device their hwmon
// entry belongs to (not by hwmonN). Each names the address of each of its
// GPUs in its Name ("gpu0=0000:17:00.0").

// pciAddr is a PCI address, domain:bus:device.function.
type pciAddr struct {
	Domain, Bus, Device, Function uint32
}

// String is the address as sysfs, lspci and hwloc write it:
// "0000:17:00.0" (lower case, a domain of at least 4 digits).
func (a pciAddr) String() string {
	return fmt.Sprintf("%04x:%02x:%02x.%x", a.Domain, a.Bus, a.Device, a.Function)
}

// less orders addresses as flux-core numbers GPUs.
func (a pciAddr) less(b pciAddr) bool {
	if a.Domain != b.Domain {
		return a.Domain < b.Domain
	}
	if a.Bus != b.Bus {
		return a.Bus < b.Bus
	}
	if a.Device != b.Device {
		return a.Device < b.Device
	}
	return a.Function < b.Function
}

// parsePCIAddr reads "domain:bus:device.function" in hexadecimal, any case
// and any width: "0000:17:00.0" (sysfs), "00000000:17:00.0" (NVML's busId),
// "10000:01:00.0" (a VMD domain).
func parsePCIAddr(s string) (pciAddr, error) {
	bad := fmt.Errorf("%q is not a PCI address (domain:bus:device.function)", s)
	f := strings.Split(s, ":")
	if len(f) != 3 {
		return pciAddr{}, bad
	}
	dev, fn, ok := strings.Cut(f[2], ".")
	if !ok {
		return pciAddr{}, bad
	}
	var v [4]uint32
	for i, p := range []string{f[0], f[1], dev, fn} {
		n, err := strconv.ParseUint(p, 16, 32)
		if err != nil || p == "" {
			return pciAddr{}, bad
		}
		v[i] = uint32(n)
	}
	if v[1] > 0xff || v[2] > 0x1f || v[3] > 7 {
		return pciAddr{}, bad
	}
	return pciAddr{Domain: v[0], Bus: v[1], Device: v[2], Function: v[3]}, nil
}
