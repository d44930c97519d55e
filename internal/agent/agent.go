// Package agent is the standalone power monitor for machines without Flux:
// it samples the local node with the module's sources, writes every sample
// to a local trace file, the durable copy (package trace, which the replay source
// reads back), and publishes to the sinks config.Export
// asks for (MQTT, Prometheus), through their on-disk spools. With a job id
// it sends the run's energy as the job's summary when it stops.
package agent

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/flux-framework/power-monitor/internal/config"
	"github.com/flux-framework/power-monitor/internal/export"
	"github.com/flux-framework/power-monitor/internal/export/sinks"
	"github.com/flux-framework/power-monitor/internal/read/sampler"
	"github.com/flux-framework/power-monitor/internal/read/source"
	"github.com/flux-framework/power-monitor/internal/store/ring"
	"github.com/flux-framework/power-monitor/internal/trace"
)

// Options of one run.
type Options struct {
	config.Options
	Export   config.Export
	Duration time.Duration // 0: until the context ends
	Hostname string
	JobID    string // the job being measured, "" when none
}

// Run opens the sources, samples into the trace until ctx ends (or the
// duration passes), then stops the sampler, having written every sample
// taken. logf reports the sources and sampling errors (to stderr).
func Run(ctx context.Context, o Options, out io.Writer, logf func(string, ...any)) (uint64, error) {
	src, statuses, err := source.Open(o.Sources, source.Options{
		VariorumLib: o.VariorumLib, Sysfs: o.Sysfs, Procfs: o.Procfs,
		IdleW: o.IdleW, PeakW: o.PeakW, ReplaySpeed: o.ReplaySpeed,
	})
	// Why a source is not used matters when it was asked for (with none
	// working, the error gives every reason); otherwise one line names them.
	listed := map[string]bool{}
	for _, k := range o.Sources {
		listed[strings.SplitN(k, ":", 2)[0]] = true
	}
	var others []string
	for _, s := range statuses {
		switch {
		case s.Used:
		case err != nil:
		case listed[s.Kind]:
			logf("source %s not used: %s", s.Kind, s.Reason)
		default:
			others = append(others, s.Kind)
		}
	}
	if err != nil {
		return 0, fmt.Errorf("no power source: %w", err)
	}
	if len(others) > 0 {
		logf("not used: %s (--source=KIND says why)", strings.Join(others, ", "))
	}
	defer src.Close()
	logf("sampling every %gs from %s", o.Period.Seconds(), src.Name())

	tr := trace.NewWriter(out)
	stores := sampler.Tee{tr}
	var ex *sinks.Running
	if o.Export.Enabled() {
		meta := export.Meta{Hostname: o.Hostname, Rank: -1, JobID: o.JobID}
		ex, err = sinks.Start(o.Export, meta, src.Provenance(), func(sev export.Severity, msg string) { logf("%s", msg) })
		if err != nil {
			return 0, err
		}
		for _, n := range ex.Names() {
			logf("publishing to %s", n)
		}
		stores = append(stores, ex)
	}
	var run *ring.Store // the run, for the job's summary
	if o.JobID != "" && ex != nil {
		run = ring.New(o.BufferSize, o.Period)
		stores = append(stores, run)
	}
	s := sampler.New(src, stores, o.Period, func(msg string) {
		if msg == "" {
			logf("sampling works again")
		} else {
			logf("sample failed: %s", msg)
		}
	})
	if o.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Duration)
		defer cancel()
	}
	s.Start()
	<-ctx.Done()
	s.Stop() // joins the sampler: every sample taken is written
	if run != nil {
		if st := run.Stats(); st.Len > 0 {
			res := run.Window(st.Oldest, st.Newest)
			js := export.SummaryFromWindow(o.JobID, o.Hostname, res)
			ex.Job(js)
			logf("job %s: %.1f J over %.1f s (%.1f W)", o.JobID, js.EnergyJ, js.DurationS, js.PowerW)
		}
	}
	if ex != nil {
		ex.Stop() // delivers what is spooled, up to --flush-timeout
		for _, l := range ex.Stats().Sinks {
			logf("%s: %d records delivered, %d pending in the spool, %d dropped", l.Sink, l.Delivered, l.Pending, l.DroppedSpool+l.Rejected)
		}
	}
	return tr.Count(), tr.Err()
}
