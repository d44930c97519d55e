// SPDX-License-Identifier: LGPL-3.0-only

package charge

import (
	"math"
	"sort"

	"github.com/flux-framework/power-monitor/internal/store/aggregate"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// Summarize puts a job's answer in order: resp.Ranks and resp.Missing sorted
// by rank (empty lists, not null), and resp.Total from Totals.
func Summarize(resp *wire.QueryResponse) {
	sort.Slice(resp.Ranks, func(i, j int) bool { return resp.Ranks[i].Rank < resp.Ranks[j].Rank })
	sort.Slice(resp.Missing, func(i, j int) bool { return resp.Missing[i].Rank < resp.Missing[j].Rank })
	if resp.Ranks == nil {
		resp.Ranks = []wire.RankResult{}
	}
	if resp.Missing == nil {
		resp.Missing = []wire.Missing{}
	}
	resp.Total = Totals(resp.Start, resp.End, resp.Ranks, len(resp.Missing))
}

// Totals are the totals of a job over the window [start, end] from the
// answers of its ranks and the number of ranks asked that gave none. It is
// the one place a job's totals are computed: the query's answer, the job
// summaries sent to the exporters and the agent's summary of its run all
// come from here.
//
// Energy sums the job's energy on every rank: its part of the rank (Job,
// from Attribute) where its share is known, nothing where the share is
// known but its part could not be computed (JobError; JobErrors counts
// them), and the rank's node energy (measured node power, or the sum of its
// domains where the platform has no node sensor) where no share is known (a
// query by ranks and interval, or the R's could not be read). cpu, mem and
// gpu energies sum those domains alike. NodeEnergyJ sums the node energy of
// every rank whatever the share. Duration is the window length. Average
// power is energy / duration, the mean draw over the whole window: where
// coverage is below 1 (gaps, missing ranks) it is lower than the sum of the
// ranks' means, and the presence says so. Shared says that the job held
// only part of some rank.
// Coverage is the covered rank-seconds over ranks x duration, so a rank that
// did not answer counts as uncovered; presence is complete only when every
// rank answered with complete data.
func Totals(start, end float64, ranks []wire.RankResult, missing int) wire.Total {
	t := wire.Total{
		DurationS: math.Max(0, end-start),
		Ranks:     len(ranks) + missing,
		Answered:  len(ranks),
	}
	covered := 0.0
	complete := missing == 0
	for i := range ranks {
		rr := &ranks[i]
		r := &rr.Aggregate
		f := Charged(rr)
		t.EnergyJ += f.EnergyJ
		t.CPUEnergyJ += sumEnergy(f.CPU)
		t.MemEnergyJ += sumEnergy(f.Mem)
		t.GPUEnergyJ += sumEnergy(f.GPU)
		if rr.JobError != "" {
			t.JobErrors++
		}
		if rr.Share != nil && !rr.Share.Exclusive {
			t.Shared = true
		}
		t.NodeEnergyJ += r.Node.EnergyJ
		t.Samples += r.Samples
		covered += r.CoveredS
		if r.Presence != aggregate.PresenceComplete {
			complete = false
		}
	}
	if t.DurationS > 0 {
		t.AvgPowerW = t.EnergyJ / t.DurationS
		t.NodeAvgPowerW = t.NodeEnergyJ / t.DurationS
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
	return t
}

// Charged is what a job is charged on the rank r: its part (Job) where its
// share is known, nothing where the share is known but the part could not
// be computed (JobError), and the node's figures where no share is known.
// Totals sums it; the reports print it.
func Charged(r *wire.RankResult) wire.JobFigures {
	switch {
	case r.Job != nil:
		return *r.Job
	case r.JobError != "":
		return wire.JobFigures{}
	}
	return nodeFigures(r)
}

func sumEnergy(ds []wire.Domain) float64 {
	s := 0.0
	for _, d := range ds {
		if d.Measured {
			s += d.EnergyJ
		}
	}
	return s
}
