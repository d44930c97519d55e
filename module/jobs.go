// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/export"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// Rank 0 learns of job ends from the job-manager's events journal, as
// flux-core's job-list does: one streaming job-manager.events-journal
// request whose responses carry every job's events in the order the
// job-manager posted them. Nothing is polled and no end is skipped: the
// responses queue on the module's handle until the reactor reads them.
const (
	journalTopic       = "job-manager.events-journal"
	journalCancelTopic = "job-manager.events-journal-cancel"
	// After the stream ends or fails (the job-manager unloaded or is
	// reloading), the request is sent again after journalRetryMinS,
	// doubling up to journalRetryMaxS while it keeps failing.
	journalRetryMinS = 1.0
	journalRetryMaxS = 30.0
	// A job's summary is taken settlePeriods sampling periods after its
	// end is heard, so that every one of its ranks has sampled past the
	// end: the summary then equals what flux power-query says later.
	settlePeriods = 2
)

// journalRequest is the journal request. "full" replays the inactive jobs
// too: their records fill the index (records.go), and a clean found there
// for a job that was active when an earlier stream was lost is an end
// heard late. The "allow" filter keeps the events the watcher needs: a
// job's user (submit), its start and ranks (alloc, with R), the start of
// its cleanup (finish, or a fatal exception), its record (power) and its
// end (clean); invalidate drops a job whose submission failed.
func journalRequest(full bool) string {
	allow := map[string]int{}
	for _, name := range []string{"submit", "invalidate", "alloc", "finish", "exception", "power", "clean"} {
		allow[name] = 1
	}
	out, _ := json.Marshal(struct {
		Full  bool           `json:"full"`
		Allow map[string]int `json:"allow"`
	}{full, allow})
	return string(out)
}

// journalResponse is one response of the journal: a job's events (all of
// them so far while the backlog is replayed, one at a time afterwards), or
// the sentinel that ends the backlog (id -1: FLUX_JOBID_ANY, which the
// job-manager encodes as a signed integer).
type journalResponse struct {
	ID     int64           `json:"id"`
	Events []journalEvent  `json:"events"`
	R      json.RawMessage `json:"R"` // with alloc, and in the backlog once allocated
}

// journalEvent is an RFC 18 eventlog entry; its context is decoded where
// it is used (eventContext), and a power event's is kept as posted.
type journalEvent struct {
	Timestamp float64         `json:"timestamp"`
	Name      string          `json:"name"`
	Context   json.RawMessage `json:"context"`
}

// eventContext holds the context keys the table reads.
type eventContext struct {
	UserID   uint32 `json:"userid"`   // submit
	Severity *int   `json:"severity"` // exception
}

func (ev journalEvent) context() (c eventContext, err error) {
	if len(ev.Context) > 0 {
		err = json.Unmarshal(ev.Context, &c)
	}
	return c, err
}

// jobRecord is what the summary of a job needs, taken from its events by
// the rules job-list applies (so t_run and t_cleanup are those flux jobs
// and flux power-query see): t_run is the alloc event's time, t_cleanup
// that of the finish event or of the first fatal exception, t_inactive
// that of clean.
type jobRecord struct {
	ID        uint64
	UserID    uint32
	TRun      float64
	TCleanup  float64
	TInactive float64
	Ranks     string          // RFC 22 idset, from R
	Held      wire.Resources  // what it holds on each rank (its R), while it is active
	Power     json.RawMessage // its power event's context (the record), nil until posted
}

// jobTable follows the active jobs through the journal. It knows nothing of
// Flux beyond the journal's JSON, so that it is tested without a broker.
type jobTable struct {
	active map[uint64]*jobRecord
	// done are the records of the inactive jobs (records.go)
	done *recordIndex
	// lost are the jobs that were active when a stream was lost. The next
	// request replays the inactive jobs too (full), and a clean found there
	// for one of these is an end that happened while no stream was open.
	lost     map[uint64]bool
	caughtUp bool // the current stream's backlog is replayed
}

func newJobTable() *jobTable {
	return &jobTable{active: map[uint64]*jobRecord{}, lost: map[uint64]bool{}, done: newRecordIndex()}
}

// restart prepares for a new stream, which replays the inactive jobs too
// (journalRequest(true)).
func (t *jobTable) restart() {
	for id := range t.active {
		t.lost[id] = true
	}
	t.active = map[uint64]*jobRecord{}
	t.done = newRecordIndex() // the backlog fills it again
	t.caughtUp = false
}

// caughtUpNow takes the sentinel: the backlog is replayed. It returns the
// jobs lost with the last stream that the backlog did not mention at all
// (the job-manager forgot them): their end cannot be known.
func (t *jobTable) caughtUpNow() (vanished []uint64) {
	t.caughtUp = true
	for id := range t.lost {
		if t.active[id] == nil {
			vanished = append(vanished, id)
		}
	}
	clear(t.lost)
	return vanished
}

// apply takes a job's events and returns the record of the job if they
// ended it; err names what it could not understand (the other events are
// applied all the same).
func (t *jobTable) apply(r journalResponse) (ended *jobRecord, err error) {
	id := uint64(r.ID)
	for _, ev := range r.Events {
		if ev.Name == "submit" {
			c, cerr := ev.context()
			if cerr != nil {
				err = fmt.Errorf("job %s: submit event: %w", fluxbind.EncodeJobID(id, "f58plain"), cerr)
			}
			t.active[id] = &jobRecord{ID: id, UserID: c.UserID}
			continue
		}
		j := t.active[id]
		if j == nil {
			continue // submitted before the backlog said (cannot happen) or already gone
		}
		switch ev.Name {
		case "invalidate":
			delete(t.active, id)
		case "alloc":
			if j.TRun == 0 && j.TCleanup == 0 {
				j.TRun = ev.Timestamp
				j.Held, j.Ranks, err = heldOfR(r.R)
				if err != nil {
					err = fmt.Errorf("job %s: R: %w", fluxbind.EncodeJobID(id, "f58plain"), err)
				}
			}
		case "finish":
			if j.TRun != 0 && j.TCleanup == 0 {
				j.TCleanup = ev.Timestamp
			}
		case "exception":
			c, cerr := ev.context()
			if cerr == nil && c.Severity != nil && *c.Severity == 0 && j.TCleanup == 0 {
				j.TCleanup = ev.Timestamp
			}
		case "power":
			j.Power = ev.Context
		case "clean":
			j.TInactive = ev.Timestamp
			delete(t.active, id)
			t.done.add(j)
			j.Held = nil
			if t.caughtUp || t.lost[id] {
				ended = j
			}
			delete(t.lost, id)
		}
	}
	return ended, err
}

// heldOfR reads a job's R (RFC 20) as the journal gives it with alloc:
// what the job holds on each rank, and its ranks as an RFC 22 idset.
func heldOfR(raw json.RawMessage) (wire.Resources, string, error) {
	if len(raw) == 0 {
		return nil, "", errors.New("missing")
	}
	held, ranks, err := parseJobR(raw)
	if err != nil {
		return nil, "", err
	}
	return held, wire.FormatIDSet(ranks), nil
}

// jobWatcher runs on rank 0: it follows the journal (jobTable), which
// gives the running jobs' users, windows and R to power-monitor.query
// (query.go) and the inactive jobs' records to power-monitor.records
// (records.go). When exports are on it also, settlePeriods after each
// job's end, publishes the ended jobs' IDs (power-monitor.jobs-inactive,
// for module/running.go on every rank) and gathers each one's energy
// across its ranks (as power-monitor.query does) for the exporter. Jobs
// that ended before the module loaded get no summary. All on the reactor
// thread.
type jobWatcher struct {
	m       *monitor
	table   *jobTable
	stream  *fluxbind.Future
	retry   *fluxbind.Watcher
	backoff float64 // seconds before the next request, after a failure
	lapses  uint64  // stream failures since the last one that worked
	purge   *fluxbind.MsgHandler

	// ending are the jobs whose end was heard, oldest first, until due
	ending []endingJob
	settle *fluxbind.Watcher

	sent     uint64 // summaries sent
	failures uint64
	// publishing: jobs-inactive events not yet acknowledged
	publishing map[*fluxbind.Future]struct{}
	// unpublished: jobids of a jobs-inactive event that failed
	unpublished []uint64
}

type endingJob struct {
	job *jobRecord
	due time.Time
}

func (m *monitor) watchJobs() (*jobWatcher, error) {
	w := &jobWatcher{m: m, table: newJobTable(), publishing: map[*fluxbind.Future]struct{}{}}
	var err error
	if w.purge, err = m.h.AddHandler(fluxbind.MsgEvent, topicPurge, 0, w.purgeCB); err != nil {
		return nil, err
	}
	if err := m.h.Subscribe(topicPurge); err != nil {
		w.purge.Destroy()
		return nil, err
	}
	return w, w.follow()
}

// follow sends the journal request; a failure to send is a lapse like any.
// It fails only when not even a retry can be arranged.
func (w *jobWatcher) follow() error {
	w.table.restart()
	fu, err := w.m.h.RPCStream(journalTopic, journalRequest(true), fluxbind.NodeIDAny)
	if err == nil {
		if err = fu.Then(-1, w.onJournal); err != nil {
			fu.Destroy()
		}
	}
	if err != nil {
		return w.lapse(err)
	}
	w.stream = fu
	return nil
}

func (w *jobWatcher) onJournal(fu *fluxbind.Future) {
	payload, err := fu.Get()
	if err != nil {
		if err := w.lapse(err); err != nil {
			w.m.h.Log(fluxbind.LogErr, "job summaries stop: "+err.Error())
		}
		return
	}
	fu.Next()
	var r journalResponse
	if err := json.Unmarshal([]byte(payload), &r); err != nil {
		w.failed(fmt.Errorf("%s response %.200q: %w", journalTopic, payload, err))
		return
	}
	if r.ID == -1 {
		w.caughtUp()
		return
	}
	j, err := w.table.apply(r)
	if err != nil {
		w.failed(err)
	}
	if j != nil {
		w.ended(j)
	}
}

func (w *jobWatcher) caughtUp() {
	if w.lapses > 0 {
		w.m.h.Log(fluxbind.LogInfo, fmt.Sprintf("job summaries: following the job-manager's events journal again, after %d failures", w.lapses))
	}
	w.lapses, w.backoff = 0, 0
	if vanished := w.table.caughtUpNow(); len(vanished) > 0 {
		w.m.h.Log(fluxbind.LogWarning, fmt.Sprintf("job summaries: %d jobs active when the journal was lost are unknown to the job-manager now; they get no summary", len(vanished)))
	}
}

// lapse takes the end of a stream, or a request that could not be sent:
// it tries again later, never at once (the error: it cannot).
func (w *jobWatcher) lapse(err error) error {
	if w.stream != nil {
		w.stream.Destroy()
		w.stream = nil
	}
	w.lapses++
	w.backoff = min(max(2*w.backoff, journalRetryMinS), journalRetryMaxS)
	why, level := err.Error(), fluxbind.LogWarning
	switch { // the normal end, as at shutdown, and a start before the job-manager's
	case fluxbind.IsErrno(err, syscall.ENODATA):
		why, level = "the job-manager ended it (unloaded or reloading)", fluxbind.LogInfo
	case fluxbind.IsErrno(err, syscall.ENOSYS):
		why, level = "the job-manager is not loaded", fluxbind.LogInfo
	}
	if w.lapses == 1 || w.lapses%20 == 0 {
		w.m.h.Log(level, fmt.Sprintf("job summaries: the job-manager's events journal stopped: %s; trying again in %gs (%d failures)", why, w.backoff, w.lapses))
	}
	if w.retry != nil {
		w.retry.Destroy()
	}
	w.retry, err = w.m.h.Timer(w.backoff, func() {
		w.retry.Destroy()
		w.retry = nil
		if err := w.follow(); err != nil {
			w.m.h.Log(fluxbind.LogErr, "job summaries stop: "+err.Error())
		}
	})
	return err
}

func (w *jobWatcher) failed(err error) {
	w.failures++
	if w.failures == 1 || w.failures%100 == 0 {
		w.m.h.Log(fluxbind.LogErr, fmt.Sprintf("job summaries: %v (%d failures)", err, w.failures))
	}
}

// ended queues a job that ran until settlePeriods have passed, for the
// exports.
func (w *jobWatcher) ended(j *jobRecord) {
	if w.m.node.Exporter() == nil {
		return
	}
	if j.TRun == 0 || j.Ranks == "" {
		return // never ran: no energy, and no rank heard of it
	}
	w.ending = append(w.ending, endingJob{job: j, due: time.Now().Add(settlePeriods * w.m.opts.Period)})
	if w.settle == nil {
		w.armSettle()
	}
}

func (w *jobWatcher) armSettle() {
	after := max(time.Until(w.ending[0].due).Seconds(), 0)
	var err error
	w.settle, err = w.m.h.Timer(after, w.onSettle)
	if err != nil {
		w.settle = nil
		w.failed(fmt.Errorf("timer: %w; sending the summaries now", err))
		w.onSettle()
	}
}

// onSettle publishes the due jobs' IDs in one event and starts their
// summaries.
func (w *jobWatcher) onSettle() {
	if w.settle != nil {
		w.settle.Destroy()
		w.settle = nil
	}
	now := time.Now()
	n := 0
	for n < len(w.ending) && !w.ending[n].due.After(now) {
		n++
	}
	if n == 0 && len(w.ending) > 0 {
		n = 1 // the timer fired a little early: do not re-arm for nothing
	}
	due := w.ending[:n]
	w.ending = append([]endingJob(nil), w.ending[n:]...)
	ids := make([]uint64, len(due))
	for i, e := range due {
		ids[i] = e.job.ID
	}
	w.publishInactive(ids)
	for _, e := range due {
		w.summarize(e.job)
	}
	if len(w.ending) > 0 {
		w.armSettle()
	}
}

// summarize gathers a job's energy from its ranks for the exporter.
func (w *jobWatcher) summarize(j *jobRecord) {
	q := w.m.newJobQuery(wire.DefaultTimeout)
	q.onDone = w.summary
	uid := j.UserID
	// f58plain: an ASCII "f" in MQTT topics and Prometheus labels, as users type it
	q.resp.ID, q.resp.JobID, q.resp.UserID = j.ID, fluxbind.EncodeJobID(j.ID, "f58plain"), &uid
	q.resp.State = "INACTIVE"
	end := j.TCleanup
	if end == 0 {
		end = j.TInactive
	}
	q.start(nil)
	if err := q.runJob(j.TRun, end, j.Ranks); err != nil {
		w.failed(fmt.Errorf("job %s: %w", q.resp.JobID, err))
		q.release()
	}
}

// publishInactive tells every rank which jobs ended, in one event, so that
// a rank whose job shell died without saying so stops tagging its samples
// with that job (module/running.go).
func (w *jobWatcher) publishInactive(ids []uint64) {
	// the jobs of a publication that failed go out again with these
	ev := wire.JobsInactive{JobIDs: append(w.unpublished, ids...)}
	w.unpublished = nil
	if len(ev.JobIDs) == 0 {
		return
	}
	payload, _ := json.Marshal(ev)
	fu, err := w.m.h.Publish(wire.EventJobsInactive, string(payload))
	if err == nil {
		err = fu.Then(wire.DefaultTimeout, func(f *fluxbind.Future) {
			if _, err := f.Get(); err != nil {
				w.failed(fmt.Errorf("publishing %s: %w", wire.EventJobsInactive, err))
				w.keep(ev.JobIDs)
			}
			f.Destroy()
			delete(w.publishing, f)
		})
		if err != nil {
			fu.Destroy()
		} else {
			w.publishing[fu] = struct{}{}
		}
	}
	if err != nil {
		w.failed(err)
		w.keep(ev.JobIDs)
	}
}

// keep holds jobids whose publication failed for the next one, up to a
// bound (a rank that missed them forgets those jobs at its next reload).
func (w *jobWatcher) keep(ids []uint64) {
	w.unpublished = append(w.unpublished, ids...)
	if n := len(w.unpublished) - 10000; n > 0 {
		w.unpublished = w.unpublished[n:]
	}
}

func (w *jobWatcher) summary(resp *wire.QueryResponse) {
	if w.m.node.Exporter() == nil {
		return
	}
	js := export.SummaryFromQuery(resp)
	w.m.node.Exporter().Job(js)
	w.sent++
	w.m.h.Log(fluxbind.LogDebug, fmt.Sprintf("job %s: %.1f J sent to the sinks", js.ID, js.EnergyJ))
}

// stop cancels the stream and releases every callback. The IDs of jobs
// that ended but were not yet published go out at once (no summary: the
// module unloads).
func (w *jobWatcher) stop() {
	if w.purge != nil {
		w.m.h.Unsubscribe(topicPurge)
		w.purge.Destroy()
		w.purge = nil
	}
	if w.stream != nil {
		if err := w.stream.Cancel(journalCancelTopic, fluxbind.NodeIDAny); err != nil {
			w.m.h.Log(fluxbind.LogDebug, "job summaries: "+err.Error())
		}
		w.stream.Destroy()
		w.stream = nil
	}
	for _, t := range []**fluxbind.Watcher{&w.retry, &w.settle} {
		if *t != nil {
			(*t).Destroy()
			*t = nil
		}
	}
	ids := make([]uint64, 0, len(w.ending)+len(w.unpublished))
	for _, e := range w.ending {
		ids = append(ids, e.job.ID)
	}
	w.ending = nil
	if ids = append(w.unpublished, ids...); len(ids) > 0 {
		payload, _ := json.Marshal(wire.JobsInactive{JobIDs: ids})
		if fu, err := w.m.h.Publish(wire.EventJobsInactive, string(payload)); err == nil {
			fu.Destroy()
		}
	}
	for fu := range w.publishing {
		fu.Destroy()
		delete(w.publishing, fu)
	}
}
