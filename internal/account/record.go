// SPDX-License-Identifier: LGPL-3.0-only

// Package account is what a site bills on: a job's record, written once at
// the job's end into its main eventlog as the `power` event (Record,
// FromQuery), and the report that sums the records of many jobs per user,
// bank, project, queue, day or month (report.go). doc/rpc.md, "The job's
// record", specifies the event; flux-power-query(1), REPORT, the report.
package account

import (
	"fmt"
	"strings"

	"github.com/flux-framework/power-monitor/internal/store/aggregate"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// EventName is the name of the record's event in a job's main eventlog.
const EventName = "power"

// Version is the record's version.
const Version = 1

// Methods of a record: how its energy was obtained.
const (
	MethodCounter = "counter"
	MethodPower   = "power"
	MethodMixed   = "mixed"
	MethodNone    = "none"
)

// maxReasons bounds the parts of a record's reason.
const maxReasons = 8

// Record is the context of a job's `power` event. The module computes
// the figures (FromQuery); the job-manager plugin adds who ran the job
// and where it was charged (UserID, Queue, Bank, Project). Readers ignore
// keys they do not know.
type Record struct {
	Version       int     `json:"version"`
	EnergyJ       float64 `json:"energy_j"`
	AvgPowerW     float64 `json:"avg_power_w"`
	NodeEnergyJ   float64 `json:"node_energy_j"`
	NodeAvgPowerW float64 `json:"node_avg_power_w"`
	CPUEnergyJ    float64 `json:"cpu_energy_j"`
	MemEnergyJ    float64 `json:"mem_energy_j"`
	GPUEnergyJ    float64 `json:"gpu_energy_j"`
	Start         float64 `json:"start"`
	End           float64 `json:"end"`
	DurationS     float64 `json:"duration_s"`
	NNodes        int     `json:"nnodes"`
	Ranks         string  `json:"ranks,omitempty"`
	Coverage      float64 `json:"coverage"`
	Presence      string  `json:"data_presence"`
	Method        string  `json:"method"`
	Shared        bool    `json:"shared"`
	Missing       string  `json:"missing,omitempty"`
	Reason        string  `json:"reason,omitempty"`
	// Added by the plugin.
	UserID  *uint32 `json:"userid,omitempty"`
	Queue   string  `json:"queue,omitempty"`
	Bank    string  `json:"bank,omitempty"`
	Project string  `json:"project,omitempty"`
}

// FromQuery is the record of a job from the answer about its whole run
// (power-monitor.query, or the module's power-monitor.record): its totals,
// how the energy was obtained, and why anything is missing.
func FromQuery(resp *wire.QueryResponse) Record {
	t := resp.Total
	rec := Record{
		Version:   Version,
		EnergyJ:   t.EnergyJ,
		AvgPowerW: t.AvgPowerW, NodeEnergyJ: t.NodeEnergyJ, NodeAvgPowerW: t.NodeAvgPowerW,
		CPUEnergyJ: t.CPUEnergyJ, MemEnergyJ: t.MemEnergyJ, GPUEnergyJ: t.GPUEnergyJ,
		Start: resp.Start, End: resp.End, DurationS: t.DurationS,
		NNodes:   t.Ranks,
		Ranks:    resp.RankSet,
		Coverage: t.Coverage, Presence: t.Presence,
		Method: method(resp.Ranks),
		Shared: t.Shared,
	}
	var missing []uint32
	var why []string
	for _, m := range resp.Missing {
		missing = append(missing, m.Rank)
		r := m.Reason
		if m.Error != "" {
			r += " (" + m.Error + ")"
		}
		why = append(why, fmt.Sprintf("%s: %s", rankName(m.Rank, m.Hostname), r))
	}
	if len(missing) > 0 {
		rec.Missing = wire.FormatIDSet(missing)
	}
	for _, r := range resp.Ranks {
		if r.Presence != aggregate.PresenceComplete && r.Reason != "" {
			why = append(why, fmt.Sprintf("%s: %s", rankName(r.Rank, r.Hostname), r.Reason))
		}
	}
	if resp.ShareError != "" {
		why = append(why, resp.ShareError)
	}
	for _, r := range resp.Ranks {
		if r.JobError != "" {
			why = append(why, r.JobError)
		}
	}
	rec.Reason = joinReasons(why)
	return rec
}

func rankName(rank uint32, host string) string {
	if host == "" {
		return fmt.Sprintf("rank %d", rank)
	}
	return fmt.Sprintf("rank %d (%s)", rank, host)
}

// joinReasons joins at most maxReasons parts with "; ", then says how many
// more there are.
func joinReasons(parts []string) string {
	if len(parts) <= maxReasons {
		return strings.Join(parts, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(parts[:maxReasons], "; "), len(parts)-maxReasons)
}

// method says how the energy of the answered ranks was obtained, over
// every measured domain: counter or power where all of it came one way,
// mixed otherwise, none where nothing was measured.
func method(ranks []wire.RankResult) string {
	seen := map[string]bool{}
	for _, r := range ranks {
		for _, d := range domains(&r.Aggregate) {
			if d.Measured && d.Method != "" {
				seen[d.Method] = true
			}
		}
	}
	switch {
	case len(seen) == 0:
		return MethodNone
	case len(seen) == 1 && seen[MethodCounter]:
		return MethodCounter
	case len(seen) == 1 && seen[MethodPower]:
		return MethodPower
	}
	return MethodMixed
}

func domains(a *wire.Aggregate) []wire.Domain {
	out := make([]wire.Domain, 0, 1+len(a.CPU)+len(a.Mem)+len(a.GPU))
	out = append(out, a.Node)
	out = append(out, a.CPU...)
	out = append(out, a.Mem...)
	return append(out, a.GPU...)
}
