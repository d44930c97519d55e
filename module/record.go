// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"syscall"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/account"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// parseJobR reads a job's R that a request gives (power-monitor.record,
// and power-monitor.query's R): what it holds on each rank, and its ranks
// in order; an R without a rank is an error.
func parseJobR(raw json.RawMessage) (wire.Resources, []uint32, error) {
	R, err := wire.ParseR(raw)
	if err == nil && len(R) == 0 {
		err = errors.New("no rank in R_lite")
	}
	if err != nil {
		return nil, nil, err
	}
	ranks := make([]uint32, 0, len(R))
	for r := range R {
		ranks = append(ranks, r)
	}
	slices.Sort(ranks)
	return R, ranks, nil
}

// recordCB answers power-monitor.record (doc/rpc.md): a job's record at
// its end, for the job-manager plugin power-record.so, which writes it into
// the job's eventlog. It is the query about the whole job, with the job's
// R and run window taken from the request (the job-manager holds them), so
// that neither job-list nor job-info is asked while the job waits to become
// inactive. Instance owner only (the default rolemask).
func (m *monitor) recordCB(msg *fluxbind.Msg) {
	var req wire.RecordRequest
	if err := msg.Unpack(&req); err != nil {
		m.h.RespondError(msg, syscall.EPROTO, err.Error())
		return
	}
	const want = `power-monitor.record: want {"jobid": ID, "R": R, "start": T, "end": T}`
	switch {
	case req.JobID == 0:
		m.h.RespondError(msg, syscall.EINVAL, want+": no jobid")
		return
	case len(req.R) == 0 || string(req.R) == "null":
		m.h.RespondError(msg, syscall.EINVAL, want+": no R")
		return
	}
	if err := checkWindow(req.Start, req.End); err != nil {
		m.h.RespondError(msg, syscall.EINVAL, want+": "+err.Error())
		return
	}
	jobR, ranks, err := parseJobR(req.R)
	if err != nil {
		m.h.RespondError(msg, syscall.EINVAL, "R: "+err.Error())
		return
	}
	if ranks[len(ranks)-1] >= m.size {
		m.h.RespondError(msg, syscall.EINVAL, fmt.Sprintf("ranks %s: this instance has ranks 0-%d", wire.FormatIDSet(ranks), m.size-1))
		return
	}
	q := m.newJobQuery(req.Timeout)
	q.jobR = jobR
	q.resp.ID = req.JobID
	q.resp.JobID = fluxbind.EncodeJobID(req.JobID, "f58")
	q.onDone = func(resp *wire.QueryResponse) {
		out, err := json.Marshal(account.FromQuery(resp))
		if err != nil {
			m.h.RespondError(q.msg, syscall.EINVAL, err.Error())
			return
		}
		m.h.Respond(q.msg, out)
		m.records++
	}
	q.start(msg)
	q.runWindow(req.Start, req.End, ranks)
}
