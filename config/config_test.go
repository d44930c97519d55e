package config

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	good := []struct {
		args []string
		want Options
	}{
		{nil, Options{BufferSize: DefaultBufferSize, Period: time.Second}},
		{[]string{"-s", "500", "-r", "0.25"}, Options{BufferSize: 500, Period: 250 * time.Millisecond}},
		{[]string{"--buffer-size=42", "--period=2"}, Options{BufferSize: 42, Period: 2 * time.Second}},
		{[]string{"-s=7", "-r=0.01", "--variorum-lib=/x/libvariorum.so"}, Options{BufferSize: 7, Period: 10 * time.Millisecond, VariorumLib: "/x/libvariorum.so"}},
	}
	for _, c := range good {
		got, err := Parse(c.args)
		if err != nil {
			t.Errorf("Parse(%q): %v", c.args, err)
			continue
		}
		if got != c.want {
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
