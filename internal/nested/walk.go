// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package nested

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/charge"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// ErrNotLoaded is returned where neither this instance nor any enclosing
// one has the module loaded.
var ErrNotLoaded = errors.New("the power-monitor module is not loaded in this instance nor in any enclosing one (flux module load power-monitor)")

// Query asks power-monitor.query in the instance h is connected to and, if
// it has no module and the request is about a job, in the nearest enclosing
// instance that has one (see the package comment for the rank and id
// mapping). wait bounds each RPC, in seconds.
func Query(h *fluxbind.Handle, req wire.QueryRequest, wait float64) (*wire.QueryResponse, *Origin, error) {
	level := attrInt(h, "instance-level")
	payload, err := json.Marshal(&req)
	if err != nil {
		return nil, nil, err
	}
	resp, err := ask(h, string(payload), wait)
	if err == nil {
		return resp, &Origin{This: true, Level: level}, nil
	}
	if !notLoaded(err) {
		return nil, nil, err
	}
	if _, err := h.Attr("parent-uri"); err != nil {
		return nil, nil, ErrNotLoaded // not a nested instance
	}
	if req.JobID == "" {
		return nil, nil, errors.New("the power-monitor module is not loaded in this instance: a query by ranks and time needs it here (flux module load power-monitor); a query about a job asks the enclosing instances")
	}
	id, err := strconv.ParseUint(string(req.JobID), 10, 64)
	if err != nil {
		return nil, nil, fmt.Errorf("jobid %q: %v", req.JobID, err)
	}
	jobName := fluxbind.EncodeJobID(id, "f58")
	job, err := lookupJob(h, id, wait)
	if err != nil {
		return nil, nil, fmt.Errorf("job %s: %v", jobName, err)
	}
	if job.TRun == 0 || job.Ranks == "" {
		return nil, nil, fmt.Errorf("job %s has not run: there is no power data for it", jobName)
	}
	held, err := lookupR(h, id, wait)
	if err != nil {
		return nil, nil, fmt.Errorf("job %s: %v", jobName, err)
	}
	// Walk up: at each level, held is what the job holds in cur's numbering
	// and toInner maps cur's ranks to this instance's.
	cur := h
	defer func() {
		if cur != h {
			cur.Close()
		}
	}()
	toInner := map[uint32]uint32{}
	for _, r := range Ranks(held) {
		toInner[r] = r
	}
	for {
		uri, err := cur.Attr("parent-uri")
		if err != nil {
			return nil, nil, ErrNotLoaded
		}
		encID, err := cur.Attr("jobid")
		if err != nil {
			return nil, nil, fmt.Errorf("instance at level %d has a parent-uri but no jobid attribute", level)
		}
		pid, err := fluxbind.ParseJobID(encID)
		if err != nil {
			return nil, nil, fmt.Errorf("jobid attribute %q: %v", encID, err)
		}
		parent, err := fluxbind.Open(uri)
		if err != nil {
			return nil, nil, fmt.Errorf("enclosing instance at %s: %v", uri, err)
		}
		if cur != h {
			cur.Close()
		}
		cur = parent
		level--
		enclR, err := lookupR(parent, pid, wait)
		if err != nil {
			return nil, nil, fmt.Errorf("enclosing instance at %s, job %s: %v", uri, encID, err)
		}
		mapped, from, err := MapUp(held, enclR)
		if err != nil {
			return nil, nil, fmt.Errorf("mapping onto job %s of the enclosing instance at %s: %v", encID, uri, err)
		}
		held, toInner = mapped, Compose(from, toInner)
		preq := wire.QueryRequest{
			JobID: wire.JobID(strconv.FormatUint(pid, 10)), Ranks: wire.FormatIDSet(Ranks(held)),
			Start: job.TRun, End: job.TCleanup, Share: ShareOf(held), Timeout: req.Timeout,
		}
		payload, err := json.Marshal(&preq)
		if err != nil {
			return nil, nil, err
		}
		resp, err := ask(parent, string(payload), wait)
		if err != nil {
			if notLoaded(err) {
				continue
			}
			return nil, nil, fmt.Errorf("enclosing instance at %s: %v", uri, err)
		}
		o := &Origin{URI: uri, JobID: fluxbind.EncodeJobID(pid, "f58"), Level: level, Ranks: preq.Ranks}
		// the answer is about the inner job, numbered as here
		resp.ID, resp.JobID = id, ""
		resp.State = fluxbind.JobStateName(job.State)
		resp.Running = job.TCleanup == 0
		o.Enclosing = Relabel(resp, toInner)
		charge.Summarize(resp)
		return resp, o, nil
	}
}

// notLoaded says that an error is the broker's answer to a topic no module
// serves.
func notLoaded(err error) bool {
	var re *fluxbind.RPCError
	return errors.As(err, &re) && re.Errno == syscall.ENOSYS && strings.HasPrefix(re.Text, "No service matching")
}

func ask(h *fluxbind.Handle, payload string, wait float64) (*wire.QueryResponse, error) {
	out, err := call(h, wire.TopicQuery, "power-monitor", payload, wait)
	if err != nil {
		return nil, err
	}
	var resp wire.QueryResponse
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		return nil, fmt.Errorf("bad answer from power-monitor: %v", err)
	}
	return &resp, nil
}

// call sends a request and waits for its answer at most wait seconds;
// who names the responder in the error.
func call(h *fluxbind.Handle, topic, who, payload string, wait float64) (string, error) {
	fu, err := h.RPC(topic, payload, fluxbind.NodeIDAny)
	if err != nil {
		return "", err
	}
	defer fu.Destroy()
	if err := fu.WaitFor(wait); err != nil {
		return "", fmt.Errorf("no answer from %s within %gs", who, wait)
	}
	return fu.Get()
}

type jobInfo struct {
	State    int     `json:"state"`
	TRun     float64 `json:"t_run"`
	TCleanup float64 `json:"t_cleanup"`
	Ranks    string  `json:"ranks"`
}

func lookupJob(h *fluxbind.Handle, id uint64, wait float64) (*jobInfo, error) {
	fu, err := h.JobListID(id, `["state","t_run","t_cleanup","ranks"]`)
	if err != nil {
		return nil, err
	}
	defer fu.Destroy()
	out, err := fu.GetWithin(wait, "job-list")
	if err != nil {
		return nil, err
	}
	var a struct {
		Job jobInfo `json:"job"`
	}
	if err := json.Unmarshal([]byte(out), &a); err != nil {
		return nil, fmt.Errorf("job-list answer: %v", err)
	}
	return &a.Job, nil
}

// lookupR reads a job's R from job-info in the instance h is connected to.
func lookupR(h *fluxbind.Handle, id uint64, wait float64) (wire.Resources, error) {
	payload, _ := json.Marshal(struct {
		ID    uint64   `json:"id"`
		Keys  []string `json:"keys"`
		Flags int      `json:"flags"`
	}{id, []string{"R"}, 0})
	out, err := call(h, "job-info.lookup", "job-info", string(payload), wait)
	if err != nil {
		return nil, fmt.Errorf("reading its R: %v", err)
	}
	var a struct {
		R *string `json:"R"`
	}
	if err := json.Unmarshal([]byte(out), &a); err != nil || a.R == nil {
		return nil, fmt.Errorf("reading its R: job-info.lookup answered without R as a string")
	}
	r, err := wire.ParseR([]byte(*a.R))
	if err != nil {
		return nil, fmt.Errorf("its R: %v", err)
	}
	return r, nil
}

func attrInt(h *fluxbind.Handle, name string) int {
	v, err := h.Attr(name)
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(v)
	return n
}
