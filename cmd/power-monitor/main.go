// Command power-monitor is the standalone agent for machines without Flux
// (a workstation, a cloud VM, a Slurm cluster): it samples the local node
// with the same sources as the Flux module and writes every sample to a
// local trace file, which `--source=replay:FILE` plays back. It stops
// cleanly on SIGINT or SIGTERM, having written every sample taken.
//
//	power-monitor [-o FILE] [--duration=SECONDS] [-r SECONDS] [--source=LIST] ...
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/flux-framework/power-monitor/agent"
	"github.com/flux-framework/power-monitor/config"
)

const prog = "power-monitor"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, prog+": "+format+"\n", a...)
		return 1
	}
	o := agent.Options{Options: config.Defaults()}
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config.AddSampling(fs, &o.Options)
	host, _ := os.Hostname()
	output := "power-monitor-" + host + ".trace"
	fs.StringVar(&output, "o", output, "")
	fs.StringVar(&output, "output", output, "")
	var duration string
	fs.StringVar(&duration, "duration", "", "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stderr, usage)
			return 0
		}
		return fail("%s", config.CleanFlagError(err))
	}
	if fs.NArg() > 0 {
		return fail("unexpected argument %q", fs.Arg(0))
	}
	if err := o.Check(); err != nil {
		return fail("%v", err)
	}
	if duration != "" {
		d, err := strconv.ParseFloat(duration, 64)
		if err != nil || d <= 0 {
			return fail("option --duration: %q is not a positive number of seconds", duration)
		}
		o.Duration = time.Duration(d * float64(time.Second))
	}

	var out io.Writer = stdout
	var f *os.File
	if output != "-" {
		var err error
		// Appending: a restarted agent keeps what the previous one wrote.
		if f, err = os.OpenFile(output, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err != nil {
			return fail("%v", err)
		}
		out = f
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, prog+": "+format+"\n", a...) }
	n, err := agent.Run(ctx, o, out, logf)
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fail("%v", err)
	}
	logf("stopped: %d samples written to %s", n, output)
	return 0
}

const usage = `Usage: power-monitor [OPTIONS]

Sample this node's power with the power-monitor sources and write every
sample to a local trace file (JSON lines; --source=replay:FILE plays it).
Stops on SIGINT or SIGTERM, or after --duration.

  -o, --output=FILE        trace file, appended to (default
                           power-monitor-HOSTNAME.trace; - for stdout)
      --duration=SECONDS   stop after this long
  -r, --period=SECONDS     sampling period, at least 0.01 (default 1)
      --source=LIST        auto (default), variorum, nvml, rapl, hwmon,
                           estimate, replay:FILE; combinable
      --variorum-lib=PATH  --sysfs=PATH  --procfs=PATH
      --estimate-idle-w=W  --estimate-peak-w=W  --replay-speed=X
`
