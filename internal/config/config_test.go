// SPDX-License-Identifier: LGPL-3.0-only

package config

import (
	"encoding/json"
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
		got, _, err := Parse(nil, c.args, noEnv)
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
		_, _, err := Parse(nil, c.args, noEnv)
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
		if _, _, err := Parse(nil, c.args, noEnv); err == nil || err.Error() != c.want {
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

// Without --batch, samples are held back 10 periods (at least 1 s) where
// no export waits for them, 0.5 s where one does and the period is
// shorter, not at all otherwise; --batch wins.
func TestBatchDelay(t *testing.T) {
	for _, c := range []struct {
		batch, period time.Duration
		export        bool
		want          time.Duration
	}{
		{BatchDefault, time.Second, false, 10 * time.Second},
		{BatchDefault, 10 * time.Millisecond, false, time.Second},
		{BatchDefault, time.Second, true, 0},
		{BatchDefault, 500 * time.Millisecond, true, 0},
		{BatchDefault, 250 * time.Millisecond, true, 500 * time.Millisecond},
		{BatchDefault, 10 * time.Millisecond, true, 500 * time.Millisecond},
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

	o, _, err := Parse(nil, []string{"--mqtt-broker=mq.example.org", "--mqtt-port=8884", "--mqtt-username=flux",
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
	o, _, err = Parse(nil, nil, getenv)
	if err != nil || o.Export.MQTTBroker != "envbroker" || o.Export.MQTTUsername != "envuser" || o.Export.MQTTPassword != "envpass" || !o.Export.Spooled() {
		t.Fatalf("%+v %v", o.Export, err)
	}
	o, _, _ = Parse(nil, []string{"--mqtt-username=u"}, getenv)
	if o.Export.MQTTUsername != "u" {
		t.Fatalf("an option overrides the environment: %+v", o.Export)
	}
	if o, _, _ := Parse(nil, nil, noEnv); o.Export.Enabled() {
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
		_, _, err := Parse(nil, c.args, noEnv)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q): %v, want %q", c.args, err, c.want)
		}
	}
}

// The [power-monitor] table gives the same settings as the arguments, with
// the long options' names as keys; an argument overrides a key, and says so.
func TestParseTable(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "mqtt.pass")
	os.WriteFile(pw, []byte("s3cret\n"), 0o600)
	table := `{"enable": true, "buffer-size": 5000, "period": 0.5, "source": ["rapl", "nvml"],
		"variorum-lib": "/opt/variorum lib/libvariorum.so", "mqtt-broker": "mq", "mqtt-password-file": "` + pw + `",
		"estimate-peak-w": 12, "record": true, "record-timeout": 2.5}`
	o, warnings, err := Parse(json.RawMessage(table), nil, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	want := def(func(o *Options) {
		o.BufferSize = 5000
		o.Period = 500 * time.Millisecond
		o.Sources = []string{"rapl", "nvml"}
		o.VariorumLib = "/opt/variorum lib/libvariorum.so" // a space stays in the value
		o.PeakW = 12
		o.Export.MQTTBroker = "mq"
		o.Export.MQTTPasswordFile = pw
		o.Export.MQTTPassword = "s3cret"
	})
	if !reflect.DeepEqual(o, want) {
		t.Fatalf("got  %+v\nwant %+v", o, want)
	}
	if len(warnings) != 0 {
		t.Fatalf("warnings %q", warnings)
	}
	// The arguments override the table; each key overridden is a warning.
	o, warnings, err = Parse(json.RawMessage(table), []string{"-r", "2", "--source=estimate"}, noEnv)
	if err != nil || o.Period != 2*time.Second || !reflect.DeepEqual(o.Sources, []string{"estimate"}) || o.BufferSize != 5000 {
		t.Fatalf("%+v %v", o, err)
	}
	wantW := []string{"[power-monitor] period is overridden by the module argument --period",
		"[power-monitor] source is overridden by the module argument --source"}
	if !reflect.DeepEqual(warnings, wantW) {
		t.Fatalf("warnings %q, want %q", warnings, wantW)
	}
	// A source given as a string works as on the command line.
	if o, _, err := Parse(json.RawMessage(`{"source": "hwmon,estimate"}`), nil, noEnv); err != nil || !reflect.DeepEqual(o.Sources, []string{"hwmon", "estimate"}) {
		t.Fatalf("%v %v", o.Sources, err)
	}
	// No table, an empty one or null: the defaults.
	for _, tb := range []string{"", "{}", "null"} {
		if o, _, err := Parse(json.RawMessage(tb), nil, noEnv); err != nil || !reflect.DeepEqual(o, def(func(*Options) {})) {
			t.Fatalf("table %q: %+v %v", tb, o, err)
		}
	}
}

// A bad key or value names the key, as the site wrote it, and says why.
func TestParseTableErrors(t *testing.T) {
	dir := t.TempDir()
	open := filepath.Join(dir, "open.pass")
	os.WriteFile(open, []byte("s3cret\n"), 0o644)
	for _, c := range []struct{ table, want string }{
		{`{"perid": 1}`, "[power-monitor] perid: unknown key (the keys: flux-power-monitor(7))"},
		{`{"s": 100}`, "[power-monitor] s: unknown key"},
		{`{"period": "fast"}`, `[power-monitor] period: "fast" is not a number of seconds`},
		{`{"period": 0.001}`, "[power-monitor] period: 0.001 s is below the minimum of 0.01 s"},
		{`{"buffer-size": 1.5}`, `[power-monitor] buffer-size: "1.5" is not a whole number of samples`},
		{`{"period": true}`, "[power-monitor] period: true is not a string or a number"},
		{`{"period": [1]}`, "[power-monitor] period: [1] is not a string or a number"},
		{`{"source": ["rapl", 2]}`, "[power-monitor] source: element 2 of the list is not a string"},
		{`{"source": {"a": 1}}`, "[power-monitor] source: {\"a\": 1} is not a string or a list of strings"},
		{`{"source": ["gpu"]}`, `[power-monitor] source: unknown source "gpu"`},
		{`{"enable": "yes"}`, `[power-monitor] enable: "yes" is not true or false`},
		{`{"record": 1}`, `[power-monitor] record: 1 is not true or false`},
		{`{"record-timeout": 0}`, `[power-monitor] record-timeout: 0 is not a positive number of seconds`},
		{`{"record-timeout": "5"}`, `[power-monitor] record-timeout: "5" is not a positive number of seconds`},
		{`{"mqtt-broker": "h", "mqtt-password-file": "` + open + `"}`,
			"[power-monitor] mqtt-password-file: " + open + ": readable by group or others (mode 0644)"},
		{`{"prometheus-remote-write": "http://p", "prometheus-bearer-token-file": "` + open + `"}`,
			"[power-monitor] prometheus-bearer-token-file: " + open + ": readable by group or others"},
		{`[1, 2]`, "[power-monitor] is not a table"},
	} {
		_, _, err := Parse(json.RawMessage(c.table), nil, noEnv)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("table %s: error %v, want %q", c.table, err, c.want)
		}
	}
	// An argument's error names the argument, even where the table has the key.
	_, _, err := Parse(json.RawMessage(`{"period": 1}`), []string{"--period=x"}, noEnv)
	if err == nil || !strings.HasPrefix(err.Error(), `option --period: "x"`) {
		t.Errorf("error %v, want it to name --period", err)
	}
}

// A secret given by value works, with a warning that says who can read it.
func TestSecretByValueWarns(t *testing.T) {
	o, w, err := Parse(nil, []string{"--mqtt-broker=h", "--mqtt-password=pw"}, noEnv)
	if err != nil || o.Export.MQTTPassword != "pw" || len(w) != 1 || !strings.Contains(w[0], "as an argument, which every user of the node can read (ps)") {
		t.Fatalf("%v %q", err, w)
	}
	_, w, err = Parse(json.RawMessage(`{"mqtt-broker": "h", "mqtt-password": "pw"}`), nil, noEnv)
	if err != nil || len(w) != 1 || !strings.Contains(w[0], "in the Flux configuration") || !strings.Contains(w[0], "mqtt-password-file") {
		t.Fatalf("%v %q", err, w)
	}
	// From the environment (readable by its owner only): no warning.
	if _, w, err := Parse(nil, []string{"--mqtt-broker=h"}, func(k string) string { return map[string]string{"MQTT_PASSWORD": "pw"}[k] }); err != nil || len(w) != 0 {
		t.Fatalf("%v %q", err, w)
	}
}

func TestTableOfAndEnabled(t *testing.T) {
	tb, err := TableOf([]byte(`{"resource": {"noverify": true}, "power-monitor": {"enable": true, "period": 2}}`))
	if err != nil || string(tb) != `{"enable": true, "period": 2}` || !Enabled(tb) {
		t.Fatalf("%s %v", tb, err)
	}
	for _, conf := range []string{`{}`, `{"power-monitor": {"period": 2}}`, `{"power-monitor": {"enable": false}}`, `{"power-monitor": {"enable": "true"}}`} {
		tb, err := TableOf([]byte(conf))
		if err != nil || Enabled(tb) {
			t.Errorf("%s: enabled, or %v", conf, err)
		}
	}
	if _, err := TableOf([]byte(`[]`)); err == nil {
		t.Error("a configuration that is not an object accepted")
	}
}

// A reload's log names what changed, with both values, but no password.
func TestChanged(t *testing.T) {
	a := def(func(o *Options) { o.Export.MQTTBroker = "mq"; o.Export.MQTTPassword = "old" })
	b := def(func(o *Options) {
		o.Period = 500 * time.Millisecond
		o.Sources = []string{"rapl", "nvml"}
		o.Export.MQTTBroker = "mq"
		o.Export.MQTTPassword = "new"
		o.Export.MetricsListen = ":9464"
	})
	want := []string{"mqtt-password changed", "period 1 -> 0.5", `prometheus-listen "" -> :9464`, "source auto -> rapl,nvml"}
	if got := Changed(a, b); !reflect.DeepEqual(got, want) {
		t.Fatalf("Changed = %q, want %q", got, want)
	}
	if got := Changed(a, a); len(got) != 0 {
		t.Fatalf("Changed(a, a) = %q", got)
	}
	if !Disabled(json.RawMessage(`{"enable": false}`)) || Disabled(json.RawMessage(`{}`)) || Disabled(nil) || Disabled(json.RawMessage(`{"enable": true}`)) {
		t.Fatal("Disabled")
	}
}

// The remote-write secrets are read when the settings are, so that a new
// secret in the same file is a change (a reload restarts the export).
func TestRemoteWriteSecretRotation(t *testing.T) {
	tok := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tok, []byte("first\n"), 0o600)
	args := []string{"--prometheus-remote-write=http://p", "--prometheus-bearer-token-file=" + tok}
	a, _, err := Parse(nil, args, noEnv)
	if err != nil || a.Export.RemoteWriteToken != "first" {
		t.Fatalf("%v %+v", err, a.Export)
	}
	os.WriteFile(tok, []byte("second\n"), 0o600)
	b, _, err := Parse(nil, args, noEnv)
	if err != nil || a.Export == b.Export {
		t.Fatalf("%v: a new token in the same file is no change", err)
	}
	if got := Changed(a, b); !reflect.DeepEqual(got, []string{"prometheus-bearer-token-file's token changed"}) {
		t.Fatalf("Changed = %q", got)
	}
}
