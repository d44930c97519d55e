package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	good := []struct {
		args []string
		want Options
	}{
		{nil, def(func(o *Options) {})},
		{[]string{"-s", "500", "-r", "0.25"}, def(func(o *Options) { o.BufferSize = 500; o.Period = 250 * time.Millisecond })},
		{[]string{"--buffer-size=42", "--period=2"}, def(func(o *Options) { o.BufferSize = 42; o.Period = 2 * time.Second })},
		{[]string{"-s=7", "-r=0.01", "--variorum-lib=/x/libvariorum.so"}, def(func(o *Options) {
			o.BufferSize = 7
			o.Period = 10 * time.Millisecond
			o.VariorumLib = "/x/libvariorum.so"
		})},
		{[]string{"--source=rapl,nvml", "--sysfs=/tmp/sys", "--procfs=/tmp/proc"}, def(func(o *Options) {
			o.Sources = []string{"rapl", "nvml"}
			o.Sysfs = "/tmp/sys"
			o.Procfs = "/tmp/proc"
		})},
		{[]string{"--source=replay:/data/a.log", "--replay-speed=10"}, def(func(o *Options) {
			o.Sources = []string{"replay:/data/a.log"}
			o.ReplaySpeed = 10
		})},
		{[]string{"--source=estimate", "--estimate-idle-w=3", "--estimate-peak-w=12.5"}, def(func(o *Options) {
			o.Sources = []string{"estimate"}
			o.IdleW = 3
			o.PeakW = 12.5
		})},
	}
	for _, c := range good {
		got, err := Parse(c.args)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.args, err)
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Parse(%q) = %+v, want %+v", c.args, got, c.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	bad := []struct {
		args []string
		want string // the message must contain this
	}{
		{[]string{"-r", "abc"}, `option -r: "abc" is not a number of seconds`},
		{[]string{"--period=0.001"}, "option --period: 0.001 s is below the minimum of 0.01 s"},
		{[]string{"-r", "NaN"}, "option -r"},
		{[]string{"-s", "-5"}, "option -s: -5 is too small"},
		{[]string{"--buffer-size=ten"}, `option --buffer-size: "ten" is not a whole number`},
		{[]string{"-x"}, "unknown option -x"},
		{[]string{"--bogus=1"}, "unknown option -bogus"},
		{[]string{"-r"}, "option -r needs a value"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-s", "10", "stray"}, `unexpected argument "stray"`},
		{[]string{"--source=gpu"}, `option --source: unknown source "gpu"`},
		{[]string{"--source=replay"}, "replay needs a file: replay:FILE"},
		{[]string{"--source=rapl,rapl"}, `source "rapl" given twice`},
		{[]string{"--source=auto,nvml"}, "auto cannot be combined"},
		{[]string{"--estimate-peak-w=1", "--estimate-idle-w=2"}, "is below --estimate-idle-w"},
		{[]string{"--replay-speed=0"}, "option --replay-speed: 0 x is outside"},
	}
	for _, c := range bad {
		_, err := Parse(c.args)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want an error containing %q", c.args, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) error %q does not contain %q", c.args, err, c.want)
		}
		if !strings.Contains(err.Error(), "usage:") {
			t.Errorf("Parse(%q) error %q lacks the usage line", c.args, err)
		}
	}
}

// def is the default options changed by f.
func def(f func(*Options)) Options {
	o := Options{BufferSize: DefaultBufferSize, Period: DefaultPeriod, Sources: []string{"auto"},
		Sysfs: "/sys", Procfs: "/proc", IdleW: DefaultIdleW, PeakW: DefaultPeakW, ReplaySpeed: 1}
	f(&o)
	return o
}
