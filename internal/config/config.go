// SPDX-License-Identifier: LGPL-3.0-only

// Package config parses the power-monitor module's settings: the [power-monitor]
// table of the instance's Flux configuration (table.go), then the module
// arguments, which override it.
//
//	flux module load power-monitor [-s N] [-r SECONDS] [--batch=SECONDS] [--source=LIST]
//	        [--variorum-lib=PATH] [--sysfs=PATH] [--procfs=PATH]
//	        [--estimate-idle-w=W] [--estimate-peak-w=W] [--replay-speed=X]
//	        [export options: --mqtt-*, --prometheus-*, --spool-*, export.go]
//
// -s is also spelled --buffer-size, -r --period. Every error is one line
// that names the option and says what is wrong, so that a failed `flux
// module load` can be fixed from its log line alone; the options are listed
// in flux-power-monitor(7), not in the log.
package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Defaults and limits.
const (
	DefaultBufferSize = 100000 // about 28 hours at 1 s
	DefaultPeriod     = time.Second
	MinPeriod         = 10 * time.Millisecond
	MaxBufferSize     = 10_000_000 // 440 MB at 44 bytes a sample
	// Per-core watts of the estimate source: a rough figure for a server
	// core; set them for the machine at hand.
	DefaultIdleW = 2.0
	DefaultPeakW = 10.0
	// BatchDefault is Options.Batch until --batch is given: BatchDelay
	// decides from the export and the period.
	BatchDefault = time.Duration(-1)
	MaxBatch     = time.Hour
)

// Options are the module's settings.
type Options struct {
	BufferSize  int           // samples kept per rank
	Period      time.Duration // sampling period
	Batch       time.Duration // --batch: how long a sample may be held back; BatchDefault until given (BatchDelay)
	VariorumLib string        // libvariorum to dlopen; "" means the configured default
	Sources     []string      // --source list: auto, variorum, nvml, rapl, hwmon, estimate, replay:FILE
	Sysfs       string        // root of sysfs (RAPL powercap, hwmon)
	Procfs      string        // root of procfs (estimate)
	IdleW       float64       // estimate: watts per core when idle
	PeakW       float64       // estimate: watts per core at full load
	ReplaySpeed float64       // replay: trace seconds per wall second
	Export      Export        // where samples and job summaries are published
}

// Source kinds accepted by --source.
var SourceKinds = []string{"auto", "variorum", "nvml", "rapl", "hwmon", "estimate", "replay:FILE"}

// manPage lists the module's options; errors that cannot name a known
// option point to it.
const manPage = "flux-power-monitor(7)"

type sourcesValue struct{ list *[]string }

func (s sourcesValue) String() string {
	if s.list == nil {
		return ""
	}
	return strings.Join(*s.list, ",")
}

func (s sourcesValue) Set(v string) error {
	var out []string
	seen := map[string]bool{}
	for _, k := range strings.Split(v, ",") {
		k = strings.TrimSpace(k)
		switch {
		case k == "auto" || k == "variorum" || k == "nvml" || k == "rapl" || k == "hwmon" || k == "estimate":
		case strings.HasPrefix(k, "replay:") && len(k) > len("replay:"):
		case k == "replay" || k == "replay:":
			return fmt.Errorf("replay needs a file: replay:FILE")
		default:
			return fmt.Errorf("unknown source %q (one of %s)", k, strings.Join(SourceKinds, ", "))
		}
		if seen[k] {
			return fmt.Errorf("source %q given twice", k)
		}
		seen[k] = true
		out = append(out, k)
	}
	if seen["auto"] && len(out) > 1 {
		return fmt.Errorf("auto cannot be combined with other sources")
	}
	*s.list = out
	return nil
}

type floatValue struct {
	v        *float64
	min, max float64
	unit     string
}

func (f floatValue) String() string {
	if f.v == nil {
		return ""
	}
	return strconv.FormatFloat(*f.v, 'g', -1, 64)
}

func (f floatValue) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%q is not a number", s)
	}
	if v < f.min || v > f.max {
		return fmt.Errorf("%s %s is outside %g to %g", s, f.unit, f.min, f.max)
	}
	*f.v = v
	return nil
}

type periodValue struct{ d *time.Duration }

func (p periodValue) String() string {
	if p.d == nil {
		return ""
	}
	return strconv.FormatFloat(p.d.Seconds(), 'g', -1, 64)
}

// parseSeconds reads a finite decimal number of seconds.
func parseSeconds(s string) (float64, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("%q is not a number of seconds", s)
	}
	return v, nil
}

func (p periodValue) Set(s string) error {
	v, err := parseSeconds(s)
	if err != nil {
		return err
	}
	d := time.Duration(v * float64(time.Second))
	if d < MinPeriod {
		return fmt.Errorf("%s s is below the minimum of %g s", s, MinPeriod.Seconds())
	}
	if v > 86400 {
		return fmt.Errorf("%s s is more than a day", s)
	}
	*p.d = d
	return nil
}

type batchValue struct{ d *time.Duration }

func (b batchValue) String() string {
	if b.d == nil || *b.d < 0 {
		return ""
	}
	return strconv.FormatFloat(b.d.Seconds(), 'g', -1, 64)
}

func (b batchValue) Set(s string) error {
	v, err := parseSeconds(s)
	if err != nil {
		return err
	}
	if v < 0 || v > MaxBatch.Seconds() {
		return fmt.Errorf("%s s is outside 0 to %g s", s, MaxBatch.Seconds())
	}
	*b.d = time.Duration(v * float64(time.Second))
	return nil
}

// ExportBatch is how long the sampler holds samples back where an export
// is asked for and the period is shorter: the exports get them in groups,
// at 100 samples a second a hand-off, a spool write, a send and a wake-up
// of the exporter every 0.5 s instead of every 10 ms, and still within the
// second in which a record reaches a sink that is up (doc/exports.md).
const ExportBatch = 500 * time.Millisecond

// BatchDelay is how long the sampler may hold a sample back before
// storing it (sampler.Sampler.SetBatch): --batch when given; else, where
// an export is asked for, ExportBatch when the period is shorter, 0
// otherwise (the exports, and the job ids the module tags their samples
// with, see each sample at once); and otherwise the larger of 1 s and 10
// periods (the module's readers flush before they read).
func (o *Options) BatchDelay() time.Duration {
	if o.Batch >= 0 {
		return o.Batch
	}
	if o.Export.Enabled() {
		if o.Period < ExportBatch {
			return ExportBatch
		}
		return 0
	}
	return max(time.Second, 10*o.Period)
}

type sizeValue struct{ n *int }

func (s sizeValue) String() string {
	if s.n == nil {
		return ""
	}
	return strconv.Itoa(*s.n)
}

func (s sizeValue) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%q is not a whole number of samples", v)
	}
	if n < 2 {
		return fmt.Errorf("%d is too small (at least 2 samples)", n)
	}
	if n > MaxBufferSize {
		return fmt.Errorf("%d is more than the limit of %d samples", n, MaxBufferSize)
	}
	*s.n = n
	return nil
}

// Defaults are the options before any argument, exporting nowhere.
func Defaults() Options {
	return Options{BufferSize: DefaultBufferSize, Period: DefaultPeriod, Batch: BatchDefault,
		Sources: []string{"auto"}, Sysfs: "/sys", Procfs: "/proc",
		IdleW: DefaultIdleW, PeakW: DefaultPeakW, ReplaySpeed: 1, Export: DefaultExport()}
}

// AddSampling registers the options that say how to sample (period and
// sources) on fs, for the module and for the standalone agent alike.
func AddSampling(fs *flag.FlagSet, o *Options) {
	fs.Var(periodValue{&o.Period}, "r", "sampling period in seconds")
	fs.Var(periodValue{&o.Period}, "period", "sampling period in seconds")
	fs.Var(batchValue{&o.Batch}, "batch", "longest a sample is held back before the ring and exports see it, in seconds")
	fs.StringVar(&o.VariorumLib, "variorum-lib", "", "path of libvariorum")
	fs.Var(sourcesValue{&o.Sources}, "source", "power sources")
	fs.StringVar(&o.Sysfs, "sysfs", o.Sysfs, "root of sysfs")
	fs.StringVar(&o.Procfs, "procfs", o.Procfs, "root of procfs")
	fs.Var(floatValue{&o.IdleW, 0, 1000, "W"}, "estimate-idle-w", "idle watts per logical CPU")
	fs.Var(floatValue{&o.PeakW, 0, 1000, "W"}, "estimate-peak-w", "peak watts per logical CPU")
	fs.Var(floatValue{&o.ReplaySpeed, 0.001, 1e6, "x"}, "replay-speed", "replay speed")
}

// Check verifies what no single option can: the estimate's peak is not
// below its idle, and a --batch other than 0 is not below the period.
func (o *Options) Check() error {
	if o.Batch > 0 && o.Batch < o.Period {
		return fmt.Errorf("option --batch: %g s is below the period of %g s (0 hands each sample over at once)", o.Batch.Seconds(), o.Period.Seconds())
	}
	if o.PeakW < o.IdleW {
		return fmt.Errorf("option --estimate-peak-w: %g W is below --estimate-idle-w %g W", o.PeakW, o.IdleW)
	}
	return nil
}

// CleanFlagError rewrites the flag package's messages as ours.
func CleanFlagError(err error) string { return cleanFlagError(err) }

// ModuleFlushTimeout is the module's default --flush-timeout: an unload
// (instance shutdown) waits at most this long for a sink, and what is left
// stays in the spool for the next load.
const ModuleFlushTimeout = time.Second

// Parse reads the module's settings: the [power-monitor] table of the
// instance's configuration (nil when there is none; TableOf), then the
// module arguments (argv without the module name), which override it.
// getenv gives MQTT_BROKER, MQTT_USERNAME and MQTT_PASSWORD. The warnings
// are for the log: a secret given by value, a key an argument overrides.
func Parse(table json.RawMessage, args []string, getenv func(string) string) (Options, []string, error) {
	// The arguments alone first, for their errors and for the names they give.
	var scratch Options
	given, err := parseArgs(moduleFlags(&scratch), args)
	if err != nil {
		return scratch, nil, err
	}
	o := Defaults()
	o.Export.FlushTimeout = ModuleFlushTimeout
	fs := moduleFlags(&o)
	targs, err := tableArgs(table, fs)
	if err != nil {
		return o, nil, err
	}
	if err := fs.Parse(targs); err != nil {
		// every table argument is --key=value with a known key
		msg := cleanFlagError(err)
		if rest, ok := strings.CutPrefix(msg, "option --"); ok {
			if k, why, ok := strings.Cut(rest, ": "); ok {
				msg = tableKey(k) + ": " + why
			}
		}
		return o, nil, errors.New(msg)
	}
	if err := fs.Parse(args); err != nil {
		return o, nil, errors.New(cleanFlagError(err))
	}
	var warnings []string
	for _, a := range targs {
		k, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if given[k] {
			warnings = append(warnings, fmt.Sprintf("%s is overridden by the module argument --%s", tableKey(k), k))
		}
	}
	if o.Export.MQTTPassword != "" {
		warnings = append(warnings, SecretWarning(given["mqtt-password"]))
	}
	if err := o.Check(); err != nil {
		return o, warnings, blame(err, targs, given)
	}
	if err := o.Export.Resolve(getenv); err != nil {
		return o, warnings, blame(err, targs, given)
	}
	return o, warnings, nil
}

// blame names, in an error about "option --KEY", the table's key where
// the table gave KEY and no argument overrode it.
func blame(err error, targs []string, given map[string]bool) error {
	rest, ok := strings.CutPrefix(err.Error(), "option --")
	if !ok {
		return err
	}
	k, why, ok := strings.Cut(rest, ": ")
	if !ok || given[k] {
		return err
	}
	for _, a := range targs {
		if strings.HasPrefix(a, "--"+k+"=") {
			return errors.New(tableKey(k) + ": " + why)
		}
	}
	return err
}

// SecretWarning is the warning for mqtt-password given by value: as an
// argument (asArgument), which every user of the node can read with ps,
// or in the Flux configuration.
func SecretWarning(asArgument bool) string {
	where := "in the Flux configuration, which other users may read"
	if asArgument {
		where = "as an argument, which every user of the node can read (ps)"
	}
	return "mqtt-password is given " + where + ": name a file that only its owner can read with mqtt-password-file instead"
}

// moduleFlags is the module's options, registered on a new flag set that
// writes nothing (never to the broker's stderr).
func moduleFlags(o *Options) *flag.FlagSet {
	fs := flag.NewFlagSet("power-monitor", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Var(sizeValue{&o.BufferSize}, "s", "samples kept per rank (their memory is committed at the first sample)")
	fs.Var(sizeValue{&o.BufferSize}, "buffer-size", "samples kept per rank (their memory is committed at the first sample)")
	AddSampling(fs, o)
	AddExport(fs, &o.Export)
	return fs
}

// parseArgs parses module arguments on fs and returns the long names of
// the options they set (-s and -r count as buffer-size and period).
func parseArgs(fs *flag.FlagSet, args []string) (map[string]bool, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, fmt.Errorf("the module's options are described in %s", manPage)
		}
		msg := cleanFlagError(err)
		if strings.HasPrefix(msg, "unknown option ") {
			msg += " (the options: " + manPage + ")"
		}
		return nil, errors.New(msg)
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (the options: %s)", fs.Arg(0), manPage)
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "s":
			given["buffer-size"] = true
		case "r":
			given["period"] = true
		default:
			given[f.Name] = true
		}
	})
	return given, nil
}

// cleanFlagError turns the flag package's messages into ours:
// `invalid value "x" for flag -r: "x" is not...` -> `-r: "x" is not...`.
func cleanFlagError(err error) string {
	msg := err.Error()
	if strings.HasPrefix(msg, "invalid value ") {
		if i := strings.Index(msg, " for flag "); i >= 0 {
			rest := msg[i+len(" for flag "):]
			if j := strings.Index(rest, ": "); j >= 0 {
				name := rest[:j]
				if len(name) > 2 {
					name = "-" + name // --period
				}
				return "option " + name + ": " + rest[j+2:]
			}
		}
	}
	if strings.HasPrefix(msg, "flag provided but not defined: ") {
		return "unknown option " + strings.TrimPrefix(msg, "flag provided but not defined: ")
	}
	if strings.HasPrefix(msg, "flag needs an argument: ") {
		return "option " + strings.TrimPrefix(msg, "flag needs an argument: ") + " needs a value"
	}
	return msg
}
