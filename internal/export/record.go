// SPDX-License-Identifier: LGPL-3.0-only

// Package export streams samples and job summaries to the tools sites
// already run: MQTT brokers (export/mqtt) and Prometheus (export/prom). Every
// network sink reads from its own bounded on-disk spool (export/spool), so a
// broker or a Prometheus that is away loses nothing: records wait on disk and
// are delivered in order once it is back. The Exporter (exporter.go) takes
// samples from the sampler without ever blocking it, and writes each group
// of them to every spool in one write. A sink that implements Encoder (MQTT,
// remote-write) keeps its records in its spool ready to send, so that
// nothing is decoded on the way out.
//
// This file defines the record: one sample of a node, or one job's energy
// summary, and its common form in a spool (JSON), which earlier versions
// wrote and which a sink without a form of its own reads.
package export

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"

	"github.com/flux-framework/power-monitor/internal/sample"
)

// Record kinds.
const (
	KindSample = "sample"
	KindJob    = "job"
)

// Meta says where records come from.
type Meta struct {
	Hostname string
	Rank     int    // broker rank; -1 outside Flux (the agent)
	JobID    string // the job being measured, "" when unknown
}

// Value is one domain's reading in a sample.
type Value struct {
	Domain string  `json:"d"`           // node, cpu, mem or gpu
	Index  int     `json:"i"`           // socket or GPU index; -1 for the node
	Source string  `json:"s"`           // the source kind that read it: rapl, nvml, variorum, ...; "sum" for a derived node
	W      float64 `json:"w"`           // power, watts
	J      float64 `json:"j,omitempty"` // hardware energy counter, joules (with HasJ)
	HasJ   bool    `json:"hj,omitempty"`
	// IJ is, for a domain without a counter, its power integrated since the
	// exporter started (trapezoids), joules: Prometheus's energy counter.
	IJ float64 `json:"ij,omitempty"`
}

// EnergyJ is the domain's energy counter: the hardware's, or the integral.
func (v Value) EnergyJ() float64 {
	if v.HasJ {
		return v.J
	}
	return v.IJ
}

// Device is the domain's name in a payload: "node", "cpu-0", "gpu-3".
func (v Value) Device() string {
	if v.Index < 0 {
		return v.Domain
	}
	return fmt.Sprintf("%s-%d", v.Domain, v.Index)
}

// JobSummary is a job's energy once it has ended: the module's query over
// its ranks, or the agent's run. EnergyJ, PowerW and the domains' energies
// are the job's own (on a node it shared, its share of the node: doc/rpc.md);
// NodeEnergyJ and NodePowerW are what its nodes drew over the same time,
// equal to the job's where it had them to itself.
type JobSummary struct {
	ID          string    `json:"jobid"`
	UserID      *uint32   `json:"userid,omitempty"`
	Start       float64   `json:"start"` // unix seconds
	End         float64   `json:"end"`
	DurationS   float64   `json:"duration_s"`
	EnergyJ     float64   `json:"energy_j"`
	PowerW      float64   `json:"power_w"` // mean
	NodeEnergyJ float64   `json:"node_energy_j"`
	NodePowerW  float64   `json:"node_power_w"` // mean
	Shared      bool      `json:"shared"`       // some node was shared with other jobs
	CPUJ        float64   `json:"cpu_energy_j"`
	MemJ        float64   `json:"mem_energy_j"`
	GPUJ        float64   `json:"gpu_energy_j"`
	Ranks       int       `json:"ranks"`
	Missing     []uint32  `json:"missing_ranks"`
	Coverage    float64   `json:"coverage"`
	Presence    string    `json:"data_presence"`
	Nodes       []JobNode `json:"nodes,omitempty"`
}

// JobNode is one rank's part of a job: the job's energy and mean power
// there, and the node's beside them.
type JobNode struct {
	Rank        uint32  `json:"rank"`
	Hostname    string  `json:"hostname"`
	EnergyJ     float64 `json:"energy_j"`
	PowerW      float64 `json:"power_w"`
	NodeEnergyJ float64 `json:"node_energy_j"`
	NodePowerW  float64 `json:"node_power_w"`
}

// UnmarshalJSON reads a summary. One spooled by an earlier version has no
// node figures: it charged the job its nodes whole, so they are its own.
func (j *JobSummary) UnmarshalJSON(b []byte) error {
	type plain JobSummary
	if err := json.Unmarshal(b, (*plain)(j)); err != nil {
		return err
	}
	if !hasNodeFigures(b) {
		j.NodeEnergyJ, j.NodePowerW = j.EnergyJ, j.PowerW
	}
	return nil
}

// UnmarshalJSON reads a rank's part, as JobSummary's.
func (n *JobNode) UnmarshalJSON(b []byte) error {
	type plain JobNode
	if err := json.Unmarshal(b, (*plain)(n)); err != nil {
		return err
	}
	if !hasNodeFigures(b) {
		n.NodeEnergyJ, n.NodePowerW = n.EnergyJ, n.PowerW
	}
	return nil
}

// hasNodeFigures says whether a summary's or a rank's JSON object (already
// decoded without error) has node_energy_j.
func hasNodeFigures(b []byte) bool {
	var probe struct {
		NodeEnergyJ *float64 `json:"node_energy_j"`
	}
	return json.Unmarshal(b, &probe) == nil && probe.NodeEnergyJ != nil
}

// Record is what a spool holds: one line of JSON.
type Record struct {
	Kind     string      `json:"k"`
	T        int64       `json:"t"`            // unix ns: the sample's time, or the job's end
	ReadNs   int64       `json:"rn,omitempty"` // how long the read took
	Hostname string      `json:"h"`
	Rank     int         `json:"r"` // -1: not in Flux
	JobID    string      `json:"jid,omitempty"`
	Values   []Value     `json:"v,omitempty"`
	Job      *JobSummary `json:"job,omitempty"`
}

// Provenance maps a kind of domain ("node", "cpu", "mem", "gpu") to the
// source kind that reads it (source.Merged.Provenance).
type Provenance map[string]string

func (p Provenance) of(domain string) string {
	if s := p[domain]; s != "" && !strings.HasPrefix(s, "sum of ") {
		return s
	}
	if domain == "node" {
		return "sum"
	}
	return "unknown"
}

// FromReading makes the record of one sample taken at t (unix ns). Domains
// that were not measured are left out.
func FromReading(t int64, r *sample.Reading, prov Provenance, meta Meta) Record {
	return fromReading(make([]Value, 0, r.Layout().Columns()), t, r, prov, meta)
}

// fromReading is FromReading with the values appended to vs[:0]: the
// record shares nothing with r, and allocates nothing when vs has room.
func fromReading(vs []Value, t int64, r *sample.Reading, prov Provenance, meta Meta) Record {
	rec := Record{Kind: KindSample, T: t, ReadNs: r.ReadNs, Hostname: meta.Hostname, Rank: meta.Rank, JobID: meta.JobID}
	rec.Values = vs[:0]
	add := func(domain string, i int, w float64, counters []float64, node float64) {
		if !sample.Measured(w) {
			return
		}
		v := Value{Domain: domain, Index: i, Source: prov.of(domain), W: w}
		if domain == "node" && r.NodeDerived {
			v.Source = "sum"
		}
		if r.Energy != nil {
			j := node
			if i >= 0 && i < len(counters) {
				j = counters[i]
			}
			if !math.IsNaN(j) && !math.IsInf(j, 0) {
				v.J, v.HasJ = j, true
			}
		}
		rec.Values = append(rec.Values, v)
	}
	var e sample.Energy
	if r.Energy != nil {
		e = *r.Energy
	}
	add("node", -1, r.Node, nil, nanIfDerived(e.Node, r))
	for i, w := range r.CPU {
		add("cpu", i, w, e.CPU, math.NaN())
	}
	for i, w := range r.Mem {
		add("mem", i, w, e.Mem, math.NaN())
	}
	for i, w := range r.GPU {
		add("gpu", i, w, e.GPU, math.NaN())
	}
	return rec
}

func nanIfDerived(j float64, r *sample.Reading) float64 {
	if r.Energy == nil || r.NodeDerived {
		return math.NaN()
	}
	return j
}

// Unmarshal decodes a spooled record.
func Unmarshal(b []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("bad spooled record: %w", err)
	}
	if r.Kind != KindSample && r.Kind != KindJob {
		return r, fmt.Errorf("bad spooled record: kind %q", r.Kind)
	}
	return r, nil
}
