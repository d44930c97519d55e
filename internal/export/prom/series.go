// SPDX-License-Identifier: LGPL-3.0-only

// Package prom exports samples and job summaries to Prometheus, both ways
// sites run it: remote-write (remotewrite.go: protobuf, snappy, batches,
// retried) and a pull endpoint (metrics.go: /metrics for a scrape). Both
// carry the same series (doc/exports.md):
//
//	power_monitor_power_watts{host,rank,domain,device,source}          gauge
//	power_monitor_energy_joules_total{host,rank,domain,device,source}  counter
//	power_monitor_job_energy_joules{jobid,userid,domain}                at the job's end
//	power_monitor_job_power_watts{jobid,userid}                         mean over the job
//	power_monitor_job_nodes_energy_joules{jobid,userid}                 what its nodes drew meanwhile
//	power_monitor_job_nodes_power_watts{jobid,userid}                   their mean
//	power_monitor_job_duration_seconds{jobid,userid}
//	power_monitor_job_coverage_ratio{jobid,userid}
//	power_monitor_job_node_energy_joules{jobid,userid,host,rank}
//
// A job's energy and power are its own: on a node it shared with other
// jobs, its share of what the node drew (doc/rpc.md); the nodes_ series are
// what its nodes drew whole over the same time.
// domain is node, cpu, mem or gpu; device names one (node, cpu-0, gpu-3);
// source is the reader (rapl, nvml, variorum, hwmon, estimate, replay, or
// sum for a node derived from its domains). rank is absent outside Flux.
// The energy counter is the hardware's where the domain has one, otherwise
// the power integrated since the exporter started; it restarts at zero (or
// at the counter's value) with the exporter, as Prometheus counters may.
package prom

import (
	"strconv"

	"github.com/flux-framework/power-monitor/internal/export"
)

// Metric names.
const (
	PowerName          = "power_monitor_power_watts"
	EnergyName         = "power_monitor_energy_joules_total"
	JobEnergyName      = "power_monitor_job_energy_joules"
	JobPowerName       = "power_monitor_job_power_watts"
	JobNodesEnergyName = "power_monitor_job_nodes_energy_joules"
	JobNodesPowerName  = "power_monitor_job_nodes_power_watts"
	JobDurationName    = "power_monitor_job_duration_seconds"
	JobCoverageName    = "power_monitor_job_coverage_ratio"
	JobNodeEnergyName  = "power_monitor_job_node_energy_joules"
	ExportDelivered    = "power_monitor_export_delivered_records_total"
	ExportDropped      = "power_monitor_export_dropped_records_total"
	ExportPending      = "power_monitor_export_pending_records"
	ExportSpoolBytes   = "power_monitor_export_spool_bytes"
	ExportUp           = "power_monitor_export_up"
	LastSampleName     = "power_monitor_last_sample_timestamp_seconds"
	jobDomainAll       = "all"
	labelHost, labelRk = "host", "rank"
)

// label is one name="value" pair; series keep them in this order.
type label struct{ name, value string }

// point is one value of one series at one time.
type point struct {
	name   string
	labels []label
	value  float64
	tms    int64 // unix ms
}

// deviceLabels are a sample value's labels.
func deviceLabels(rec *export.Record, v *export.Value) []label {
	ls := []label{{labelHost, rec.Hostname}}
	if rec.Rank >= 0 {
		ls = append(ls, label{labelRk, strconv.Itoa(rec.Rank)})
	}
	return append(ls, label{"domain", v.Domain}, label{"device", v.Device()}, label{"source", v.Source})
}

func jobLabels(j *export.JobSummary) []label {
	ls := []label{{"jobid", j.ID}}
	if j.UserID != nil {
		ls = append(ls, label{"userid", strconv.FormatUint(uint64(*j.UserID), 10)})
	}
	return ls
}

func with(ls []label, more ...label) []label {
	out := make([]label, 0, len(ls)+len(more))
	return append(append(out, ls...), more...)
}

// points are a record's series values.
func points(rec *export.Record) []point {
	tms := rec.T / 1e6
	if rec.Kind == export.KindJob {
		j := rec.Job
		if j == nil {
			return nil
		}
		jl := jobLabels(j)
		out := []point{
			{JobEnergyName, with(jl, label{"domain", jobDomainAll}), j.EnergyJ, tms},
			{JobEnergyName, with(jl, label{"domain", "cpu"}), j.CPUJ, tms},
			{JobEnergyName, with(jl, label{"domain", "mem"}), j.MemJ, tms},
			{JobEnergyName, with(jl, label{"domain", "gpu"}), j.GPUJ, tms},
			{JobPowerName, jl, j.PowerW, tms},
			{JobNodesEnergyName, jl, j.NodeEnergyJ, tms},
			{JobNodesPowerName, jl, j.NodePowerW, tms},
			{JobDurationName, jl, j.DurationS, tms},
			{JobCoverageName, jl, j.Coverage, tms},
		}
		for _, n := range j.Nodes {
			ls := with(jl, label{labelHost, n.Hostname})
			if rec.Rank >= 0 { // in Flux; the agent's node has no rank
				ls = append(ls, label{labelRk, strconv.FormatUint(uint64(n.Rank), 10)})
			}
			out = append(out, point{JobNodeEnergyName, ls, n.EnergyJ, tms})
		}
		return out
	}
	out := make([]point, 0, 2*len(rec.Values))
	for i := range rec.Values {
		v := &rec.Values[i]
		ls := deviceLabels(rec, v)
		out = append(out, point{PowerName, ls, v.W, tms}, point{EnergyName, ls, v.EnergyJ(), tms})
	}
	return out
}
