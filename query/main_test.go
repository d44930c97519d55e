// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseArgs(t *testing.T) {
	o, err := parseArgs([]string{"-j", "ƒ2Xyz", "--format=csv", "-o", "out.csv", "-t", "3"}, &bytes.Buffer{})
	if err != nil || o.jobid != "ƒ2Xyz" || o.format != "csv" || o.output != "out.csv" || o.timeout != 3 {
		t.Fatalf("%+v %v", o, err)
	}
	o, err = parseArgs([]string{"--ranks=0-3", "--start=1700000000"}, &bytes.Buffer{})
	if err != nil || o.ranks != "0-3" || o.start != "1700000000" || o.format != "table" {
		t.Fatalf("%+v %v", o, err)
	}
	for args, want := range map[string]string{
		"":                           "give a job with -j JOBID",
		"-j 1 --ranks=0":             "either -j JOBID or --ranks",
		"--ranks=0":                  "--ranks needs --start",
		"-j 1 -f xml":                `-f takes table, json or csv`,
		"-j 1 -o {nope}":             `unknown field "nope"`,
		"-j 1 --json --csv":          "give one output format",
		"-j 1 -o long --json":        "give one output format",
		"-j 1 --json --no-header":    "--no-header goes with a table or CSV",
		"--sources -o {rank}":        "not with --sources",
		"--report -o {energy_j:>5}x": "", // a report has energy_j: no error (see below)
		"-j 1 -t 0":                  "--timeout must be positive",
		"-j 1 extra":                 `unexpected argument "extra"`,
		"-j 1 --no-such-option=true": "flag provided but not defined",
		"-j 1 --start=1700000000":    "--start and --end go with --ranks",
	} {
		_, err := parseArgs(strings.Fields(args), &bytes.Buffer{})
		if want == "" {
			if err != nil {
				t.Errorf("parseArgs(%q): %v", args, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseArgs(%q) = %v, want an error containing %q", args, err, want)
		}
	}
}

// TestOutputFlags: -o/--format takes a format string or a named format;
// --json and --csv choose the kind; the forms of old scripts still work
// and say on stderr what replaces them.
func TestOutputFlags(t *testing.T) {
	for _, c := range []struct {
		args           string
		format, layout string
		output         string
		noHeader       bool
		stderr         string
	}{
		{"-j 1", "table", "", "", false, ""},
		{"-j 1 -o long", "table", "long", "", false, ""},
		{"-j 1 --format={rank}:{energy_j:.1f}", "table", "{rank}:{energy_j:.1f}", "", false, ""},
		{"-j 1 --json", "json", "", "", false, ""},
		{"-j 1 --csv --no-header --output=x.csv", "csv", "", "x.csv", true, ""},
		{"-j 1 -o devices --no-header", "table", "devices", "", true, ""},
		{"-j 1 --format=json", "json", "", "", false, "--format json is deprecated: use --json"},
		{"-j 1 -f csv", "csv", "", "", false, "-f csv is deprecated: use --csv"},
		{"-j 1 -f table", "table", "", "", false, "-f table is deprecated: use the default"},
		{"-j 1 -o out.json -f json", "json", "", "out.json", false, "-o FILE is deprecated: use --output=FILE"},
		{"--report -o long", "table", "long", "", false, ""},
	} {
		var errb bytes.Buffer
		o, err := parseArgs(strings.Fields(c.args), &errb)
		if err != nil {
			t.Errorf("%q: %v", c.args, err)
			continue
		}
		if o.format != c.format || o.layout != c.layout || o.output != c.output || o.noHeader != c.noHeader {
			t.Errorf("%q: format %q layout %q output %q no-header %v", c.args, o.format, o.layout, o.output, o.noHeader)
		}
		if c.stderr == "" && errb.Len() > 0 || !strings.Contains(errb.String(), c.stderr) {
			t.Errorf("%q: stderr %q, want %q", c.args, errb.String(), c.stderr)
		}
	}
}

func TestParseTime(t *testing.T) {
	if v, err := parseTime("1700000000.5"); err != nil || v != 1700000000.5 {
		t.Fatalf("%v %v", v, err)
	}
	if v, err := parseTime("2023-11-14T22:13:20Z"); err != nil || v != 1700000000 {
		t.Fatalf("%v %v", v, err)
	}
	for _, bad := range []string{"yesterday", "inf", "NaN", "-5", "0"} {
		if _, err := parseTime(bad); err == nil || !strings.Contains(err.Error(), "RFC 3339") {
			t.Errorf("parseTime(%q): %v", bad, err)
		}
	}
}

func TestRunFailsBeforeConnecting(t *testing.T) {
	var out, errb bytes.Buffer
	if rc := run([]string{"-j", "not-a-job"}, &out, &errb); rc != 1 {
		t.Fatalf("rc %d", rc)
	}
	if got := errb.String(); got != "flux-power-query: invalid jobid \"not-a-job\": not a Flux job id in any encoding (f58, decimal, hex, dothex, words)\n" {
		t.Fatalf("stderr %q", got)
	}
	errb.Reset()
	if rc := run([]string{"-h"}, &out, &errb); rc != 0 || !strings.Contains(errb.String(), "Usage: flux power-query -j JOBID") {
		t.Fatalf("help: rc %d %q", rc, errb.String())
	}
}

func TestParseTimeline(t *testing.T) {
	o, err := parseArgs([]string{"-j", "1", "--timeline"}, &bytes.Buffer{})
	if err != nil || !o.timeline.set || o.timeline.buckets != 0 {
		t.Fatalf("--timeline: %+v %v", o.timeline, err)
	}
	o, err = parseArgs([]string{"-j", "1", "--timeline=50", "--per-rank", "--plot", "x.svg", "--watch", "-f", "csv"}, &bytes.Buffer{})
	if err != nil || !o.timeline.set || o.timeline.buckets != 50 || !o.perRank || o.plot != "x.svg" || !o.watch || o.format != "csv" {
		t.Fatalf("--timeline=50 ...: %+v %v", o, err)
	}
	o, err = parseArgs([]string{"-j", "1", "--timeline", "--node-series"}, &bytes.Buffer{})
	if err != nil || !o.node {
		t.Fatalf("--node-series: %+v %v", o, err)
	}
	o, err = parseArgs([]string{"-j", "1", "--plot=x.PNG"}, &bytes.Buffer{})
	if err != nil || o.timeline.set || o.plot != "x.PNG" {
		t.Fatalf("--plot alone: %+v %v", o, err)
	}
	for args, want := range map[string]string{
		"-j 1 --timeline=0":                            "from 1 to 10000",
		"-j 1 --timeline=x":                            "from 1 to 10000",
		"-j 1 --timeline=10001":                        "from 1 to 10000",
		"-j 1 --per-rank":                              "--per-rank goes with --timeline or --plot",
		"-j 1 --watch":                                 "--watch goes with --timeline or --plot",
		"--ranks=0 --start=1 --timeline --watch":       "--watch follows a job",
		"-j 1 --plot=x.jpg":                            `--plot: cannot tell the picture kind of "x.jpg"`,
		"--sources --timeline":                         "give it alone",
		"-j 1 --node-series":                           "--node-series goes with --timeline or --plot",
		"--ranks=0 --start=1 --timeline --node-series": "give -j JOBID (a query by ranks is the nodes' series already)",
		"--sources --node-series":                      "give it alone",
	} {
		_, err := parseArgs(strings.Fields(args), &bytes.Buffer{})
		if want == "" {
			if err != nil {
				t.Errorf("parseArgs(%q): %v", args, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseArgs(%q) = %v, want an error containing %q", args, err, want)
		}
	}
}
