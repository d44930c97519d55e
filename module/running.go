// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"syscall"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// runningJobs are the jobs whose tasks run on this rank, as the job shell
// plugin tells (power-monitor.running, doc/rpc.md), and as the instance
// confirms: a guest's claim is taken only once job-list says that the job
// is the guest's and has this rank (claimCheck). While exports are on
// (and only then: nothing else uses them), the samples this rank publishes
// carry their jobids (MQTT metadata.jobid).
// A shell that dies without saying so is forgotten when rank 0 hears the
// job end (power-monitor.jobs-inactive, module/jobs.go). Reactor thread
// only.
type runningJobs struct {
	m    *monitor
	jobs map[uint64]uint32 // jobid -> the userid that said it runs
	// guests' claims waiting for job-list's answer, by jobid
	checks map[uint64]*claimCheck

	mh *fluxbind.MsgHandler // the jobs-inactive handler while subscribed
}

func newRunningJobs(m *monitor) *runningJobs {
	return &runningJobs{m: m, jobs: map[uint64]uint32{}, checks: map[uint64]*claimCheck{}}
}

// subscribe takes rank 0's power-monitor.jobs-inactive events (with
// exports); again does nothing.
func (rj *runningJobs) subscribe() error {
	if rj.mh != nil {
		return nil
	}
	mh, err := rj.m.h.AddHandler(fluxbind.MsgEvent, wire.EventJobsInactive, 0, rj.inactiveCB)
	if err != nil {
		return err
	}
	if err := rj.m.h.Subscribe(wire.EventJobsInactive); err != nil {
		mh.Destroy()
		return err
	}
	rj.mh = mh
	return nil
}

// unsubscribe stops taking the events (exports turned off, or unload) and
// forgets the jobs: nothing publishes their samples any more.
func (rj *runningJobs) unsubscribe() {
	if rj.mh != nil {
		rj.m.h.Unsubscribe(wire.EventJobsInactive)
		rj.mh.Destroy()
		rj.mh = nil
	}
	clear(rj.jobs)
	for id, c := range rj.checks {
		c.fu.Destroy()
		for _, w := range c.waiters {
			rj.m.h.RespondError(w.msg, syscall.ENOSYS, "power-monitor.running: exports stopped")
			w.msg.Unref()
		}
		delete(rj.checks, id)
	}
}

// maxRunningJobs bounds the set: a node shared by many small jobs stays
// well below it, and a guest who sends made-up jobids cannot grow it (nor
// the samples' metadata) without bound.
const maxRunningJobs = 256

// runningCB answers power-monitor.running. The instance owner's word is
// taken as it is. A guest may say that one of its own jobs runs here, which
// job-list confirms first (claimCheck); only the user who said so, or the
// instance owner, may say it again or that it ended.
func (rj *runningJobs) runningCB(msg *fluxbind.Msg) {
	_, payload, err := msg.Decode()
	if err != nil {
		rj.m.h.RespondError(msg, syscall.EPROTO, err.Error())
		return
	}
	var req wire.RunningRequest
	if err := json.Unmarshal([]byte(payload), &req); err != nil || req.JobID == 0 {
		rj.m.h.RespondError(msg, syscall.EPROTO, fmt.Sprintf("power-monitor.running: want {\"jobid\": ID, \"running\": BOOL}, got %q", payload))
		return
	}
	if rj.m.node.Exporter() == nil { // nothing publishes the samples: nothing to tag
		rj.m.h.Respond(msg, []byte("{}"))
		return
	}
	uid, role, err := msg.Cred()
	if err != nil {
		rj.m.h.RespondError(msg, syscall.EPROTO, err.Error())
		return
	}
	owner, known := rj.jobs[req.JobID]
	switch {
	case known && owner != uid && !msg.Authorize(owner):
		// a job claimed by one user cannot be taken over, or ended, by another
		rj.m.h.RespondError(msg, syscall.EPERM, "only the user who started the job here, or the instance owner, may change it")
		return
	case req.Running && known:
	case req.Running && len(rj.jobs)+len(rj.checks) >= maxRunningJobs:
		rj.m.h.RespondError(msg, syscall.ENOSPC, fmt.Sprintf("power-monitor.running: already %d jobs running on this rank", maxRunningJobs))
		return
	case req.Running && role&fluxbind.RoleOwner == 0:
		rj.check(msg, req.JobID, uid)
		return
	case req.Running:
		rj.jobs[req.JobID] = uid
	case known:
		delete(rj.jobs, req.JobID)
	}
	rj.update()
	rj.m.h.Respond(msg, []byte("{}"))
}

// claimCheck is a guest's claim that a job runs on this rank, while
// job-list is asked whose the job is and where it runs. Claims about the
// same job wait on one lookup.
type claimCheck struct {
	fu      *fluxbind.Future
	waiters []claimant
}

type claimant struct {
	msg *fluxbind.Msg // referenced until answered
	uid uint32
}

// claimPayload asks job-list what it must say of a claimed job, once it has
// started running (state RUN: it then has its ranks).
const claimPayload = `{"id":%d,"attrs":["userid","ranks","state"],"state":%d}`

// jobStateRun, jobStateCleanup and jobStateInactive are flux-core's
// FLUX_JOB_STATE_RUN, _CLEANUP and _INACTIVE.
const (
	jobStateRun      = 16
	jobStateCleanup  = 32
	jobStateInactive = 64
)

// check asks job-list about the job of a guest's claim, at most
// wire.DefaultTimeout seconds: a made-up job that never runs is refused
// then.
func (rj *runningJobs) check(msg *fluxbind.Msg, id uint64, uid uint32) {
	if c, ok := rj.checks[id]; ok {
		c.waiters = append(c.waiters, claimant{msg.Ref(), uid})
		return
	}
	fu, err := rj.m.h.RPC("job-list.list-id", fmt.Sprintf(claimPayload, id, jobStateRun), fluxbind.NodeIDAny)
	if err == nil {
		if err = fu.Then(wire.DefaultTimeout, func(f *fluxbind.Future) { rj.checked(id, f) }); err != nil {
			fu.Destroy()
		}
	}
	if err != nil {
		rj.m.h.RespondError(msg, syscall.EIO, "power-monitor.running: asking job-list: "+err.Error())
		return
	}
	rj.checks[id] = &claimCheck{fu: fu, waiters: []claimant{{msg.Ref(), uid}}}
}

// checked takes job-list's answer about a claimed job: each claimant whose
// job it is, where it runs on this rank and has not ended, is taken.
func (rj *runningJobs) checked(id uint64, fu *fluxbind.Future) {
	c := rj.checks[id]
	delete(rj.checks, id)
	payload, err := fu.Get()
	fu.Destroy()
	var ans jobInfo
	if err == nil {
		err = json.Unmarshal([]byte(payload), &ans)
	}
	job := fluxbind.EncodeJobID(id, "f58")
	var ranks []uint32
	if err == nil {
		ranks, err = wire.ParseIDSet(ans.Job.Ranks)
	}
	taken := false
	for _, w := range c.waiters {
		switch {
		case errors.Is(err, syscall.ENOENT):
			rj.m.h.RespondError(w.msg, syscall.ENOENT, fmt.Sprintf("power-monitor.running: unknown job %s", job))
		case errors.Is(err, syscall.ETIMEDOUT):
			rj.m.h.RespondError(w.msg, syscall.EPERM, fmt.Sprintf("power-monitor.running: job %s did not start running within %gs", job, wire.DefaultTimeout))
		case err != nil:
			rj.m.h.RespondError(w.msg, syscall.EPERM, fmt.Sprintf("power-monitor.running: looking up job %s: %v", job, err))
		case ans.Job.UserID != w.uid:
			rj.m.h.RespondError(w.msg, syscall.EPERM, fmt.Sprintf("power-monitor.running: job %s belongs to another user", job))
		case !slices.Contains(ranks, rj.m.rank):
			rj.m.h.RespondError(w.msg, syscall.EPERM, fmt.Sprintf("power-monitor.running: job %s does not run on rank %d", job, rj.m.rank))
		case ans.Job.State == jobStateInactive:
			rj.m.h.RespondError(w.msg, syscall.EPERM, fmt.Sprintf("power-monitor.running: job %s has ended", job))
		case len(rj.jobs) >= maxRunningJobs:
			rj.m.h.RespondError(w.msg, syscall.ENOSPC, fmt.Sprintf("power-monitor.running: already %d jobs running on this rank", maxRunningJobs))
		default:
			if _, known := rj.jobs[id]; !known {
				rj.jobs[id] = w.uid
				taken = true
			}
			rj.m.h.Respond(w.msg, []byte("{}"))
		}
		w.msg.Unref()
	}
	if taken {
		rj.update()
	}
}

// inactiveCB takes rank 0's power-monitor.jobs-inactive event.
func (rj *runningJobs) inactiveCB(msg *fluxbind.Msg) {
	_, payload, err := msg.DecodeEvent()
	if err == nil {
		var ev wire.JobsInactive
		if err = json.Unmarshal([]byte(payload), &ev); err == nil {
			rj.forget(ev.JobIDs)
			return
		}
	}
	rj.m.h.Log(fluxbind.LogErr, fmt.Sprintf("%s: %v", wire.EventJobsInactive, err))
}

// forget drops jobs that ended from the set.
func (rj *runningJobs) forget(ids []uint64) {
	n := len(rj.jobs)
	for _, id := range ids {
		delete(rj.jobs, id)
	}
	if len(rj.jobs) != n {
		rj.update()
	}
}

// ids are the running jobs in f58plain (ASCII "f", as in MQTT topics),
// oldest first (jobids grow with submit time).
func (rj *runningJobs) ids() []string {
	keys := make([]uint64, 0, len(rj.jobs))
	for id := range rj.jobs {
		keys = append(keys, id)
	}
	slices.Sort(keys)
	out := make([]string, len(keys))
	for i, id := range keys {
		out[i] = fluxbind.EncodeJobID(id, "f58plain")
	}
	return out
}

func (rj *runningJobs) update() {
	if rj.m.node.Exporter() != nil {
		// the samples held back (--batch) were taken under the old ids
		rj.m.node.Flush()
		rj.m.node.Exporter().SetJobID(strings.Join(rj.ids(), ","))
	}
}
