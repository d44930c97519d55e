package config

import (
	"os"
	"path/filepath"
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
		{[]string{"--batch=0"}, def(func(o *Options) { o.Batch = 0 })},
		{[]string{"--batch=2.5", "-r", "0.5"}, def(func(o *Options) { o.Batch = 2500 * time.Millisecond; o.Period = 500 * time.Millisecond })},
		{[]string{"--batch=1"}, def(func(o *Options) { o.Batch = time.Second })},
		{[]string{"--source=estimate", "--estimate-idle-w=3", "--estimate-peak-w=12.5"}, def(func(o *Options) {
			o.Sources = []string{"estimate"}
			o.IdleW = 3
			o.PeakW = 12.5
		})},
	}
	for _, c := range good {
		got, err := Parse(c.args, noEnv)
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
		{[]string{"--batch=soon"}, `option --batch: "soon" is not a number of seconds`},
		{[]string{"--batch=-1"}, "option --batch: -1 s is outside 0 to 3600 s"},
		{[]string{"--batch=7200"}, "option --batch: 7200 s is outside 0 to 3600 s"},
		{[]string{"--batch=0.5"}, "option --batch: 0.5 s is below the period of 1 s (0 hands each sample over at once)"},
		{[]string{"--batch=1", "-r", "2"}, "option --batch: 1 s is below the period of 2 s (0 hands each sample over at once)"},
		{[]string{"--estimate-peak-w=1", "--estimate-idle-w=2"}, "is below --estimate-idle-w"},
		{[]string{"--replay-speed=0"}, "option --replay-speed: 0 x is outside"},
	}
	for _, c := range bad {
		_, err := Parse(c.args, noEnv)
		if err == nil {
			t.Errorf("Parse(%q) succeeded, want an error containing %q", c.args, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) error %q does not contain %q", c.args, err, c.want)
		}
		// One line, without the list of every option.
		if strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "usage") || strings.Contains(err.Error(), "--prometheus-listen") {
			t.Errorf("Parse(%q) error %q is more than the option and why", c.args, err)
		}
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-x"}, "unknown option -x (the options: flux-power-monitor(7))"},
		{[]string{"extra"}, `unexpected argument "extra" (the options: flux-power-monitor(7))`},
		{[]string{"--help"}, "the module's options are described in flux-power-monitor(7)"},
	} {
		if _, err := Parse(c.args, noEnv); err == nil || err.Error() != c.want {
			t.Errorf("Parse(%q) error %v, want %q", c.args, err, c.want)
		}
	}
}

// def is the default options changed by f.
func def(f func(*Options)) Options {
	o := Options{BufferSize: DefaultBufferSize, Period: DefaultPeriod, Batch: BatchDefault, Sources: []string{"auto"},
		Sysfs: "/sys", Procfs: "/proc", IdleW: DefaultIdleW, PeakW: DefaultPeakW, ReplaySpeed: 1,
		Export: Export{MQTTTopicPrefix: "power-monitor", MQTTQoS: 1, SpoolMax: 64 << 20, FlushTimeout: ModuleFlushTimeout}}
	f(&o)
	return o
}

func noEnv(string) string { return "" }

// Without --batch, samples are held back only where no export waits for
// them; --batch wins.
func TestBatchDelay(t *testing.T) {
	for _, c := range []struct {
		batch, period time.Duration
		export        bool
		want          time.Duration
	}{
		{BatchDefault, time.Second, false, 10 * time.Second},
		{BatchDefault, 10 * time.Millisecond, false, time.Second},
		{BatchDefault, time.Second, true, 0},
		{0, time.Second, false, 0},
		{3 * time.Second, time.Second, true, 3 * time.Second},
	} {
		o := Defaults()
		o.Batch, o.Period = c.batch, c.period
		if c.export {
			o.Export.MetricsListen = "127.0.0.1:0"
		}
		if got := o.BatchDelay(); got != c.want {
			t.Errorf("BatchDelay(batch %v, period %v, export %v) = %v, want %v", c.batch, c.period, c.export, got, c.want)
		}
	}
}

func TestExportOptions(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "mqtt.pass")
	os.WriteFile(pw, []byte("s3cret\nignored second line\n"), 0o600)
	empty := filepath.Join(dir, "empty")
	os.WriteFile(empty, nil, 0o600)
	env := map[string]string{"MQTT_BROKER": "envbroker", "MQTT_USERNAME": "envuser", "MQTT_PASSWORD": "envpass"}
	getenv := func(k string) string { return env[k] }

	o, err := Parse([]string{"--mqtt-broker=mq.example.org", "--mqtt-port=8884", "--mqtt-username=flux",
		"--mqtt-password-file=" + pw, "--mqtt-topic-prefix=wattameter", "--mqtt-qos=2",
		"--prometheus-remote-write=http://prom:9090/api/v1/write", "--prometheus-listen=:9464",
		"--spool-dir=/var/spool/pm", "--spool-max=16M", "--flush-timeout=2.5"}, getenv)
	if err != nil {
		t.Fatal(err)
	}
	want := Export{MQTTBroker: "mq.example.org", MQTTPort: 8884, MQTTUsername: "flux", MQTTPassword: "s3cret",
		MQTTPasswordFile: pw, MQTTTopicPrefix: "wattameter", MQTTQoS: 2,
		RemoteWrite: "http://prom:9090/api/v1/write", MetricsListen: ":9464",
		SpoolDir: "/var/spool/pm", SpoolMax: 16 << 20, FlushTimeout: 2500 * time.Millisecond}
	if !reflect.DeepEqual(o.Export, want) {
		t.Fatalf("got  %+v\nwant %+v", o.Export, want)
	}
	// The environment fills what the options leave unset, never overrides.
	o, err = Parse(nil, getenv)
	if err != nil || o.Export.MQTTBroker != "envbroker" || o.Export.MQTTUsername != "envuser" || o.Export.MQTTPassword != "envpass" || !o.Export.Spooled() {
		t.Fatalf("%+v %v", o.Export, err)
	}
	o, _ = Parse([]string{"--mqtt-username=u"}, getenv)
	if o.Export.MQTTUsername != "u" {
		t.Fatalf("an option overrides the environment: %+v", o.Export)
	}
	if o, _ := Parse(nil, noEnv); o.Export.Enabled() {
		t.Fatalf("no sink unless asked: %+v", o.Export)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--mqtt-qos=3"}, "option --mqtt-qos: 3 is outside 0 to 2"},
		{[]string{"--mqtt-port=0"}, "option --mqtt-port: 0 is outside 1 to 65535"},
		{[]string{"--mqtt-broker=h", "--mqtt-password-file=/nonexistent/pw"}, "option --mqtt-password-file: open /nonexistent/pw: no such file"},
		{[]string{"--mqtt-broker=h", "--mqtt-password-file=" + empty}, "option --mqtt-password-file: " + empty + ": empty"},
		{[]string{"--mqtt-broker=h", "--mqtt-password=a", "--mqtt-password-file=" + pw}, "give one"},
		{[]string{"--mqtt-port=1884"}, "option --mqtt-port: no --mqtt-broker"},
		{[]string{"--mqtt-topic-prefix=a/#"}, "free of + and #"},
		{[]string{"--spool-max=12"}, "option --spool-max: 12 is below the minimum of 64K"},
		{[]string{"--spool-max=lots"}, `option --spool-max: "lots" is not a size`},
		{[]string{"--flush-timeout=-1"}, "option --flush-timeout"},
		{[]string{"--prometheus-username=u"}, "no --prometheus-remote-write"},
	} {
		_, err := Parse(c.args, noEnv)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q): %v, want %q", c.args, err, c.want)
		}
	}
}
