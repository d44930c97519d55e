// Package config parses the power-monitor module's options.
//
//	flux module load power-monitor [-s N] [-r SECONDS] [--variorum-lib=PATH]
//
// -s is also spelled --buffer-size, -r --period. Every error names the option
// and says what is wrong, so that a failed `flux module load` can be fixed
// from its log line alone.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
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
)

// Options are the module's settings.
type Options struct {
	BufferSize  int           // samples kept per rank
	Period      time.Duration // sampling period
	VariorumLib string        // libvariorum to dlopen; "" means the configured default
}

// Usage is printed in the log when an option is wrong.
const Usage = "usage: flux module load power-monitor [-s|--buffer-size=N] [-r|--period=SECONDS] [--variorum-lib=PATH]"

type periodValue struct{ d *time.Duration }

func (p periodValue) String() string {
	if p.d == nil {
		return ""
	}
	return strconv.FormatFloat(p.d.Seconds(), 'g', -1, 64)
}

func (p periodValue) Set(s string) error {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return fmt.Errorf("%q is not a number of seconds", s)
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

// Parse reads module arguments (argv without the module name).
func Parse(args []string) (Options, error) {
	o := Options{BufferSize: DefaultBufferSize, Period: DefaultPeriod}
	fs := flag.NewFlagSet("power-monitor", flag.ContinueOnError)
	var out bytes.Buffer
	fs.SetOutput(&out) // never write to the broker's stderr
	fs.Var(sizeValue{&o.BufferSize}, "s", "samples kept per rank")
	fs.Var(sizeValue{&o.BufferSize}, "buffer-size", "samples kept per rank")
	fs.Var(periodValue{&o.Period}, "r", "sampling period in seconds")
	fs.Var(periodValue{&o.Period}, "period", "sampling period in seconds")
	fs.StringVar(&o.VariorumLib, "variorum-lib", "", "path of libvariorum")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, errors.New(Usage)
		}
		return o, fmt.Errorf("%s; %s", cleanFlagError(err), Usage)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q; %s", fs.Arg(0), Usage)
	}
	return o, nil
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
