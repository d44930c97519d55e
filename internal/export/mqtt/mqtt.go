// SPDX-License-Identifier: LGPL-3.0-only

package mqtt

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"github.com/flux-framework/power-monitor/internal/export"
)

// Options of the MQTT sink. The config package fills them from the command
// line, the environment and the Flux configuration.
type Options struct {
	Broker      string // host, or a URL (tcp://, ssl://, ws://)
	Port        int    // 0: 1883, or 8883 with TLS
	Username    string
	Password    string
	TopicPrefix string // "" : "power-monitor"
	QoS         byte   // 0, 1 or 2
	CAFile      string // TLS: the CA that signed the broker's certificate
	CertFile    string // TLS: client certificate and key
	KeyFile     string
	ClientID    string        // "" : power-monitor-HOST-RANK-PID
	Timeout     time.Duration // connect and publish; 0: 10 s
}

// TLS reports whether the options ask for TLS.
func (o *Options) TLS() bool {
	return o.CAFile != "" || o.CertFile != "" || strings.HasPrefix(o.Broker, "ssl://") ||
		strings.HasPrefix(o.Broker, "tls://") || strings.HasPrefix(o.Broker, "mqtts://")
}

// URL is the broker's address as Paho takes it.
func (o *Options) URL() string {
	if strings.Contains(o.Broker, "://") {
		return o.Broker
	}
	port := o.Port
	scheme := "tcp"
	if o.TLS() {
		scheme = "ssl"
	}
	if port == 0 {
		port = 1883
		if scheme == "ssl" {
			port = 8883
		}
	}
	return scheme + "://" + net.JoinHostPort(o.Broker, strconv.Itoa(port))
}

// Sink publishes records to one broker. It connects on the first Send and
// again after the connection is lost (never in the background: while the
// broker is away, records wait in the spool).
type Sink struct {
	o      Options
	popts  *paho.ClientOptions
	mu     sync.Mutex
	client paho.Client
	conn   atomic.Pointer[burstConn] // the last connection opened (QoS 1, 2)
}

// New checks the options and reads the TLS files; it does not connect.
func New(o Options) (*Sink, error) {
	if o.Broker == "" {
		return nil, errors.New("mqtt: no broker")
	}
	if o.QoS > 2 {
		return nil, fmt.Errorf("mqtt: QoS %d: must be 0, 1 or 2", o.QoS)
	}
	if o.TopicPrefix == "" {
		o.TopicPrefix = "power-monitor"
	}
	if strings.ContainsAny(o.TopicPrefix, "+#\x00\n") {
		return nil, fmt.Errorf("mqtt: topic prefix %q: must not contain +, #, a NUL or a newline", o.TopicPrefix)
	}
	o.TopicPrefix = strings.TrimSuffix(o.TopicPrefix, "/")
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.ClientID == "" {
		h, _ := os.Hostname()
		o.ClientID = fmt.Sprintf("power-monitor-%s-%d", h, os.Getpid())
	}
	p := paho.NewClientOptions().
		AddBroker(o.URL()).
		SetClientID(o.ClientID).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetConnectTimeout(o.Timeout).
		SetWriteTimeout(o.Timeout).
		SetOrderMatters(true)
	if o.Username != "" {
		p.SetUsername(o.Username)
	}
	if o.Password != "" {
		p.SetPassword(o.Password)
	}
	if o.TLS() {
		cfg, err := tlsConfig(&o)
		if err != nil {
			return nil, err
		}
		p.SetTLSConfig(cfg)
	}
	s := &Sink{o: o, popts: p}
	if o.QoS > 0 {
		p.SetCustomOpenConnectionFn(s.openConn) // conn.go
	}
	return s, nil
}

func tlsConfig(o *Options) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pool, err := export.CAPool(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: %w", err)
		}
		cfg.RootCAs = pool
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("mqtt: a client certificate needs both --mqtt-cert and --mqtt-key")
	}
	if o.CertFile != "" {
		c, err := tls.LoadX509KeyPair(o.CertFile, o.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: client certificate %s, key %s: %w", o.CertFile, o.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	return cfg, nil
}

// Name says where it publishes.
func (s *Sink) Name() string { return "mqtt (" + s.o.URL() + ")" }

// ID names its spool.
func (s *Sink) ID() string { return "mqtt" }

// Prefix is the topic prefix in use.
func (s *Sink) Prefix() string { return s.o.TopicPrefix }

func (s *Sink) connect() (paho.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil && s.client.IsConnectionOpen() {
		return s.client, nil
	}
	if s.client != nil {
		s.client.Disconnect(0)
	}
	c := paho.NewClient(s.popts)
	tok := c.Connect()
	if !tok.WaitTimeout(s.o.Timeout + time.Second) {
		c.Disconnect(0)
		return nil, fmt.Errorf("connect: no answer in %v", s.o.Timeout)
	}
	if err := tok.Error(); err != nil {
		return nil, connectError(err)
	}
	s.client = c
	return c, nil
}

// connectError says what to check when the broker refuses us.
func connectError(err error) error {
	switch {
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword), errors.Is(err, packets.ErrorRefusedNotAuthorised):
		return fmt.Errorf("connect: broker refused the credentials (%v): check --mqtt-username and the password (--mqtt-password-file, MQTT_PASSWORD)", err)
	case errors.Is(err, packets.ErrorRefusedIDRejected):
		return fmt.Errorf("connect: broker rejected the client id (%v)", err)
	}
	return fmt.Errorf("connect: %w", err)
}

// EncodeRecord is export.Encoder: the record's messages, as its spool
// keeps them, ready to publish: for each, the topic, a NUL and the payload,
// the messages separated by NULs (neither a topic nor a JSON payload holds
// a NUL or a newline).
func (s *Sink) EncodeRecord(b []byte, rec *export.Record) []byte {
	return appendEncoded(b, rec, s.o.TopicPrefix)
}

// Send publishes every record's messages, as SendEncoded.
func (s *Sink) Send(ctx context.Context, recs []export.Record) error {
	lines := make([][]byte, 0, len(recs))
	for i := range recs {
		lines = append(lines, s.EncodeRecord(nil, &recs[i]))
	}
	return s.SendEncoded(ctx, lines)
}

// SendEncoded publishes the messages of every line (EncodeRecord), then
// waits for the broker to acknowledge them all (QoS 1 and 2; QoS 0 only
// waits for the write).
func (s *Sink) SendEncoded(ctx context.Context, lines [][]byte) error {
	c, err := s.connect()
	if err != nil {
		return err
	}
	// the lines' messages (topic NUL payload, NUL between them); ends[i]:
	// where line i's messages end
	type message struct {
		topic   string
		payload []byte
	}
	var msgs []message
	ends := make([]int, 0, len(lines))
	for _, line := range lines {
		for len(line) > 0 {
			topic, rest, ok := bytes.Cut(line, []byte{0})
			if !ok { // the exporter wrote it: never, short of a damaged disk
				return &export.Rejected{Err: fmt.Errorf("a spooled message without payload: %.40q", line)}
			}
			payload, next, _ := bytes.Cut(rest, []byte{0})
			msgs = append(msgs, message{string(topic), payload})
			line = next
		}
		ends = append(ends, len(msgs))
	}
	if bc := s.conn.Load(); bc != nil {
		bc.expect(len(msgs))
	}
	toks := make([]paho.Token, 0, len(msgs))
	for _, m := range msgs {
		toks = append(toks, c.Publish(m.topic, s.o.QoS, false, m.payload))
	}
	// partial: the lines all of whose messages before token k were
	// acknowledged go, as Partial, with err
	partial := func(k int, err error) error {
		done := 0
		for done < len(ends) && ends[done] <= k {
			done++
		}
		if done == 0 {
			return err
		}
		return &export.Partial{Delivered: done, Err: err}
	}
	// A broker that goes away while its acknowledgements are awaited is an
	// error at once, not when ctx ends: the records stay in the spool and
	// are sent again on a new connection, and the outage is logged now.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for k, t := range toks {
		for waiting := true; waiting; {
			select {
			case <-t.Done():
				waiting = false
			case <-ctx.Done():
				s.drop()
				return partial(k, fmt.Errorf("publish: %w", ctx.Err()))
			case <-tick.C:
				if !c.IsConnectionOpen() {
					s.drop()
					return partial(k, errors.New("publish: the connection to the broker was lost"))
				}
			}
		}
		if err := t.Error(); err != nil {
			s.drop()
			return partial(k, fmt.Errorf("publish: %w", err))
		}
	}
	return nil
}

// drop forgets the connection; the next Send reconnects.
func (s *Sink) drop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		s.client.Disconnect(0)
		s.client = nil
	}
}

// Close disconnects, letting in-flight messages finish for a moment.
func (s *Sink) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.client != nil {
		s.client.Disconnect(250)
		s.client = nil
	}
}
