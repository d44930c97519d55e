//go:build flux

package main

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/export"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// jobPollS is how often rank 0 asks job-list for jobs that ended.
const jobPollS = 2.0

// jobListReq asks job-list for the jobs that became inactive after since.
type jobListReq struct {
	MaxEntries int      `json:"max_entries"`
	Attrs      []string `json:"attrs"`
	Since      float64  `json:"since"`
	Constraint struct {
		States []string `json:"states"`
	} `json:"constraint"`
}

type jobListResp struct {
	Jobs []struct {
		ID        uint64  `json:"id"`
		UserID    uint32  `json:"userid"`
		TRun      float64 `json:"t_run"`
		TCleanup  float64 `json:"t_cleanup"`
		TInactive float64 `json:"t_inactive"`
		Ranks     string  `json:"ranks"`
	} `json:"jobs"`
}

// jobWatcher runs on rank 0 when exports are on: every jobPollS it asks
// job-list for the jobs that ended since the last answer, then gathers each
// one's energy across its ranks (as power-monitor.query does) and hands the
// summary to the exporter. Jobs that ended before the module loaded are not
// reported. All on the reactor thread.
type jobWatcher struct {
	m        *monitor
	since    float64
	timer    *fluxbind.Watcher
	list     *fluxbind.Future
	sent     uint64 // summaries sent
	failures uint64
	// publishing: jobs-inactive events not yet acknowledged
	publishing map[*fluxbind.Future]struct{}
	// unpublished: jobids of a jobs-inactive event that failed
	unpublished []uint64
}

func (m *monitor) watchJobs() (*jobWatcher, error) {
	w := &jobWatcher{m: m, since: float64(m.loaded.UnixNano()) / 1e9, publishing: map[*fluxbind.Future]struct{}{}}
	return w, w.arm()
}

func (w *jobWatcher) arm() error {
	if w.timer != nil {
		w.timer.Destroy()
	}
	var err error
	w.timer, err = w.m.h.Timer(jobPollS, w.poll)
	return err
}

func (w *jobWatcher) poll() {
	defer func() {
		if err := w.arm(); err != nil {
			w.m.h.Log(fluxbind.LogErr, "power-monitor: job summaries stop: "+err.Error())
		}
	}()
	if w.list != nil {
		return // the last request is still out
	}
	req := jobListReq{MaxEntries: 1000, Attrs: []string{"userid", "t_run", "t_cleanup", "t_inactive", "ranks"}, Since: w.since}
	req.Constraint.States = []string{"inactive"}
	payload, _ := json.Marshal(req)
	fu, err := w.m.h.RPC("job-list.list", string(payload), fluxbind.NodeIDAny)
	if err == nil {
		if err = fu.Then(wire.DefaultTimeout*2, w.onList); err != nil {
			fu.Destroy()
		}
	}
	if err != nil {
		w.failed(err)
		return
	}
	w.list = fu
}

func (w *jobWatcher) failed(err error) {
	w.failures++
	if w.failures == 1 || w.failures%100 == 0 {
		w.m.h.Log(fluxbind.LogErr, fmt.Sprintf("power-monitor: listing jobs that ended: %v (%d failures)", err, w.failures))
	}
}

func (w *jobWatcher) onList(fu *fluxbind.Future) {
	payload, err := fu.Get()
	fu.Destroy()
	w.list = nil
	if err != nil {
		w.failed(err)
		return
	}
	var resp jobListResp
	if err := json.Unmarshal([]byte(payload), &resp); err != nil {
		w.failed(err)
		return
	}
	sort.Slice(resp.Jobs, func(i, j int) bool { return resp.Jobs[i].TInactive < resp.Jobs[j].TInactive })
	w.publishInactive(resp)
	for _, j := range resp.Jobs {
		if j.TInactive > w.since {
			w.since = j.TInactive
		}
		if j.TRun == 0 || j.Ranks == "" {
			continue // never ran: no energy
		}
		q := &jobQuery{m: w.m, timeout: wire.DefaultTimeout, pending: map[uint32]*fluxbind.Future{}, onDone: w.summary}
		uid := j.UserID
		// f58plain: an ASCII "f" in MQTT topics and Prometheus labels, as users type it
		q.resp.ID, q.resp.JobID, q.resp.UserID = j.ID, fluxbind.EncodeJobID(j.ID, "f58plain"), &uid
		q.resp.State = "INACTIVE"
		end := j.TCleanup
		if end == 0 {
			end = j.TInactive
		}
		w.m.queries[q] = struct{}{}
		if err := q.runJob(j.TRun, end, j.Ranks); err != nil {
			w.failed(fmt.Errorf("job %s: %w", q.resp.JobID, err))
			q.release()
		}
	}
}

// publishInactive tells every rank which jobs ended, in one event, so that
// a rank whose job shell died without saying so stops tagging its samples
// with that job (module/running.go).
func (w *jobWatcher) publishInactive(resp jobListResp) {
	// the jobs of a publication that failed go out again with these
	ev := wire.JobsInactive{JobIDs: w.unpublished}
	w.unpublished = nil
	for _, j := range resp.Jobs {
		if j.Ranks != "" {
			ev.JobIDs = append(ev.JobIDs, j.ID)
		}
	}
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
	if w.m.export == nil {
		return
	}
	js := export.SummaryFromQuery(resp)
	w.m.export.Job(js)
	w.sent++
	w.m.h.Log(fluxbind.LogDebug, fmt.Sprintf("power-monitor: job %s: %.1f J sent to the sinks", js.ID, js.EnergyJ))
}

func (w *jobWatcher) stop() {
	if w.timer != nil {
		w.timer.Destroy()
		w.timer = nil
	}
	if w.list != nil {
		w.list.Destroy()
		w.list = nil
	}
	for fu := range w.publishing {
		fu.Destroy()
		delete(w.publishing, fu)
	}
}
