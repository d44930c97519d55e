// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package fluxbind

import (
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// journalResponse is one response of job-manager.events-journal: a job's
// events, or the sentinel (id -1, FLUX_JOBID_ANY) that ends the backlog.
type journalResponse struct {
	ID     int64 `json:"id"`
	Events []struct {
		Name string `json:"name"`
	} `json:"events"`
}

// The job-manager's events journal, a real streaming RPC: the backlog, its
// sentinel, then the live events of a job submitted meanwhile (queued
// while the reactor did not run, each delivered by its own callback after
// Next), and at Cancel the ENODATA that ends the stream.
func TestRPCStreamJournal(t *testing.T) {
	h := open(t)
	flux, err := exec.LookPath("flux")
	if err != nil {
		skipFlux(t, "no flux command to submit a job with")
	}
	fu, err := h.RPCStream("job-manager.events-journal", `{"full":false,"allow":{"submit":1,"clean":1}}`, NodeIDAny)
	if err != nil {
		t.Fatal(err)
	}
	var (
		sentinels int
		jobEvents = map[uint64][]string{}
		endErr    error
		cancelled bool
		want      uint64
	)
	err = fu.Then(-1, func(f *Future) {
		payload, err := f.Get()
		if err != nil {
			endErr = err
			h.Stop()
			return
		}
		f.Next()
		var r journalResponse
		if err := json.Unmarshal([]byte(payload), &r); err != nil {
			t.Errorf("response %q: %v", payload, err)
			return
		}
		if r.ID == -1 {
			sentinels++
			if len(r.Events) != 0 {
				t.Errorf("sentinel with events: %q", payload)
			}
			h.Stop() // caught up: submit a job
			return
		}
		for _, e := range r.Events {
			jobEvents[uint64(r.ID)] = append(jobEvents[uint64(r.ID)], e.Name)
		}
		if uint64(r.ID) == want && joined(jobEvents[want]) == "submit,clean" && !cancelled {
			if err := f.Cancel("job-manager.events-journal-cancel", NodeIDAny); err != nil {
				t.Error(err)
			}
			cancelled = true
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Timer(30, func() { t.Error("timed out"); h.Stop() }); err != nil {
		t.Fatal(err)
	}
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	if sentinels != 1 || endErr != nil {
		t.Fatalf("backlog: %d sentinels, error %v", sentinels, endErr)
	}
	// the job runs to its end while the reactor does not run: its events
	// wait in the handle's queue
	out, err := exec.Command(flux, "submit", "--wait", "true").Output()
	if err != nil {
		t.Fatalf("flux submit --wait true: %v", err)
	}
	if want, err = ParseJobID(strings.TrimSpace(string(out))); err != nil {
		t.Fatal(err)
	}
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	if got := joined(jobEvents[want]); got != "submit,clean" {
		t.Fatalf("job %d: events %q, want submit,clean (allow filter); all: %v", want, got, jobEvents)
	}
	if !cancelled || !IsErrno(endErr, syscall.ENODATA) {
		t.Fatalf("after Cancel: %v, want ENODATA", endErr)
	}
	fu.Destroy()
}

func joined(names []string) string { return strings.Join(names, ",") }

// A streaming request to a service that does not exist ends with ENOSYS,
// delivered to the callback like any error response.
func TestRPCStreamNoService(t *testing.T) {
	h := open(t)
	fu, err := h.RPCStream("no-such-service.stream", "{}", NodeIDAny)
	if err != nil {
		t.Fatal(err)
	}
	defer fu.Destroy()
	var got error
	if err := fu.Then(-1, func(f *Future) { _, got = f.Get(); h.Stop() }); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Timer(10, func() { h.Stop() }); err != nil {
		t.Fatal(err)
	}
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	if !IsErrno(got, syscall.ENOSYS) {
		t.Fatalf("got %v, want ENOSYS", got)
	}
}
