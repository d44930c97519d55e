// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/account"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// reportWindow is how many job-info.lookup requests are in flight at once:
// enough to keep job-info and the KVS busy while this side parses, few
// enough not to flood the broker's queues.
const reportWindow = 256

// reportArgs is --report's part of the options, checked before connecting.
type reportArgs struct {
	by            []string
	since, until  time.Time // zero where not given
	price, carbon *float64
}

// parseReportArgs checks --since, --until, --by, --price and --carbon
// against now.
func parseReportArgs(o options, now time.Time) (reportArgs, error) {
	var a reportArgs
	var err error
	if a.by, err = account.ParseBy(o.by); err != nil {
		return a, err
	}
	if o.since != "" {
		if a.since, err = account.ParseWhen(o.since, now); err != nil {
			return a, fmt.Errorf("--since: %v", err)
		}
	}
	if o.until != "" {
		if a.until, err = account.ParseWhen(o.until, now); err != nil {
			return a, fmt.Errorf("--until: %v", err)
		}
	}
	until := a.until
	if until.IsZero() {
		until = now
	}
	if !a.since.IsZero() && !a.since.Before(until) {
		return a, fmt.Errorf("--since %s is not before --until (%s)", a.since.Format(time.RFC3339), until.Format(time.RFC3339))
	}
	for _, r := range []struct {
		name string
		s    string
		dst  **float64
	}{{"price", o.price, &a.price}, {"carbon", o.carbon, &a.carbon}} {
		if r.s == "" {
			continue
		}
		v, err := account.ParseRate(r.name, r.s)
		if err != nil {
			return a, err
		}
		*r.dst = &v
	}
	return a, nil
}

// unixSeconds is t as unix seconds, 0 for the zero time.
func unixSeconds(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.UnixNano()) / 1e9
}

// identity is who the command acts as: the broker sees the real uid, or,
// for the instance owner only, the test credentials FLUX_HANDLE_USERID and
// FLUX_HANDLE_ROLEMASK (libflux's local connector; a guest's are replaced
// by its real ones). job-list and job-info check the credentials; this
// only chooses which jobs to ask about.
func identity(h *fluxbind.Handle) (uid uint32, owner bool, err error) {
	ownerAttr, err := h.Attr("security.owner")
	if err != nil {
		return 0, false, err
	}
	ownerUID, err := strconv.ParseUint(ownerAttr, 10, 32)
	if err != nil {
		return 0, false, fmt.Errorf("attribute security.owner %q is not a uid", ownerAttr)
	}
	uid = uint32(os.Getuid())
	if uint64(uid) != ownerUID {
		return uid, false, nil
	}
	if s := os.Getenv("FLUX_HANDLE_USERID"); s != "" {
		if v, err := strconv.ParseUint(s, 10, 32); err == nil {
			uid = uint32(v)
		}
	}
	owner = uint64(uid) == ownerUID
	if s := os.Getenv("FLUX_HANDLE_ROLEMASK"); s != "" {
		if v, err := strconv.ParseUint(s, 0, 32); err == nil {
			owner = uint32(v)&fluxbind.RoleOwner != 0
		}
	}
	return uid, owner, nil
}

// lookupUser reads --user: a uid, or a name in the password database.
func lookupUser(s string) (uint32, error) {
	if v, err := strconv.ParseUint(s, 10, 32); err == nil {
		return uint32(v), nil
	}
	u, err := user.Lookup(s)
	if err != nil {
		return 0, fmt.Errorf("--user=%s: no such user", s)
	}
	v, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("--user=%s: uid %q is not a number", s, u.Uid)
	}
	return uint32(v), nil
}

// userName is a uid's name in the password database, or the number.
func userName(uid uint32) string {
	id := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return u.Username
	}
	return id
}

// listConstraint is the RFC 31 constraint of the jobs of a report: inactive,
// since <= t_inactive < until, of uid where one is given.
func listConstraint(since, until float64, uid *uint32) map[string]any {
	and := []any{map[string]any{"states": []string{"inactive"}}}
	if since > 0 {
		and = append(and, map[string]any{"t_inactive": []string{">=" + strconv.FormatFloat(since, 'f', -1, 64)}})
	}
	if until > 0 {
		and = append(and, map[string]any{"t_inactive": []string{"<" + strconv.FormatFloat(until, 'f', -1, 64)}})
	}
	if uid != nil {
		and = append(and, map[string]any{"userid": []uint32{*uid}})
	}
	return map[string]any{"and": and}
}

// listJobs asks job-list for the jobs of a report.
func listJobs(h *fluxbind.Handle, constraint map[string]any, wait float64) ([]account.Job, error) {
	payload, err := json.Marshal(map[string]any{
		"max_entries": 0,
		"attrs":       []string{"userid", "queue", "bank", "project", "t_inactive", "nnodes"},
		"constraint":  constraint,
	})
	if err != nil {
		return nil, err
	}
	fu, err := h.RPC("job-list.list", string(payload), fluxbind.NodeIDAny)
	if err != nil {
		return nil, err
	}
	defer fu.Destroy()
	out, err := fu.GetWithin(wait, "job-list")
	if err != nil {
		return nil, fmt.Errorf("job-list: %v", err)
	}
	var a struct {
		Jobs []struct {
			ID        uint64  `json:"id"`
			UserID    uint32  `json:"userid"`
			Queue     string  `json:"queue"`
			Bank      string  `json:"bank"`
			Project   string  `json:"project"`
			TInactive float64 `json:"t_inactive"`
			NNodes    int     `json:"nnodes"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		return nil, fmt.Errorf("job-list answer: %v", err)
	}
	jobs := make([]account.Job, len(a.Jobs))
	for i, j := range a.Jobs {
		jobs[i] = account.Job{ID: j.ID, UserID: j.UserID, Queue: j.Queue, Bank: j.Bank, Project: j.Project,
			TInactive: j.TInactive, NNodes: j.NNodes}
	}
	return jobs, nil
}

// recordIn finds the `power` event in an RFC 18 eventlog (one JSON object a
// line) and decodes its context; nil where there is none. Only lines that
// name the event are decoded.
func recordIn(eventlog string) (*account.Record, error) {
	for eventlog != "" {
		line := eventlog
		if i := strings.IndexByte(eventlog, '\n'); i >= 0 {
			line, eventlog = eventlog[:i], eventlog[i+1:]
		} else {
			eventlog = ""
		}
		if !strings.Contains(line, `"power"`) {
			continue
		}
		if gjson.Get(line, "name").String() != account.EventName {
			continue
		}
		ctx := gjson.Get(line, "context")
		if !ctx.IsObject() {
			return nil, errors.New("its power event has no context object")
		}
		var r account.Record
		if err := json.Unmarshal([]byte(ctx.Raw), &r); err != nil {
			return nil, fmt.Errorf("its power event: %v", err)
		}
		return &r, nil
	}
	return nil, nil
}

func eventlogRequest(id uint64) string {
	return `{"id":` + strconv.FormatUint(id, 10) + `,"keys":["eventlog"],"flags":0}`
}

// eventlogKey is the KVS key of a job's main eventlog, as
// flux_job_kvs_key(3) makes it: job.DOTHEX.eventlog.
func eventlogKey(id uint64) string {
	return fmt.Sprintf("job.%04x.%04x.%04x.%04x.eventlog", id>>48, (id>>32)&0xffff, (id>>16)&0xffff, id&0xffff)
}

func kvsEventlogRequest(id uint64) string {
	return `{"key":"` + eventlogKey(id) + `","flags":0,"namespace":"primary"}`
}

// kvsEventlogOf decodes a kvs.lookup answer, {"val": {"type": "val",
// "data": BASE64, ...}}, and finds the record in it.
func kvsEventlogOf(out string) (*account.Record, error) {
	v := gjson.Get(out, "val")
	if v.Get("type").String() != "val" {
		return nil, errors.New("kvs.lookup answered without a value")
	}
	data, err := base64.StdEncoding.DecodeString(v.Get("data").String())
	if err != nil {
		return nil, fmt.Errorf("kvs.lookup value: %v", err)
	}
	return recordIn(string(data))
}

// eventlogOf decodes a job-info.lookup answer and finds the record in it.
func eventlogOf(out string) (*account.Record, error) {
	ev := gjson.Get(out, "eventlog")
	if ev.Type != gjson.String {
		return nil, errors.New("job-info.lookup answered without an eventlog")
	}
	return recordIn(ev.String())
}

// fromIndex takes the jobs' records from rank 0's index (power-monitor.records,
// doc/rpc.md): one request instead of one eventlog read per job. It
// returns the jobs the index does not list (the module is not loaded, is
// still reading the journal, or had not heard of a job's end yet when
// job-list had), whose eventlogs are read instead (readRecords). The
// records are the power events' contexts as posted, decoded as the
// eventlogs' are.
func fromIndex(h *fluxbind.Handle, jobs []account.Job, req wire.RecordsRequest, timeout float64) (unread []*account.Job) {
	all := func() []*account.Job {
		out := make([]*account.Job, len(jobs))
		for i := range jobs {
			out[i] = &jobs[i]
		}
		return out
	}
	if len(jobs) == 0 {
		return nil
	}
	payload, err := json.Marshal(req)
	if err != nil {
		return all()
	}
	fu, err := h.RPC(wire.TopicRecords, string(payload), 0)
	if err != nil {
		return all()
	}
	defer fu.Destroy()
	out, err := fu.GetWithin(max(timeout, 10), "power-monitor")
	if err != nil {
		return all()
	}
	var resp wire.RecordsResponse
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		return all()
	}
	index := make(map[uint64]json.RawMessage, len(resp.Jobs))
	for _, r := range resp.Jobs {
		index[r.ID] = r.Record
	}
	for i := range jobs {
		j := &jobs[i]
		raw, ok := index[j.ID]
		if !ok {
			unread = append(unread, j)
			continue
		}
		if string(raw) == "null" {
			continue // no record
		}
		var r account.Record
		if err := json.Unmarshal(raw, &r); err != nil {
			unread = append(unread, j) // its eventlog says what is wrong
			continue
		}
		j.Record = &r
	}
	return unread
}

// readRecords reads the record of every job from its eventlog, with
// reportWindow lookups in flight at once, each given timeout seconds. It
// returns how many eventlogs could not be read and the first error.
//
// A guest asks job-info.lookup, which lets it read its own jobs' eventlogs
// only. The instance owner reads the same KVS key itself, from rank 0's KVS
// (kvs.lookup; the primary namespace is the owner's alone): job-info would
// do that lookup for it, after a second hop and the decoding of the whole
// eventlog to check who may read it, which about doubles the broker's work
// per job.
func readRecords(h *fluxbind.Handle, jobs []*account.Job, timeout float64, owner bool) (failed int, first error) {
	if len(jobs) == 0 {
		return 0, nil
	}
	topic, nodeid, request, decode := "job-info.lookup", fluxbind.NodeIDAny, eventlogRequest, eventlogOf
	if owner {
		topic, nodeid, request, decode = "kvs.lookup", 0, kvsEventlogRequest, kvsEventlogOf
	}
	next, pending := 0, 0
	fail := func(j *account.Job, err error) {
		failed++
		if first == nil {
			first = fmt.Errorf("job %s: %v", fluxbind.EncodeJobID(j.ID, "f58"), err)
		}
	}
	var send func() error
	send = func() error {
		for pending < reportWindow && next < len(jobs) {
			j := jobs[next]
			next++
			fu, err := h.RPC(topic, request(j.ID), nodeid)
			if err != nil {
				return err
			}
			pending++
			err = fu.Then(timeout, func(f *fluxbind.Future) {
				out, err := f.Get()
				f.Destroy()
				pending--
				if err == nil {
					j.Record, err = decode(out)
				}
				if err != nil {
					fail(j, err)
				}
				if err := send(); err != nil {
					fail(j, err)
					h.Stop()
					return
				}
				if pending == 0 {
					h.Stop()
				}
			})
			if err != nil {
				fu.Destroy()
				return err
			}
		}
		return nil
	}
	if err := send(); err != nil {
		return len(jobs), err
	}
	if err := h.Run(); err != nil {
		return len(jobs), err
	}
	if pending > 0 { // the reactor stopped on an error: what is left is unread
		failed += pending + len(jobs) - next
	}
	return failed, first
}

// runReport sums the records of the inactive jobs that --report selects.
func runReport(o options, stdout, stderr io.Writer, fail func(string, ...any) int) int {
	a := o.rep
	h, err := fluxbind.Open("")
	if err != nil {
		return fail("%v (run it inside a Flux instance, or set FLUX_URI)", err)
	}
	defer h.Close()
	me, owner, err := identity(h)
	if err != nil {
		return fail("%v", err)
	}
	var who *uint32
	if o.user != "" {
		uid, err := lookupUser(o.user)
		if err != nil {
			return fail("%v", err)
		}
		if !owner && uid != me {
			return fail("--user=%s: only the instance owner may report another user's jobs (you are uid %d)", o.user, me)
		}
		who = &uid
	} else if !owner {
		// a guest reads only its own jobs' eventlogs (job-info enforces it)
		who = &me
	}
	since, until := unixSeconds(a.since), unixSeconds(a.until)
	jobs, err := listJobs(h, listConstraint(since, until, who), max(60, 6*o.timeout))
	if err != nil {
		return fail("%v", err)
	}
	sort.Slice(jobs, func(x, y int) bool { return jobs[x].ID < jobs[y].ID })
	unread := fromIndex(h, jobs, wire.RecordsRequest{Since: since, Until: until, UserID: who}, o.timeout)
	failed, first := readRecords(h, unread, o.timeout, owner)
	rep := account.Build(jobs, account.Options{By: a.by, Since: since, Until: until,
		Price: a.price, Carbon: a.carbon, Loc: time.Local, UserName: userName})
	if err := emit(o, stdout, func(w io.Writer) error { return account.WriteReportOutput(w, outputOf(o, stdout), rep, time.Local) }); err != nil {
		return fail("writing the report: %v", err)
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "%s: the eventlogs of %d jobs could not be read (%v): they are counted in NO-RECORD\n", prog, failed, first)
	}
	return 0
}
