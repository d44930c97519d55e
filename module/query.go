// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/tidwall/gjson"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/charge"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// jobAttrs are the job-list attributes a query needs.
const jobAttrs = `["userid","state","t_run","t_cleanup","ranks"]`

// The RPCs that read the R's of a job's shares: job-info's lookup of the
// job's R, and the resource module's R of the instance (rank 0's holds it
// whichever way the instance got its resources: configured, from the
// enclosing instance, or discovered).
const (
	topicJobInfoLookup = "job-info.lookup"
	topicResourceGet   = "resource.get"
)

// jobInfo is the part of a job-list.list-id answer we use. A field is
// absent until the job reached the state that sets it.
type jobInfo struct {
	Job struct {
		ID       uint64  `json:"id"`
		UserID   uint32  `json:"userid"`
		State    int     `json:"state"`
		TRun     float64 `json:"t_run"`
		TCleanup float64 `json:"t_cleanup"`
		Ranks    string  `json:"ranks"`
	} `json:"job"`
}

// jobQuery is one power-monitor.query request in flight: a job-list lookup,
// then one power-monitor.window RPC to every rank at once and, for a job,
// the lookups of its R and the instance's, each with a timeout. Everything
// runs on the reactor thread; nothing blocks.
type jobQuery struct {
	m       *monitor
	msg     *fluxbind.Msg // referenced until answered
	timeout float64
	lookup  *fluxbind.Future
	pending map[uint32]*fluxbind.Future
	resp    wire.QueryResponse
	// the job's R, and the instance's while the monitor has none: their
	// lookups in flight, the job's R once read, and why a share is unknown
	jobRFu   *fluxbind.Future
	instRFu  *fluxbind.Future
	jobR     wire.Resources
	shareErr []string
	// what a request about a job narrows it to (its ranks, window and an
	// inner job's share), and whether a guest asks (charge.Narrowing.Apply)
	narrow charge.Narrowing
	guest  bool
	// series, when asked: what of it, and each rank's buckets (series.go)
	series  *wire.SeriesSpec
	buckets map[uint32]*wire.RankBuckets
	// onDone, when set, takes the answer instead of a requester (rank 0's
	// job summaries, module/jobs.go).
	onDone func(*wire.QueryResponse)
}

// newJobQuery is a query that gives each rank, and each lookup, timeout
// seconds to answer (0 or less: wire.DefaultTimeout, as a request that
// gives none). Every jobQuery is made here: power-monitor.query
// (queryCB), power-monitor.record (recordCB) and rank 0's job summaries
// (module/jobs.go); each then says what it asks and calls start.
func (m *monitor) newJobQuery(timeout float64) *jobQuery {
	if timeout <= 0 {
		timeout = wire.DefaultTimeout
	}
	return &jobQuery{m: m, timeout: timeout, pending: map[uint32]*fluxbind.Future{}}
}

// queryCB answers power-monitor.query (doc/rpc.md). Guests may ask about
// their own jobs, or a sub-window, some ranks and an inner job's share of
// them; the instance owner about any job, or any ranks and interval.
func (m *monitor) queryCB(msg *fluxbind.Msg) {
	var req wire.QueryRequest
	if err := msg.UnpackOptional(&req); err != nil {
		m.h.RespondError(msg, syscall.EPROTO, err.Error())
		return
	}
	q := m.newJobQuery(req.Timeout)
	if err := q.askSeries(req.Series); err != nil {
		m.h.RespondError(msg, syscall.EINVAL, err.Error())
		return
	}

	switch {
	case req.JobID != "":
		id, err := fluxbind.ParseJobID(string(req.JobID))
		if err != nil {
			m.h.RespondError(msg, syscall.EINVAL, err.Error())
			return
		}
		if q.narrow, err = charge.ParseNarrowing(req); err != nil {
			m.h.RespondError(msg, syscall.EINVAL, err.Error())
			return
		}
		if len(req.R) > 0 {
			m.jobFromR(q, msg, id, req.R)
			return
		}
		if j := m.runningJob(id); j != nil {
			// rank 0 follows the journal: the job's user, window and R
			// are known without asking job-list or job-info
			q.resp.ID = id
			q.resp.JobID = fluxbind.EncodeJobID(id, "f58")
			q.start(msg)
			m.fromJournal++
			state := jobStateRun
			if j.TCleanup != 0 {
				state = jobStateCleanup
			}
			q.jobR = j.Held
			q.haveJob(j.UserID, state, j.TRun, j.TCleanup, j.Ranks)
			return
		}
		fu, err := m.h.JobListID(id, jobAttrs)
		if err == nil {
			if err = fu.Then(q.timeout, q.onJobInfo); err != nil {
				fu.Destroy()
			}
		}
		if err != nil {
			m.h.RespondError(msg, syscall.EIO, err.Error())
			return
		}
		q.resp.ID = id
		q.resp.JobID = fluxbind.EncodeJobID(id, "f58")
		q.lookup = fu
		q.start(msg)
	case len(req.Share) > 0:
		m.h.RespondError(msg, syscall.EINVAL, "a share is only for a query about a job: give its jobid")
	case req.Ranks != "":
		if _, role, err := msg.Cred(); err != nil || role&fluxbind.RoleOwner == 0 {
			m.h.RespondError(msg, syscall.EPERM, "only the instance owner may query ranks by time interval; ask with a jobid")
			return
		}
		ranks, err := wire.ParseIDSet(req.Ranks)
		if err != nil {
			m.h.RespondError(msg, syscall.EINVAL, err.Error())
			return
		}
		if len(ranks) == 0 || ranks[len(ranks)-1] >= m.size {
			m.h.RespondError(msg, syscall.EINVAL, fmt.Sprintf("ranks %s: this instance has ranks 0-%d", req.Ranks, m.size-1))
			return
		}
		end := req.End
		if end == 0 {
			end = now()
			q.resp.Running = true
		}
		if err := checkWindow(req.Start, end); err != nil {
			m.h.RespondError(msg, syscall.EINVAL, err.Error())
			return
		}
		q.resp.Start, q.resp.End = req.Start, end
		q.start(msg)
		q.fanout(ranks)
	default:
		m.h.RespondError(msg, syscall.EINVAL, "power-monitor.query needs a jobid, or ranks and a start time")
	}
}

func now() float64 { return float64(time.Now().UnixNano()) / 1e9 }

// start registers q with the monitor, which aborts it at unload, and holds
// msg, the request it answers, until it is answered; msg is nil where the
// answer goes to onDone alone (rank 0's job summaries).
func (q *jobQuery) start(msg *fluxbind.Msg) {
	if msg != nil {
		q.msg = msg.Ref()
	}
	q.m.queries[q] = struct{}{}
}

func (q *jobQuery) onJobInfo(fu *fluxbind.Future) {
	payload, err := fu.Get()
	fu.Destroy()
	q.lookup = nil
	if err != nil {
		switch {
		case errors.Is(err, syscall.ENOENT):
			q.fail(syscall.ENOENT, fmt.Sprintf("unknown job %s", q.resp.JobID))
		case errors.Is(err, syscall.ETIMEDOUT):
			q.fail(syscall.ETIMEDOUT, fmt.Sprintf("job-list did not answer about job %s within %gs", q.resp.JobID, q.timeout))
		default:
			q.fail(errnoOf(err, syscall.EIO), fmt.Sprintf("looking up job %s: %v", q.resp.JobID, err))
		}
		return
	}
	var info jobInfo
	if err := json.Unmarshal([]byte(payload), &info); err != nil {
		q.fail(syscall.EPROTO, "job-list answer: "+err.Error())
		return
	}
	j := info.Job
	q.haveJob(j.UserID, j.State, j.TRun, j.TCleanup, j.Ranks)
}

// jobFromR answers about a job whose R the request gives: the job shell
// plugin's query, sent by the instance owner to the module of the shell's
// own rank, so that a job whose ranks include that rank is answered there
// without a hop (fanout) and nothing is looked up. The window starts at
// R's execution.starttime (when the scheduler allocated it; the job's
// t_run, its alloc event, follows within milliseconds) and ends now. A
// guest's word on R is not taken: its shell asks rank 0 by jobid.
func (m *monitor) jobFromR(q *jobQuery, msg *fluxbind.Msg, id uint64, raw json.RawMessage) {
	uid, role, err := msg.Cred()
	if err != nil || role&fluxbind.RoleOwner == 0 {
		m.h.RespondError(msg, syscall.EPERM, "only the instance owner may give a job's R: ask with the jobid alone")
		return
	}
	R, ranks, err := parseJobR(raw)
	start := gjson.GetBytes(raw, "execution.starttime").Float()
	if err == nil && start <= 0 {
		err = errors.New("no execution.starttime")
	}
	if err != nil {
		m.h.RespondError(msg, syscall.EINVAL, "R: "+err.Error())
		return
	}
	q.resp.ID = id
	q.resp.JobID = fluxbind.EncodeJobID(id, "f58")
	q.start(msg)
	q.jobR = R
	m.fromR++
	q.haveJob(uid, jobStateRun, start, 0, wire.FormatIDSet(ranks))
}

// runningJob is the job as rank 0's journal knows it, where it is running
// or in its cleanup; nil elsewhere (another rank, the backlog not read
// yet, a job not started or inactive): then job-list is asked.
func (m *monitor) runningJob(id uint64) *jobRecord {
	if m.jobs == nil || !m.jobs.table.caughtUp {
		return nil
	}
	j := m.jobs.table.active[id]
	if j == nil || j.TRun == 0 || j.Ranks == "" || len(j.Held) == 0 {
		return nil
	}
	return j
}

// haveJob goes on with what job-list, or the journal, says of the job:
// its user, state (flux_job_state_t), run window and ranks (RFC 22).
func (q *jobQuery) haveJob(userID uint32, state int, tRun, tCleanup float64, ranks string) {
	if !q.msg.Authorize(userID) {
		q.fail(syscall.EPERM, fmt.Sprintf("job %s belongs to another user: only its owner or the instance owner may query it", q.resp.JobID))
		return
	}
	uid := userID
	q.resp.UserID = &uid
	q.resp.State = fluxbind.JobStateName(state)
	if tRun == 0 || ranks == "" {
		q.fail(syscall.ENODATA, fmt.Sprintf("job %s has not run (state %s): there is no power data for it", q.resp.JobID, q.resp.State))
		return
	}
	ids, err := wire.ParseIDSet(ranks)
	if err != nil {
		q.fail(syscall.EPROTO, fmt.Sprintf("job %s: %v", q.resp.JobID, err))
		return
	}
	run := charge.JobRun{JobID: q.resp.JobID, Start: tRun, End: tCleanup, Ranks: ids}
	if run.End == 0 {
		run.End = now()
	}
	_, role, err := q.msg.Cred()
	q.guest = err != nil || role&fluxbind.RoleOwner == 0
	asked, err := q.narrow.Apply(run, q.guest)
	var denied *charge.Denied
	switch {
	case errors.As(err, &denied):
		q.fail(syscall.EPERM, err.Error())
		return
	case err != nil:
		q.fail(syscall.EINVAL, err.Error())
		return
	case asked.Ranks[len(asked.Ranks)-1] >= q.m.size:
		q.fail(syscall.EINVAL, fmt.Sprintf("ranks %s: this instance has ranks 0-%d", wire.FormatIDSet(asked.Ranks), q.m.size-1))
		return
	}
	q.resp.Running = tCleanup == 0 && q.narrow.End == 0
	q.runWindow(asked.Start, asked.End, asked.Ranks)
}

// runJob asks the job's ranks (an RFC 22 idset) for its run window, t_run
// to tEnd; tEnd 0 means the job is running and the window ends now.
func (q *jobQuery) runJob(tRun, tEnd float64, ranks string) error {
	ids, err := wire.ParseIDSet(ranks)
	if err != nil {
		return err
	}
	if tEnd == 0 {
		tEnd = now()
		q.resp.Running = true
	}
	q.runWindow(tRun, tEnd, ids)
	return nil
}

// runWindow asks ranks of the job for the window start to end, and looks
// up the shares.
func (q *jobQuery) runWindow(start, end float64, ranks []uint32) {
	q.resp.Start, q.resp.End = start, end
	q.lookupShares()
	q.fanout(ranks)
}

// lookupShares asks job-info for the job's R (unless the request gave it)
// and, unless this load of the
// module already read it, rank 0's resource module for the instance's R.
// They are read alongside the ranks' windows; maybeFinish sets each rank's
// share once everything is in. A failure leaves the ranks without a share
// and says why in the answer's share_error.
func (q *jobQuery) lookupShares() {
	payload, _ := json.Marshal(struct {
		ID    uint64   `json:"id"`
		Keys  []string `json:"keys"`
		Flags int      `json:"flags"`
	}{q.resp.ID, []string{"R"}, 0})
	if q.jobR == nil { // power-monitor.record gives it
		q.jobRFu = q.ask(topicJobInfoLookup, string(payload), fluxbind.NodeIDAny, q.onJobR)
	}
	if q.m.instanceR == nil {
		q.instRFu = q.ask(topicResourceGet, "", 0, q.onInstanceR)
	}
}

// ask sends one of the share lookups; nil (and the reason noted) if it
// could not be sent.
func (q *jobQuery) ask(topic, payload string, nodeid uint32, cb func(*fluxbind.Future)) *fluxbind.Future {
	fu, err := q.m.h.RPC(topic, payload, nodeid)
	if err == nil {
		if err = fu.Then(q.timeout, cb); err != nil {
			fu.Destroy()
		}
	}
	if err != nil {
		q.shareErr = append(q.shareErr, fmt.Sprintf("%s: %v", topic, err))
		return nil
	}
	return fu
}

// shareLookupError says why a share lookup failed, naming the service.
func (q *jobQuery) shareLookupError(what, topic string, err error) string {
	if errors.Is(err, syscall.ETIMEDOUT) {
		return fmt.Sprintf("%s: %s did not answer within %gs", what, topic, q.timeout)
	}
	return fmt.Sprintf("%s: %s: %v", what, topic, err)
}

func (q *jobQuery) onJobR(fu *fluxbind.Future) {
	payload, err := fu.Get()
	fu.Destroy()
	q.jobRFu = nil
	const what = "reading the job's R"
	var answer struct {
		R *string `json:"R"`
	}
	switch {
	case err != nil:
		q.shareErr = append(q.shareErr, q.shareLookupError(what, topicJobInfoLookup, err))
	case json.Unmarshal([]byte(payload), &answer) != nil || answer.R == nil:
		q.shareErr = append(q.shareErr, fmt.Sprintf("%s: %s answered without R as a string", what, topicJobInfoLookup))
	default:
		if q.jobR, err = wire.ParseR([]byte(*answer.R)); err != nil {
			q.shareErr = append(q.shareErr, fmt.Sprintf("%s: %v", what, err))
		}
	}
	q.maybeFinish()
}

func (q *jobQuery) onInstanceR(fu *fluxbind.Future) {
	payload, err := fu.Get()
	fu.Destroy()
	q.instRFu = nil
	const what = "reading the instance's R"
	var answer struct {
		R json.RawMessage `json:"R"`
	}
	switch {
	case err != nil:
		q.shareErr = append(q.shareErr, q.shareLookupError(what, topicResourceGet+" on rank 0", err))
	case json.Unmarshal([]byte(payload), &answer) != nil || len(answer.R) == 0:
		q.shareErr = append(q.shareErr, fmt.Sprintf("%s: %s answered without R", what, topicResourceGet))
	default:
		res, err := wire.ParseR(answer.R)
		if err != nil {
			q.shareErr = append(q.shareErr, fmt.Sprintf("%s: %v", what, err))
		} else {
			q.m.instanceR = res
		}
	}
	q.maybeFinish()
}

// setShares sets the share of each rank that answered, from the job's R
// (or the inner job's cores and GPUs that the request gives for the rank)
// and the instance's, and with it the job's part of the rank's figures
// (charge.Charge: job, or job_error), which the totals sum. Where they do
// not fit together the instance's R may have changed (flux resource
// reload): the next query reads it again.
func (q *jobQuery) setShares() {
	if q.jobR != nil && q.m.instanceR != nil {
		stale := false
		for i := range q.resp.Ranks {
			r := &q.resp.Ranks[i]
			held := q.jobR
			if inner, ok := q.narrow.Share[r.Rank]; ok {
				held = wire.Resources{r.Rank: inner}
			} else if _, ok := held[r.Rank]; !ok {
				// the owner asked about a rank outside the job
				q.shareErr = append(q.shareErr, fmt.Sprintf("rank %d is not one of job %s's ranks: it has no share", r.Rank, q.resp.JobID))
				continue
			}
			s, err := charge.ShareOf(r.Rank, held, q.m.instanceR)
			if err != nil {
				q.shareErr = append(q.shareErr, err.Error())
				stale = true
				continue
			}
			r.Share = &s
		}
		if stale {
			q.m.instanceR = nil
		}
		charge.Charge(q.resp.Ranks)
	}
	q.resp.ShareError = strings.Join(q.shareErr, "; ")
}

// fanout asks every rank at once; each answer or timeout arrives through its
// own future callback.
func (q *jobQuery) fanout(ranks []uint32) {
	q.resp.RankSet = wire.FormatIDSet(ranks)
	topic, payload := q.rankRequest()
	for _, r := range ranks {
		rank := r
		if _, dup := q.pending[rank]; dup {
			continue
		}
		if rank == q.m.rank && q.series == nil {
			// this rank's own answer, as windowCB would send it,
			// without the round trip through the broker
			q.m.node.Flush()
			q.resp.Ranks = append(q.resp.Ranks, q.m.rankResult(q.resp.Start, q.resp.End))
			q.m.windows++
			continue
		}
		fu, err := q.m.h.RPC(topic, payload, rank)
		if err == nil {
			if err = fu.Then(q.timeout, func(f *fluxbind.Future) { q.onRank(rank, f) }); err != nil {
				fu.Destroy()
			}
		}
		if err != nil {
			q.missing(rank, err)
			continue
		}
		q.pending[rank] = fu
	}
	q.maybeFinish()
}

func (q *jobQuery) onRank(rank uint32, fu *fluxbind.Future) {
	payload, err := fu.Get()
	fu.Destroy()
	delete(q.pending, rank)
	if err != nil {
		q.missing(rank, err)
	} else if err := q.rankAnswer(payload); err != nil {
		q.missing(rank, fmt.Errorf("bad answer: %w", err))
	}
	q.maybeFinish()
}

func (q *jobQuery) missing(rank uint32, err error) {
	ms := wire.Missing{Rank: rank, Reason: wire.ReasonNoAnswer, Error: err.Error()}
	ms.Hostname = q.m.hostName(rank)
	switch {
	case errors.Is(err, syscall.ENOSYS):
		ms.Reason = wire.ReasonNotLoaded
		ms.Error = "power-monitor is not loaded on this rank"
	case errors.Is(err, syscall.ETIMEDOUT):
		ms.Error = fmt.Sprintf("no answer within %gs", q.timeout)
	case errors.Is(err, syscall.EHOSTUNREACH):
		ms.Error = "rank is unreachable (offline or lost)"
	}
	q.resp.Missing = append(q.resp.Missing, ms)
}

func (q *jobQuery) maybeFinish() {
	if len(q.pending) > 0 || q.lookup != nil || q.jobRFu != nil || q.instRFu != nil || (q.msg == nil && q.onDone == nil) {
		return
	}
	if q.guest && q.jobR != nil {
		// a guest may split only its own job's cores and GPUs
		if err := charge.CheckShare(q.resp.JobID, q.narrow.Share, q.jobR); err != nil {
			q.fail(syscall.EPERM, err.Error())
			return
		}
	}
	q.setShares()
	charge.Summarize(&q.resp)
	if q.series != nil {
		s, err := charge.SumSeries(q.resp.Start, q.resp.End, *q.series, q.resp.Ranks, q.buckets, len(q.resp.Missing))
		if err != nil {
			q.fail(syscall.EPROTO, err.Error())
			return
		}
		q.resp.Series = s
	}
	if done := q.onDone; done != nil {
		q.onDone = nil
		done(&q.resp)
		q.release()
		return
	}
	out, err := json.Marshal(&q.resp)
	if err != nil {
		q.fail(syscall.EINVAL, err.Error())
		return
	}
	q.m.h.Respond(q.msg, out)
	q.m.served++
	q.release()
}

func (q *jobQuery) fail(e syscall.Errno, text string) {
	if q.msg != nil {
		q.m.h.RespondError(q.msg, e, text)
	}
	q.onDone = nil
	q.release()
}

// abort answers with an error and drops every future (module unload).
func (q *jobQuery) abort(err error) {
	for _, fu := range []**fluxbind.Future{&q.lookup, &q.jobRFu, &q.instRFu} {
		if *fu != nil {
			(*fu).Destroy()
			*fu = nil
		}
	}
	for r, fu := range q.pending {
		fu.Destroy()
		delete(q.pending, r)
	}
	q.fail(syscall.ENOSYS, err.Error())
}

func (q *jobQuery) release() {
	if q.msg != nil {
		q.msg.Unref()
		q.msg = nil
	}
	delete(q.m.queries, q)
}

func errnoOf(err error, def syscall.Errno) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return def
}

// hostName names a rank as the broker's hostlist attribute does (this
// rank's own hostname where the hostlist does not say), so that answered
// and missing ranks are named alike.
func (m *monitor) hostName(rank uint32) string {
	if hosts := m.hosts(); int(rank) < len(hosts) {
		return hosts[rank]
	}
	if rank == m.rank {
		return m.hostname
	}
	return ""
}

// hosts is the instance's hostlist, decoded on first use.
func (m *monitor) hosts() []string {
	if m.hostnames == nil {
		m.hostnames = fluxbind.DecodeHostlist(m.hostlist)
	}
	return m.hostnames
}
