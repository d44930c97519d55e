// SPDX-License-Identifier: LGPL-3.0-only

package mqtt

// Tests against a real Mosquitto (internal/testservers), on a loopback port.

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/flux-framework/power-monitor/internal/export"
	"github.com/flux-framework/power-monitor/internal/export/spool"
	"github.com/flux-framework/power-monitor/internal/testlog"
	"github.com/flux-framework/power-monitor/internal/testservers"
)

// subscriber collects what a WattAMeter-style consumer receives: payloads
// by topic, keyed by timestamp[ns]. Its session is persistent (QoS 1), so
// the broker keeps what arrives while it reconnects.
type subscriber struct {
	t      *testing.T
	client paho.Client
	mu     sync.Mutex
	got    map[string]map[int64]map[string]any // topic -> timestamp -> payload
	order  map[string][]int64
	dups   int
}

func subscribe(t *testing.T, port int, filter string, user, pass string) *subscriber {
	t.Helper()
	s := &subscriber{t: t, got: map[string]map[int64]map[string]any{}, order: map[string][]int64{}}
	o := paho.NewClientOptions().AddBroker(fmt.Sprintf("tcp://127.0.0.1:%d", port)).
		SetClientID("test-subscriber").SetCleanSession(false).SetAutoReconnect(true).
		SetConnectRetry(true).SetConnectRetryInterval(100 * time.Millisecond).SetMaxReconnectInterval(200 * time.Millisecond).
		SetUsername(user).SetPassword(pass)
	o.SetOnConnectHandler(func(c paho.Client) {
		c.Subscribe(filter, 1, s.onMessage)
	})
	s.client = paho.NewClient(o)
	if tok := s.client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber: %v", tok.Error())
	}
	time.Sleep(200 * time.Millisecond) // the subscription is in place
	t.Cleanup(func() { s.client.Disconnect(0) })
	return s
}

func (s *subscriber) onMessage(_ paho.Client, m paho.Message) {
	var p map[string]any
	if err := json.Unmarshal(m.Payload(), &p); err != nil {
		s.t.Errorf("%s: not JSON: %s", m.Topic(), m.Payload())
		return
	}
	var head struct {
		TS int64 `json:"timestamp[ns]"`
	}
	json.Unmarshal(m.Payload(), &head) // exact: as an integer, not a float64
	ts := head.TS
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.got[m.Topic()] == nil {
		s.got[m.Topic()] = map[int64]map[string]any{}
	}
	if _, ok := s.got[m.Topic()][ts]; ok {
		s.dups++
		return
	}
	s.got[m.Topic()][ts] = p
	s.order[m.Topic()] = append(s.order[m.Topic()], ts)
}

func (s *subscriber) count(topic string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got[topic])
}

// waitFor waits until topic has n distinct messages.
func (s *subscriber) waitFor(topic string, n int, d time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if s.count(topic) >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("%s: %d of %d messages after %v", topic, s.count(topic), n, d)
}

func newExporter(t *testing.T, o Options, l *testlog.Log) *export.Exporter {
	t.Helper()
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := export.New(export.Config{SpoolDir: t.TempDir(), Log: func(_ export.Severity, m string) { l.Add(m) }, MaxBackoff: 300 * time.Millisecond},
		export.Meta{Hostname: "node7", Rank: 3}, prov, []export.Sink{s}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ex.Start()
	return ex
}

// feed appends n samples 10 ms apart, from t0, with cpu-0 = 100 + i W.
func feed(ex *export.Exporter, t0 int64, from, n int) {
	for i := from; i < from+n; i++ {
		ex.Append(t0+int64(i)*10e6, reading(i))
	}
}

func TestSubscriberReceivesEverySample(t *testing.T) {
	b := testservers.Mosquitto(t, testservers.MosquittoOptions{})
	sub := subscribe(t, b.Port, "power-monitor/#", "", "")
	var l testlog.Log
	ex := newExporter(t, Options{Broker: "127.0.0.1", Port: b.Port, QoS: 1}, &l)
	t0 := time.Now().UnixNano()
	feed(ex, t0, 0, 200)
	ex.Job(export.JobSummary{ID: "f2job", Start: float64(t0) / 1e9, End: float64(t0)/1e9 + 2, DurationS: 2, EnergyJ: 840, PowerW: 420})
	ex.Stop(10 * time.Second)

	sub.waitFor("power-monitor/raplreader/data", 200, 10*time.Second)
	sub.waitFor("power-monitor/nvmlreader/data", 200, 10*time.Second)
	sub.waitFor("power-monitor/jobs/f2job/power", 1, 10*time.Second)
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for i, ts := range sub.order["power-monitor/raplreader/data"] {
		p := sub.got["power-monitor/raplreader/data"][ts]
		if ts != t0+int64(i)*10e6 || p["cpu-0[W]"] != 100+float64(i) {
			t.Fatalf("message %d out of order or wrong: %v", i, p)
		}
		if md, _ := p["metadata"].(map[string]any); md["hostname"] != "node7" || md["rank"] != 3.0 {
			t.Fatalf("metadata %v", p["metadata"])
		}
	}
	if j := sub.got["power-monitor/jobs/f2job/power"]; len(j) != 1 {
		t.Fatalf("job summary %v", j)
	}
	st := ex.Stats().Sinks[0]
	if st.Delivered != 201 || st.Pending != 0 || st.LastError != "" {
		t.Fatalf("stats %+v\n%s", st, l.String())
	}
}

// A spool that an earlier version left, in the common form (JSON records),
// is published first after an upgrade, as the same messages, then the new
// records, spooled ready to publish.
func TestEarlierSpoolPublished(t *testing.T) {
	b := testservers.Mosquitto(t, testservers.MosquittoOptions{})
	const topic = "power-monitor/raplreader/data"
	sub := subscribe(t, b.Port, topic, "", "")
	dir := t.TempDir()
	old, err := spool.Open(spool.Options{Dir: filepath.Join(dir, "mqtt")})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now().UnixNano()
	for i := 0; i < 5; i++ {
		rec := export.FromReading(t0+int64(i)*10e6, reading(i), prov, export.Meta{Hostname: "node7", Rank: 3})
		line, _ := json.Marshal(&rec)
		if err := old.Append(line); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()

	s, err := New(Options{Broker: "127.0.0.1", Port: b.Port, QoS: 1})
	if err != nil {
		t.Fatal(err)
	}
	var l testlog.Log
	ex, err := export.New(export.Config{SpoolDir: dir, Log: func(_ export.Severity, m string) { l.Add(m) }},
		export.Meta{Hostname: "node7", Rank: 3}, prov, []export.Sink{s}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ex.Start()
	feed(ex, t0, 5, 5)
	ex.Stop(10 * time.Second)
	sub.waitFor(topic, 10, 10*time.Second)
	sub.mu.Lock()
	defer sub.mu.Unlock()
	for i, ts := range sub.order[topic] {
		p := sub.got[topic][ts]
		if ts != t0+int64(i)*10e6 || p["cpu-0[W]"] != 100+float64(i) {
			t.Fatalf("message %d out of order or wrong: %v", i, p)
		}
	}
	if st := ex.Stats().Sinks[0]; st.Delivered != 10 || st.Pending != 0 {
		t.Fatalf("stats %+v\n%s", st, l.String())
	}
}

// The broker stops for a while in the middle of a run, and comes back: the
// subscriber gets every sample, in order, once it is back.
func TestBrokerDownAndBackLosesNothing(t *testing.T) {
	b := testservers.Mosquitto(t, testservers.MosquittoOptions{Persist: true})
	sub := subscribe(t, b.Port, "power-monitor/raplreader/data", "", "")
	var l testlog.Log
	ex := newExporter(t, Options{Broker: "127.0.0.1", Port: b.Port, QoS: 1, Timeout: 2 * time.Second}, &l)
	t0 := time.Now().UnixNano()
	const topic = "power-monitor/raplreader/data"

	feed(ex, t0, 0, 100)
	sub.waitFor(topic, 100, 10*time.Second)
	b.Stop()
	feed(ex, t0, 100, 300) // while the broker is away
	time.Sleep(time.Second)
	if st := ex.Stats().Sinks[0]; st.Pending == 0 || st.LastError == "" || st.Delivered != 100 {
		t.Fatalf("broker away, yet %+v", st)
	}
	b.Start()
	feed(ex, t0, 400, 100)
	sub.waitFor(topic, 500, 30*time.Second)
	ex.Stop(10 * time.Second)

	sub.mu.Lock()
	defer sub.mu.Unlock()
	for i, ts := range sub.order[topic] {
		if ts != t0+int64(i)*10e6 {
			t.Fatalf("message %d has timestamp %d, want %d: out of order or lost", i, ts, t0+int64(i)*10e6)
		}
	}
	st := ex.Stats().Sinks[0]
	t.Logf("500 samples, broker away for 300: %d delivered (%d duplicates seen by the subscriber), %d failed sends", st.Delivered, sub.dups, st.Errors)
	if st.Pending != 0 || st.DroppedSpool != 0 || st.Delivered < 500 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(l.String(), "records wait in the spool") || !strings.Contains(l.String(), "delivering again") {
		t.Fatalf("the outage and the recovery are logged:\n%s", l.String())
	}
}

func TestTLSWithClientCertificate(t *testing.T) {
	pki := testservers.NewPKI(t)
	b := testservers.Mosquitto(t, testservers.MosquittoOptions{TLS: pki})

	var l testlog.Log
	ex := newExporter(t, Options{Broker: "127.0.0.1", Port: b.Port, CAFile: pki.CA, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}, &l)
	feed(ex, time.Now().UnixNano(), 0, 20)
	ex.Stop(10 * time.Second)
	if st := ex.Stats().Sinks[0]; st.Delivered != 20 || st.Pending != 0 {
		t.Fatalf("over TLS: %+v\n%s", st, l.String())
	}
	if !strings.HasPrefix(ex.Stats().Sinks[0].Sink, "mqtt (ssl://127.0.0.1:") {
		t.Fatalf("sink %s", ex.Stats().Sinks[0].Sink)
	}

	// A CA that did not sign the broker's certificate: refused, kept.
	var l2 testlog.Log
	ex = newExporter(t, Options{Broker: "127.0.0.1", Port: b.Port, CAFile: pki.OtherCA, CertFile: pki.ClientCert, KeyFile: pki.ClientKey}, &l2)
	feed(ex, time.Now().UnixNano(), 0, 20)
	time.Sleep(500 * time.Millisecond)
	st := ex.Stats().Sinks[0]
	ex.Stop(0)
	if st.Delivered != 0 || st.Pending != 20 || !strings.Contains(st.LastError, "certificate") {
		t.Fatalf("a broker signed by another CA: %+v", st)
	}

	// No client certificate: the broker refuses us.
	var l3 testlog.Log
	ex = newExporter(t, Options{Broker: "127.0.0.1", Port: b.Port, CAFile: pki.CA}, &l3)
	feed(ex, time.Now().UnixNano(), 0, 5)
	time.Sleep(500 * time.Millisecond)
	st = ex.Stats().Sinks[0]
	ex.Stop(0)
	if st.Delivered != 0 || st.LastError == "" {
		t.Fatalf("without a client certificate: %+v", st)
	}
}

func TestBadCredentialsSayWhatToCheck(t *testing.T) {
	b := testservers.Mosquitto(t, testservers.MosquittoOptions{Users: map[string]string{"flux": "s3cret"}})
	var l testlog.Log
	ex := newExporter(t, Options{Broker: "127.0.0.1", Port: b.Port, Username: "flux", Password: "wrong"}, &l)
	feed(ex, time.Now().UnixNano(), 0, 10)
	time.Sleep(500 * time.Millisecond)
	st := ex.Stats().Sinks[0]
	ex.Stop(0)
	if st.Delivered != 0 || st.Pending != 10 || !strings.Contains(st.LastError, "broker refused the credentials") ||
		!strings.Contains(st.LastError, "--mqtt-username") {
		t.Fatalf("%+v", st)
	}
	if !strings.Contains(l.String(), "refused the credentials") {
		t.Fatalf("not logged:\n%s", l.String())
	}

	var l2 testlog.Log
	sub := subscribe(t, b.Port, "power-monitor/#", "flux", "s3cret")
	ex = newExporter(t, Options{Broker: "127.0.0.1", Port: b.Port, Username: "flux", Password: "s3cret"}, &l2)
	feed(ex, time.Now().UnixNano(), 0, 10)
	ex.Stop(10 * time.Second)
	sub.waitFor("power-monitor/nvmlreader/data", 10, 10*time.Second)
}

// BenchmarkDelivery is the cost per sample of publishing to a real
// Mosquitto (QoS 1, acknowledged), end to end: spool, Paho, broker ack.
func BenchmarkDelivery(b *testing.B) {
	srv := testservers.Mosquitto(b, testservers.MosquittoOptions{})
	s, err := New(Options{Broker: "127.0.0.1", Port: srv.Port, QoS: 1})
	if err != nil {
		b.Fatal(err)
	}
	ex, err := export.New(export.Config{SpoolDir: b.TempDir(), Queue: 1 << 20}, export.Meta{Hostname: "node7", Rank: 3}, prov, []export.Sink{s}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ex.Start()
	r := reading(1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ex.Append(int64(i+1)*1e6, r)
	}
	ex.Stop(time.Minute)
	b.StopTimer()
	if st := ex.Stats().Sinks[0]; st.Delivered != uint64(b.N) {
		b.Fatalf("%+v", st)
	}
}
