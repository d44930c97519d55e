// SPDX-License-Identifier: LGPL-3.0-only

package mqtt

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/flux-framework/power-monitor/internal/export"
	"github.com/flux-framework/power-monitor/internal/sample"
)

// reading is a node whose CPUs come from RAPL (with counters) and GPUs
// from NVML (with counters), its node power derived.
func reading(i int) *sample.Reading {
	r := &sample.Reading{
		CPU: []float64{100 + float64(i), 110}, Mem: []float64{},
		GPU:    []float64{250.5, 260.25},
		ReadNs: 12345,
		Energy: &sample.Energy{Node: math.NaN(), CPU: []float64{1000.123456, 2000}, Mem: []float64{}, GPU: []float64{500.5, 600}},
	}
	r.Node = math.NaN()
	r.DeriveNode()
	return r
}

var prov = export.Provenance{"node": "sum of rapl+nvml", "cpu": "rapl", "gpu": "nvml"}

func TestSamplePayloadIsWattAMeters(t *testing.T) {
	const ts = int64(1763800000123456789)
	rec := export.FromReading(ts, reading(0), prov, export.Meta{Hostname: "node7", Rank: 3, JobID: "f2xyz"})
	msgs := Messages(&rec, "wattameter")
	if len(msgs) != 2 || msgs[0].Topic != "wattameter/raplreader/data" || msgs[1].Topic != "wattameter/nvmlreader/data" {
		t.Fatalf("topics %+v", msgs)
	}
	rapl := string(msgs[0].Payload)
	// WattAMeter's MQTTPublisher.publish_data: timestamp[ns],
	// timestamp[iso], reading-time[ns], node, run-id, the tags, metadata
	want := `{"timestamp[ns]":1763800000123456789,"timestamp[iso]":"2025-11-22T08:26:40.123456Z","reading-time[ns]":12345,` +
		`"node":"node7","run-id":"f2xyz",` +
		`"cpu-0[W]":100,"cpu-0[uJ]":1000123456,"cpu-1[W]":110,"cpu-1[uJ]":2000000000,` +
		`"metadata":{"hostname":"node7","rank":3,"jobid":"f2xyz"}}`
	if rapl != want {
		t.Fatalf("rapl payload\n got %s\nwant %s", rapl, want)
	}
	var nv map[string]any
	if err := json.Unmarshal(msgs[1].Payload, &nv); err != nil {
		t.Fatal(err)
	}
	if nv["gpu-0[mW]"] != 250500.0 || nv["gpu-1[mW]"] != 260250.0 || nv["gpu-0[mJ]"] != 500500.0 || nv["gpu-1[mJ]"] != 600000.0 {
		t.Fatalf("nvml payload in mW and mJ: %s", msgs[1].Payload)
	}
	if strings.Contains(string(msgs[1].Payload), "node[") || strings.Contains(rapl, "node[") {
		t.Fatalf("a derived node power is not published: %s", msgs[1].Payload)
	}
}

func TestSamplePayloadOutsideFluxAndVariorum(t *testing.T) {
	r := &sample.Reading{Node: 400, CPU: []float64{150, math.NaN()}, GPU: []float64{}}
	rec := export.FromReading(1e18, r, export.Provenance{"node": "variorum", "cpu": "variorum"}, export.Meta{Hostname: "ws", Rank: -1})
	msgs := Messages(&rec, "power-monitor")
	if len(msgs) != 1 || msgs[0].Topic != "power-monitor/variorumreader/data" {
		t.Fatalf("%+v", msgs)
	}
	got := string(msgs[0].Payload)
	if !strings.HasSuffix(got, `"reading-time[ns]":0,"node":"ws","run-id":null,"node[W]":400,"cpu-0[W]":150,"metadata":{"hostname":"ws"}}`) {
		t.Fatalf("payload %s (unmeasured cpu-1 left out; no rank or jobid outside a job)", got)
	}
}

func TestJobPayload(t *testing.T) {
	uid := uint32(1001)
	js := export.JobSummary{ID: "f3Ab", UserID: &uid, Start: 100, End: 160.5, DurationS: 60.5, EnergyJ: 12100.25,
		PowerW: 200, NodeEnergyJ: 24200.5, NodePowerW: 400, Shared: true,
		CPUJ: 6000, GPUJ: 6100.25, Ranks: 2, Missing: []uint32{1}, Coverage: 0.5, Presence: "partial",
		Nodes: []export.JobNode{{Rank: 0, Hostname: "n0", EnergyJ: 12100.25, PowerW: 200, NodeEnergyJ: 24200.5, NodePowerW: 400}}}
	rec := export.Record{Kind: export.KindJob, T: 160500000000, Hostname: "n0", Rank: 0, JobID: "f3Ab", Job: &js}
	msgs := Messages(&rec, "power-monitor")
	if len(msgs) != 1 || msgs[0].Topic != "power-monitor/jobs/f3Ab/power" {
		t.Fatalf("%+v", msgs)
	}
	var p map[string]any
	if err := json.Unmarshal(msgs[0].Payload, &p); err != nil {
		t.Fatalf("%v: %s", err, msgs[0].Payload)
	}
	for k, v := range map[string]any{"jobid": "f3Ab", "userid": 1001.0, "energy[J]": 12100.25, "power[W]": 200.0,
		"node-energy[J]": 24200.5, "node-power[W]": 400.0, "shared": true,
		"duration[s]": 60.5, "gpu-energy[J]": 6100.25, "coverage": 0.5, "data-presence": "partial", "timestamp[ns]": 160500000000.0} {
		if p[k] != v {
			t.Errorf("%s = %v, want %v", k, p[k], v)
		}
	}
	if m, _ := p["missing-ranks"].([]any); len(m) != 1 || m[0] != 1.0 {
		t.Errorf("missing-ranks %v", p["missing-ranks"])
	}
	if n, _ := p["nodes"].([]any); len(n) != 1 {
		t.Errorf("nodes %v", p["nodes"])
	} else if n0, _ := n[0].(map[string]any); n0["energy[J]"] != 12100.25 || n0["power[W]"] != 200.0 ||
		n0["node-energy[J]"] != 24200.5 || n0["node-power[W]"] != 400.0 || n0["rank"] != 0.0 {
		t.Errorf("nodes[0] %v: want the job's energy and power, the node's beside", n0)
	}
	// the job's figures lead, the nodes' follow them, before the domains
	s := string(msgs[0].Payload)
	if !(strings.Index(s, `"power[W]":200,"node-energy[J]":24200.5,"node-power[W]":400,"shared":true,"cpu-energy[J]"`) > 0) {
		t.Errorf("keys out of order: %s", s)
	}
}

func TestOptions(t *testing.T) {
	for _, c := range []struct {
		o    Options
		url  string
		fail string
	}{
		{Options{Broker: "mq"}, "tcp://mq:1883", ""},
		{Options{Broker: "mq", Port: 1999}, "tcp://mq:1999", ""},
		{Options{Broker: "ssl://mq:8884"}, "ssl://mq:8884", ""},
		{Options{Broker: "mq", CAFile: "/nonexistent/ca.pem"}, "ssl://mq:8883", "mqtt: CA file: open /nonexistent/ca.pem"},
		{Options{Broker: "mq", QoS: 3}, "", "QoS 3"},
		{Options{Broker: "mq", TopicPrefix: "a/#"}, "", "must not contain"},
		{Options{Broker: "mq", CertFile: "c.pem"}, "", "needs both --mqtt-cert and --mqtt-key"},
		{Options{}, "", "no broker"},
	} {
		if c.url != "" && c.o.URL() != c.url {
			t.Errorf("%+v: URL %s, want %s", c.o, c.o.URL(), c.url)
		}
		_, err := New(c.o)
		if (err == nil) != (c.fail == "") || err != nil && !strings.Contains(err.Error(), c.fail) {
			t.Errorf("%+v: error %v, want %q", c.o, err, c.fail)
		}
	}
}

// The spool's form of a record is its messages, topic and payload, NUL
// between them; strings are quoted as encoding/json quotes them.
func TestEncodedIsMessages(t *testing.T) {
	s, err := New(Options{Broker: "mq", TopicPrefix: "p"})
	if err != nil {
		t.Fatal(err)
	}
	sample := export.FromReading(1763800000123456789, reading(0), prov, export.Meta{Hostname: "n\"<7>&é\x01", Rank: 3, JobID: "f2xyz"})
	job := export.Record{Kind: export.KindJob, T: 1e18, Hostname: "h", Rank: 0, Job: &export.JobSummary{ID: "f2job", EnergyJ: 1}}
	for _, rec := range []export.Record{sample, job} {
		var want []string
		for _, m := range Messages(&rec, "p") {
			want = append(want, m.Topic, string(m.Payload))
		}
		if got := string(s.EncodeRecord([]byte("x"), &rec)); got != "x"+strings.Join(want, "\x00") {
			t.Fatalf("EncodeRecord\n got %q\nwant %q", got, "x"+strings.Join(want, "\x00"))
		}
	}
	for _, str := range []string{"node7", "", `a"b`, `a\b`, "<&>", "tab\there", "é", "\x7f", "\u2028"} {
		q, _ := json.Marshal(str)
		if got := string(appendString(nil, str)); got != string(q) {
			t.Errorf("appendString(%q) = %s, want %s", str, got, q)
		}
	}
	var p map[string]any
	if err := json.Unmarshal(Messages(&sample, "p")[0].Payload, &p); err != nil || p["node"] != "n\"<7>&é\x01" {
		t.Fatalf("%v %v", err, p["node"])
	}
}
