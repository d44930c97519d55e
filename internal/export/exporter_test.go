// SPDX-License-Identifier: LGPL-3.0-only

package export

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
	"github.com/flux-framework/power-monitor/internal/testlog"
)

// scripted is a sink whose answers the test decides: fail (a network
// error), reject (the server refuses for good), or accept.
type scripted struct {
	mu     sync.Mutex
	mode   string // "ok", "fail", "reject"
	got    []Record
	sends  int
	gate   chan struct{} // when set, Send waits on it
	closed bool
}

func (s *scripted) Name() string { return "scripted" }
func (s *scripted) ID() string   { return "scripted" }
func (s *scripted) Close()       { s.mu.Lock(); s.closed = true; s.mu.Unlock() }

func (s *scripted) Send(ctx context.Context, recs []Record) error {
	if s.gate != nil {
		select {
		case <-s.gate:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sends++
	switch s.mode {
	case "fail":
		return errors.New("connection refused")
	case "reject":
		return &Rejected{Err: errors.New("HTTP 400: out of order")}
	}
	s.got = append(s.got, recs...)
	return nil
}

func (s *scripted) set(mode string) { s.mu.Lock(); s.mode = mode; s.mu.Unlock() }
func (s *scripted) received() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Record(nil), s.got...)
}

func reading(w float64) *sample.Reading {
	return &sample.Reading{Node: w, CPU: []float64{w / 2}}
}

var prov = Provenance{"node": "variorum", "cpu": "variorum"}

func newEx(t *testing.T, dir string, s Sink, l *testlog.Log, cfg Config) *Exporter {
	t.Helper()
	cfg.SpoolDir, cfg.Log = dir, func(_ Severity, m string) { l.Add(m) }
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = 50 * time.Millisecond
	}
	ex, err := New(cfg, Meta{Hostname: "h", Rank: 0}, prov, []Sink{s}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ex.Start()
	return ex
}

func waitUntil(t *testing.T, what string, f func() bool) {
	t.Helper()
	for i := 0; i < 500; i++ {
		if f() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// A failing sink is retried until it works; records arrive once, in order.
func TestRetriedInOrder(t *testing.T) {
	s := &scripted{mode: "fail"}
	var l testlog.Log
	ex := newEx(t, t.TempDir(), s, &l, Config{})
	for i := 0; i < 100; i++ {
		ex.Append(int64(i+1)*1e9, reading(float64(i)))
	}
	waitUntil(t, "failed sends", func() bool { return ex.Stats().Sinks[0].Errors >= 3 })
	if st := ex.Stats().Sinks[0]; st.Pending != 100 || st.Delivered != 0 || st.LastError != "connection refused" {
		t.Fatalf("while failing: %+v", st)
	}
	s.set("ok")
	ex.Stop(5 * time.Second)
	got := s.received()
	if len(got) != 100 {
		t.Fatalf("%d records delivered", len(got))
	}
	for i, r := range got {
		if r.T != int64(i+1)*1e9 || r.Values[0].W != float64(i) {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	if n := strings.Count(l.String(), "connection refused; records wait in the spool"); n != 1 {
		t.Fatalf("the same error is logged once, not at every retry (%d):\n%s", n, l.String())
	}
	if !strings.Contains(l.String(), "scripted: delivering again") || !s.closed {
		t.Fatalf("recovery not logged, or sink not closed:\n%s", l.String())
	}
}

// TestLingerGroupsSends: records that arrive 10 ms apart (100 samples a
// second) go in a few sends, one per Linger, not one each; each reaches
// the sink within Linger and a little; and with no linger, they go about
// one at a time.
func TestLingerGroupsSends(t *testing.T) {
	run := func(linger time.Duration) (sends int, worst time.Duration) {
		s := &scripted{mode: "ok"}
		var l testlog.Log
		ex := newEx(t, t.TempDir(), s, &l, Config{Linger: linger})
		sent := make([]time.Time, 60)
		for i := range sent {
			sent[i] = time.Now()
			ex.Append(sent[i].UnixNano(), reading(float64(i)))
			time.Sleep(10 * time.Millisecond)
		}
		waitUntil(t, "delivery", func() bool { return len(s.received()) == len(sent) })
		done := time.Now()
		ex.Stop(time.Second)
		s.mu.Lock()
		defer s.mu.Unlock()
		// the last record waited longest for its send: bound it
		worst = done.Sub(sent[len(sent)-1])
		return s.sends, worst
	}
	sends, worst := run(200 * time.Millisecond)
	if sends > 8 {
		t.Errorf("60 records over 0.6 s with a 0.2 s linger: %d sends, want about 4", sends)
	}
	if worst > time.Second {
		t.Errorf("a record took %v to be delivered", worst)
	}
	if n, _ := run(-1); n < 20 {
		t.Errorf("without a linger, 60 records 10 ms apart went in %d sends: the test cannot tell", n)
	}
}

// A record that comes after a quiet linger goes at once, without waiting
// for others: at a period of 1 s each sample is sent as it is taken.
func TestLingerSendsALoneRecordAtOnce(t *testing.T) {
	s := &scripted{mode: "ok"}
	var l testlog.Log
	ex := newEx(t, t.TempDir(), s, &l, Config{Linger: 5 * time.Second})
	defer ex.Stop(time.Second)
	time.Sleep(100 * time.Millisecond)
	t0 := time.Now()
	ex.Append(t0.UnixNano(), reading(1))
	waitUntil(t, "delivery", func() bool { return len(s.received()) == 1 })
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("a lone record waited %v, as for a 5 s linger", d)
	}
}

// Records refused for good are dropped, counted and logged; delivery goes on.
func TestRejectedAreCountedAndSkipped(t *testing.T) {
	s := &scripted{mode: "reject"}
	var l testlog.Log
	ex := newEx(t, t.TempDir(), s, &l, Config{})
	ex.Append(1e9, reading(1))
	waitUntil(t, "the rejection", func() bool { return ex.Stats().Sinks[0].Rejected == 1 })
	s.set("ok")
	ex.Append(2e9, reading(2))
	ex.Stop(5 * time.Second)
	if got := s.received(); len(got) != 1 || got[0].T != 2e9 {
		t.Fatalf("%+v", got)
	}
	if !strings.Contains(l.String(), "scripted: 1 records rejected: HTTP 400: out of order; dropped") {
		t.Fatalf("%s", l.String())
	}
}

// What a stop cannot deliver stays in the spool, and the next exporter on
// the same directory delivers it first.
func TestUndeliveredWaitForTheNextStart(t *testing.T) {
	dir := t.TempDir()
	s := &scripted{mode: "fail"}
	var l testlog.Log
	ex := newEx(t, dir, s, &l, Config{})
	for i := 0; i < 10; i++ {
		ex.Append(int64(i+1)*1e9, reading(1))
	}
	ex.Stop(100 * time.Millisecond)
	if !strings.Contains(l.String(), "scripted: 10 records not delivered; they stay in the spool") {
		t.Fatalf("%s", l.String())
	}
	s2 := &scripted{mode: "ok"}
	var l2 testlog.Log
	ex = newEx(t, dir, s2, &l2, Config{})
	ex.Append(11e9, reading(1))
	ex.Stop(5 * time.Second)
	got := s2.received()
	if len(got) != 11 || got[0].T != 1e9 || got[10].T != 11e9 {
		t.Fatalf("%d records, first %v", len(got), got)
	}
	if !strings.Contains(l2.String(), "scripted: 10 records from an earlier run to deliver") {
		t.Fatalf("%s", l2.String())
	}
}

// Beyond the spool's bound the oldest records go, counted and logged;
// memory holds no more than the queue.
func TestSpoolBoundDropsOldestAndSaysSo(t *testing.T) {
	s := &scripted{mode: "fail"}
	var l testlog.Log
	ex := newEx(t, t.TempDir(), s, &l, Config{SpoolMaxBytes: 64 << 10})
	for i := 0; i < 2000; i++ {
		ex.Append(int64(i+1)*1e9, reading(float64(i)))
		if i%100 == 0 {
			time.Sleep(time.Millisecond) // let the writer keep up: this tests the spool, not the queue
		}
	}
	waitUntil(t, "the writer", func() bool {
		st := ex.Stats()
		return st.Sinks[0].Pending+st.Sinks[0].DroppedSpool+st.DroppedQueue == 2000
	})
	st := ex.Stats()
	if st.Sinks[0].DroppedSpool == 0 || st.Sinks[0].SpoolBytes > 64<<10 {
		t.Fatalf("%+v", st)
	}
	if !strings.Contains(l.String(), "scripted: spool full") || !strings.Contains(l.String(), "oldest undelivered records") {
		t.Fatalf("drops not logged:\n%s", l.String())
	}
	s.set("ok")
	ex.Stop(5 * time.Second)
	got := s.received()
	if uint64(len(got)) != st.Sinks[0].Pending || got[len(got)-1].T != 2000e9 {
		t.Fatalf("%d delivered of %d pending; last %v", len(got), st.Sinks[0].Pending, got[len(got)-1].T)
	}
	for i := 1; i < len(got); i++ {
		if got[i].T != got[i-1].T+1e9 {
			t.Fatalf("the newest records are kept, contiguous: gap at %d", i)
		}
	}
}

// The sampler is never held up: with the writer stuck, Append returns at
// once and counts what the queue could not take.
func TestAppendNeverBlocks(t *testing.T) {
	s := &scripted{mode: "ok", gate: make(chan struct{})}
	var l testlog.Log
	ex := newEx(t, t.TempDir(), s, &l, Config{Queue: 8, Batch: 1})
	obs := &blocking{release: make(chan struct{})}
	ex.observers = append(ex.observers, obs) // the writer stalls on its first record
	t0 := time.Now()
	for i := 0; i < 1000; i++ {
		ex.Append(int64(i+1)*1e9, reading(1))
	}
	if d := time.Since(t0); d > 500*time.Millisecond {
		t.Fatalf("1000 appends took %v with the writer stuck", d)
	}
	st := ex.Stats()
	// the writer holds the group it gathered (at most maxGroup records)
	// and the queue 8 more; the rest is dropped and counted
	if st.DroppedQueue < 1000-8-maxGroup || st.Taken != 1000 {
		t.Fatalf("%+v", st)
	}
	if !strings.Contains(l.String(), "the spool writer is behind") {
		t.Fatalf("%s", l.String())
	}
	close(obs.release)
	close(s.gate)
	ex.Stop(5 * time.Second)
	if got := uint64(len(s.received())); got+ex.Stats().DroppedQueue != 1000 {
		t.Fatalf("%d delivered and %d dropped of 1000", got, ex.Stats().DroppedQueue)
	}
}

// Records queued together go to the spool together: one write for all
// the samples the sampler hands over at once.
func TestGroupCommit(t *testing.T) {
	s := &scripted{mode: "ok"}
	var l testlog.Log
	ex := newEx(t, t.TempDir(), s, &l, Config{Queue: 64})
	obs := &blocking{release: make(chan struct{})}
	ex.observers = append(ex.observers, obs) // the writer stalls on its first group
	for i := 0; i < 40; i++ {
		ex.Append(int64(i+1)*1e9, reading(1))
	}
	close(obs.release)
	ex.Stop(5 * time.Second)
	if got := len(s.received()); got != 40 {
		t.Fatalf("%d of 40 delivered", got)
	}
	st := ex.Stats().Sinks[0]
	// the first group (what had come when the writer woke), then the rest
	if st.SpoolWrites < 1 || st.SpoolWrites > 2 || st.SpoolWritten == 0 {
		t.Fatalf("%d records in %d writes (%d bytes); want at most 2", 40, st.SpoolWrites, st.SpoolWritten)
	}
}

type blocking struct {
	once    sync.Once
	release chan struct{}
}

func (b *blocking) Observe(*Record) { b.once.Do(func() { <-b.release }) }

// Domains without a counter get one: the trapezoid integral of their power.
func TestIntegratedEnergy(t *testing.T) {
	in := newIntegrator()
	var js []float64
	for i, w := range []float64{100, 200, 200} {
		rec := Record{Kind: KindSample, T: int64(i) * 2e9, Values: []Value{{Domain: "node", Index: -1, W: w}, {Domain: "cpu", Index: 0, W: 1, J: 42, HasJ: true}}}
		in.add(&rec)
		js = append(js, rec.Values[0].EnergyJ())
		if rec.Values[1].EnergyJ() != 42 {
			t.Fatalf("a hardware counter is kept: %+v", rec.Values[1])
		}
	}
	if fmt.Sprint(js) != "[0 300 700]" {
		t.Fatalf("integral %v, want [0 300 700]", js)
	}
	// A gap longer than maxGap is not integrated across.
	rec := Record{Kind: KindSample, T: 4e9 + int64(maxGap) + 1, Values: []Value{{Domain: "node", Index: -1, W: 200}}}
	in.add(&rec)
	if rec.Values[0].IJ != 700 {
		t.Fatalf("after a gap: %v", rec.Values[0].IJ)
	}
}

func TestFromReading(t *testing.T) {
	r := &sample.Reading{Node: math.NaN(), CPU: []float64{10, math.NaN()}, GPU: []float64{5},
		Energy: &sample.Energy{Node: math.NaN(), CPU: []float64{100, math.NaN()}, GPU: []float64{math.NaN()}}, ReadNs: 7}
	r.DeriveNode()
	rec := FromReading(9, r, Provenance{"node": "sum of rapl+nvml", "cpu": "rapl", "gpu": "nvml"}, Meta{Hostname: "h", Rank: -1, JobID: "j"})
	want := "node/-1/sum/15/false cpu/0/rapl/10/true gpu/0/nvml/5/false"
	var got []string
	for _, v := range rec.Values {
		got = append(got, fmt.Sprintf("%s/%d/%s/%g/%v", v.Domain, v.Index, v.Source, v.W, v.HasJ))
	}
	if strings.Join(got, " ") != want || rec.ReadNs != 7 || rec.JobID != "j" || rec.Rank != -1 {
		t.Fatalf("%v %+v", got, rec)
	}
	b, _ := json.Marshal(&rec) // as the writer's encoder writes it
	back, err := Unmarshal(b)
	if err != nil || fmt.Sprint(back) != fmt.Sprint(rec) {
		t.Fatalf("round trip: %v\n%+v\n%+v", err, back, rec)
	}
	if _, err := Unmarshal([]byte(`{"k":"what"}`)); err == nil {
		t.Fatal("a bad kind is refused")
	}
}

// SetJobID tags the samples taken from then on, and only those; job
// summaries keep their own jobid.
func TestSetJobID(t *testing.T) {
	s := &scripted{mode: "ok"}
	var l testlog.Log
	ex := newEx(t, t.TempDir(), s, &l, Config{})
	ex.Append(1e9, reading(1))
	ex.SetJobID("fA1")
	ex.Append(2e9, reading(2))
	ex.Job(JobSummary{ID: "fB2", End: 2.5})
	ex.SetJobID("fA1,fC3")
	ex.Append(3e9, reading(3))
	ex.SetJobID("")
	ex.Append(4e9, reading(4))
	ex.Stop(5 * time.Second)
	var ids []string
	for _, r := range s.received() {
		ids = append(ids, r.Kind+":"+r.JobID)
	}
	want := "sample: sample:fA1 job:fB2 sample:fA1,fC3 sample:"
	if got := strings.Join(ids, " "); got != want {
		t.Fatalf("jobids %q, want %q", got, want)
	}
}

// encoding is a scripted sink that spools its own form: "T=<ns>", and
// counts how many common-form records it was given to encode on the way
// out.
type encoding struct {
	scripted
	mu      sync.Mutex
	lines   []string
	encoded int // EncodeRecord calls
}

func (s *encoding) EncodeRecord(b []byte, rec *Record) []byte {
	s.mu.Lock()
	s.encoded++
	s.mu.Unlock()
	return fmt.Appendf(b, "T=%d", rec.T)
}

func (s *encoding) SendEncoded(ctx context.Context, lines [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range lines {
		s.lines = append(s.lines, string(l))
	}
	return nil
}

func (s *encoding) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// An Encoder's records are encoded once, as they are spooled, and come
// back to SendEncoded as they were; records an earlier version spooled in
// the common form are encoded on the way out, in order, before them.
func TestEncoderSpoolsItsOwnForm(t *testing.T) {
	dir := t.TempDir()
	var l testlog.Log
	// an earlier version's spool: the common form (a sink of the same ID)
	old := &scripted{mode: "fail"}
	ex := newEx(t, dir, old, &l, Config{Linger: -1})
	for i := 1; i <= 3; i++ {
		ex.Append(int64(i)*1e9, reading(1))
	}
	waitUntil(t, "3 spooled", func() bool { return ex.Stats().Sinks[0].Pending == 3 })
	ex.Stop(0)

	s := &encoding{scripted: scripted{mode: "ok"}}
	ex = newEx(t, dir, s, &l, Config{Linger: -1})
	for i := 4; i <= 6; i++ {
		ex.Append(int64(i)*1e9, reading(1))
	}
	ex.Stop(5 * time.Second)
	want := "T=1000000000 T=2000000000 T=3000000000 T=4000000000 T=5000000000 T=6000000000"
	if got := strings.Join(s.sent(), " "); got != want {
		t.Fatalf("sent %q, want %q", got, want)
	}
	if s.encoded != 6 || len(s.received()) != 0 {
		t.Fatalf("%d records encoded (want 6: 3 spooled, 3 on the way out), %d sent through Send (want 0)", s.encoded, len(s.received()))
	}
	if st := ex.Stats().Sinks[0]; st.Delivered != 6 || st.Pending != 0 {
		t.Fatalf("%+v", st)
	}
}

// Held, the exporter's writer takes nothing until Release: a batch the
// sampler hands over goes to the spool in one write, however the writer's
// wake-ups fall.
func TestHoldGroupsABatch(t *testing.T) {
	s := &scripted{mode: "ok"}
	var l testlog.Log
	ex := newEx(t, t.TempDir(), s, &l, Config{Queue: 64})
	ex.Hold()
	for i := 0; i < 30; i++ {
		ex.Append(int64(i+1)*1e9, reading(1))
		time.Sleep(time.Millisecond) // the writer would take each alone
	}
	ex.Release()
	ex.Stop(5 * time.Second)
	if got := len(s.received()); got != 30 {
		t.Fatalf("%d of 30 delivered", got)
	}
	if st := ex.Stats().Sinks[0]; st.SpoolWrites != 1 {
		t.Fatalf("30 records held together went in %d writes, want 1", st.SpoolWrites)
	}
}

// partialOnce takes the first two lines of its first send, then fails:
// a broker gone in the middle of a burst.
type partialOnce struct {
	encoding
	failed bool
}

func (s *partialOnce) SendEncoded(ctx context.Context, lines [][]byte) error {
	if !s.failed && len(lines) > 2 {
		s.failed = true
		s.encoding.SendEncoded(ctx, lines[:2])
		return &Partial{Delivered: 2, Err: errors.New("connection lost")}
	}
	return s.encoding.SendEncoded(ctx, lines)
}

// What the server took before a send failed leaves the spool: only the
// rest is sent again, and the subscriber sees no record twice.
func TestPartialSendNotRepeated(t *testing.T) {
	s := &partialOnce{encoding: encoding{scripted: scripted{mode: "ok"}}}
	var l testlog.Log
	ex := newEx(t, t.TempDir(), s, &l, Config{Linger: -1})
	ex.Hold()
	for i := 1; i <= 5; i++ {
		ex.Append(int64(i)*1e9, reading(1))
	}
	ex.Release()
	waitUntil(t, "delivery", func() bool { return len(s.sent()) >= 5 })
	ex.Stop(time.Second)
	want := "T=1000000000 T=2000000000 T=3000000000 T=4000000000 T=5000000000"
	if got := strings.Join(s.sent(), " "); got != want || !s.failed {
		t.Fatalf("sent %q, want %q (failed once: %v)", got, want, s.failed)
	}
	if st := ex.Stats().Sinks[0]; st.Delivered != 5 || st.Errors != 1 || st.Pending != 0 {
		t.Fatalf("%+v", st)
	}
}
