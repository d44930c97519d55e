// SPDX-License-Identifier: LGPL-3.0-only

package export

import (
	"github.com/flux-framework/power-monitor/internal/charge"
	"github.com/flux-framework/power-monitor/internal/store/aggregate"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// SummaryFromQuery is a job's summary from the module's answer to
// power-monitor.query over the job's ranks (its totals from charge.Totals):
// the job's figures, and its nodes' beside them.
func SummaryFromQuery(q *wire.QueryResponse) JobSummary {
	return summary(q.JobID, q.UserID, q.Start, q.End, q.Total, q.Ranks, q.Missing)
}

// SummaryFromWindow is the summary of a job measured on one node outside
// Flux (the agent): the totals of one rank, its aggregate over the job's run.
// The job has the node to itself: its figures are the node's.
func SummaryFromWindow(jobid, hostname string, res aggregate.Result) JobSummary {
	ranks := []wire.RankResult{{Rank: 0, Hostname: hostname, Aggregate: wire.FromAggregate(res)}}
	return summary(jobid, nil, res.Start, res.End, charge.Totals(res.Start, res.End, ranks, 0), ranks, nil)
}

// summary is a job's summary: its totals, and each rank's part.
func summary(jobid string, uid *uint32, start, end float64, t wire.Total, ranks []wire.RankResult, missing []wire.Missing) JobSummary {
	js := JobSummary{
		ID: jobid, UserID: uid, Start: start, End: end,
		DurationS: t.DurationS, EnergyJ: t.EnergyJ, PowerW: t.AvgPowerW,
		NodeEnergyJ: t.NodeEnergyJ, NodePowerW: t.NodeAvgPowerW, Shared: t.Shared,
		CPUJ: t.CPUEnergyJ, MemJ: t.MemEnergyJ, GPUJ: t.GPUEnergyJ,
		Ranks: t.Ranks, Missing: []uint32{}, Coverage: t.Coverage, Presence: t.Presence,
	}
	for _, m := range missing {
		js.Missing = append(js.Missing, m.Rank)
	}
	for i := range ranks {
		r := &ranks[i]
		// charged as the totals charge it (charge.Charged)
		f := charge.Charged(r)
		js.Nodes = append(js.Nodes, JobNode{Rank: r.Rank, Hostname: r.Hostname,
			EnergyJ: f.EnergyJ, PowerW: f.MeanW, NodeEnergyJ: r.Node.EnergyJ, NodePowerW: r.Node.MeanW})
	}
	return js
}
