// SPDX-License-Identifier: LGPL-3.0-only

// Command power-monitor is the standalone agent for machines without Flux
// (a workstation, a cloud VM, a Slurm cluster): it samples the local node
// with the same sources as the Flux module, writes every sample to a local
// trace file, which `--source=replay:FILE` plays back, and publishes to
// MQTT and Prometheus. It stops cleanly on SIGINT or SIGTERM, having written
// every sample taken and flushed the last batch to every sink.
//
//	power-monitor [-o FILE] [--duration=SECONDS] [-r SECONDS] [--source=LIST]
//	              [--mqtt-broker=HOST ...] [--prometheus-remote-write=URL ...]
//	              [--prometheus-listen=ADDR] [--jobid=ID] ...
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

	"github.com/flux-framework/power-monitor/internal/config"
)

const prog = "power-monitor"

// defaultVariorumLib is the libvariorum that configure found
// (--with-variorum=DIR), set at link time as for the module; "" searches
// the library path.
var defaultVariorumLib = ""

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, prog+": "+format+"\n", a...)
		return 1
	}
	o := agentOptions{Options: config.Defaults()}
	fs := flag.NewFlagSet(prog, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	config.AddSampling(fs, &o.Options)
	config.AddExport(fs, &o.Export)
	o.JobID = jobFromEnv(os.Getenv)
	fs.StringVar(&o.JobID, "jobid", o.JobID, "")
	host, _ := os.Hostname()
	o.Hostname = host
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
	if o.VariorumLib == "" {
		o.VariorumLib = defaultVariorumLib
	}
	if f := fs.Lookup("mqtt-password"); f != nil && f.Value.String() != "" {
		fmt.Fprintf(stderr, "%s: warning: %s\n", prog, config.SecretWarning(true))
	}
	if err := o.Export.Resolve(os.Getenv); err != nil {
		return fail("%v", err)
	}
	if o.Export.SpoolDir == "" {
		// Beside the trace: everything the agent keeps is in one place.
		o.Export.SpoolDir = output + ".spool"
		if output == "-" {
			o.Export.SpoolDir = "power-monitor-" + host + ".spool"
		}
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
	n, err := runAgent(ctx, o, out, logf)
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

// jobFromEnv is the job the agent runs in, from the batch system's
// environment: Flux, Slurm, PBS/Torque, LSF.
func jobFromEnv(getenv func(string) string) string {
	for _, v := range []string{"FLUX_JOB_ID", "SLURM_JOB_ID", "PBS_JOBID", "LSB_JOBID"} {
		if id := getenv(v); id != "" {
			return id
		}
	}
	return ""
}

const usage = `Usage: power-monitor [OPTIONS]

Sample this node's power with the power-monitor sources, write every
sample to a local trace file (JSON lines; --source=replay:FILE plays it)
and publish to MQTT and Prometheus. Stops on SIGINT or SIGTERM, or after
--duration, delivering what is spooled (up to --flush-timeout).

  -o, --output=FILE        trace file, appended to (default
                           power-monitor-HOSTNAME.trace; - for stdout)
      --duration=SECONDS   stop after this long
  -r, --period=SECONDS     sampling period, at least 0.01 (default 1)
      --source=LIST        auto (default), variorum, nvml, rapl, hwmon,
                           estimate, replay:FILE; combinable
      --variorum-lib=PATH  --sysfs=PATH  --procfs=PATH
      --estimate-idle-w=W  --estimate-peak-w=W  --replay-speed=X
      --jobid=ID           the job measured (default: FLUX_JOB_ID,
                           SLURM_JOB_ID, PBS_JOBID or LSB_JOBID); its
                           energy summary is published at stop

MQTT (WattAMeter's payload; topics PREFIX/READER/data, PREFIX/jobs/ID/power):
      --mqtt-broker=HOST|URL     broker (or MQTT_BROKER)
      --mqtt-port=N              default 1883, 8883 with TLS
      --mqtt-username=USER       (or MQTT_USERNAME)
      --mqtt-password-file=FILE  first line is the password (or MQTT_PASSWORD;
                                 --mqtt-password=P puts it on the command line)
      --mqtt-topic-prefix=P      default power-monitor (wattameter for
                                 WattAMeter's subscribers)
      --mqtt-qos=0|1|2           default 1
      --mqtt-ca=FILE             TLS: the broker's CA
      --mqtt-cert=FILE --mqtt-key=FILE   TLS client certificate

Prometheus:
      --prometheus-remote-write=URL      e.g. http://HOST:9090/api/v1/write
      --prometheus-username=USER --prometheus-password-file=FILE
      --prometheus-bearer-token-file=FILE  --prometheus-ca=FILE
      --prometheus-listen=ADDR   serve /metrics, e.g. :9464

Delivery (MQTT and remote-write; nothing is lost while a server is away):
      --spool-dir=DIR            default: the trace file's name + .spool
      --spool-max=SIZE           per sink, default 64M; beyond it the oldest
                                 records are dropped, counted and logged
      --flush-timeout=SECONDS    at stop, to deliver the spool (default 10)
`
