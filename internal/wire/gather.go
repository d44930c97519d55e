// Package gather builds a job's answer from the answers of its ranks: rows
// sorted by rank, the ranks that did not answer, and the job totals.
package wire

import (
	"math"
	"sort"

	"github.com/flux-framework/power-monitor/internal/store/aggregate"
)

// Summarize sorts resp.Ranks and resp.Missing by rank and fills resp.Total.
// nranks is the number of ranks asked (answered plus missing).
//
// Totals: energy sums the node energy of every rank (measured node power, or
// the sum of its domains where the platform has no node sensor); cpu, mem and
// gpu energies sum those domains. Duration is the window length. Average
// power is energy / duration, the job's mean draw over the whole window:
// where coverage is below 1 (gaps, missing ranks) it is lower than the sum of
// the ranks' means, and the presence says so.
// Coverage is the covered rank-seconds over nranks x duration, so a rank that
// did not answer counts as uncovered; presence is complete only when every
// rank answered with complete data.
func Summarize(resp *QueryResponse) {
	sort.Slice(resp.Ranks, func(i, j int) bool { return resp.Ranks[i].Rank < resp.Ranks[j].Rank })
	sort.Slice(resp.Missing, func(i, j int) bool { return resp.Missing[i].Rank < resp.Missing[j].Rank })
	if resp.Ranks == nil {
		resp.Ranks = []RankResult{}
	}
	if resp.Missing == nil {
		resp.Missing = []Missing{}
	}
	t := Total{
		DurationS: math.Max(0, resp.End-resp.Start),
		Ranks:     len(resp.Ranks) + len(resp.Missing),
		Answered:  len(resp.Ranks),
	}
	covered := 0.0
	complete := len(resp.Missing) == 0
	for i := range resp.Ranks {
		r := &resp.Ranks[i].Result
		t.EnergyJ += r.Node.EnergyJ
		t.CPUEnergyJ += sumEnergy(r.CPU)
		t.MemEnergyJ += sumEnergy(r.Mem)
		t.GPUEnergyJ += sumEnergy(r.GPU)
		t.Samples += r.Samples
		covered += r.CoveredS
		if r.Presence != aggregate.PresenceComplete {
			complete = false
		}
	}
	if t.DurationS > 0 {
		t.AvgPowerW = t.EnergyJ / t.DurationS
		if t.Ranks > 0 {
			t.Coverage = math.Min(1, covered/(float64(t.Ranks)*t.DurationS))
		}
	} else if complete && t.Ranks > 0 {
		t.Coverage = 1
	}
	switch {
	case t.Ranks > 0 && complete:
		t.Presence = aggregate.PresenceComplete
	case covered > 0:
		t.Presence = aggregate.PresencePartial
	default:
		t.Presence = aggregate.PresenceNone
	}
	resp.Total = t
}

func sumEnergy(ds []aggregate.Domain) float64 {
	s := 0.0
	for _, d := range ds {
		if d.Measured {
			s += d.EnergyJ
		}
	}
	return s
}
