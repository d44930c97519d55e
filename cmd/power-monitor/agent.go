// SPDX-License-Identifier: LGPL-3.0-only

package main

import (
	"context"
	"io"
	"time"

	"github.com/flux-framework/power-monitor/internal/config"
	"github.com/flux-framework/power-monitor/internal/export"
	"github.com/flux-framework/power-monitor/internal/node"
	"github.com/flux-framework/power-monitor/internal/trace"
)

// agentOptions are one run's settings: the sampling and export options
// the module takes too, and the agent's own.
type agentOptions struct {
	config.Options
	Duration time.Duration // 0: until the context ends
	Hostname string
	JobID    string // the job being measured, "" when none
}

// runAgent samples this node (internal/node) into a trace written to out,
// the durable copy, and into the exports the options ask for, until ctx
// ends or the duration passes. It then stops the sampler, having written
// every sample taken; with a job id and an export it sends the run's
// energy as the job's summary, and delivers what is spooled. logf reports
// to stderr. It returns the number of samples written.
func runAgent(ctx context.Context, o agentOptions, out io.Writer, logf func(string, ...any)) (uint64, error) {
	tr := trace.NewWriter(out)
	n, err := node.Open(node.Config{
		Options:       o.Options,
		Meta:          export.Meta{Hostname: o.Hostname, Rank: -1, JobID: o.JobID},
		Extra:         tr,
		RequireSource: true,
	}, node.LogFunc(func(_ node.Severity, msg string) { logf("%s", msg) }))
	if err != nil {
		return 0, err
	}
	logf("sampling every %gs from %s", o.Period.Seconds(), n.SourceName())
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	n.Start()
	<-ctx.Done()
	n.StopSampling() // every sample taken is written
	ex := n.Exporter()
	if o.JobID != "" && ex != nil {
		if st := n.Store().Stats(); st.Len > 0 {
			js := export.SummaryFromWindow(o.JobID, o.Hostname, n.Store().Window(st.Oldest, st.Newest))
			ex.Job(js)
			logf("job %s: %.1f J over %.1f s (%.1f W)", o.JobID, js.EnergyJ, js.DurationS, js.PowerW)
		}
	}
	n.Stop() // delivers what is spooled, up to --flush-timeout
	if ex != nil {
		for _, l := range ex.Stats().Sinks {
			logf("%s: %d records delivered, %d pending in the spool, %d dropped", l.Sink, l.Delivered, l.Pending, l.DroppedSpool+l.Rejected)
		}
	}
	return tr.Count(), tr.Err()
}
