// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"syscall"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// topicPurge is the event the job-manager publishes when it purges
// inactive jobs (flux job purge, or its inactive-age-limit and
// inactive-num-limit): {"jobs": [ID, ...]}. Their eventlogs, and with
// them their records, are gone from the KVS.
const topicPurge = "job-purge-inactive"

// recordIndex is rank 0's copy of the record of every inactive job the
// job-manager holds: each job's power event context exactly as posted
// (jobtap/power-record.c), or none, with its user and the time of its
// clean event. The journal fills it (jobs.go: the inactive jobs at load,
// each job as it ends) and job-purge-inactive empties it, so that it
// holds what the eventlogs hold. flux power-query --report reads it in
// one power-monitor.records request (doc/rpc.md) instead of one eventlog
// lookup per job. It knows nothing of Flux beyond the journal's JSON.
type recordIndex struct {
	jobs map[uint64]indexedJob
}

type indexedJob struct {
	userID    uint32
	tInactive float64
	record    json.RawMessage // nil: the job has no power event
}

func newRecordIndex() *recordIndex {
	return &recordIndex{jobs: map[uint64]indexedJob{}}
}

// add takes a job at its clean event.
func (x *recordIndex) add(j *jobRecord) {
	x.jobs[j.ID] = indexedJob{userID: j.UserID, tInactive: j.TInactive, record: j.Power}
}

// purge forgets jobs the job-manager purged.
func (x *recordIndex) purge(ids []uint64) {
	for _, id := range ids {
		delete(x.jobs, id)
	}
}

// list is the answer to req, in jobid order.
func (x *recordIndex) list(req wire.RecordsRequest) []wire.IndexedRecord {
	out := []wire.IndexedRecord{}
	for id, j := range x.jobs {
		if (req.UserID != nil && j.userID != *req.UserID) ||
			(req.Since > 0 && j.tInactive < req.Since) ||
			(req.Until > 0 && j.tInactive >= req.Until) {
			continue
		}
		rec := j.record
		if rec == nil {
			rec = json.RawMessage("null")
		}
		out = append(out, wire.IndexedRecord{ID: id, UserID: j.userID, TInactive: j.tInactive, Record: rec})
	}
	slices.SortFunc(out, func(a, b wire.IndexedRecord) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// recordsCB answers power-monitor.records (doc/rpc.md) on rank 0, once the
// journal's backlog is read: before that the index is incomplete, and
// the requester reads the eventlogs instead. A guest lists its own jobs
// only.
func (m *monitor) recordsCB(msg *fluxbind.Msg) {
	var req wire.RecordsRequest
	if err := msg.UnpackOptional(&req); err != nil {
		m.h.RespondError(msg, syscall.EPROTO, err.Error())
		return
	}
	if m.jobs == nil {
		m.h.RespondError(msg, syscall.ENOSYS, fmt.Sprintf("power-monitor.records is answered on rank 0, not on rank %d", m.rank))
		return
	}
	if !m.jobs.table.caughtUp {
		m.h.RespondError(msg, syscall.EAGAIN, "power-monitor is still reading the job-manager's journal")
		return
	}
	userid, role, err := msg.Cred()
	if err != nil {
		m.h.RespondError(msg, syscall.EPERM, err.Error())
		return
	}
	if role&fluxbind.RoleOwner == 0 {
		if req.UserID != nil && *req.UserID != userid {
			m.h.RespondError(msg, syscall.EPERM, fmt.Sprintf("only the instance owner may list another user's records (you are uid %d)", userid))
			return
		}
		req.UserID = &userid
	}
	out, err := json.Marshal(wire.RecordsResponse{Jobs: m.jobs.table.done.list(req)})
	if err != nil {
		m.h.RespondError(msg, syscall.EINVAL, err.Error())
		return
	}
	m.h.Respond(msg, out)
	m.listed++
}

// purgeCB takes the job-manager's job-purge-inactive event.
func (w *jobWatcher) purgeCB(msg *fluxbind.Msg) {
	var ev struct {
		Jobs []uint64 `json:"jobs"`
	}
	_, payload, err := msg.DecodeEvent()
	if err == nil {
		err = json.Unmarshal([]byte(payload), &ev)
	}
	if err != nil {
		w.failed(fmt.Errorf("%s event: %w", topicPurge, err))
		return
	}
	w.table.done.purge(ev.Jobs)
}
