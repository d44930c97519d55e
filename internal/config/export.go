// SPDX-License-Identifier: LGPL-3.0-only

package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Export says where samples and job summaries are published, for the
// module and the agent alike (doc/exports.md). Secrets come from files or
// the environment so that none need appear on a command line or in the
// world-readable Flux configuration.
type Export struct {
	MQTTBroker       string // host or URL; MQTT_BROKER
	MQTTPort         int    // 0: 1883 (8883 with TLS)
	MQTTUsername     string // MQTT_USERNAME
	MQTTPassword     string // MQTT_PASSWORD
	MQTTPasswordFile string
	MQTTTopicPrefix  string
	MQTTQoS          int
	MQTTCA           string
	MQTTCert         string
	MQTTKey          string

	RemoteWrite          string // Prometheus remote-write URL
	RemoteWriteUsername  string
	RemoteWritePassFile  string
	RemoteWriteTokenFile string
	RemoteWriteCA        string
	// The secrets of the two files, read by Resolve (so that a reload
	// sees a new one in the same file).
	RemoteWritePassword string
	RemoteWriteToken    string

	MetricsListen string // address of the /metrics endpoint, e.g. :9464

	SpoolDir     string
	SpoolMax     int64         // bytes per sink
	FlushTimeout time.Duration // at stop, to deliver what is spooled
}

// Export defaults.
const (
	DefaultMQTTPrefix   = "power-monitor"
	DefaultMQTTQoS      = 1
	DefaultSpoolMax     = 64 << 20
	DefaultFlushTimeout = 10 * time.Second
)

// DefaultExport is Export before any option.
func DefaultExport() Export {
	return Export{MQTTTopicPrefix: DefaultMQTTPrefix, MQTTQoS: DefaultMQTTQoS,
		SpoolMax: DefaultSpoolMax, FlushTimeout: DefaultFlushTimeout}
}

type intValue struct {
	n        *int
	min, max int
}

func (v intValue) String() string {
	if v.n == nil {
		return ""
	}
	return strconv.Itoa(*v.n)
}

func (v intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	if n < v.min || n > v.max {
		return fmt.Errorf("%d is outside %d to %d", n, v.min, v.max)
	}
	*v.n = n
	return nil
}

type bytesValue struct{ n *int64 }

func (v bytesValue) String() string {
	if v.n == nil {
		return ""
	}
	return strconv.FormatInt(*v.n, 10)
}

// Set takes a size with an optional K, M or G suffix (powers of 1024).
func (v bytesValue) Set(s string) error {
	mult := int64(1)
	t := strings.TrimSuffix(strings.ToUpper(s), "B")
	if t != "" {
		switch t[len(t)-1] {
		case 'K':
			mult, t = 1<<10, t[:len(t)-1]
		case 'M':
			mult, t = 1<<20, t[:len(t)-1]
		case 'G':
			mult, t = 1<<30, t[:len(t)-1]
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("%q is not a size (e.g. 64M)", s)
	}
	if n*mult < 64<<10 {
		return fmt.Errorf("%s is below the minimum of 64K", s)
	}
	*v.n = n * mult
	return nil
}

type secondsValue struct{ d *time.Duration }

func (v secondsValue) String() string {
	if v.d == nil {
		return ""
	}
	return strconv.FormatFloat(v.d.Seconds(), 'g', -1, 64)
}

func (v secondsValue) Set(s string) error {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 3600 {
		return fmt.Errorf("%q is not a number of seconds from 0 to 3600", s)
	}
	*v.d = time.Duration(f * float64(time.Second))
	return nil
}

// AddExport registers the export options on fs.
func AddExport(fs *flag.FlagSet, e *Export) {
	fs.StringVar(&e.MQTTBroker, "mqtt-broker", "", "MQTT broker host or URL")
	fs.Var(intValue{&e.MQTTPort, 1, 65535}, "mqtt-port", "MQTT broker port")
	fs.StringVar(&e.MQTTUsername, "mqtt-username", "", "MQTT user name")
	fs.StringVar(&e.MQTTPassword, "mqtt-password", "", "MQTT password")
	fs.StringVar(&e.MQTTPasswordFile, "mqtt-password-file", "", "file holding the MQTT password")
	fs.StringVar(&e.MQTTTopicPrefix, "mqtt-topic-prefix", e.MQTTTopicPrefix, "MQTT topic prefix")
	fs.Var(intValue{&e.MQTTQoS, 0, 2}, "mqtt-qos", "MQTT QoS")
	fs.StringVar(&e.MQTTCA, "mqtt-ca", "", "CA certificate of the MQTT broker (TLS)")
	fs.StringVar(&e.MQTTCert, "mqtt-cert", "", "MQTT client certificate (TLS)")
	fs.StringVar(&e.MQTTKey, "mqtt-key", "", "MQTT client key (TLS)")
	fs.StringVar(&e.RemoteWrite, "prometheus-remote-write", "", "Prometheus remote-write URL")
	fs.StringVar(&e.RemoteWriteUsername, "prometheus-username", "", "remote-write basic auth user")
	fs.StringVar(&e.RemoteWritePassFile, "prometheus-password-file", "", "remote-write basic auth password file")
	fs.StringVar(&e.RemoteWriteTokenFile, "prometheus-bearer-token-file", "", "remote-write bearer token file")
	fs.StringVar(&e.RemoteWriteCA, "prometheus-ca", "", "CA certificate of the remote-write server")
	fs.StringVar(&e.MetricsListen, "prometheus-listen", "", "address of the /metrics endpoint")
	fs.StringVar(&e.SpoolDir, "spool-dir", "", "directory of the on-disk spools")
	fs.Var(bytesValue{&e.SpoolMax}, "spool-max", "bytes per sink spool")
	fs.Var(secondsValue{&e.FlushTimeout}, "flush-timeout", "seconds to deliver the spool at stop")
}

// Resolve completes the options from the environment (MQTT_BROKER,
// MQTT_USERNAME, MQTT_PASSWORD, for what the options leave unset) and the
// secret files, and checks what no single option can.
func (e *Export) Resolve(getenv func(string) string) error {
	if e.MQTTBroker == "" {
		e.MQTTBroker = getenv("MQTT_BROKER")
	}
	if e.MQTTUsername == "" {
		e.MQTTUsername = getenv("MQTT_USERNAME")
	}
	if e.MQTTPassword != "" && e.MQTTPasswordFile != "" {
		return errors.New("option --mqtt-password and --mqtt-password-file: give one")
	}
	if e.MQTTPasswordFile != "" {
		p, err := ReadSecret(e.MQTTPasswordFile)
		if err != nil {
			return fmt.Errorf("option --mqtt-password-file: %w", err)
		}
		e.MQTTPassword = p
	}
	if e.MQTTPassword == "" {
		e.MQTTPassword = getenv("MQTT_PASSWORD")
	}
	if e.MQTTKey != "" {
		if err := CheckPrivate(e.MQTTKey); err != nil {
			return fmt.Errorf("option --mqtt-key: %w", err)
		}
	}
	for _, f := range []struct {
		option, path string
		secret       *string
	}{
		{"--prometheus-password-file", e.RemoteWritePassFile, &e.RemoteWritePassword},
		{"--prometheus-bearer-token-file", e.RemoteWriteTokenFile, &e.RemoteWriteToken},
	} {
		if f.path == "" {
			continue
		}
		s, err := ReadSecret(f.path)
		if err != nil {
			return fmt.Errorf("option %s: %w", f.option, err)
		}
		*f.secret = s
	}
	if e.MQTTBroker == "" {
		for name, v := range map[string]string{"--mqtt-port": strconv.Itoa(e.MQTTPort), "--mqtt-ca": e.MQTTCA, "--mqtt-cert": e.MQTTCert} {
			if v != "" && v != "0" {
				return fmt.Errorf("option %s: no --mqtt-broker (nor MQTT_BROKER) to use it with", name)
			}
		}
	}
	if strings.ContainsAny(e.MQTTTopicPrefix, "+#") || e.MQTTTopicPrefix == "" {
		return fmt.Errorf("option --mqtt-topic-prefix: %q must be non-empty and free of + and #", e.MQTTTopicPrefix)
	}
	if e.RemoteWrite == "" && (e.RemoteWriteUsername != "" || e.RemoteWritePassFile != "" || e.RemoteWriteTokenFile != "" || e.RemoteWriteCA != "") {
		return errors.New("option --prometheus-username/-password-file/-bearer-token-file/-ca: no --prometheus-remote-write to use it with")
	}
	return nil
}

// Enabled reports whether any sink is configured.
func (e *Export) Enabled() bool {
	return e.MQTTBroker != "" || e.RemoteWrite != "" || e.MetricsListen != ""
}

// Spooled reports whether a sink needs a spool (MQTT or remote-write).
func (e *Export) Spooled() bool { return e.MQTTBroker != "" || e.RemoteWrite != "" }

// ReadSecret reads a password or token file: its first line, which must
// not be empty. The file must be private (CheckPrivate).
func ReadSecret(path string) (string, error) {
	f, err := openPrivate(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return "", err
	}
	s := strings.TrimRight(strings.SplitN(string(b), "\n", 2)[0], "\r")
	if s == "" {
		return "", fmt.Errorf("%s: empty", path)
	}
	return s, nil
}

// CheckPrivate refuses a file that holds a secret (a password, a token, a
// TLS key) where group or others may read it: the module would otherwise
// use, and so endorse, a secret that every user of the node can read.
func CheckPrivate(path string) error {
	f, err := openPrivate(path)
	if err != nil {
		return err
	}
	return f.Close()
}

// openPrivate opens path for reading if only its owner may read it.
func openPrivate(path string) (*os.File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if perm := fi.Mode().Perm(); perm&0o044 != 0 {
		f.Close()
		return nil, fmt.Errorf("%s: readable by group or others (mode %04o): a secret's file must be readable by its owner only (chmod 600)", path, perm)
	}
	return f, nil
}
