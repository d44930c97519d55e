// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/flux-framework/power-monitor/internal/account"
	"github.com/flux-framework/power-monitor/internal/report"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// outputFlags are the options that choose the output, as given:
// -o/--format FORMAT (a format string or a named format, as flux jobs
// takes), --json, --csv; and the forms kept for scripts written before
// them: --format=table|json|csv, -f, and -o FILE (now --output=FILE).
type outputFlags struct {
	o, format, f string
	json, csv    bool
}

// isFormat says whether s, given after -o, is a format (a format string, a
// named format of a job's table or of the report, or a kind) rather than
// the file name that -o took before it meant --format.
func isFormat(s string) bool {
	if strings.Contains(s, "{") {
		return true
	}
	named := append(report.JobFields(&wire.QueryResponse{}).NamedList(), account.ReportFields(&account.Report{}).NamedList()...)
	for _, n := range append(named, report.FormatTable, report.FormatJSON, report.FormatCSV) {
		if s == n {
			return true
		}
	}
	return false
}

// resolve sets o.format (table, json, csv), o.layout and o.output, and
// says on stderr what replaces a form kept for old scripts.
func (of outputFlags) resolve(o *options, stderr io.Writer) error {
	o.format = report.FormatTable
	deprecated := func(old, now string) {
		fmt.Fprintf(stderr, "%s: %s is deprecated: use %s\n", prog, old, now)
	}
	var kinds []string // what chose the kind or layout, for the error
	if of.o != "" && !isFormat(of.o) {
		if o.output != "" {
			return fmt.Errorf("-o %s and --output=%s: -o now takes a format (as flux jobs -o does); give the file once, with --output", of.o, o.output)
		}
		deprecated("-o FILE", "--output=FILE (-o now takes a format, as flux jobs -o does)")
		o.output, of.o = of.o, ""
	}
	for _, g := range []struct{ flag, v string }{{"-o", of.o}, {"--format", of.format}, {"-f", of.f}} {
		switch g.v {
		case "":
			continue
		case report.FormatTable:
			deprecated(g.flag+" table", "the default (or -o default)")
		case report.FormatJSON:
			deprecated(g.flag+" json", "--json")
			o.format = report.FormatJSON
		case report.FormatCSV:
			deprecated(g.flag+" csv", "--csv")
			o.format = report.FormatCSV
		default:
			if g.flag == "-f" {
				return fmt.Errorf("-f takes table, json or csv (and is deprecated): give a format with -o or --format")
			}
			o.layout = g.v
		}
		kinds = append(kinds, g.flag+" "+g.v)
	}
	if of.json {
		o.format = report.FormatJSON
		kinds = append(kinds, "--json")
	}
	if of.csv {
		o.format = report.FormatCSV
		kinds = append(kinds, "--csv")
	}
	if len(kinds) > 1 {
		return fmt.Errorf("%s: give one output format", strings.Join(kinds, ", "))
	}
	if o.noHeader && o.format == report.FormatJSON {
		return errors.New("--no-header goes with a table or CSV, not --json")
	}
	if o.layout != "" && o.format != report.FormatTable {
		return fmt.Errorf("-o %s formats a table: not with --json or --csv", o.layout)
	}
	return nil
}

// checkLayout checks a table's format string before anything is asked:
// its fields are those of a job's table, or of a report.
func checkLayout(o options) error {
	if o.layout == "" {
		return nil
	}
	var err error
	switch {
	case o.sources, o.timeline.set, o.plot != "":
		return fmt.Errorf("-o %s formats a job's table or a report: not with --sources, --timeline or --plot", o.layout)
	case o.report:
		_, err = account.ReportFields(&account.Report{}).Parse(o.layout)
	default:
		_, err = report.JobFields(&wire.QueryResponse{}).Parse(o.layout)
	}
	if err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	return nil
}

// tableWidth is the width to fit a table to: the terminal's where the
// output goes to one (stdout, not --output), else 0 (nothing is cut).
func tableWidth(o options, out io.Writer) int {
	if o.output != "" {
		return 0
	}
	cols, _ := terminal(out)
	return cols
}

// terminal is the size of the terminal out writes to; 0, 0 where it is
// not one (a file, a pipe). A terminal may not know its rows (0).
func terminal(out io.Writer) (cols, rows int) {
	f, ok := out.(*os.File)
	if !ok {
		return 0, 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Col == 0 {
		return 0, 0
	}
	return int(ws.Col), int(ws.Row)
}

// outputOf is the output options of a job's answer.
func outputOf(o options, stdout io.Writer) report.Output {
	return report.Output{Kind: o.format, Format: o.layout, NoHeader: o.noHeader, Width: tableWidth(o, stdout)}
}
