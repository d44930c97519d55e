// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/account"
	"github.com/flux-framework/power-monitor/internal/store/aggregate"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// needRecord says whether a job's record may answer better than the module
// did: the module failed (not loaded anywhere, the job is unknown to it,
// no answer...), or the job is inactive and the answer is not complete.
// Only then is the job's eventlog read.
func needRecord(resp *wire.QueryResponse, err error) bool {
	if err != nil {
		return true
	}
	if resp == nil || resp.Running || (resp.State != "" && resp.State != "INACTIVE") {
		return false
	}
	return resp.Total.Presence != aggregate.PresenceComplete
}

// recordWhy says why the record answers instead of the module's answer
// (resp, or the module's error err), or "" where the answer is as good:
// the record answers where the module failed, and where the module's
// samples cover less of the job than they did when the record was written.
//
// A job that never ran has a record without figures (nnodes 0): the
// module's error says as much, and no samples were ever there to be gone.
func recordWhy(resp *wire.QueryResponse, err error, rec *account.Record) string {
	if rec == nil || rec.NNodes == 0 {
		return ""
	}
	if err != nil {
		return err.Error()
	}
	if resp == nil || rec.Coverage <= resp.Total.Coverage {
		return ""
	}
	why := fmt.Sprintf("they cover %.0f%% of the job's run, the record %.0f%%", 100*resp.Total.Coverage, 100*rec.Coverage)
	if r := reasons(resp); r != "" {
		why += ": " + r
	}
	return why
}

// reasons lists the distinct reasons of the answer's incomplete and missing
// ranks, short forms (up to a colon) and in order.
func reasons(resp *wire.QueryResponse) string {
	seen := map[string]bool{}
	add := func(s string) {
		if i := strings.Index(s, ": "); i > 0 {
			s = s[:i]
		}
		if s != "" {
			seen[s] = true
		}
	}
	for _, r := range resp.Ranks {
		if r.Presence != aggregate.PresenceComplete {
			add(r.Reason)
		}
	}
	for _, m := range resp.Missing {
		add(m.Reason)
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// readRecord reads a job's record from its main eventlog (job-info.lookup,
// which lets a guest read only its own jobs); nil where it has none.
func readRecord(h *fluxbind.Handle, id uint64, wait float64) (*account.Record, error) {
	fu, err := h.RPC("job-info.lookup", eventlogRequest(id), fluxbind.NodeIDAny)
	if err != nil {
		return nil, err
	}
	defer fu.Destroy()
	out, err := fu.GetWithin(wait, "job-info")
	if err != nil {
		return nil, err
	}
	return eventlogOf(out)
}

// recordFallback is the record that answers for job id instead of the
// module's answer (resp, err), or nil where there is none or it does not
// answer better. A record that cannot be read leaves the module's answer.
func recordFallback(h *fluxbind.Handle, id uint64, resp *wire.QueryResponse, err error, wait float64) *account.Fallback {
	if !needRecord(resp, err) {
		return nil
	}
	rec, rerr := readRecord(h, id, wait)
	if rerr != nil {
		return nil
	}
	why := recordWhy(resp, err, rec)
	if why == "" {
		return nil
	}
	return &account.Fallback{ID: id, JobID: fluxbind.EncodeJobID(id, "f58"), Why: why, Record: rec}
}
