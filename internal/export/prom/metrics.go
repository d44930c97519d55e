// SPDX-License-Identifier: LGPL-3.0-only

package prom

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/flux-framework/power-monitor/internal/export"
)

// Retention of what /metrics shows.
const (
	staleAfter = 5 * time.Minute  // a device not sampled for this long is left out
	jobsKept   = 256              // job summaries shown, newest first
	jobTTL     = 15 * time.Minute // how long a job summary is shown
)

// Metrics is the pull endpoint's collector: the newest value of every
// device (an export.Observer, fed before any spool) and the summaries of
// the jobs that ended recently, plus the exporter's own figures.
type Metrics struct {
	stats func() export.Stats // nil: no exporter figures

	mu      sync.Mutex
	devices map[string]*devState
	order   []string
	jobs    []jobState
	lastT   int64
}

type devState struct {
	labels []label
	w, j   float64
	t      int64 // unix ns
}

type jobState struct {
	points []point
	seen   time.Time
}

// NewMetrics makes the collector.
func NewMetrics() *Metrics {
	return &Metrics{devices: map[string]*devState{}}
}

// SetStats gives the exporter's figures to show at each scrape; call it
// before serving.
func (m *Metrics) SetStats(stats func() export.Stats) { m.stats = stats }

// Observe keeps the newest value of each device, and job summaries.
func (m *Metrics) Observe(rec *export.Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if rec.Kind == export.KindJob {
		m.jobs = append(m.jobs, jobState{points: points(rec), seen: time.Now()})
		if len(m.jobs) > jobsKept {
			m.jobs = append(m.jobs[:0], m.jobs[len(m.jobs)-jobsKept:]...)
		}
		return
	}
	m.lastT = rec.T
	for i := range rec.Values {
		v := &rec.Values[i]
		k := v.Device() + "\x00" + v.Source
		d, ok := m.devices[k]
		if !ok {
			d = &devState{labels: deviceLabels(rec, v)}
			m.devices[k] = d
			m.order = append(m.order, k)
		}
		d.w, d.j, d.t = v.W, v.EnergyJ(), rec.T
	}
}

// Describe sends nothing: the collector is unchecked (its series depend on
// the node's devices).
func (m *Metrics) Describe(chan<- *prometheus.Desc) {}

// Collect sends the current values.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	m.mu.Lock()
	var pts []point
	for _, k := range m.order {
		d := m.devices[k]
		if now.Sub(time.Unix(0, d.t)) > staleAfter {
			continue
		}
		pts = append(pts, point{PowerName, d.labels, d.w, 0}, point{EnergyName, d.labels, d.j, 0})
	}
	kept := m.jobs[:0]
	for _, j := range m.jobs {
		if now.Sub(j.seen) <= jobTTL {
			kept = append(kept, j)
			pts = append(pts, j.points...)
		}
	}
	m.jobs = kept
	last := m.lastT
	m.mu.Unlock()

	for _, p := range pts {
		typ := prometheus.GaugeValue
		if p.name == EnergyName {
			typ = prometheus.CounterValue
		}
		names, values := split(p.labels)
		metric, err := prometheus.NewConstMetric(prometheus.NewDesc(p.name, help[p.name], names, nil), typ, p.value, values...)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(prometheus.NewDesc(p.name, help[p.name], nil, nil), err)
			continue
		}
		if p.tms != 0 { // a job summary: at the job's end
			metric = prometheus.NewMetricWithTimestamp(time.UnixMilli(p.tms), metric)
		}
		ch <- metric
	}
	if last != 0 {
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(LastSampleName, help[LastSampleName], nil, nil), prometheus.GaugeValue, float64(last)/1e9)
	}
	if m.stats == nil {
		return
	}
	st := m.stats()
	sl := []string{"sink"}
	gauge := func(name string, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, help[name], sl[:len(lv)], nil), prometheus.GaugeValue, v, lv...)
	}
	dropped := prometheus.NewDesc(ExportDropped, help[ExportDropped], []string{"sink", "reason"}, nil)
	ch <- prometheus.MustNewConstMetric(dropped, prometheus.CounterValue, float64(st.DroppedQueue), "all", "queue_full")
	for _, s := range st.Sinks {
		ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(ExportDelivered, help[ExportDelivered], sl, nil), prometheus.CounterValue, float64(s.Delivered), s.ID)
		ch <- prometheus.MustNewConstMetric(dropped, prometheus.CounterValue, float64(s.DroppedSpool), s.ID, "spool_full")
		ch <- prometheus.MustNewConstMetric(dropped, prometheus.CounterValue, float64(s.Rejected), s.ID, "rejected")
		gauge(ExportPending, float64(s.Pending), s.ID)
		gauge(ExportSpoolBytes, float64(s.SpoolBytes), s.ID)
		up := 1.0
		if s.LastError != "" {
			up = 0
		}
		gauge(ExportUp, up, s.ID)
	}
}

func split(ls []label) (names, values []string) {
	for _, l := range ls {
		if l.value == "" {
			continue
		}
		names = append(names, l.name)
		values = append(values, l.value)
	}
	return names, values
}

var help = map[string]string{
	PowerName:          "Power drawn by a device (node, CPU socket, memory domain, GPU), watts.",
	EnergyName:         "Energy used by a device: its hardware counter, or its power integrated since the exporter started, joules.",
	JobEnergyName:      "Energy of a job that ended, its own share of its nodes, over its ranks, joules (domain all, cpu, mem, gpu).",
	JobPowerName:       "Mean power of a job that ended, its own share, over its ranks, watts.",
	JobDurationName:    "Duration of a job that ended, seconds.",
	JobCoverageName:    "Fraction of a job's ranks x duration covered by samples.",
	JobNodeEnergyName:  "Energy of a job that ended, its own share, on one of its ranks, joules.",
	JobNodesEnergyName: "Energy that the nodes of a job that ended drew over its run, whole (equal to the job's where it had them to itself), joules.",
	JobNodesPowerName:  "Mean power that the nodes of a job that ended drew over its run, whole, watts.",
	ExportDelivered:    "Records a sink's server accepted.",
	ExportDropped:      "Records not delivered, by reason: queue_full (the spool writer fell behind), spool_full (oldest dropped at the spool bound), rejected (refused by the server).",
	ExportPending:      "Records waiting in a sink's spool.",
	ExportSpoolBytes:   "Bytes of a sink's on-disk spool.",
	ExportUp:           "1 when a sink's last delivery worked, 0 while it fails.",
	LastSampleName:     "Time of the newest sample, unix seconds.",
}

// Server serves /metrics.
type Server struct {
	srv *http.Server
	ln  net.Listener
	err chan error
}

// Serve listens on addr now (so a busy port is an error here, not later)
// and serves /metrics from m, with the Go runtime's metrics when goRuntime.
func Serve(addr string, m *Metrics, goRuntime bool) (*Server, error) {
	reg := prometheus.NewRegistry()
	if err := reg.Register(m); err != nil {
		return nil, err
	}
	if goRuntime {
		reg.MustRegister(collectors.NewGoCollector())
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("prometheus /metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		fmt.Fprintln(w, "flux power-monitor: metrics at /metrics")
	})
	s := &Server{srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln: ln, err: make(chan error, 1)}
	go func() { s.err <- s.srv.Serve(ln) }()
	return s, nil
}

// Addr is where it listens (the port chosen for ":0").
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops serving.
func (s *Server) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if e := <-s.err; e != nil && !errors.Is(e, http.ErrServerClosed) {
		return e
	}
	return err
}
