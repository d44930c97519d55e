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
	"github.com/flux-framework/power-monitor/internal/report/format"
)

// full prints a number so that it reads back as the same float64.
func full(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// WriteReport prints a report: a table for people (numbers rounded, a TOTAL
// line, notes on the jobs without a record or with incomplete data), CSV
// or JSON with every number as it was summed. loc is the time zone of the
// table's title.
func WriteReport(w io.Writer, kind string, r *Report, loc *time.Location) error {
	return WriteReportOutput(w, report.Output{Kind: kind}, r, loc)
}

// WriteReportOutput prints a report as out says: a table by its format
// (ReportFields), CSV or JSON.
func WriteReportOutput(w io.Writer, out report.Output, r *Report, loc *time.Location) error {
	switch out.Kind {
	case report.FormatTable, "":
		return reportTable(w, r, loc, out)
	case report.FormatCSV:
		return reportCSV(w, r, !out.NoHeader)
	case report.FormatJSON:
		return reportJSON(w, r)
	}
	return fmt.Errorf("unknown format %q (table, json or csv)", out.Kind)
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
	at := func(t float64) string { return format.Unix(t, loc).Format("2006-01-02 15:04:05 MST") }
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

func reportTable(w io.Writer, r *Report, loc *time.Location, out report.Output) error {
	spec := out.Format
	if spec == "" {
		spec = "default"
	}
	f, err := ReportFields(r).Parse(spec)
	if err != nil {
		return err
	}
	var lines []string
	if !out.NoHeader {
		lines = append(lines, r.Selection(loc))
	}
	table, dropped := f.Fit(r.Lines(), format.Options{NoHeader: out.NoHeader, Width: out.Width})
	lines = append(lines, table...)
	if n := format.DroppedNote(dropped, out.Width); n != "" && !out.NoHeader {
		lines = append(lines, format.Wrap(n, out.Width, "    ")...)
	}
	if !out.NoHeader {
		for _, n := range r.Notes() {
			lines = append(lines, format.Wrap(n, out.Width, "    ")...)
		}
	}
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

// reportCSV prints a header, a line per group and, where there are groups,
// a TOTAL line (TOTAL in the first key's column); without keys the only
// line is the total. With --by=user a userid column follows user. header
// false leaves out the header line (--no-header).
func reportCSV(w io.Writer, r *Report, header bool) error {
	var cols []string
	for _, k := range r.By {
		cols = append(cols, k)
		if k == ByUser {
			cols = append(cols, "userid")
		}
	}
	cols = append(cols, r.columns()...)
	cw := csv.NewWriter(w)
	if header {
		if err := cw.Write(cols); err != nil {
			return err
		}
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
		total = make([]string, len(cols)-len(r.columns()))
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
func WriteFallback(w io.Writer, kind string, f *Fallback, loc *time.Location) error {
	return WriteFallbackOutput(w, report.Output{Kind: kind}, f, loc)
}

// WriteFallbackOutput prints a job's record as out says (RecordFields).
func WriteFallbackOutput(w io.Writer, out report.Output, f *Fallback, loc *time.Location) error {
	switch out.Kind {
	case report.FormatTable, "":
		return fallbackTable(w, f, loc, out)
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
		if !out.NoHeader {
			cw.Write([]string{"jobid", "from_record", "why", "version", "energy_j", "avg_power_w",
				"node_energy_j", "node_avg_power_w", "cpu_energy_j", "mem_energy_j", "gpu_energy_j",
				"start", "end", "duration_s", "nnodes", "ranks", "coverage", "data_presence", "method",
				"shared", "missing", "reason", "userid", "queue", "bank", "project"})
		}
		cw.Write([]string{f.JobID, "true", f.Why, strconv.Itoa(r.Version), full(r.EnergyJ), full(r.AvgPowerW),
			full(r.NodeEnergyJ), full(r.NodeAvgPowerW), full(r.CPUEnergyJ), full(r.MemEnergyJ), full(r.GPUEnergyJ),
			full(r.Start), full(r.End), full(r.DurationS), strconv.Itoa(r.NNodes), r.Ranks, full(r.Coverage),
			r.Presence, r.Method, strconv.FormatBool(r.Shared), r.Missing, r.Reason, uid, r.Queue, r.Bank, r.Project})
		cw.Flush()
		return cw.Error()
	}
	return fmt.Errorf("unknown format %q (table, json or csv)", out.Kind)
}

func fallbackTable(w io.Writer, f *Fallback, loc *time.Location, out report.Output) error {
	if loc == nil {
		loc = time.Local
	}
	r := f.Record
	at := func(t float64) time.Time { return format.Unix(t, loc) }
	spec := out.Format
	if spec == "" {
		spec = "default"
	}
	fm, err := RecordFields(r).Parse(spec)
	if err != nil {
		return err
	}
	var lines []string
	if !out.NoHeader {
		lines = append(lines, format.Wrap(f.Line(), out.Width, "    ")...)
		lines = append(lines, fmt.Sprintf("job %s: %s, %s", f.JobID, format.Span(at(r.Start), at(r.End)), format.Seconds(r.DurationS)))
	}
	table, dropped := fm.Fit([]*Record{r}, format.Options{NoHeader: out.NoHeader, Width: out.Width})
	lines = append(lines, table...)
	if n := format.DroppedNote(dropped, out.Width); n != "" && !out.NoHeader {
		lines = append(lines, format.Wrap(n, out.Width, "    ")...)
	}
	if !out.NoHeader {
		if r.Missing != "" {
			lines = append(lines, "missing ranks: "+r.Missing)
		}
		if r.Reason != "" {
			lines = append(lines, format.Wrap("reason: "+r.Reason, out.Width, "    ")...)
		}
	}
	for _, l := range lines {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}
