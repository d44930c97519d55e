// SPDX-License-Identifier: LGPL-3.0-only

// Package mqtt publishes samples and job summaries to an MQTT broker through
// the Eclipse Paho client, in the payload WattAMeter's subscribers read.
//
// Topics (doc/exports.md):
//
//	{prefix}/{reader}/data      one message per sample and per reader
//	{prefix}/jobs/{jobid}/power one message per job, when it ends
//
// A reader is named as WattAMeter names its readers (the class name in
// lower case) after the source that read the values: nvmlreader,
// raplreader, variorumreader, hwmonreader, estimatereader or replayreader,
// so that a subscriber to wattameter/nvmlreader/data gets our NVML samples
// too. A sample of a node whose CPUs come from RAPL and GPUs from NVML is
// two messages, as WattAMeter's RAPL and NVML readers send. The payload is
// a JSON object, keys in this order:
//
//	timestamp[ns], timestamp[iso], reading-time[ns],
//	node (the hostname) and run-id (the jobid, or null), as WattAMeter,
//	one key per quantity with its unit: gpu-0[mW], gpu-0[mJ] (NVML's
//	units), cpu-0[W], cpu-0[uJ] (RAPL's), node[W], mem-0[W], ... [J],
//	metadata: {hostname, rank (in Flux), jobid (where known)}
package mqtt

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"

	"github.com/flux-framework/power-monitor/internal/export"
)

// Message is one MQTT publication.
type Message struct {
	Topic   string
	Payload []byte
}

// units are a reader's power and energy units and their scale from W and J.
type units struct {
	power  string
	pScale float64
	energy string
	eScale float64
}

func unitsOf(reader string) units {
	switch reader {
	case "nvml": // NVML reports mW and mJ
		return units{"mW", 1e3, "mJ", 1e3}
	case "rapl": // powercap reports µJ
		return units{"W", 1, "uJ", 1e6}
	default:
		return units{"W", 1, "J", 1}
	}
}

// Messages renders one record. A sample's derived node power (the sum of
// the domains, source "sum") is not published: subscribers have the terms.
func Messages(rec *export.Record, prefix string) []Message {
	if rec.Kind == export.KindJob {
		if rec.Job == nil {
			return nil
		}
		return []Message{{Topic: prefix + "/jobs/" + rec.Job.ID + "/power", Payload: jobPayload(rec)}}
	}
	var readers []string
	by := map[string][]export.Value{}
	for _, v := range rec.Values {
		if v.Source == "sum" {
			continue
		}
		if _, ok := by[v.Source]; !ok {
			readers = append(readers, v.Source)
		}
		by[v.Source] = append(by[v.Source], v)
	}
	out := make([]Message, 0, len(readers))
	for _, r := range readers {
		u := unitsOf(r)
		var b bytes.Buffer
		head(&b, rec.T)
		b.WriteString(`,"reading-time[ns]":`)
		b.WriteString(strconv.FormatInt(rec.ReadNs, 10))
		h, _ := json.Marshal(rec.Hostname)
		field(&b, "node", string(h))
		runID := "null"
		if rec.JobID != "" {
			j, _ := json.Marshal(rec.JobID)
			runID = string(j)
		}
		field(&b, "run-id", runID)
		for _, v := range by[r] {
			dev := v.Device()
			field(&b, dev+"["+u.power+"]", num(v.W*u.pScale, false))
			if v.HasJ {
				field(&b, dev+"["+u.energy+"]", num(v.J*u.eScale, u.eScale > 1))
			}
		}
		meta(&b, rec)
		b.WriteByte('}')
		out = append(out, Message{Topic: prefix + "/" + ReaderName(r) + "/data", Payload: b.Bytes()})
	}
	return out
}

// ReaderName is the topic level of a source kind: WattAMeter's reader
// class name in lower case (NVMLReader -> nvmlreader), and the same form
// for the sources WattAMeter lacks.
func ReaderName(kind string) string { return kind + "reader" }

func jobPayload(rec *export.Record) []byte {
	j := rec.Job
	var b bytes.Buffer
	head(&b, rec.T)
	str := func(k, v string) {
		q, _ := json.Marshal(v)
		field(&b, k, string(q))
	}
	str("jobid", j.ID)
	if j.UserID != nil {
		field(&b, "userid", strconv.FormatUint(uint64(*j.UserID), 10))
	}
	field(&b, "start[s]", num(j.Start, false))
	field(&b, "end[s]", num(j.End, false))
	field(&b, "duration[s]", num(j.DurationS, false))
	field(&b, "energy[J]", num(j.EnergyJ, false))
	field(&b, "power[W]", num(j.PowerW, false))
	field(&b, "node-energy[J]", num(j.NodeEnergyJ, false))
	field(&b, "node-power[W]", num(j.NodePowerW, false))
	field(&b, "shared", strconv.FormatBool(j.Shared))
	field(&b, "cpu-energy[J]", num(j.CPUJ, false))
	field(&b, "mem-energy[J]", num(j.MemJ, false))
	field(&b, "gpu-energy[J]", num(j.GPUJ, false))
	field(&b, "ranks", strconv.Itoa(j.Ranks))
	missing := j.Missing
	if missing == nil {
		missing = []uint32{}
	}
	m, _ := json.Marshal(missing)
	field(&b, "missing-ranks", string(m))
	field(&b, "coverage", num(j.Coverage, false))
	str("data-presence", j.Presence)
	b.WriteString(`,"nodes":[`)
	for i, n := range j.Nodes {
		if i > 0 {
			b.WriteByte(',')
		}
		h, _ := json.Marshal(n.Hostname)
		b.WriteString(`{"hostname":` + string(h))
		if rec.Rank >= 0 { // in Flux; the agent's node has no rank
			b.WriteString(`,"rank":` + strconv.FormatUint(uint64(n.Rank), 10))
		}
		field(&b, "energy[J]", num(n.EnergyJ, false))
		field(&b, "power[W]", num(n.PowerW, false))
		field(&b, "node-energy[J]", num(n.NodeEnergyJ, false))
		field(&b, "node-power[W]", num(n.NodePowerW, false))
		b.WriteByte('}')
	}
	b.WriteByte(']')
	meta(&b, rec)
	b.WriteByte('}')
	return b.Bytes()
}

func head(b *bytes.Buffer, t int64) {
	b.WriteString(`{"timestamp[ns]":`)
	b.WriteString(strconv.FormatInt(t, 10))
	b.WriteString(`,"timestamp[iso]":"`)
	b.WriteString(time.Unix(0, t).UTC().Format("2006-01-02T15:04:05.000000Z07:00"))
	b.WriteByte('"')
}

func field(b *bytes.Buffer, key, val string) {
	b.WriteString(`,"`)
	b.WriteString(key)
	b.WriteString(`":`)
	b.WriteString(val)
}

func meta(b *bytes.Buffer, rec *export.Record) {
	h, _ := json.Marshal(rec.Hostname)
	b.WriteString(`,"metadata":{"hostname":`)
	b.Write(h)
	if rec.Rank >= 0 {
		b.WriteString(`,"rank":`)
		b.WriteString(strconv.Itoa(rec.Rank))
	}
	if rec.JobID != "" {
		j, _ := json.Marshal(rec.JobID)
		b.WriteString(`,"jobid":`)
		b.Write(j)
	}
	b.WriteByte('}')
}

// num formats a value for JSON: integers for counters in small units (as
// the hardware reports them), otherwise at most 6 decimals. A value that is
// not finite becomes null.
func num(v float64, integer bool) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "null"
	}
	if integer {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(v*1e6)/1e6, 'f', -1, 64)
}
