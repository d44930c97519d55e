// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"encoding/json"
	"syscall"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/export"
	"github.com/flux-framework/power-monitor/internal/read/sampler"
	"github.com/flux-framework/power-monitor/internal/sample"
	"github.com/flux-framework/power-monitor/internal/store/ring"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// moduleStats is what `flux module stats power-monitor` prints.
type moduleStats struct {
	Rank        uint32               `json:"rank"`
	Hostname    string               `json:"hostname"`
	Source      string               `json:"source"`
	SourceError string               `json:"source_error,omitempty"`
	PeriodS     float64              `json:"period_s"`
	Layout      *sample.Layout       `json:"layout,omitempty"`
	NodeDerived bool                 `json:"node_derived,omitempty"`
	Buffer      ring.Stats           `json:"buffer"`
	OldestS     float64              `json:"oldest_sample"` // unix seconds
	NewestS     float64              `json:"newest_sample"`
	Sampler     sampler.Stats        `json:"sampler"`
	LastError   string               `json:"last_error"`
	Sources     wire.SourcesResponse `json:"sources"`
	Queries     uint64               `json:"queries_answered"`
	FromR       uint64               `json:"queries_given_r"`  // the job shell plugin's, with the job's R
	Records     uint64               `json:"records_answered"` // power-monitor.record (rank 0)
	Windows     uint64               `json:"windows_answered"`
	InFlight    int                  `json:"queries_in_flight"`
	LoadedAt    float64              `json:"loaded_at"`
	Export      *export.Stats        `json:"export,omitempty"`
	JobsSent    *uint64              `json:"job_summaries_sent,omitempty"` // rank 0, with exports
	// Journal (rank 0): the running jobs and the inactive jobs' records it
	// holds (module/jobs.go, records.go)
	Journal *journalStats `json:"journal,omitempty"`
	// RunningJobs: the jobs whose samples carry their jobid here (exports)
	RunningJobs []string `json:"running_jobs,omitempty"`
}

type journalStats struct {
	CaughtUp    bool   `json:"caught_up"`            // the backlog is read
	ActiveJobs  int    `json:"active_jobs"`          // followed
	Inactive    int    `json:"inactive_jobs"`        // in the records index
	FromJournal uint64 `json:"queries_from_journal"` // queries answered without job-list
	Listed      uint64 `json:"records_lists"`        // power-monitor.records answered
}

func (m *monitor) statsCB(msg *fluxbind.Msg) {
	m.node.Flush() // the samples held back (--batch) count too
	st := moduleStats{
		Rank:     m.rank,
		Hostname: m.hostName(m.rank),
		Source:   m.sourceName(),
		PeriodS:  m.opts.Period.Seconds(),
		Buffer:   m.node.Store().Stats(),
		Queries:  m.served,
		FromR:    m.fromR,
		Records:  m.records,
		Windows:  m.windows,
		InFlight: len(m.queries),
		LoadedAt: float64(m.loaded.UnixNano()) / 1e9,
		Sources:  m.sourcesResponse(),
	}
	if l, ok := m.node.Store().Layout(); ok {
		st.Layout = &l
		st.NodeDerived = m.node.Store().NodeDerived()
	}
	st.OldestS = float64(st.Buffer.Oldest) / 1e9
	st.NewestS = float64(st.Buffer.Newest) / 1e9
	if m.node.SourceErr() != nil {
		st.SourceError = m.node.SourceErr().Error()
		st.LastError = st.SourceError
	}
	if m.node.Sampler() != nil {
		st.Sampler = m.node.Sampler().Stats()
		if st.Sampler.LastError != "" {
			st.LastError = st.Sampler.LastError
		}
	}
	if m.node.Exporter() != nil {
		es := m.node.Exporter().Stats()
		st.Export = &es
		st.RunningJobs = m.running.ids()
	}
	if m.jobs != nil {
		if m.node.Exporter() != nil {
			n := m.jobs.sent
			st.JobsSent = &n
		}
		st.Journal = &journalStats{
			CaughtUp:    m.jobs.table.caughtUp,
			ActiveJobs:  len(m.jobs.table.active),
			Inactive:    len(m.jobs.table.done.jobs),
			FromJournal: m.fromJournal,
			Listed:      m.listed,
		}
	}
	out, err := json.Marshal(&st)
	if err != nil {
		m.h.RespondError(msg, syscall.EINVAL, err.Error())
		return
	}
	m.h.Respond(msg, out)
}
