// SPDX-License-Identifier: LGPL-3.0-only

// Package wire is the power-monitor protocol: the JSON messages of the RPCs,
// shared by the broker module that answers them and the commands that send
// them (protocol.go), a job's share of a rank and its part of the rank's
// figures as an answer carries them, with the R's the shares are read from
// (share.go), a series and its columns as a rank sends them (series.go,
// series_floats.go), and RFC 22 idsets (idset.go). The types here, with
// their JSON tags, are the wire format; doc/rpc.md documents it in the
// style of the Flux RFCs and testdata/query-response.json pins it. What
// the figures come to for a job (its charge, totals, series' sums, and
// what a guest may ask) is computed in internal/charge.
package wire

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/flux-framework/power-monitor/internal/store/aggregate"
)

// Topics.
const (
	// TopicQuery takes a jobid (or ranks and a time interval) and answers
	// with the aggregate of every rank involved. Open to guests for their
	// own jobs.
	TopicQuery = "power-monitor.query"
	// TopicWindow asks one rank for the aggregate of its own samples over a
	// time interval. Instance owner only (the module's own fan-out).
	TopicWindow = "power-monitor.window"
	// TopicStats is the module's stats-get (flux module stats).
	TopicStats = "power-monitor.stats-get"
	// TopicSources asks one rank which power sources it found, which it
	// uses, and why the others are missing. Open to guests.
	TopicSources = "power-monitor.sources"
	// TopicRunning tells one rank's module that a job's shell started or
	// ended its tasks there (the job shell plugin, on every rank of a job).
	// Open to guests; no response is needed.
	TopicRunning = "power-monitor.running"
	// TopicRecord computes a job's record at its end, for the job-manager
	// plugin power-record.so, from the job's R and run window it sends.
	// Instance owner only.
	TopicRecord = "power-monitor.record"
	// TopicRecords lists the records of inactive jobs, as rank 0 holds
	// them from the job-manager's journal: what flux power-query --report
	// sums. Open to guests, for their own jobs.
	TopicRecords = "power-monitor.records"
	// EventJobsInactive is published by rank 0 when jobs become inactive,
	// so that every rank forgets them even where a shell died before
	// saying so.
	EventJobsInactive = "power-monitor.jobs-inactive"
)

// RunningRequest is the payload of TopicRunning.
type RunningRequest struct {
	JobID   uint64 `json:"jobid"`
	Running bool   `json:"running"`
}

// RecordRequest is the payload of TopicRecord: the job, its R as the
// job-manager holds it, and its run window [t_run, t_cleanup].
type RecordRequest struct {
	JobID   uint64          `json:"jobid"`
	R       json.RawMessage `json:"R"`
	Start   float64         `json:"start"`
	End     float64         `json:"end"`
	Timeout float64         `json:"timeout,omitempty"` // seconds per rank; 0: DefaultTimeout
}

// RecordsRequest is the payload of TopicRecords: the inactive jobs whose
// clean event is at Since or later and before Until (0: unbounded), of
// UserID where given (a guest must give its own).
type RecordsRequest struct {
	Since  float64 `json:"since,omitempty"`
	Until  float64 `json:"until,omitempty"`
	UserID *uint32 `json:"userid,omitempty"`
}

// RecordsResponse answers TopicRecords: one entry per inactive job that
// the job-manager still holds and that the request selects, in jobid
// order. Record is the context of the job's power event, exactly as
// posted; null where the job has none.
type RecordsResponse struct {
	Jobs []IndexedRecord `json:"jobs"`
}

// IndexedRecord is one job of a RecordsResponse.
type IndexedRecord struct {
	ID        uint64          `json:"id"`
	UserID    uint32          `json:"userid"`
	TInactive float64         `json:"t_inactive"`
	Record    json.RawMessage `json:"record"`
}

// JobsInactive is the payload of EventJobsInactive.
type JobsInactive struct {
	JobIDs []uint64 `json:"jobids"`
}

// SourceStatus is what became of one kind of power source on a rank.
type SourceStatus struct {
	Kind   string `json:"kind"`
	Used   bool   `json:"used"`
	Name   string `json:"name,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// SourcesResponse is the answer to TopicSources.
type SourcesResponse struct {
	Rank       uint32            `json:"rank"`
	Hostname   string            `json:"hostname"`
	Source     string            `json:"source"`               // what is sampled ("none" without a source)
	Provenance map[string]string `json:"provenance,omitempty"` // domain kind -> source kind
	Sources    []SourceStatus    `json:"sources"`
	Errors     map[string]string `json:"errors,omitempty"` // source kind -> last read error
}

// Reasons a rank has no data beyond those of the aggregate package.
const (
	ReasonNoSource  = "no power source"
	ReasonNoAnswer  = "rank did not answer"
	ReasonNotLoaded = "module not loaded on rank"
)

// DefaultTimeout is the time, in seconds, each rank has to answer.
const DefaultTimeout = 10.0

// JobID is a jobid as sent in a request: a JSON number, or a string in any
// encoding that flux_job_id_parse accepts (f58 with 'ƒ' or 'f', decimal,
// hex, dothex, words).
type JobID string

// UnmarshalJSON accepts a number or a string.
func (j *JobID) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*j = ""
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err == nil {
		if _, err := strconv.ParseUint(string(n), 10, 64); err != nil {
			return fmt.Errorf("jobid %s is not a valid job id", n)
		}
		*j = JobID(n)
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("jobid must be a number or a string")
	}
	*j = JobID(s)
	return nil
}

// QueryRequest is the payload of TopicQuery: either JobID, which Ranks,
// Start, End and Share may narrow (charge.Narrowing), or Ranks with Start
// (and End, 0 meaning now).
type QueryRequest struct {
	JobID   JobID                `json:"jobid,omitempty"`
	Ranks   string               `json:"ranks,omitempty"`   // RFC 22 idset, e.g. "0-3"
	Start   float64              `json:"start,omitempty"`   // unix seconds
	End     float64              `json:"end,omitempty"`     // unix seconds; 0: now (the job's end)
	Share   map[string]RankShare `json:"share,omitempty"`   // rank -> what an inner job holds; with JobID only
	Timeout float64              `json:"timeout,omitempty"` // seconds per rank; 0: DefaultTimeout
	Series  *SeriesSpec          `json:"series,omitempty"`  // also the window's series (series.go)
	// R is the job's R as its job shell holds it (instance owner only):
	// its ranks, shares and execution.starttime (the window's start) are
	// then taken from it, and neither job-list nor job-info is asked.
	R json.RawMessage `json:"R,omitempty"`
}

// RankShare is what a job inside job J (a job of the user's own Flux
// instance that J runs) holds on one of J's ranks: its cores and GPUs,
// RFC 22 idsets, ids as J's R names them (QueryRequest.Share).
type RankShare struct {
	Cores string `json:"cores"`
	GPUs  string `json:"gpus,omitempty"`
}

// WindowRequest is the payload of TopicWindow.
type WindowRequest struct {
	Start float64 `json:"start"`
	End   float64 `json:"end"`
}

// RankResult is one rank's answer: who it is, where its data came from, and
// the aggregate of its samples over the window (the node's figures). Share,
// in the answer about a job, is what the job holds on the rank; the rank
// that answers the query sets it from the R's (a window request's answer
// has none), and with it Job, the job's part of the rank's figures
// (charge.Attribute), or JobError, why that part could not be computed.
type RankResult struct {
	Rank     uint32 `json:"rank"`
	Hostname string `json:"hostname"`
	Source   string `json:"source"`
	Aggregate
	Share    *Share      `json:"share,omitempty"`
	Job      *JobFigures `json:"job,omitempty"`
	JobError string      `json:"job_error,omitempty"`
}

// Aggregate is one rank's aggregate over a window as sent: the fields of
// aggregate.Result (see there for their meaning), converted by FromAggregate.
type Aggregate struct {
	Start       float64  `json:"start"` // window, unix seconds
	End         float64  `json:"end"`
	Samples     int      `json:"samples"`      // samples with time in [start, end]
	FirstSample float64  `json:"first_sample"` // unix seconds, 0 if none
	LastSample  float64  `json:"last_sample"`  // unix seconds, 0 if none
	CoveredS    float64  `json:"covered_s"`
	Coverage    float64  `json:"coverage"` // CoveredS / window length, in [0,1]
	Presence    string   `json:"data_presence"`
	Reason      string   `json:"reason,omitempty"`
	NodeDerived bool     `json:"node_derived,omitempty"`
	Node        Domain   `json:"node"`
	CPU         []Domain `json:"cpu"`
	Mem         []Domain `json:"mem"`
	GPU         []Domain `json:"gpu"`
}

// Domain is one power domain of an Aggregate: the fields of
// aggregate.Domain. Method and Source are left out where empty (a domain
// that is not measured).
type Domain struct {
	Kind     string  `json:"kind"`  // "node", "cpu", "mem", "gpu"
	Index    int     `json:"index"` // -1 for node
	Measured bool    `json:"measured"`
	EnergyJ  float64 `json:"energy_j"`
	MeanW    float64 `json:"mean_w"`
	MinW     float64 `json:"min_w"`
	MaxW     float64 `json:"max_w"`
	Method   string  `json:"method,omitempty"`
	Source   string  `json:"source,omitempty"`
}

// FromAggregate is the wire form of an integrator's result. A nil domain
// list stays nil (null on the wire), an empty one empty. Domain(d) converts
// only while the two Domain types have the same fields: a field added to
// aggregate.Domain stops the build here until the protocol decides how to
// send it.
func FromAggregate(r aggregate.Result) Aggregate {
	domains := func(ds []aggregate.Domain) []Domain {
		if ds == nil {
			return nil
		}
		out := make([]Domain, len(ds))
		for i, d := range ds {
			out[i] = Domain(d)
		}
		return out
	}
	return Aggregate{
		Start: r.Start, End: r.End, Samples: r.Samples,
		FirstSample: r.FirstSample, LastSample: r.LastSample,
		CoveredS: r.CoveredS, Coverage: r.Coverage, Presence: r.Presence, Reason: r.Reason,
		NodeDerived: r.NodeDerived,
		Node:        Domain(r.Node),
		CPU:         domains(r.CPU), Mem: domains(r.Mem), GPU: domains(r.GPU),
	}
}

// Missing is a rank that gave no data, and why.
type Missing struct {
	Rank     uint32 `json:"rank"`
	Hostname string `json:"hostname,omitempty"`
	Reason   string `json:"reason"`
	Error    string `json:"error,omitempty"`
}

// Total sums a job over all its ranks (charge.Totals). Energies are joules over
// the covered part of the window; Coverage counts missing ranks as
// uncovered. EnergyJ, AvgPowerW and the domain energies are the job's; the
// nodes' sums are beside them.
type Total struct {
	EnergyJ       float64 `json:"energy_j"`
	DurationS     float64 `json:"duration_s"`
	AvgPowerW     float64 `json:"avg_power_w"`
	CPUEnergyJ    float64 `json:"cpu_energy_j"`
	MemEnergyJ    float64 `json:"mem_energy_j"`
	GPUEnergyJ    float64 `json:"gpu_energy_j"`
	NodeEnergyJ   float64 `json:"node_energy_j"`    // the node energy of every rank
	NodeAvgPowerW float64 `json:"node_avg_power_w"` // NodeEnergyJ / DurationS
	Shared        bool    `json:"shared"`           // some rank's share is not exclusive
	JobErrors     int     `json:"job_errors"`       // ranks with a job_error, charged nothing
	Samples       int     `json:"samples"`
	Ranks         int     `json:"ranks"`    // ranks in the request
	Answered      int     `json:"answered"` // ranks that answered
	Coverage      float64 `json:"coverage"`
	Presence      string  `json:"data_presence"`
}

// QueryResponse is the answer to TopicQuery.
type QueryResponse struct {
	ID      uint64       `json:"id,omitempty"`    // numeric jobid
	JobID   string       `json:"jobid,omitempty"` // f58
	UserID  *uint32      `json:"userid,omitempty"`
	State   string       `json:"state,omitempty"`
	Running bool         `json:"running"`
	Start   float64      `json:"start"` // window, unix seconds
	End     float64      `json:"end"`
	RankSet string       `json:"rankset"` // idset of ranks asked
	Ranks   []RankResult `json:"ranks"`
	Missing []Missing    `json:"missing"`
	// ShareError says why ranks of a job have no share (its R or the
	// instance's could not be read, or they do not fit together).
	ShareError string `json:"share_error,omitempty"`
	Total      Total  `json:"total"`
	// Series is the window's series, when the request asked for one.
	Series *Series `json:"series,omitempty"`
}
