// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"fmt"
	"io"
	"strings"

	"github.com/flux-framework/power-monitor/internal/read/sampler"
)

// Options say where each source looks.
type Options struct {
	VariorumLib  string  // "" searches the library path
	Sysfs        string  // RAPL powercap and hwmon live under it
	Procfs       string  // the estimate reads /proc/stat under it
	IdleW, PeakW float64 // estimate: watts per core idle and at full load
	ReplaySpeed  float64 // replay: trace seconds per wall second
}

// Status is what became of one kind of source on this node.
type Status struct {
	Kind   string `json:"kind"`
	Used   bool   `json:"used"`
	Name   string `json:"name,omitempty"`   // what it found, when it works
	Reason string `json:"reason,omitempty"` // why it is not used
}

// nativeKinds are the sensors auto tries where Variorum does not load, in
// the order domains are taken from them: CPU and memory from RAPL, GPUs from
// NVML, else from hwmon.
var nativeKinds = []string{"rapl", "nvml", "hwmon"}

// Open opens the sources of a --source list and merges them. "auto" means
// Variorum where it loads, otherwise every native sensor that works. Every
// sensor kind is probed, so that the statuses say, for each, what was found
// or why it is missing; the ones not used are closed again. It fails only
// when no listed source works, with every reason.
func Open(kinds []string, o Options) (*Merged, []Status, error) {
	want := map[string]bool{} // kind names (replay, not replay:FILE)
	auto := len(kinds) == 0 || (len(kinds) == 1 && kinds[0] == "auto")
	probe := append([]string{"variorum"}, nativeKinds...)
	for _, k := range kinds {
		want[kindName(k)] = true
		if k != "auto" && !contains(probe, k) {
			probe = append(probe, k) // estimate, replay:FILE
		}
	}
	opened := map[string]sampler.Source{}
	errs := map[string]error{}
	for _, k := range probe {
		src, err := openKind(k, o)
		if err != nil {
			errs[k] = err
			continue
		}
		opened[k] = src
	}

	var order []string
	switch {
	case auto && opened["variorum"] != nil:
		order = []string{"variorum"}
	case auto:
		order = nativeKinds
	default:
		order = kinds
	}
	merge := func(order []string) (*Merged, map[string]error, error) {
		var parts []Part
		for _, k := range order {
			if src := opened[k]; src != nil {
				parts = append(parts, Part{Kind: kindName(k), Source: src})
			}
		}
		if len(parts) == 0 {
			return nil, map[string]error{}, nil
		}
		return Merge(parts)
	}
	m, dropped, err := merge(order)
	if auto && m == nil && opened["variorum"] != nil {
		// Variorum loaded but its reading failed: fall back to the sensors.
		var nd map[string]error
		m, nd, err = merge(nativeKinds)
		for k, e := range nd {
			dropped[k] = e
		}
	}

	used := map[string]bool{}
	if m != nil {
		for _, p := range m.parts {
			used[p.Kind] = true
		}
	}
	var st []Status
	for _, k := range probe {
		s := Status{Kind: kindName(k)}
		src := opened[k]
		switch {
		case src == nil:
			s.Reason = errs[k].Error()
		case used[kindName(k)]:
			s.Used, s.Name = true, src.Name()
		case dropped[kindName(k)] != nil:
			s.Name, s.Reason = src.Name(), dropped[kindName(k)].Error()
		case auto:
			s.Name, s.Reason = src.Name(), "works, not used: auto uses Variorum where it loads"
		default:
			s.Name, s.Reason = src.Name(), "works, not listed in --source"
		}
		if !s.Used && src != nil {
			closeSource(src)
		}
		st = append(st, s)
	}
	if m == nil {
		var why []string
		for _, s := range st {
			if auto && s.Kind != "variorum" && !contains(nativeKinds, s.Kind) {
				continue
			}
			if !auto && !want[s.Kind] {
				continue
			}
			why = append(why, s.Reason)
		}
		if err != nil {
			why = append(why, err.Error())
		}
		return nil, st, fmt.Errorf("%s", strings.Join(why, "; "))
	}
	return m, st, nil
}

func kindName(k string) string {
	if strings.HasPrefix(k, "replay:") {
		return "replay"
	}
	return k
}

func openKind(k string, o Options) (sampler.Source, error) {
	switch {
	case k == "variorum":
		return OpenVariorum(o.VariorumLib)
	case k == "rapl":
		return OpenRAPL(o.Sysfs)
	case k == "nvml":
		return OpenNVML()
	case k == "hwmon":
		return OpenHwmon(o.Sysfs)
	case k == "estimate":
		return OpenEstimate(o.Procfs, o.IdleW, o.PeakW)
	case strings.HasPrefix(k, "replay:"):
		return OpenReplay(strings.TrimPrefix(k, "replay:"), o.ReplaySpeed)
	}
	return nil, fmt.Errorf("unknown source %q", k)
}

// Close closes every part that can be closed (libraries, NVML).
func (m *Merged) Close() {
	for _, p := range m.parts {
		closeSource(p.Source)
	}
}

func closeSource(s sampler.Source) {
	switch c := s.(type) {
	case io.Closer:
		c.Close()
	case interface{ Close() }:
		c.Close()
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
