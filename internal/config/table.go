// SPDX-License-Identifier: LGPL-3.0-only

package config

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// Table is the name of the module's table in the instance's Flux
// configuration (/etc/flux/system/conf.d/*.toml, `flux config get`).
const Table = "power-monitor"

// EnableKey is the table's one key that is not a module option: whether
// flux-modprobe loads the module at instance start (etc/rc1.d), and whether
// it stays loaded when a reload turns it off.
const EnableKey = "enable"

// The table's keys for the job-manager plugin power-record.so, which
// etc/rc1.d loads on rank 0 with the module: whether to load it (default
// true), and how long it waits for a job's record. The module only checks
// them.
const (
	RecordKey        = "record"
	RecordTimeoutKey = "record-timeout"
)

// tableKey names a key of the table in messages: [power-monitor] period.
func tableKey(k string) string { return "[" + Table + "] " + k }

// TableOf returns the [power-monitor] table of a whole configuration
// object (what flux_get_conf and a config-reload request hold), or nil when
// there is none.
func TableOf(conf []byte) (json.RawMessage, error) {
	if len(bytes.TrimSpace(conf)) == 0 {
		return nil, nil
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(conf, &all); err != nil {
		return nil, fmt.Errorf("the configuration is not a JSON object: %v", err)
	}
	return all[Table], nil
}

// Enabled reports the table's enable key: false when the table or the key
// is missing or not true.
func Enabled(table json.RawMessage) bool {
	var t map[string]any
	if json.Unmarshal(table, &t) != nil {
		return false
	}
	v, _ := t[EnableKey].(bool)
	return v
}

// Disabled reports whether the table sets enable = false (not merely
// leaves it out).
func Disabled(table json.RawMessage) bool {
	var t map[string]any
	if json.Unmarshal(table, &t) != nil {
		return false
	}
	v, ok := t[EnableKey].(bool)
	return ok && !v
}

// Changed names the settings that differ from a to b, with both values
// ("period 1 -> 0.5"; a password only as changed), for the log of a reload.
func Changed(a, b Options) []string {
	// The flags point into x and y; registering them sets their defaults,
	// so the values are copied in afterwards.
	var x, y Options
	fa, fb := moduleFlags(&x), moduleFlags(&y)
	x, y = a, b
	var out []string
	fa.VisitAll(func(f *flag.Flag) {
		if len(f.Name) < 2 {
			return // -s and -r: buffer-size and period
		}
		va, vb := f.Value.String(), fb.Lookup(f.Name).Value.String()
		switch {
		case va == vb:
		case f.Name == "mqtt-password":
			out = append(out, f.Name+" changed")
		default:
			out = append(out, fmt.Sprintf("%s %s -> %s", f.Name, quoteEmpty(va), quoteEmpty(vb)))
		}
	})
	// a new secret in the same file (or environment)
	for _, sc := range []struct{ name, a, b string }{
		{"mqtt-password", a.Export.MQTTPassword, b.Export.MQTTPassword},
		{"prometheus-password-file's password", a.Export.RemoteWritePassword, b.Export.RemoteWritePassword},
		{"prometheus-bearer-token-file's token", a.Export.RemoteWriteToken, b.Export.RemoteWriteToken},
	} {
		if sc.a != sc.b && !slices.Contains(out, sc.name+" changed") {
			out = append(out, sc.name+" changed")
		}
	}
	return out
}

func quoteEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// tableArgs turns the table into the module arguments it stands for,
// --key=value in key order, checking what the arguments cannot say: that
// every key is a long option of fs (or enable), and that each value is a
// string or a number (a list of strings for source, joined with commas; a
// boolean for enable). Values are passed whole: spaces stay in them.
func tableArgs(table json.RawMessage, fs *flag.FlagSet) ([]string, error) {
	if len(bytes.TrimSpace(table)) == 0 || string(bytes.TrimSpace(table)) == "null" {
		return nil, nil
	}
	var t map[string]json.RawMessage
	if err := json.Unmarshal(table, &t); err != nil {
		return nil, fmt.Errorf("[%s] is not a table", Table)
	}
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var args []string
	for _, k := range keys {
		raw := t[k]
		if k == EnableKey {
			var b bool
			if json.Unmarshal(raw, &b) != nil {
				return nil, fmt.Errorf("%s: %s is not true or false", tableKey(k), raw)
			}
			continue
		}
		if k == RecordKey || k == RecordTimeoutKey {
			if err := checkRecordKey(k, raw); err != nil {
				return nil, fmt.Errorf("%s: %v", tableKey(k), err)
			}
			continue
		}
		if len(k) < 2 || fs.Lookup(k) == nil {
			return nil, fmt.Errorf("%s: unknown key (the keys: %s)", tableKey(k), manPage)
		}
		v, err := tableValue(k, raw)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", tableKey(k), err)
		}
		args = append(args, "--"+k+"="+v)
	}
	return args, nil
}

// checkRecordKey checks a value of the record plugin's keys: a boolean for
// record, a positive number of seconds for record-timeout.
func checkRecordKey(k string, raw json.RawMessage) error {
	if k == RecordKey {
		var b bool
		if json.Unmarshal(raw, &b) != nil {
			return fmt.Errorf("%s is not true or false", raw)
		}
		return nil
	}
	var v float64
	if json.Unmarshal(raw, &v) != nil || !(v > 0) || math.IsInf(v, 0) {
		return fmt.Errorf("%s is not a positive number of seconds", raw)
	}
	return nil
}

// tableValue is the argument a TOML value stands for.
func tableValue(k string, raw json.RawMessage) (string, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return "", err
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case json.Number:
		return x.String(), nil
	case []any:
		if k != "source" {
			break
		}
		parts := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return "", fmt.Errorf("element %d of the list is not a string", i+1)
			}
			if strings.Contains(s, ",") {
				return "", fmt.Errorf("element %q of the list has a comma", s)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	}
	if k == "source" {
		return "", fmt.Errorf("%s is not a string or a list of strings", raw)
	}
	return "", fmt.Errorf("%s is not a string or a number", raw)
}
