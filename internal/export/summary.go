package export

import (
	"github.com/flux-framework/power-monitor/internal/store/aggregate"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// SummaryFromQuery is a job's summary from the module's answer to
// power-monitor.query over the job's ranks.
func SummaryFromQuery(q *wire.QueryResponse) JobSummary {
	t := q.Total
	js := JobSummary{
		ID: q.JobID, UserID: q.UserID, Start: q.Start, End: q.End,
		DurationS: t.DurationS, EnergyJ: t.EnergyJ, PowerW: t.AvgPowerW,
		CPUJ: t.CPUEnergyJ, MemJ: t.MemEnergyJ, GPUJ: t.GPUEnergyJ,
		Ranks: t.Ranks, Missing: []uint32{}, Coverage: t.Coverage, Presence: t.Presence,
	}
	for _, m := range q.Missing {
		js.Missing = append(js.Missing, m.Rank)
	}
	for _, r := range q.Ranks {
		js.Nodes = append(js.Nodes, JobNode{Rank: r.Rank, Hostname: r.Hostname, EnergyJ: r.Node.EnergyJ, PowerW: r.Node.MeanW})
	}
	return js
}

// SummaryFromWindow is the summary of a job measured on one node outside
// Flux (the agent): its aggregate over the job's run.
func SummaryFromWindow(jobid, hostname string, res aggregate.Result) JobSummary {
	q := wire.QueryResponse{JobID: jobid, Start: res.Start, End: res.End,
		Ranks: []wire.RankResult{{Rank: 0, Hostname: hostname, Result: res}}}
	wire.Summarize(&q)
	return SummaryFromQuery(&q)
}
