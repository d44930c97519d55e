// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

// Command flux-power-query prints a job's power and energy, per rank and per
// device, from the power-monitor module. `flux power-query` runs it.
//
//	flux power-query -j JOBID [-o FORMAT] [--json|--csv] [--no-header] [--output=FILE]
//	flux power-query --ranks=IDSET --start=T [--end=T]
//	flux power-query -j JOBID --timeline[=N] [--per-rank] [--node-series] [--plot FILE] [--watch]
//	flux power-query --sources
//	flux power-query --report [--since=WHEN] [--until=WHEN] [--by=KEYS] [--user=USER] [--price=X] [--carbon=G]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"time"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/account"
	"github.com/flux-framework/power-monitor/internal/nested"
	"github.com/flux-framework/power-monitor/internal/report"
	"github.com/flux-framework/power-monitor/internal/wire"
)

const prog = "flux-power-query"

func init() {
	// A flux_t belongs to one thread.
	runtime.LockOSThread()
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	jobid string
	// format is the kind of output: table, json or csv (outputFlags).
	format string
	// layout is a table's format string or named format ("": default).
	layout   string
	noHeader bool
	output   string
	ranks    string
	start    string
	end      string
	timeout  float64
	sources  bool
	// The series (timeline.go).
	timeline timelineFlag
	plot     string
	perRank  bool
	node     bool // --node-series
	watch    bool
	// The report (report.go).
	report       bool
	since, until string
	by, user     string
	price        string
	carbon       string
	rep          reportArgs // the above, read
}

func usage(fs *flag.FlagSet, w io.Writer) func() {
	return func() {
		fmt.Fprintf(w, `Usage: flux power-query -j JOBID [-o FORMAT] [--json|--csv] [--no-header]
       flux power-query --ranks=IDSET --start=TIME [--end=TIME] [-o FORMAT]
       flux power-query -j JOBID --timeline[=N] [--json|--csv]
                        [--per-rank] [--node-series] [--plot FILE] [--watch]
       flux power-query --sources [--json]
       flux power-query --report [--since=WHEN] [--until=WHEN] [--by=KEYS]
                        [--user=USER] [--price=X] [--carbon=G] [-o FORMAT]

Print the power and energy of a job (or of ranks over a time interval), per
rank and per device, from the power-monitor broker module. A job is charged
its own part of each node it shared with other jobs (its GPUs, and its
cores' part of the rest); the node's figures are beside. A running job is
reported up to now. TIME is seconds since the epoch or RFC 3339. Inside
flux batch or flux alloc with no module loaded, a job is asked of the
nearest enclosing instance that has one, and the output says which answered.
Where the samples of an inactive job are gone (overwritten, or the module
was reloaded), the job's record, written into its eventlog when it ended by
power-record.so, answers, and the output says so.

Options:
  -j, --jobid=JOBID     job to report (any jobid encoding: f58, decimal, hex...)
  -o, --format=FORMAT   the table's format: a format string of {field:spec}
                        items, as flux jobs -o takes ({rank} {energy_j:.1f}),
                        or a named format: default, devices (each device's
                        power), long (everything); the fields are listed
                        in flux-power-query(1)
      --json            the JSON answer, exact numbers in base units
      --csv             CSV, exact numbers in base units
      --no-header       a table's lines only (no title, header, notes);
                        CSV without its header line
      --output=FILE     write to FILE instead of standard output
                        (--format=table|json|csv, -f and -o FILE still
                        work, and say what replaces them)
  -r, --ranks=IDSET     instance owner only: ranks to report, e.g. 0-3
  -s, --start=TIME      with --ranks: start of the interval
  -e, --end=TIME        with --ranks: end of the interval (default: now)
  -t, --timeout=SECONDS time each rank has to answer (default %g)
      --timeline[=N]    the power over time, in N buckets (default: one a
                        column of the terminal): a chart in the terminal
                        (seconds from the start, watts, a line per domain
                        kind summed over ranks); with --csv or --json
                        the series itself (CSV: start, end, rank, domain,
                        mean_w, min_w, max_w, coverage, series)
      --per-rank        with --timeline or --plot: a line per rank and kind
      --node-series     with --timeline or --plot and a job: the nodes' own
                        series beside what the job is charged (series
                        "node"; in the chart in capitals, in the picture
                        dashed)
      --plot=FILE       draw the power over time into FILE: PNG, SVG or PDF
                        from its extension, with each kind's min-max band
      --watch           with --timeline: redraw every few seconds until the
                        job ends
      --sources         list, for every rank, the power sources found, the
                        ones used, and why each other one is missing
      --report          sum the records of inactive jobs (a TOTAL line, or a
                        line per group): JOBS, NODE-H, ENERGY in kWh and J,
                        and jobs without a record or with partial data
      --since=WHEN      with --report: jobs that became inactive at or after
                        WHEN: now, today, yesterday, -1h, -2d, -30m,
                        YYYY-MM-DD[ HH:MM[:SS]], RFC 3339, unix seconds
                        (local time)
      --until=WHEN      with --report: ... and before WHEN (default: now)
      --by=KEYS         with --report: a line per user, bank, project,
                        queue, day or month, or a comma list (user,month)
      --user=USER       with --report: only USER's jobs (name or uid); a
                        guest sees only its own jobs
      --price=X         with --report: a COST column, X per kWh
      --carbon=G        with --report: a CO2E-KG column, G g CO2e per kWh
`, wire.DefaultTimeout)
	}
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, by run
	fs.Usage = func() {}
	for _, n := range []string{"j", "jobid"} {
		fs.StringVar(&o.jobid, n, "", "")
	}
	var of outputFlags
	fs.StringVar(&of.o, "o", "", "")
	fs.StringVar(&of.format, "format", "", "")
	fs.StringVar(&of.f, "f", "", "")
	fs.StringVar(&o.output, "output", "", "")
	fs.BoolVar(&of.json, "json", false, "")
	fs.BoolVar(&of.csv, "csv", false, "")
	fs.BoolVar(&o.noHeader, "no-header", false, "")
	for _, n := range []string{"r", "ranks"} {
		fs.StringVar(&o.ranks, n, "", "")
	}
	for _, n := range []string{"s", "start"} {
		fs.StringVar(&o.start, n, "", "")
	}
	for _, n := range []string{"e", "end"} {
		fs.StringVar(&o.end, n, "", "")
	}
	for _, n := range []string{"t", "timeout"} {
		fs.Float64Var(&o.timeout, n, wire.DefaultTimeout, "")
	}
	fs.BoolVar(&o.sources, "sources", false, "")
	fs.Var(&o.timeline, "timeline", "")
	fs.StringVar(&o.plot, "plot", "", "")
	fs.BoolVar(&o.perRank, "per-rank", false, "")
	fs.BoolVar(&o.node, "node-series", false, "")
	fs.BoolVar(&o.watch, "watch", false, "")
	fs.BoolVar(&o.report, "report", false, "")
	fs.StringVar(&o.since, "since", "", "")
	fs.StringVar(&o.until, "until", "", "")
	fs.StringVar(&o.by, "by", "", "")
	fs.StringVar(&o.user, "user", "", "")
	fs.StringVar(&o.price, "price", "", "")
	fs.StringVar(&o.carbon, "carbon", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(fs, stderr)()
		}
		return o, err
	}
	if err := of.resolve(&o, stderr); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected argument %q (the jobid goes after -j)", fs.Arg(0))
	case o.timeout <= 0:
		return o, fmt.Errorf("--timeout must be positive")
	}
	if err := reportArgsAlone(o); err != nil {
		return o, err
	}
	if err := checkLayout(o); err != nil {
		return o, err
	}
	if o.report {
		if o.format != report.FormatTable && o.format != report.FormatJSON && o.format != report.FormatCSV {
			return o, fmt.Errorf("unknown format %q: use table, json or csv", o.format)
		}
		var err error
		o.rep, err = parseReportArgs(o, time.Now())
		return o, err
	}
	switch {
	case o.sources && (o.timeline.set || o.plot != "" || o.perRank || o.node || o.watch):
		return o, errors.New("--sources lists every rank's sources: give it alone")
	case o.sources && (o.jobid != "" || o.ranks != ""):
		return o, errors.New("--sources lists every rank's sources: give it alone")
	case o.sources:
		if o.format != report.FormatTable && o.format != report.FormatJSON {
			return o, fmt.Errorf("--sources prints a table or json, not %q", o.format)
		}
		return o, nil
	case o.jobid == "" && o.ranks == "":
		return o, errors.New("give a job with -j JOBID (or --ranks and --start)")
	case o.jobid != "" && o.ranks != "":
		return o, errors.New("give either -j JOBID or --ranks, not both")
	case o.ranks != "" && o.start == "":
		return o, errors.New("--ranks needs --start")
	case o.jobid != "" && (o.start != "" || o.end != ""):
		return o, errors.New("--start and --end go with --ranks; a job's window is its run time")
	case o.format != report.FormatTable && o.format != report.FormatJSON && o.format != report.FormatCSV:
		return o, fmt.Errorf("unknown format %q: use table, json or csv", o.format)
	case o.timeout <= 0:
		return o, fmt.Errorf("--timeout must be positive")
	}
	if err := timelineArgs(o); err != nil {
		return o, err
	}
	return o, nil
}

// reportArgsAlone checks that --report comes alone with its options, and
// its options with it.
func reportArgsAlone(o options) error {
	if !o.report {
		for _, f := range []struct{ name, v string }{
			{"--since", o.since}, {"--until", o.until}, {"--by", o.by}, {"--user", o.user},
			{"--price", o.price}, {"--carbon", o.carbon},
		} {
			if f.v != "" {
				return fmt.Errorf("%s goes with --report", f.name)
			}
		}
		return nil
	}
	switch {
	case o.jobid != "":
		return errors.New("--report sums the records of many jobs: give it without -j (flux power-query -j JOBID shows one job)")
	case o.ranks != "" || o.start != "" || o.end != "":
		return errors.New("--report selects jobs with --since and --until, not --ranks, --start or --end")
	case o.sources || o.timeline.set || o.plot != "" || o.perRank || o.node || o.watch:
		return errors.New("--report goes with --since, --until, --by, --user, --price, --carbon, -o, --json, --csv, --no-header and --output only")
	}
	return nil
}

// parseTime reads seconds since the epoch or an RFC 3339 time.
func parseTime(s string) (float64, error) {
	if v, err := strconv.ParseFloat(s, 64); err == nil && v > 0 && !math.IsInf(v, 0) {
		return v, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return float64(t.UnixNano()) / 1e9, nil
	}
	return 0, fmt.Errorf("invalid time %q: give seconds since the epoch or RFC 3339 (2026-11-22T10:00:00Z)", s)
}

func run(args []string, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, prog+": "+format+"\n", a...)
		return 1
	}
	fluxbind.SetLocale()
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return fail("%v", err)
	}

	if o.sources {
		return runSources(o, stdout, fail)
	}
	if o.report {
		return runReport(o, stdout, stderr, fail)
	}
	req := wire.QueryRequest{Timeout: o.timeout}
	if o.jobid != "" {
		id, err := fluxbind.ParseJobID(o.jobid)
		if err != nil {
			return fail("invalid jobid %q: not a Flux job id in any encoding (f58, decimal, hex, dothex, words)", o.jobid)
		}
		req.JobID = wire.JobID(strconv.FormatUint(id, 10))
	} else {
		req.Ranks = o.ranks
		if req.Start, err = parseTime(o.start); err != nil {
			return fail("--start: %v", err)
		}
		if o.end != "" {
			if req.End, err = parseTime(o.end); err != nil {
				return fail("--end: %v", err)
			}
		}
	}
	h, err := fluxbind.Open("")
	if err != nil {
		return fail("%v (run it inside a Flux instance, or set FLUX_URI)", err)
	}
	defer h.Close()
	if o.timeline.set || o.plot != "" {
		return runTimeline(o, h, req, stdout, stderr, fail)
	}
	// The module answers within its lookup and per-rank timeouts; bound
	// the wait anyway so that a wedged broker cannot hang the command.
	// Where this instance has no module, an enclosing one answers.
	resp, origin, err := nested.Query(h, req, 2*o.timeout+5)
	if req.JobID != "" {
		// the samples may be gone where the job's record is not
		id, _ := strconv.ParseUint(string(req.JobID), 10, 64)
		if fb := recordFallback(h, id, resp, err, o.timeout+5); fb != nil {
			if err := emit(o, stdout, func(w io.Writer) error { return account.WriteFallbackOutput(w, outputOf(o, stdout), fb, time.Local) }); err != nil {
				return fail("writing the report: %v", err)
			}
			if o.format != report.FormatTable {
				fmt.Fprintf(stderr, "%s: %s\n", prog, fb.Line())
			}
			return 0
		}
	}
	if err != nil {
		return fail("%v", err)
	}
	if resp.ID != 0 {
		resp.JobID = fluxbind.EncodeJobID(resp.ID, "f58") // in this user's locale
	}

	if err := emit(o, stdout, func(w io.Writer) error { return report.WriteOutput(w, outputOf(o, stdout), resp, origin) }); err != nil {
		return fail("writing the report: %v", err)
	}
	if o.format != report.FormatTable && resp.Running {
		fmt.Fprintf(stderr, "%s: %s is still running: figures cover up to now\n", prog, jobName(resp))
	}
	if len(resp.Missing) > 0 {
		fmt.Fprintf(stderr, "%s: %d of %d ranks gave no data:", prog, len(resp.Missing), resp.Total.Ranks)
		for _, m := range resp.Missing {
			fmt.Fprintf(stderr, " %d (%s)", m.Rank, m.Reason)
		}
		fmt.Fprintln(stderr)
	}
	return 0
}

// emit writes the output with write: to stdout, or to the file -o names,
// where a failure to write or to close the file is an error.
func emit(o options, stdout io.Writer, write func(io.Writer) error) error {
	if o.output == "" {
		return write(stdout)
	}
	f, err := os.Create(o.output)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func jobName(r *wire.QueryResponse) string {
	if r.JobID != "" {
		return "job " + r.JobID
	}
	return "the interval"
}
