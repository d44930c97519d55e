// SPDX-License-Identifier: LGPL-3.0-only

package account

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/flux-framework/power-monitor/internal/report"
)

// full prints a number so that it reads back as the same float64.
func full(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// WriteReport prints a report: a table for people (numbers rounded, a TOTAL
// line, notes on the jobs without a record or with incomplete data), CSV
// or JSON with every number as it was summed. loc is the time zone of the
// table's title.
func WriteReport(w io.Writer, format string, r *Report, loc *time.Location) error {
	switch format {
	case report.FormatTable, "":
		return reportTable(w, r, loc)
	case report.FormatCSV:
		return reportCSV(w, r)
	case report.FormatJSON:
		return reportJSON(w, r)
	}
	return fmt.Errorf("unknown format %q (table, json or csv)", format)
}

// columns are the figures of a line, after the keys.
func (r *Report) columns() []string {
	c := []string{"jobs", "node_hours", "energy_kwh", "energy_j"}
	if r.Price != nil {
		c = append(c, "cost")
	}
	if r.Carbon != nil {
		c = append(c, "co2e_kg")
	}
	return append(c, "no_record", "partial", "no_data")
}

func (r *Report) cells(s *Sum, f func(float64) string) []string {
	c := []string{strconv.Itoa(s.Jobs), f(s.NodeHours()), f(s.KWh()), f(s.EnergyJ)}
	if r.Price != nil {
		c = append(c, f(r.Cost(s)))
	}
	if r.Carbon != nil {
		c = append(c, f(r.CO2eKg(s)))
	}
	return append(c, strconv.Itoa(s.NoRecord), strconv.Itoa(s.Partial), strconv.Itoa(s.NoData))
}

// Selection says which jobs a report covers, for people.
func (r *Report) Selection(loc *time.Location) string {
	if loc == nil {
		loc = time.Local
	}
	at := func(t float64) string { return localTime(t, loc).Format("2006-01-02 15:04:05 MST") }
	var b strings.Builder
	b.WriteString("jobs that became inactive")
	switch {
	case r.Since > 0 && r.Until > 0:
		fmt.Fprintf(&b, " from %s to %s", at(r.Since), at(r.Until))
	case r.Since > 0:
		fmt.Fprintf(&b, " since %s", at(r.Since))
	case r.Until > 0:
		fmt.Fprintf(&b, " before %s", at(r.Until))
	}
	fmt.Fprintf(&b, ": %d", r.Total.Jobs)
	return b.String()
}

// Notes say, under the table, what the figures leave out or take as it is.
func (r *Report) Notes() []string {
	var out []string
	t := &r.Total
	if t.NoRecord > 0 {
		out = append(out, fmt.Sprintf("NO-RECORD: %d of %d jobs have no power record (they ended before power-record.so was loaded, or their eventlog could not be read): they are not in NODE-H nor ENERGY", t.NoRecord, t.Jobs))
	}
	if t.Partial+t.NoData > 0 {
		out = append(out, fmt.Sprintf("PARTIAL, NO-DATA: %d records cover part of their job, %d none of it: their energy is what was covered", t.Partial, t.NoData))
	}
	if r.Price != nil || r.Carbon != nil {
		var parts []string
		if r.Price != nil {
			parts = append(parts, fmt.Sprintf("COST = ENERGY-KWH x %s", full(*r.Price)))
		}
		if r.Carbon != nil {
			parts = append(parts, fmt.Sprintf("CO2E-KG = ENERGY-KWH x %s g / 1000", full(*r.Carbon)))
		}
		out = append(out, strings.Join(parts, "; "))
	}
	return out
}

func reportTable(w io.Writer, r *Report, loc *time.Location) error {
	if _, err := fmt.Fprintln(w, r.Selection(loc)); err != nil {
		return err
	}
	var header []string
	for _, k := range r.By {
		header = append(header, strings.ToUpper(k))
	}
	for _, c := range r.columns() {
		switch c {
		case "node_hours":
			c = "NODE-H"
		case "energy_kwh":
			c = "ENERGY-KWH"
		case "energy_j":
			c = "ENERGY-J"
		default:
			c = strings.ToUpper(strings.ReplaceAll(c, "_", "-"))
		}
		header = append(header, c)
	}
	if len(r.By) == 0 {
		header = append([]string{""}, header...)
	}
	round := func(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }
	t := report.NewTable(w)
	t.Header(header)
	for i := range r.Groups {
		g := &r.Groups[i]
		cells := append(append([]string(nil), g.Keys...), r.cells(&g.Sum, round)...)
		// joules to the tenth: the kWh beside carry the scale
		cells[len(g.Keys)+3] = strconv.FormatFloat(g.EnergyJ, 'f', 1, 64)
		if err := t.Append(cells); err != nil {
			return err
		}
	}
	foot := []string{"TOTAL"}
	for i := 1; i < len(r.By); i++ {
		foot = append(foot, "")
	}
	foot = append(foot, r.cells(&r.Total, round)...)
	foot[max(1, len(r.By))+3] = strconv.FormatFloat(r.Total.EnergyJ, 'f', 1, 64)
	if len(r.By) == 0 {
		// the total is the only line: a footer under no rows draws an empty body
		if err := t.Append(foot); err != nil {
			return err
		}
	} else {
		t.Footer(foot)
	}
	if err := t.Render(); err != nil {
		return err
	}
	for _, n := range r.Notes() {
		if _, err := fmt.Fprintln(w, n); err != nil {
			return err
		}
	}
	return nil
}

// reportCSV prints a header, a line per group and, where there are groups,
// a TOTAL line (TOTAL in the first key's column); without keys the only
// line is the total. With --by=user a userid column follows user.
func reportCSV(w io.Writer, r *Report) error {
	var header []string
	for _, k := range r.By {
		header = append(header, k)
		if k == ByUser {
			header = append(header, "userid")
		}
	}
	header = append(header, r.columns()...)
	cw := csv.NewWriter(w)
	if err := cw.Write(header); err != nil {
		return err
	}
	keyCells := func(g *Group) []string {
		var out []string
		for i, k := range r.By {
			out = append(out, g.Keys[i])
			if k == ByUser {
				uid := ""
				if g.UserID != nil {
					uid = strconv.FormatUint(uint64(*g.UserID), 10)
				}
				out = append(out, uid)
			}
		}
		return out
	}
	for i := range r.Groups {
		g := &r.Groups[i]
		if err := cw.Write(append(keyCells(g), r.cells(&g.Sum, full)...)); err != nil {
			return err
		}
	}
	var total []string
	if len(r.By) > 0 {
		total = make([]string, len(header)-len(r.columns()))
		total[0] = "TOTAL"
	}
	if err := cw.Write(append(total, r.cells(&r.Total, full)...)); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// reportJSON prints
//
//	{"since": T, "until": T, "by": [KEY...], "price_per_kwh": X, "carbon_g_per_kwh": G,
//	 "groups": [{KEY: VALUE..., "userid": UID, FIGURES}...], "total": {FIGURES}}
//
// where FIGURES are jobs, no_record, partial, no_data, node_seconds,
// node_hours, energy_j, energy_kwh, node_energy_j, and cost and co2e_kg
// where a price or carbon intensity was given. since and until are null
// where not given; price_per_kwh and carbon_g_per_kwh absent.
func reportJSON(w io.Writer, r *Report) error {
	var b bytes.Buffer
	b.WriteString("{\n  \"since\": ")
	b.WriteString(orNull(r.Since))
	b.WriteString(",\n  \"until\": ")
	b.WriteString(orNull(r.Until))
	by, _ := json.Marshal(append([]string{}, r.By...))
	b.WriteString(",\n  \"by\": ")
	b.Write(by)
	if r.Price != nil {
		b.WriteString(",\n  \"price_per_kwh\": " + full(*r.Price))
	}
	if r.Carbon != nil {
		b.WriteString(",\n  \"carbon_g_per_kwh\": " + full(*r.Carbon))
	}
	b.WriteString(",\n  \"groups\": [")
	for i := range r.Groups {
		g := &r.Groups[i]
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("\n    {")
		for ki, k := range r.By {
			kj, _ := json.Marshal(k)
			vj, _ := json.Marshal(g.Keys[ki])
			fmt.Fprintf(&b, "%s: %s, ", kj, vj)
			if k == ByUser && g.UserID != nil {
				fmt.Fprintf(&b, "\"userid\": %d, ", *g.UserID)
			}
		}
		b.WriteString(r.figures(&g.Sum))
		b.WriteString("}")
	}
	if len(r.Groups) > 0 {
		b.WriteString("\n  ")
	}
	b.WriteString("],\n  \"total\": {")
	b.WriteString(r.figures(&r.Total))
	b.WriteString("}\n}\n")
	_, err := w.Write(b.Bytes())
	return err
}

func (r *Report) figures(s *Sum) string {
	f := fmt.Sprintf(`"jobs": %d, "no_record": %d, "partial": %d, "no_data": %d, "node_seconds": %s, "node_hours": %s, "energy_j": %s, "energy_kwh": %s, "node_energy_j": %s`,
		s.Jobs, s.NoRecord, s.Partial, s.NoData, full(s.NodeSeconds), full(s.NodeHours()), full(s.EnergyJ), full(s.KWh()), full(s.NodeEnergyJ))
	if r.Price != nil {
		f += `, "cost": ` + full(r.Cost(s))
	}
	if r.Carbon != nil {
		f += `, "co2e_kg": ` + full(r.CO2eKg(s))
	}
	return f
}

func orNull(t float64) string {
	if t <= 0 {
		return "null"
	}
	return full(t)
}

// Fallback is what flux power-query -j prints where the job's record
// answers for the samples that are gone.
type Fallback struct {
	ID    uint64 // the job's id
	JobID string // as the user reads it (f58)
	// Why the module's answer was not used.
	Why    string
	Record *Record
}

// Line is the first line of the table.
func (f *Fallback) Line() string {
	return fmt.Sprintf("job %s: from the job's record, written when it ended (the power-monitor samples are gone: %s)", f.JobID, f.Why)
}

// WriteFallback prints a job's record: the table (Line, the run window, one
// row of figures, the reason), JSON
//
//	{"id": ID, "jobid": "ƒ...", "from_record": true, "why": "...", "record": RECORD}
//
// (RECORD as in the job's `power` event) or CSV: jobid, from_record, why,
// then the record's keys in the order of doc/rpc.md.
func WriteFallback(w io.Writer, format string, f *Fallback, loc *time.Location) error {
	switch format {
	case report.FormatTable, "":
		return fallbackTable(w, f, loc)
	case report.FormatJSON:
		doc := struct {
			ID     uint64  `json:"id"`
			JobID  string  `json:"jobid"`
			From   bool    `json:"from_record"`
			Why    string  `json:"why"`
			Record *Record `json:"record"`
		}{f.ID, f.JobID, true, f.Why, f.Record}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(&doc)
	case report.FormatCSV:
		r := f.Record
		uid := ""
		if r.UserID != nil {
			uid = strconv.FormatUint(uint64(*r.UserID), 10)
		}
		cw := csv.NewWriter(w)
		cw.Write([]string{"jobid", "from_record", "why", "version", "energy_j", "avg_power_w",
			"node_energy_j", "node_avg_power_w", "cpu_energy_j", "mem_energy_j", "gpu_energy_j",
			"start", "end", "duration_s", "nnodes", "ranks", "coverage", "data_presence", "method",
			"shared", "missing", "reason", "userid", "queue", "bank", "project"})
		cw.Write([]string{f.JobID, "true", f.Why, strconv.Itoa(r.Version), full(r.EnergyJ), full(r.AvgPowerW),
			full(r.NodeEnergyJ), full(r.NodeAvgPowerW), full(r.CPUEnergyJ), full(r.MemEnergyJ), full(r.GPUEnergyJ),
			full(r.Start), full(r.End), full(r.DurationS), strconv.Itoa(r.NNodes), r.Ranks, full(r.Coverage),
			r.Presence, r.Method, strconv.FormatBool(r.Shared), r.Missing, r.Reason, uid, r.Queue, r.Bank, r.Project})
		cw.Flush()
		return cw.Error()
	}
	return fmt.Errorf("unknown format %q (table, json or csv)", format)
}

func fallbackTable(w io.Writer, f *Fallback, loc *time.Location) error {
	if loc == nil {
		loc = time.Local
	}
	r := f.Record
	at := func(t float64) string {
		if t <= 0 {
			return "-"
		}
		return localTime(t, loc).Format("2006-01-02T15:04:05.000")
	}
	if _, err := fmt.Fprintf(w, "%s\njob %s: %s to %s, %.3f s\n", f.Line(), f.JobID, at(r.Start), at(r.End), r.DurationS); err != nil {
		return err
	}
	t := report.NewTable(w)
	t.Header([]string{"nnodes", "ranks", "power", "energy", "node_power", "node_energy",
		"cpu_energy", "mem_energy", "gpu_energy", "data_presence", "method", "shared"})
	watts := func(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
	presence := r.Presence
	if presence != "complete" {
		presence = fmt.Sprintf("%s %.0f%%", presence, 100*r.Coverage)
	}
	ranks := r.Ranks
	if ranks == "" {
		ranks = "-"
	}
	if err := t.Append([]string{strconv.Itoa(r.NNodes), ranks, watts(r.AvgPowerW), report.Energy(r.EnergyJ),
		watts(r.NodeAvgPowerW), report.Energy(r.NodeEnergyJ), report.Energy(r.CPUEnergyJ), report.Energy(r.MemEnergyJ),
		report.Energy(r.GPUEnergyJ), presence, r.Method, strconv.FormatBool(r.Shared)}); err != nil {
		return err
	}
	if err := t.Render(); err != nil {
		return err
	}
	if r.Missing != "" {
		if _, err := fmt.Fprintf(w, "missing ranks: %s\n", r.Missing); err != nil {
			return err
		}
	}
	if r.Reason != "" {
		if _, err := fmt.Fprintf(w, "reason: %s\n", r.Reason); err != nil {
			return err
		}
	}
	return nil
}
