// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/nested"
	"github.com/flux-framework/power-monitor/internal/report"
	"github.com/flux-framework/power-monitor/internal/report/picture"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// watchInterval is how often --watch redraws.
const watchInterval = 3 * time.Second

// plotBuckets is the number of buckets of --plot without --timeline: about
// one every 4 pixels of the picture's width.
const plotBuckets = 240

// timelineFlag is --timeline[=N]: set, with N buckets or 0 (sized to the
// terminal).
type timelineFlag struct {
	set     bool
	buckets int
}

func (f *timelineFlag) IsBoolFlag() bool { return true }

func (f *timelineFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return strconv.Itoa(f.buckets)
}

func (f *timelineFlag) Set(s string) error {
	switch s {
	case "true":
		f.set, f.buckets = true, 0
		return nil
	case "false":
		f.set = false
		return nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > wire.MaxBuckets {
		return fmt.Errorf("--timeline=%s: give a number of buckets from 1 to %d", s, wire.MaxBuckets)
	}
	f.set, f.buckets = true, n
	return nil
}

// terminalSize is the size of the terminal out writes to, else $COLUMNS
// and $LINES, else 80 by 24.
func terminalSize(out io.Writer) (cols, rows int) {
	if cols, rows = terminal(out); cols > 0 && rows > 0 {
		return cols, rows
	}
	cols, rows = 80, 24
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 0 {
		cols = n
	}
	if n, err := strconv.Atoi(os.Getenv("LINES")); err == nil && n > 0 {
		rows = n
	}
	return cols, rows
}

func isTerminal(out io.Writer) bool {
	f, ok := out.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// runTimeline asks for the series of req's window and prints it: a chart
// sized to the terminal, or the series as CSV or JSON, and/or a picture
// (--plot). With --watch it asks again every few seconds until the job
// has ended.
func runTimeline(o options, h *fluxbind.Handle, req wire.QueryRequest, stdout, stderr io.Writer, fail func(string, ...any) int) int {
	cols, rows := terminalSize(stdout)
	buckets := o.timeline.buckets
	switch {
	case buckets == 0 && !o.timeline.set:
		buckets = plotBuckets
	case buckets == 0:
		// A bucket a column of the chart (its labels take about 10).
		buckets = min(max(cols-10, 1), wire.MaxBuckets)
	}
	req.Series = &wire.SeriesSpec{Buckets: buckets, PerRank: o.perRank, Node: o.node}
	clear := o.watch && o.output == "" && isTerminal(stdout)
	for {
		resp, origin, err := nested.Query(h, req, 2*o.timeout+5)
		if err != nil {
			return fail("%v", err)
		}
		if resp.ID != 0 {
			resp.JobID = fluxbind.EncodeJobID(resp.ID, "f58")
		}
		s := report.SeriesFrom(resp, o.perRank, o.node)
		if s == nil {
			return fail("the power-monitor module that answered gives no series (it predates --timeline)")
		}
		if o.node && resp.Series.Node == nil {
			return fail("the power-monitor module that answered gives no nodes' series (it predates --node-series)")
		}
		if origin != nil && !origin.This {
			s.Title += "; " + origin.Line()
		}
		if o.plot != "" {
			if err := picture.Write(o.plot, s, picture.DefaultWidth, picture.DefaultHeight); err != nil {
				return fail("--plot: %v", err)
			}
		}
		if o.timeline.set {
			if clear {
				fmt.Fprint(stdout, "\x1b[H\x1b[2J")
				cols, rows = terminalSize(stdout) // it may have been resized
			}
			err := emit(o, stdout, func(w io.Writer) error {
				switch o.format {
				case report.FormatCSV:
					return report.SeriesCSV(w, s, !o.noHeader)
				case report.FormatJSON:
					return report.SeriesJSON(w, s)
				}
				return report.Chart(w, s, cols, rows-1)
			})
			if err != nil {
				return fail("writing the series: %v", err)
			}
		}
		if !o.watch || !resp.Running {
			if resp.Running && o.format != report.FormatTable {
				fmt.Fprintf(stderr, "%s: %s is still running: the series covers up to now\n", prog, jobName(resp))
			}
			if len(resp.Missing) > 0 {
				fmt.Fprintf(stderr, "%s: %d of %d ranks gave no data\n", prog, len(resp.Missing), resp.Total.Ranks)
			}
			return 0
		}
		time.Sleep(watchInterval)
	}
}

// timelineArgs checks the options that go with --timeline.
func timelineArgs(o options) error {
	series := o.timeline.set || o.plot != ""
	switch {
	case o.perRank && !series:
		return errors.New("--per-rank goes with --timeline or --plot")
	case o.node && !series:
		return errors.New("--node-series goes with --timeline or --plot")
	case o.node && o.jobid == "":
		return errors.New("--node-series shows a job's series beside its nodes': give -j JOBID (a query by ranks is the nodes' series already)")
	case o.watch && !series:
		return errors.New("--watch goes with --timeline or --plot")
	case o.watch && o.jobid == "":
		return errors.New("--watch follows a job: give -j JOBID")
	case o.plot != "":
		if _, err := picture.Kind(o.plot); err != nil {
			return fmt.Errorf("--plot: %w", err)
		}
	}
	return nil
}
