// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"syscall"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// runningJobs are the jobs whose tasks run on this rank, as the job shell
// plugin tells (power-monitor.running, doc/rpc.md). While exports are on
// (and only then: nothing else uses them), the samples this rank publishes
// carry their jobids (MQTT metadata.jobid).
// A shell that dies without saying so is forgotten when rank 0 hears the
// job end (power-monitor.jobs-inactive, module/jobs.go). Reactor thread
// only.
type runningJobs struct {
	m    *monitor
	jobs map[uint64]uint32 // jobid -> the userid that said it runs

	mh *fluxbind.MsgHandler // the jobs-inactive handler while subscribed
}

func newRunningJobs(m *monitor) *runningJobs {
	return &runningJobs{m: m, jobs: map[uint64]uint32{}}
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
}

// maxRunningJobs bounds the set: a node shared by many small jobs stays
// well below it, and a guest who sends made-up jobids cannot grow it (nor
// the samples' metadata) without bound.
const maxRunningJobs = 256

// runningCB answers power-monitor.running. Anyone may say that a job runs
// here; only the user who said so, or the instance owner, may say it again
// or that it ended.
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
	uid, _, err := msg.Cred()
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
	case req.Running && !known && len(rj.jobs) >= maxRunningJobs:
		rj.m.h.RespondError(msg, syscall.ENOSPC, fmt.Sprintf("power-monitor.running: already %d jobs running on this rank", maxRunningJobs))
		return
	case req.Running:
		if !known {
			rj.jobs[req.JobID] = uid
		}
	case known:
		delete(rj.jobs, req.JobID)
	}
	rj.update()
	rj.m.h.Respond(msg, []byte("{}"))
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
