// SPDX-License-Identifier: LGPL-3.0-only

package export

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flux-framework/power-monitor/internal/export/spool"
	"github.com/flux-framework/power-monitor/internal/sample"
)

// Sink delivers records to one server. Send is called from the sink's own
// goroutine with the oldest undelivered records, in order; it returns nil
// only once the server has accepted all of them. Its error may be a
// *Rejected (retrying is pointless: the records are dropped, counted and
// logged) or have a RetryAfter() time.Duration method (the server asked to
// wait).
type Sink interface {
	Name() string // "mqtt (tcp://host:1883)"
	ID() string   // short and file-name safe: "mqtt", "prometheus"; the spool directory
	Send(ctx context.Context, recs []Record) error
	Close()
}

// Encoder is a Sink that keeps its records in its spool in a form of its
// own, ready to send (MQTT: the messages): the writer encodes each record
// once, as it spools it, and the sender hands the lines back to
// SendEncoded, decoding nothing. Records in the common form (a spool left
// by an earlier version) are decoded and encoded on the way out.
type Encoder interface {
	// EncodeRecord appends rec's line to b: not empty, without '\n'.
	EncodeRecord(b []byte, rec *Record) []byte
	// SendEncoded delivers lines made by EncodeRecord, as Send delivers
	// records. The lines are the caller's once it returns.
	SendEncoded(ctx context.Context, lines [][]byte) error
}

// encodedMark starts a line of an Encoder's own form in its spool; a
// record in the common form starts with '{'.
const encodedMark = 0

// Observer sees every record as it is taken, before any spool (the
// Prometheus /metrics endpoint). Observe must be quick and never block,
// and must not keep rec, or its Values, once it returns (the memory is
// reused for a later sample).
type Observer interface {
	Observe(rec *Record)
}

// Rejected is a Send error for records the server refused for good (an
// HTTP 400): they are dropped and counted, and delivery goes on.
type Rejected struct{ Err error }

func (r *Rejected) Error() string { return "rejected: " + r.Err.Error() }
func (r *Rejected) Unwrap() error { return r.Err }

// Partial is a Send (or SendEncoded) error after the server accepted the
// first Delivered records: they leave the spool, and only the others are
// sent again (an MQTT broker that went away in the middle of a burst).
type Partial struct {
	Delivered int
	Err       error
}

func (p *Partial) Error() string { return p.Err.Error() }
func (p *Partial) Unwrap() error { return p.Err }

// Severity of a log message.
type Severity int

const (
	Info Severity = iota
	Warning
	Error
)

// Config is the Exporter's.
type Config struct {
	SpoolDir      string        // one subdirectory per sink
	SpoolMaxBytes int64         // per sink; 0: 64 MiB
	Batch         int           // records per Send; 0: 500
	Queue         int           // samples waiting for the spool writer; 0: 4096
	MaxBackoff    time.Duration // 0: 30 s
	SendTimeout   time.Duration // 0: 30 s
	// Linger is the least time between two sends of a sink: records that
	// come sooner after a send wait for the rest of it and go together (at
	// 100 samples a second handed over one by one, a send, an MQTT burst
	// or an HTTP request, and a spool acknowledgement every 0.25 s instead
	// of every 10 ms); a record after a quiet Linger goes at once.
	// 0: DefaultLinger; negative: none.
	Linger time.Duration
	Log    func(Severity, string)
}

// LaneStats are one sink's figures, in `flux module stats` and /metrics.
type LaneStats struct {
	Sink          string  `json:"sink"`
	ID            string  `json:"id"`
	Delivered     uint64  `json:"delivered"`       // records the server accepted
	Pending       uint64  `json:"pending"`         // records in the spool
	SpoolBytes    int64   `json:"spool_bytes"`     //
	SpoolWrites   uint64  `json:"spool_writes"`    // write calls that appended records to the spool
	SpoolWritten  uint64  `json:"spool_written"`   // bytes they appended
	DroppedSpool  uint64  `json:"dropped_spool"`   // oldest records removed: spool full
	Rejected      uint64  `json:"rejected"`        // refused by the server for good
	Errors        uint64  `json:"errors"`          // failed sends (retried)
	LastError     string  `json:"last_error"`      // "" while delivering
	LastSuccessAt float64 `json:"last_success_at"` // unix seconds
	SendMeanUs    float64 `json:"send_mean_us"`    // per record
}

// Stats are the Exporter's figures.
type Stats struct {
	Sinks        []LaneStats `json:"sinks"`
	Taken        uint64      `json:"taken"`         // records offered
	DroppedQueue uint64      `json:"dropped_queue"` // the spool writer fell behind
	SpoolErrors  uint64      `json:"spool_errors"`  // records a spool could not take
}

// Exporter takes samples from the sampler (it is a sampler.Store) and job
// summaries, writes each record to every sink's spool from one writer
// goroutine, and runs one delivery goroutine per sink. Append and Job never
// block: when the writer falls behind, records are counted as dropped.
type Exporter struct {
	cfg       Config
	meta      Meta
	prov      Provenance
	lanes     []*lane
	observers []Observer
	queue     chan Record
	// free holds the Values arrays of records the writer is done with,
	// for Append to reuse: a sample's hand-off allocates nothing.
	free   chan []Value
	energy *integrator // writer goroutine only
	// jobID, when set, replaces meta.JobID in the samples from now on: the
	// jobs running where the samples are taken (SetJobID).
	jobID atomic.Pointer[string]

	group sync.Mutex // held by Hold; the writer gathers under it

	mu           sync.Mutex
	taken        uint64
	droppedQueue uint64
	spoolErrors  uint64
	stopped      bool

	writerDone chan struct{}
}

// New opens a spool for each sink under cfg.SpoolDir. On error nothing is
// left open.
func New(cfg Config, meta Meta, prov Provenance, sinks []Sink, observers []Observer) (*Exporter, error) {
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 4096
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 30 * time.Second
	}
	if cfg.Linger == 0 {
		cfg.Linger = DefaultLinger
	}
	if cfg.Log == nil {
		cfg.Log = func(Severity, string) {}
	}
	e := &Exporter{cfg: cfg, meta: meta, prov: prov, observers: observers,
		queue: make(chan Record, cfg.Queue), free: make(chan []Value, freeValues), energy: newIntegrator()}
	if len(sinks) > 0 {
		if cfg.SpoolDir == "" {
			return nil, errors.New("export: no spool directory")
		}
		if err := os.MkdirAll(cfg.SpoolDir, 0o700); err != nil {
			return nil, fmt.Errorf("export: spool directory: %w", err)
		}
	}
	for _, s := range sinks {
		sp, err := spool.Open(spool.Options{Dir: filepath.Join(cfg.SpoolDir, s.ID()), MaxBytes: cfg.SpoolMaxBytes})
		if err != nil {
			for _, l := range e.lanes {
				l.spool.Close()
			}
			return nil, fmt.Errorf("export: %s: %w", s.Name(), err)
		}
		l := &lane{e: e, sink: s, spool: sp, stats: LaneStats{Sink: s.Name(), ID: s.ID()}}
		l.enc, _ = s.(Encoder)
		e.lanes = append(e.lanes, l)
	}
	return e, nil
}

// Start starts the writer and one sender per sink. Records left in a spool
// by an earlier run are delivered first.
func (e *Exporter) Start() {
	e.writerDone = make(chan struct{})
	go e.writer()
	for _, l := range e.lanes {
		l.stop = make(chan struct{})
		l.done = make(chan struct{})
		if st := l.spool.Stats(); st.Pending > 0 {
			e.cfg.Log(Info, fmt.Sprintf("%s: %d records from an earlier run to deliver", l.sink.Name(), st.Pending))
		}
		go l.run()
	}
}

// DefaultLinger is Config.Linger's default: well within the second in
// which a record must reach a sink that is up (doc/exports.md).
const DefaultLinger = 250 * time.Millisecond

// freeValues is how many Values arrays the exporter keeps for reuse: more
// than the records that wait in the queue at a time, but for a burst.
const freeValues = 64

// Append is sampler.Store: the sample taken at t goes to every sink. The
// record is a copy of r, in an array of values that the writer has
// finished with when there is one.
func (e *Exporter) Append(t int64, r *sample.Reading) {
	meta := e.meta
	if id := e.jobID.Load(); id != nil {
		meta.JobID = *id
	}
	var vs []Value
	select {
	case vs = <-e.free:
	default:
		vs = make([]Value, 0, r.Layout().Columns())
	}
	rec := fromReading(vs, t, r, e.prov, meta)
	if !e.offer(rec) {
		e.recycle(rec.Values)
	}
}

// Hold is sampler.Holder: until Release, the writer takes no group, so
// that the samples appended meanwhile go to the spools together.
func (e *Exporter) Hold() { e.group.Lock() }

// Release lets the writer take what was appended.
func (e *Exporter) Release() { e.group.Unlock() }

// recycle gives a Values array back for a later Append, unless enough are
// kept.
func (e *Exporter) recycle(vs []Value) {
	if vs == nil {
		return
	}
	select {
	case e.free <- vs[:0]:
	default:
	}
}

// SetJobID names the job (or jobs, comma-separated) that the samples taken
// from now on measure; "" for none. Any goroutine may call it.
func (e *Exporter) SetJobID(id string) {
	e.jobID.Store(&id)
}

// JobID is what SetJobID last set: "" before, or for none. Any goroutine
// may call it, also after Stop.
func (e *Exporter) JobID() string {
	if id := e.jobID.Load(); id != nil {
		return *id
	}
	return ""
}

// Job sends a job's summary to every sink.
func (e *Exporter) Job(js JobSummary) {
	e.offer(Record{Kind: KindJob, T: int64(js.End * 1e9), Hostname: e.meta.Hostname, Rank: e.meta.Rank, JobID: js.ID, Job: &js})
}

// offer queues rec for the writer; false if it is dropped.
func (e *Exporter) offer(rec Record) bool {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return false
	}
	e.taken++
	dropped := uint64(0)
	select {
	case e.queue <- rec:
	default:
		e.droppedQueue++
		dropped = e.droppedQueue
	}
	e.mu.Unlock()
	if dropped == 1 || dropped%1000 == 0 && dropped > 0 {
		e.cfg.Log(Error, fmt.Sprintf("export: the spool writer is behind; %d records dropped so far", dropped))
	}
	return dropped == 0
}

func (e *Exporter) writer() {
	defer close(e.writerDone)
	w := groupWriter{e: e, group: make([]Record, 0, maxGroup)}
	for r := range e.queue {
		w.group = append(w.group[:0], r)
		e.group.Lock() // (a batch being appended goes in this group whole)
		w.gather()
		e.group.Unlock()
		w.write()
		for i := range w.group {
			if w.group[i].Kind == KindSample {
				e.recycle(w.group[i].Values)
			}
			w.group[i] = Record{}
		}
	}
}

// maxGroup bounds the records written to the spools at once.
const maxGroup = 256

// groupWriter is the writer goroutine's: the records queued together
// (the sampler hands a batch of samples over at once, --batch), written to
// each spool in one write (spool.AppendBatch).
type groupWriter struct {
	e     *Exporter
	group []Record
	buf   bytes.Buffer // one record in the common form
	enc   *json.Encoder
	own   []byte   // the group encoded for a spool
	ends  []int    // each record's end in own
	lines [][]byte // the records in own
}

// gather adds to the group what else waits in the queue, without waiting.
func (w *groupWriter) gather() {
	for len(w.group) < maxGroup {
		select {
		case r, ok := <-w.e.queue:
			if !ok {
				return
			}
			w.group = append(w.group, r)
		default:
			return
		}
	}
}

// write gives each record of the group to the observers, then all of them
// to every spool.
func (w *groupWriter) write() {
	e := w.e
	for i := range w.group {
		rec := &w.group[i]
		if rec.Kind == KindSample {
			e.energy.add(rec)
		}
		for _, o := range e.observers {
			o.Observe(rec)
		}
	}
	if len(e.lanes) == 0 {
		return
	}
	for _, l := range e.lanes {
		lines := w.encode(l.enc)
		n, err := l.spool.AppendBatch(lines)
		if err != nil {
			e.countSpoolError(fmt.Errorf("%s: %w", l.sink.Name(), err), len(lines)-n)
		}
		if d := l.spool.DroppedSince(); d > 0 {
			e.cfg.Log(Error, fmt.Sprintf("%s: spool full (%d bytes): dropped the %d oldest undelivered records", l.sink.Name(), l.spool.Stats().Bytes, d))
		}
	}
	if w.buf.Cap() > keepEncoded {
		w.buf = bytes.Buffer{}
		w.enc = nil
	}
}

// encode encodes the group for a lane's spool, a line a record: in enc's
// own form, each line marked; in the common form (JSON) where enc is nil.
// The lines are the writer's until the next call.
func (w *groupWriter) encode(enc Encoder) [][]byte {
	w.own = w.own[:0]
	ends := w.ends[:0]
	for i := range w.group {
		if enc != nil {
			w.own = append(w.own, encodedMark)
			w.own = enc.EncodeRecord(w.own, &w.group[i])
		} else {
			w.own = w.appendJSON(w.own, &w.group[i])
		}
		ends = append(ends, len(w.own))
	}
	w.ends = ends
	w.lines = w.lines[:0]
	start := 0
	for _, end := range ends {
		w.lines = append(w.lines, w.own[start:end])
		start = end
	}
	if cap(w.own) > keepEncoded {
		w.own = nil
	}
	return w.lines
}

// appendJSON appends the record in the common form; an error (NaN and Inf
// never get here) leaves an empty line, which the spool refuses and
// counts.
func (w *groupWriter) appendJSON(b []byte, rec *Record) []byte {
	if w.enc == nil {
		w.enc = json.NewEncoder(&w.buf)
	}
	w.buf.Reset()
	if err := w.enc.Encode(rec); err != nil {
		return b
	}
	return append(b, bytes.TrimSuffix(w.buf.Bytes(), []byte{'\n'})...)
}

// keepEncoded: a larger encoding buffer (a burst of job summaries) is not
// kept for the next group.
const keepEncoded = 1 << 20

// countSpoolError counts lost records (none where the error lost none,
// as a segment that could not be removed) and logs the first error and
// every thousandth.
func (e *Exporter) countSpoolError(err error, lost int) {
	e.mu.Lock()
	before := e.spoolErrors
	e.spoolErrors += uint64(lost)
	n := e.spoolErrors
	e.mu.Unlock()
	if before == 0 || n/1000 > before/1000 || lost == 0 {
		e.cfg.Log(Error, fmt.Sprintf("export: spool: %v (%d records lost so far)", err, n))
	}
}

// Stop stops taking records, writes every record taken to the spools, and
// gives each sink up to flush to deliver what its spool holds. What is not
// delivered by then stays in the spool for the next start.
func (e *Exporter) Stop(flush time.Duration) {
	e.mu.Lock()
	if e.stopped {
		e.mu.Unlock()
		return
	}
	e.stopped = true
	close(e.queue)
	e.mu.Unlock()
	if e.writerDone != nil {
		<-e.writerDone
	}
	deadline := time.Now().Add(flush)
	for _, l := range e.lanes {
		if l.stop != nil {
			l.finish(deadline)
		}
	}
	for _, l := range e.lanes {
		if l.done != nil {
			<-l.done
		}
		if st := l.spool.Stats(); st.Pending > 0 {
			e.cfg.Log(Warning, fmt.Sprintf("%s: %d records not delivered; they stay in the spool %s for the next start", l.sink.Name(), st.Pending, filepath.Join(e.cfg.SpoolDir, l.sink.ID())))
		}
		l.sink.Close()
		l.spool.Close()
	}
}

// Stats returns the figures.
func (e *Exporter) Stats() Stats {
	e.mu.Lock()
	st := Stats{Taken: e.taken, DroppedQueue: e.droppedQueue, SpoolErrors: e.spoolErrors}
	e.mu.Unlock()
	for _, l := range e.lanes {
		st.Sinks = append(st.Sinks, l.statsNow())
	}
	return st
}

// lane is one sink, its spool and its sender goroutine.
type lane struct {
	e     *Exporter
	sink  Sink
	enc   Encoder // the sink, where it spools its own form
	spool *spool.Spool
	stop  chan struct{}
	done  chan struct{}

	deadline time.Time // set before stop is closed
	lastSend time.Time // the sender's own: when the last send began

	mu      sync.Mutex
	stats   LaneStats
	sendSum float64 // µs
}

func (l *lane) finish(deadline time.Time) {
	l.deadline = deadline
	close(l.stop)
}

func (l *lane) statsNow() LaneStats {
	sp := l.spool.Stats()
	l.mu.Lock()
	defer l.mu.Unlock()
	st := l.stats
	st.Pending, st.SpoolBytes, st.DroppedSpool = sp.Pending, sp.Bytes, sp.Dropped
	st.SpoolWrites, st.SpoolWritten = sp.Writes, sp.Written
	if st.Delivered > 0 {
		st.SendMeanUs = l.sendSum / float64(st.Delivered)
	}
	return st
}

func (l *lane) run() {
	defer close(l.done)
	cfg := l.e.cfg
	backoff := time.Duration(0)
	stopping := false
	for {
		if stopping && time.Now().After(l.deadline) {
			return
		}
		raw, err := l.spool.Peek(cfg.Batch, 4<<20)
		if err != nil {
			l.failed(err)
			if !l.wait(&stopping, time.Second) {
				return
			}
			continue
		}
		if len(raw) == 0 {
			if stopping {
				return
			}
			select {
			case <-l.spool.Ready():
				l.linger(&stopping)
			case <-l.stop:
				stopping = true
			}
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), cfg.SendTimeout)
		if stopping {
			ctx, cancel = context.WithDeadline(context.Background(), l.deadline)
		}
		t0 := time.Now()
		l.lastSend = t0
		err = l.send(ctx, raw)
		cancel()
		var rej *Rejected
		var part *Partial
		switch {
		case err == nil:
			l.delivered(len(raw), time.Since(t0))
			backoff = 0
		case errors.As(err, &part) && part.Delivered > 0:
			l.delivered(part.Delivered, time.Since(t0))
			l.failed(part.Err)
			backoff = nextBackoff(0, cfg.MaxBackoff)
			if !l.wait(&stopping, backoff) {
				return
			}
		case errors.As(err, &rej):
			l.e.cfg.Log(Error, fmt.Sprintf("%s: %d records %v; dropped", l.sink.Name(), len(raw), err))
			l.mu.Lock()
			l.stats.Rejected += uint64(len(raw))
			l.mu.Unlock()
			l.spool.Ack(len(raw))
		default:
			l.failed(err)
			backoff = nextBackoff(backoff, cfg.MaxBackoff)
			wait := backoff
			var ra interface{ RetryAfter() time.Duration }
			if errors.As(err, &ra) && ra.RetryAfter() > wait {
				wait = min(ra.RetryAfter(), cfg.MaxBackoff)
			}
			if !l.wait(&stopping, wait) {
				return
			}
		}
	}
}

// send delivers the lines Peek returned: to SendEncoded for an Encoder
// (lines of the common form encoded on the way), else decoded, to Send.
// A line that cannot be decoded is logged and skipped.
func (l *lane) send(ctx context.Context, raw [][]byte) error {
	if l.enc != nil {
		// src[i]: the spooled line lines[i] came from
		src := make([]int, 0, len(raw))
		lines := raw[:0] // (each line is read before its slot is written)
		for i, b := range raw {
			if len(b) > 0 && b[0] == encodedMark {
				lines = append(lines, b[1:])
				src = append(src, i)
				continue
			}
			if rec, ok := l.decode(b); ok {
				lines = append(lines, l.enc.EncodeRecord(nil, &rec))
				src = append(src, i)
			}
		}
		if len(lines) == 0 {
			return nil
		}
		err := l.enc.SendEncoded(ctx, lines)
		// Partial counts lines; the spool counts its own (a line skipped
		// before the first undelivered one goes with the delivered)
		var part *Partial
		if errors.As(err, &part) && part.Delivered > 0 {
			if part.Delivered >= len(src) {
				return &Partial{Delivered: len(raw), Err: part.Err}
			}
			return &Partial{Delivered: src[part.Delivered], Err: part.Err}
		}
		return err
	}
	recs := make([]Record, 0, len(raw))
	for _, b := range raw {
		if rec, ok := l.decode(b); ok {
			recs = append(recs, rec)
		}
	}
	if len(recs) == 0 {
		return nil
	}
	return l.sink.Send(ctx, recs)
}

// decode reads a line of the common form; a bad one is logged.
func (l *lane) decode(b []byte) (Record, bool) {
	rec, err := Unmarshal(b)
	if err != nil {
		l.e.cfg.Log(Error, fmt.Sprintf("%s: %v: skipped", l.sink.Name(), err))
		return rec, false
	}
	return rec, true
}

// linger lets records gather: a send comes at most once a Linger, so
// that records that come sooner after the last send wait for the rest of
// it and go together; a record after a quiet Linger goes at once (at a
// period of 1 s, each sample is sent as it comes, in the same wake-up of
// the process as its sampling). A stop ends the wait at once.
func (l *lane) linger(stopping *bool) {
	if l.e.cfg.Linger <= 0 {
		return
	}
	d := time.Until(l.lastSend.Add(l.e.cfg.Linger))
	if d <= 0 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-l.stop:
		*stopping = true
	}
}

// wait sleeps d, or until the deadline once stopping. It reports whether
// to go on.
func (l *lane) wait(stopping *bool, d time.Duration) bool {
	if !*stopping {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-l.stop:
			*stopping = true
		}
	}
	left := time.Until(l.deadline)
	if left <= 0 {
		return false
	}
	time.Sleep(min(d, left))
	return time.Now().Before(l.deadline)
}

func (l *lane) delivered(n int, took time.Duration) {
	if err := l.spool.Ack(n); err != nil {
		l.e.cfg.Log(Error, fmt.Sprintf("%s: %v", l.sink.Name(), err))
	}
	l.mu.Lock()
	recovered := l.stats.LastError != ""
	l.stats.Delivered += uint64(n)
	l.stats.LastError = ""
	l.stats.LastSuccessAt = float64(time.Now().UnixNano()) / 1e9
	l.sendSum += float64(took.Microseconds())
	l.mu.Unlock()
	if recovered {
		l.e.cfg.Log(Info, fmt.Sprintf("%s: delivering again", l.sink.Name()))
	}
}

func (l *lane) failed(err error) {
	msg := err.Error()
	l.mu.Lock()
	changed := l.stats.LastError != msg
	l.stats.Errors++
	l.stats.LastError = msg
	l.mu.Unlock()
	if changed {
		l.e.cfg.Log(Error, fmt.Sprintf("%s: %s; records wait in the spool and will be retried", l.sink.Name(), msg))
	}
}

func nextBackoff(cur, max time.Duration) time.Duration {
	if cur <= 0 {
		return 100 * time.Millisecond
	}
	cur *= 2
	if cur > max {
		cur = max
	}
	return cur
}

// integrator gives every domain without a hardware counter an energy
// counter: the trapezoid integral of its power since the exporter started,
// so Prometheus has a joules counter for every domain.
type integrator struct {
	last map[device]struct {
		t int64
		w float64
		j float64
	}
}

// device is a domain's key: Value's Domain and Index (a string made
// from them would be garbage at every sample).
type device struct {
	domain string
	index  int
}

func newIntegrator() *integrator {
	return &integrator{last: map[device]struct {
		t int64
		w float64
		j float64
	}{}}
}

// maxGap is the longest gap integrated across; beyond it the domain is
// taken as unmeasured in between (a stopped sampler, a suspended node).
const maxGap = 5 * time.Minute

func (in *integrator) add(rec *Record) {
	for i := range rec.Values {
		v := &rec.Values[i]
		if v.HasJ {
			continue
		}
		k := device{v.Domain, v.Index}
		p, ok := in.last[k]
		j := 0.0
		if ok {
			j = p.j
			if dt := rec.T - p.t; dt > 0 && time.Duration(dt) <= maxGap {
				j += (p.w + v.W) / 2 * float64(dt) / 1e9
			}
		}
		if math.IsNaN(j) || math.IsInf(j, 0) {
			j = 0
		}
		p.t, p.w, p.j = rec.T, v.W, j
		in.last[k] = p
		v.IJ = j
	}
}
