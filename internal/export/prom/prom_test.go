// SPDX-License-Identifier: LGPL-3.0-only

package prom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	prompb "buf.build/gen/go/prometheus/prometheus/protocolbuffers/go"
	"github.com/golang/snappy"
	"google.golang.org/protobuf/proto"

	"github.com/flux-framework/power-monitor/internal/export"
	"github.com/flux-framework/power-monitor/internal/sample"
	"github.com/flux-framework/power-monitor/internal/testlog"
	"github.com/flux-framework/power-monitor/internal/testservers"
)

var prov = export.Provenance{"node": "sum of rapl+nvml", "cpu": "rapl", "gpu": "nvml"}

// reading i: cpu-0 100+i W with a counter, gpu-0 250 W without one.
func reading(i int) *sample.Reading {
	r := &sample.Reading{CPU: []float64{100 + float64(i)}, GPU: []float64{250},
		Energy: &sample.Energy{Node: math.NaN(), CPU: []float64{1000 + float64(i)}, GPU: []float64{math.NaN()}}}
	r.Node = math.NaN()
	r.DeriveNode()
	return r
}

func records(t0 int64, n int) []export.Record {
	var out []export.Record
	for i := 0; i < n; i++ {
		out = append(out, export.FromReading(t0+int64(i)*1e9, reading(i), prov, export.Meta{Hostname: "n1", Rank: 2}))
	}
	return out
}

func decode(t *testing.T, body []byte) *prompb.WriteRequest {
	t.Helper()
	raw, err := snappy.Decode(nil, body)
	if err != nil {
		t.Fatalf("not snappy: %v", err)
	}
	wr := &prompb.WriteRequest{}
	if err := proto.Unmarshal(raw, wr); err != nil {
		t.Fatalf("not a WriteRequest: %v", err)
	}
	return wr
}

func seriesName(ts *prompb.TimeSeries) string {
	var parts []string
	for _, l := range ts.Labels {
		parts = append(parts, l.Name+"="+l.Value)
	}
	return strings.Join(parts, ",")
}

func TestEncodeWriteRequest(t *testing.T) {
	body, err := Encode(records(1_700_000_000_000_000_000, 3))
	if err != nil {
		t.Fatal(err)
	}
	wr := decode(t, body)
	got := map[string][]*prompb.Sample{}
	for _, ts := range wr.Timeseries {
		for i := 1; i < len(ts.Labels); i++ {
			if ts.Labels[i-1].Name >= ts.Labels[i].Name {
				t.Fatalf("labels not sorted: %v", ts.Labels)
			}
		}
		got[seriesName(ts)] = ts.Samples
	}
	if len(got) != 6 { // power and energy of node (sum), cpu-0, gpu-0
		t.Fatalf("%d series: %v", len(got), got)
	}
	cpuW := got["__name__=power_monitor_power_watts,device=cpu-0,domain=cpu,host=n1,rank=2,source=rapl"]
	if len(cpuW) != 3 || cpuW[0].Value != 100 || cpuW[2].Value != 102 || cpuW[1].Timestamp != 1_700_000_001_000 {
		t.Fatalf("cpu-0 power %v", cpuW)
	}
	cpuJ := got["__name__=power_monitor_energy_joules_total,device=cpu-0,domain=cpu,host=n1,rank=2,source=rapl"]
	if len(cpuJ) != 3 || cpuJ[2].Value != 1002 {
		t.Fatalf("cpu-0 energy is its counter: %v", cpuJ)
	}
	// Encode alone does not integrate: the exporter's writer sets IJ.
	if _, ok := got["__name__=power_monitor_power_watts,device=node,domain=node,host=n1,rank=2,source=sum"]; !ok {
		t.Fatalf("no derived node: %v", got)
	}
}

// A record's spooled form makes the request that its points make (points
// as the /metrics endpoint and Encode of old had them); a sample's is the
// smaller one. Bad lines are refused, not sent half.
func TestEncodeRecordIsPoints(t *testing.T) {
	w, err := NewRemoteWrite(RemoteWriteOptions{URL: "http://127.0.0.1:1/api/v1/write"})
	if err != nil {
		t.Fatal(err)
	}
	recs := records(1_700_000_000_000_000_000, 2)
	recs[1].Rank = -1 // the agent: no rank
	uid := uint32(1000)
	recs = append(recs, export.Record{Kind: export.KindJob, T: 1_700_000_002_000_000_000, Hostname: "n1", Rank: 2,
		Job: &export.JobSummary{ID: "f2job", UserID: &uid, EnergyJ: 10, Nodes: []export.JobNode{{Rank: 2, Hostname: "n1", EnergyJ: 10}}}})
	for i := range recs {
		got, err1 := EncodeLines([][]byte{w.EncodeRecord(nil, &recs[i])})
		want, err2 := EncodeLines([][]byte{appendPoints(strconv.AppendInt([]byte("p"), recs[i].T/1e6, 10), points(&recs[i]))})
		if err1 != nil || err2 != nil || string(got) != string(want) {
			t.Fatalf("record %d: the spooled form's request differs from its points' (%v, %v)", i, err1, err2)
		}
		if recs[i].Kind == export.KindSample {
			js, _ := json.Marshal(&recs[i])
			if l := len(w.EncodeRecord(nil, &recs[i])); l >= len(js) {
				t.Fatalf("record %d: %d bytes spooled, its JSON %d", i, l, len(js))
			}
		}
	}
	for _, bad := range []string{"", "x12", "p12\x1ename\x1d", "s12\x1fh", "s12\x1fh\x1f1\x1ecpu\x1f0\x1frapl\x1f1"} {
		if _, err := EncodeLines([][]byte{[]byte(bad)}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestEncodeJob(t *testing.T) {
	uid := uint32(5)
	rec := export.Record{Kind: export.KindJob, T: 2e18, Job: &export.JobSummary{ID: "f9", UserID: &uid, EnergyJ: 42, PowerW: 7,
		NodeEnergyJ: 84, NodePowerW: 14, Shared: true,
		Nodes: []export.JobNode{{Rank: 1, Hostname: "h1", EnergyJ: 42, NodeEnergyJ: 84}}}}
	wr := decode(t, must(Encode([]export.Record{rec})))
	found := map[string]float64{}
	for _, ts := range wr.Timeseries {
		found[seriesName(ts)] = ts.Samples[0].Value
		if ts.Samples[0].Timestamp != 2e12 {
			t.Fatalf("job series at %d, want the job's end", ts.Samples[0].Timestamp)
		}
	}
	if found["__name__=power_monitor_job_energy_joules,domain=all,jobid=f9,userid=5"] != 42 ||
		found["__name__=power_monitor_job_power_watts,jobid=f9,userid=5"] != 7 ||
		found["__name__=power_monitor_job_nodes_energy_joules,jobid=f9,userid=5"] != 84 ||
		found["__name__=power_monitor_job_nodes_power_watts,jobid=f9,userid=5"] != 14 ||
		found["__name__=power_monitor_job_node_energy_joules,host=h1,jobid=f9,rank=1,userid=5"] != 42 {
		t.Fatalf("%v", found)
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

// What the export loop does with each answer depends on how Send
// classifies it.
func TestSendClassifiesAnswers(t *testing.T) {
	var mu sync.Mutex
	status, retryAfter := 0, ""
	var hdr http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		hdr = r.Header.Clone()
		io.Copy(io.Discard, r.Body)
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		fmt.Fprint(w, "why")
	}))
	defer srv.Close()
	w, err := NewRemoteWrite(RemoteWriteOptions{URL: srv.URL + "/api/v1/write", Username: "u", Password: "p"})
	if err != nil {
		t.Fatal(err)
	}
	recs := records(1e18, 2)
	for _, c := range []struct {
		status     int
		retryAfter string
		want       string // ok, retry, rejected
		after      time.Duration
	}{
		{204, "", "ok", 0}, {200, "", "ok", 0},
		{500, "", "retry", 0}, {503, "7", "retry", 7 * time.Second}, {429, "3", "retry", 3 * time.Second},
		{400, "", "rejected", 0}, {401, "", "rejected", 0}, {404, "", "rejected", 0},
	} {
		mu.Lock()
		status, retryAfter = c.status, c.retryAfter
		mu.Unlock()
		err := w.Send(context.Background(), recs)
		var rej *export.Rejected
		var ra interface{ RetryAfter() time.Duration }
		got := "retry"
		switch {
		case err == nil:
			got = "ok"
		case errors.As(err, &rej):
			got = "rejected"
		}
		if got != c.want {
			t.Errorf("HTTP %d: %v, want %s", c.status, err, c.want)
		}
		if c.after > 0 && (!errors.As(err, &ra) || ra.RetryAfter() != c.after) {
			t.Errorf("HTTP %d: Retry-After %s not kept: %v", c.status, c.retryAfter, err)
		}
		if err != nil && !strings.Contains(err.Error(), fmt.Sprint(c.status)) {
			t.Errorf("HTTP %d: error %q does not say the status", c.status, err)
		}
	}
	if hdr.Get("Content-Encoding") != "snappy" || hdr.Get("Content-Type") != "application/x-protobuf" ||
		hdr.Get("X-Prometheus-Remote-Write-Version") != "0.1.0" || !strings.HasPrefix(hdr.Get("Authorization"), "Basic ") {
		t.Fatalf("headers %v", hdr)
	}
	// Nobody listening: a network error, retried.
	srv.Close()
	err = w.Send(context.Background(), recs)
	var rej *export.Rejected
	if err == nil || errors.As(err, &rej) {
		t.Fatalf("connection refused: %v", err)
	}
	if _, err := NewRemoteWrite(RemoteWriteOptions{URL: "prometheus:9090"}); err == nil || !strings.Contains(err.Error(), "want http(s)://") {
		t.Fatalf("bad URL: %v", err)
	}
}

func startExporter(t *testing.T, url string, l *testlog.Log, obs ...export.Observer) *export.Exporter {
	t.Helper()
	w, err := NewRemoteWrite(RemoteWriteOptions{URL: url, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := export.New(export.Config{SpoolDir: t.TempDir(), Log: func(_ export.Severity, m string) { l.Add(m) }, MaxBackoff: 500 * time.Millisecond, Batch: 50},
		export.Meta{Hostname: "n1", Rank: 2}, prov, []export.Sink{w}, obs)
	if err != nil {
		t.Fatal(err)
	}
	ex.Start()
	return ex
}

func feed(ex *export.Exporter, t0 int64, from, n int) {
	for i := from; i < from+n; i++ {
		ex.Append(t0+int64(i)*100e6, reading(i))
	}
}

func queryOne(t *testing.T, p *testservers.Prom, expr string) float64 {
	t.Helper()
	var res []testservers.Sample
	var err error
	// Remote-written samples are queryable at once; a first scrape comes
	// after service discovery's first update, about 5 s after the start.
	for k := 0; k < 200; k++ {
		if res, err = p.Query(expr); err == nil && len(res) == 1 {
			return res[0].Value
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s: %v %v", expr, res, err)
	return 0
}

// A real Prometheus with its remote-write receiver on stores every sample
// with its labels, the energy counters, and the job's summary.
func TestRemoteWriteIntoPrometheus(t *testing.T) {
	p := testservers.Prometheus(t)
	var l testlog.Log
	ex := startExporter(t, p.WriteURL(), &l)
	t0 := time.Now().Add(-time.Minute).UnixNano()
	feed(ex, t0, 0, 300) // 30 s of samples, 100 ms apart
	uid := uint32(1000)
	ex.Job(export.JobSummary{ID: "f2job", UserID: &uid, Start: float64(t0) / 1e9, End: float64(t0)/1e9 + 30, DurationS: 30, EnergyJ: 11250, PowerW: 375,
		NodeEnergyJ: 22500, NodePowerW: 750, Shared: true,
		Nodes: []export.JobNode{{Rank: 2, Hostname: "n1", EnergyJ: 11250, PowerW: 375, NodeEnergyJ: 22500, NodePowerW: 750}}})
	ex.Stop(20 * time.Second)
	if st := ex.Stats().Sinks[0]; st.Delivered != 301 || st.Pending != 0 {
		t.Fatalf("%+v\n%s", st, l.String())
	}
	sel := `{host="n1",rank="2",domain="cpu",device="cpu-0",source="rapl"}`
	if n := queryOne(t, p, `count_over_time(power_monitor_power_watts`+sel+`[5m])`); n != 300 {
		t.Fatalf("%v samples in Prometheus, want 300", n)
	}
	if v := queryOne(t, p, `max_over_time(power_monitor_power_watts`+sel+`[5m])`); v != 399 {
		t.Fatalf("max cpu-0 power %v, want 399", v)
	}
	if v := queryOne(t, p, `max_over_time(power_monitor_energy_joules_total`+sel+`[5m])`); v != 1299 {
		t.Fatalf("cpu-0 energy counter %v, want the hardware counter 1299", v)
	}
	// gpu-0 has no counter: 250 W integrated over 29.9 s.
	if v := queryOne(t, p, `max_over_time(power_monitor_energy_joules_total{device="gpu-0",source="nvml"}[5m])`); math.Abs(v-250*29.9) > 1e-6 {
		t.Fatalf("gpu-0 energy %v, want %v", v, 250*29.9)
	}
	if v := queryOne(t, p, `power_monitor_job_energy_joules{jobid="f2job",userid="1000",domain="all"}`); v != 11250 {
		t.Fatalf("job energy %v", v)
	}
	if v := queryOne(t, p, `power_monitor_job_node_energy_joules{jobid="f2job",host="n1",rank="2"}`); v != 11250 {
		t.Fatalf("job node energy %v", v)
	}
	if v := queryOne(t, p, `power_monitor_job_nodes_energy_joules{jobid="f2job",userid="1000"}`); v != 22500 {
		t.Fatalf("the job's nodes' energy %v, want 22500", v)
	}
}

// Prometheus stops for a while in the middle of a run and comes back:
// every sample is in it afterwards.
func TestPrometheusDownAndBackLosesNothing(t *testing.T) {
	p := testservers.Prometheus(t)
	var l testlog.Log
	ex := startExporter(t, p.WriteURL(), &l)
	t0 := time.Now().Add(-2 * time.Minute).UnixNano()
	feed(ex, t0, 0, 200)
	time.Sleep(500 * time.Millisecond)
	p.Stop()
	feed(ex, t0, 200, 400) // while Prometheus is away
	time.Sleep(time.Second)
	if st := ex.Stats().Sinks[0]; st.Pending == 0 || st.LastError == "" {
		t.Fatalf("Prometheus away, yet %+v", st)
	}
	p.Start()
	feed(ex, t0, 600, 200)
	ex.Stop(30 * time.Second)
	st := ex.Stats().Sinks[0]
	if st.Pending != 0 || st.DroppedSpool != 0 || st.Rejected != 0 || st.Delivered != 800 {
		t.Fatalf("%+v\n%s", st, l.String())
	}
	if n := queryOne(t, p, `count_over_time(power_monitor_power_watts{device="cpu-0"}[5m])`); n != 800 {
		t.Fatalf("%v samples in Prometheus after its outage, want 800\n%s", n, l.String())
	}
	if !strings.Contains(l.String(), "records wait in the spool") || !strings.Contains(l.String(), "delivering again") {
		t.Fatalf("the outage is logged:\n%s", l.String())
	}
}

// A real Prometheus scrapes /metrics.
func TestScrapedByPrometheus(t *testing.T) {
	m := NewMetrics()
	var l testlog.Log
	ex, err := export.New(export.Config{Log: func(_ export.Severity, m string) { l.Add(m) }}, export.Meta{Hostname: "n1", Rank: -1}, prov, nil, []export.Observer{m})
	if err != nil {
		t.Fatal(err)
	}
	m.SetStats(ex.Stats)
	srv, err := Serve("127.0.0.1:0", m, true)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ex.Start()
	now := time.Now().UnixNano()
	feed(ex, now-10e9, 0, 100) // 10 s up to now
	ex.Stop(0)

	resp, err := http.Get("http://" + srv.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`# TYPE power_monitor_energy_joules_total counter`,
		`power_monitor_power_watts{device="cpu-0",domain="cpu",host="n1",source="rapl"} 199`,
		`power_monitor_energy_joules_total{device="cpu-0",domain="cpu",host="n1",source="rapl"} 1099`,
		`# TYPE power_monitor_power_watts gauge`,
	} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("/metrics lacks %q:\n%s", want, body)
		}
	}
	if _, err := Serve(srv.Addr(), m, false); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("a busy port: %v", err)
	}

	p := testservers.Prometheus(t, srv.Addr())
	if v := queryOne(t, p, `power_monitor_power_watts{job="power-monitor",device="gpu-0"}`); v != 250 {
		t.Fatalf("scraped gpu-0 power %v", v)
	}
}

// BenchmarkRemoteWrite is the cost per sample of writing to a real
// Prometheus, end to end: spool, protobuf, snappy, HTTP, TSDB append.
func BenchmarkRemoteWrite(b *testing.B) {
	p := testservers.Prometheus(b)
	w, err := NewRemoteWrite(RemoteWriteOptions{URL: p.WriteURL()})
	if err != nil {
		b.Fatal(err)
	}
	ex, err := export.New(export.Config{SpoolDir: b.TempDir(), Queue: 1 << 20}, export.Meta{Hostname: "n1", Rank: 2}, prov, []export.Sink{w}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ex.Start()
	r := reading(1)
	t0 := time.Now().Add(-time.Hour).UnixNano()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ex.Append(t0+int64(i)*1e6, r)
	}
	ex.Stop(time.Minute)
	b.StopTimer()
	if st := ex.Stats().Sinks[0]; st.Delivered != uint64(b.N) {
		b.Fatalf("%+v", st)
	}
}

// BenchmarkObserve is the /metrics endpoint's cost per sample (the
// writer goroutine pays it; a scrape reads the newest values).
func BenchmarkObserve(b *testing.B) {
	m := NewMetrics()
	recs := records(time.Now().UnixNano(), 1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m.Observe(&recs[0])
	}
}
