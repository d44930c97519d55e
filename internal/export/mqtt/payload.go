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
		return []Message{{Topic: jobTopic(prefix, rec), Payload: jobPayload(rec)}}
	}
	var out []Message
	forReaders(rec, func(r string) {
		out = append(out, Message{Topic: sampleTopic(prefix, r), Payload: appendSample(nil, rec, r)})
	})
	return out
}

// appendEncoded appends the record's messages in the spool's form
// (Sink.EncodeRecord): topic, NUL, payload, the messages separated by NULs.
func appendEncoded(b []byte, rec *export.Record, prefix string) []byte {
	if rec.Kind == export.KindJob {
		if rec.Job == nil {
			return b
		}
		b = append(b, jobTopic(prefix, rec)...)
		b = append(b, 0)
		return append(b, jobPayload(rec)...)
	}
	first := true
	forReaders(rec, func(r string) {
		if !first {
			b = append(b, 0)
		}
		first = false
		b = appendSampleTopic(b, prefix, r)
		b = append(b, 0)
		b = appendSample(b, rec, r)
	})
	return b
}

func jobTopic(prefix string, rec *export.Record) string {
	return prefix + "/jobs/" + rec.Job.ID + "/power"
}

func sampleTopic(prefix, reader string) string {
	return string(appendSampleTopic(nil, prefix, reader))
}

// appendSampleTopic appends {prefix}/{reader}/data (doc/exports.md).
func appendSampleTopic(b []byte, prefix, reader string) []byte {
	b = append(b, prefix...)
	b = append(b, '/')
	b = append(b, ReaderName(reader)...)
	return append(b, "/data"...)
}

// forReaders calls f with each source that read some value of the sample,
// in the order of their first value ("sum" left out).
func forReaders(rec *export.Record, f func(reader string)) {
	for i, v := range rec.Values {
		if v.Source == "sum" {
			continue
		}
		seen := false
		for _, w := range rec.Values[:i] {
			if w.Source == v.Source {
				seen = true
				break
			}
		}
		if !seen {
			f(v.Source)
		}
	}
}

// appendSample appends the payload of the sample's values read by reader.
func appendSample(b []byte, rec *export.Record, reader string) []byte {
	u := unitsOf(reader)
	b = appendHead(b, rec.T)
	b = append(b, `,"reading-time[ns]":`...)
	b = strconv.AppendInt(b, rec.ReadNs, 10)
	b = append(b, `,"node":`...)
	b = appendString(b, rec.Hostname)
	b = append(b, `,"run-id":`...)
	if rec.JobID != "" {
		b = appendString(b, rec.JobID)
	} else {
		b = append(b, "null"...)
	}
	for _, v := range rec.Values {
		if v.Source != reader {
			continue
		}
		b = appendKey(b, &v, u.power)
		b = appendNum(b, v.W*u.pScale, false)
		if v.HasJ {
			b = appendKey(b, &v, u.energy)
			b = appendNum(b, v.J*u.eScale, u.eScale > 1)
		}
	}
	b = appendMeta(b, rec)
	return append(b, '}')
}

// appendKey appends `,"DEVICE[UNIT]":`, the device as Value.Device names it.
func appendKey(b []byte, v *export.Value, unit string) []byte {
	b = append(b, `,"`...)
	b = append(b, v.Domain...)
	if v.Index >= 0 {
		b = append(b, '-')
		b = strconv.AppendInt(b, int64(v.Index), 10)
	}
	b = append(b, '[')
	b = append(b, unit...)
	return append(b, `]":`...)
}

// appendString appends s as a JSON string, as encoding/json writes it.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // escapes: rare in hostnames and jobids
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
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
	b.Write(appendHead(nil, t))
}

func appendHead(b []byte, t int64) []byte {
	b = append(b, `{"timestamp[ns]":`...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, `,"timestamp[iso]":"`...)
	b = time.Unix(0, t).UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	return append(b, '"')
}

func field(b *bytes.Buffer, key, val string) {
	b.WriteString(`,"`)
	b.WriteString(key)
	b.WriteString(`":`)
	b.WriteString(val)
}

func meta(b *bytes.Buffer, rec *export.Record) {
	b.Write(appendMeta(nil, rec))
}

func appendMeta(b []byte, rec *export.Record) []byte {
	b = append(b, `,"metadata":{"hostname":`...)
	b = appendString(b, rec.Hostname)
	if rec.Rank >= 0 {
		b = append(b, `,"rank":`...)
		b = strconv.AppendInt(b, int64(rec.Rank), 10)
	}
	if rec.JobID != "" {
		b = append(b, `,"jobid":`...)
		b = appendString(b, rec.JobID)
	}
	return append(b, '}')
}

// num formats a value for JSON: integers for counters in small units (as
// the hardware reports them), otherwise at most 6 decimals. A value that is
// not finite becomes null.
func num(v float64, integer bool) string {
	return string(appendNum(nil, v, integer))
}

func appendNum(b []byte, v float64, integer bool) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	if integer {
		return strconv.AppendFloat(b, math.Round(v), 'f', -1, 64)
	}
	return strconv.AppendFloat(b, math.Round(v*1e6)/1e6, 'f', -1, 64)
}
