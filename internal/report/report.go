// SPDX-License-Identifier: LGPL-3.0-only

// Package report prints a power-monitor query answer: as a table for people,
// as JSON for programs, and as CSV with flux-power-monitor's column names
// (followed by ours) for the spreadsheets and scripts written for it.
package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/flux-framework/power-monitor/internal/charge"
	"github.com/flux-framework/power-monitor/internal/nested"
	"github.com/flux-framework/power-monitor/internal/report/format"
	"github.com/flux-framework/power-monitor/internal/store/aggregate"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// Formats.
const (
	FormatTable = "table"
	FormatJSON  = "json"
	FormatCSV   = "csv"
)

// Write prints resp in the given format.
func Write(w io.Writer, format string, resp *wire.QueryResponse) error {
	return WriteFrom(w, format, resp, nil)
}

// WriteFrom prints resp in the given format and says which instance's
// samples answered (o; nil says nothing): the table in a line under its
// title (where o is an enclosing instance, or this one is nested), the
// JSON in answered_by and each rank's enclosing_rank.
func WriteFrom(w io.Writer, format string, resp *wire.QueryResponse, o *nested.Origin) error {
	return WriteOutput(w, Output{Kind: format}, resp, o)
}

// width is the number of cpu, mem and gpu columns: the widest rank's.
func width(resp *wire.QueryResponse) (cpu, mem, gpu int) {
	for _, r := range resp.Ranks {
		cpu = max(cpu, len(r.CPU))
		mem = max(mem, len(r.Mem))
		gpu = max(gpu, len(r.GPU))
	}
	return
}

// Title is one line that says which job and window the figures cover:
// "job ƒ2eoTe1ogb (INACTIVE): 2026-12-07 01:55:58 to 01:56:58, 60.0 s"
// (the end's date where it is another day).
func Title(resp *wire.QueryResponse) string {
	var b strings.Builder
	if resp.JobID != "" {
		fmt.Fprintf(&b, "job %s", resp.JobID)
		if resp.State != "" {
			fmt.Fprintf(&b, " (%s)", resp.State)
		}
	} else {
		fmt.Fprintf(&b, "ranks %s", resp.RankSet)
	}
	fmt.Fprintf(&b, ": %s, %s", format.Span(format.Unix(resp.Start, time.Local), format.Unix(resp.End, time.Local)), format.Seconds(resp.Total.DurationS))
	if resp.Running {
		b.WriteString(", still running: figures up to now")
	}
	return b.String()
}

// clock prints the time of day of t; the title line carries the date.
func clock(t float64) string {
	if t <= 0 {
		return "-"
	}
	return format.Unix(t, time.Local).Format("15:04:05.000")
}

// presence is the data_presence cell: the presence, the coverage when not
// complete, and the reason's short form (up to its first colon). Notes under
// the table give the reasons in full.
func presence(r *wire.Aggregate) string {
	p := r.Presence
	if r.Presence != aggregate.PresenceComplete {
		p = p + " " + format.Percent(r.Coverage)
		if r.Reason != "" {
			p += " (" + shortReason(r.Reason) + ")"
		}
	}
	return p
}

func shortReason(s string) string {
	if i := strings.Index(s, ": "); i > 0 {
		return s[:i]
	}
	return s
}

// Notes lists each full reason and error once, with the ranks it applies
// to, for the lines under the table.
func Notes(resp *wire.QueryResponse) []string {
	var order []string
	ranks := map[string][]uint32{}
	add := func(text string, rank uint32) {
		if _, ok := ranks[text]; !ok {
			order = append(order, text)
		}
		ranks[text] = append(ranks[text], rank)
	}
	for i := range resp.Ranks {
		r := &resp.Ranks[i]
		if n := domainNotes(r); n != "" {
			add("energy from "+n, r.Rank)
		}
	}
	for _, r := range resp.Ranks {
		if r.Reason != "" && r.Reason != shortReason(r.Reason) {
			add(r.Reason, r.Rank)
		}
	}
	for i := range resp.Ranks {
		r := &resp.Ranks[i]
		switch {
		case r.JobError != "":
			add("the job is charged nothing: "+strings.TrimPrefix(r.JobError, fmt.Sprintf("rank %d: ", r.Rank)), r.Rank)
		case r.Share != nil && !r.Share.Exclusive:
			add(SharedNote(r.Share), r.Rank)
		}
	}
	for _, m := range resp.Missing {
		text := "missing: " + m.Reason
		if m.Error != "" {
			text += ": " + m.Error
		}
		add(text, m.Rank)
	}
	notes := make([]string, 0, len(order))
	for _, text := range order {
		rs := ranks[text]
		word := "rank"
		if len(rs) > 1 {
			word = "ranks"
		}
		notes = append(notes, fmt.Sprintf("%s %s: %s", word, RankSet(rs), text))
	}
	return notes
}

// SharedNote says what a job that shares a rank with others is charged for
// there (the rule of charge.Attribute).
func SharedNote(s *wire.Share) string {
	var b strings.Builder
	b.WriteString("shared: charged ")
	switch s.NGPUs {
	case 0:
	case 1:
		fmt.Fprintf(&b, "its GPU %s whole and ", s.GPUs)
	default:
		fmt.Fprintf(&b, "its GPUs %s whole and ", s.GPUs)
	}
	fmt.Fprintf(&b, "its %d of %d cores' part of the node", s.NCores, s.NodeCores)
	if s.NodeGPUs > 0 {
		fmt.Fprintf(&b, " without the instance's GPUs (%s)", s.NodeGPUIDs)
	}
	return b.String()
}

// RankSet prints sorted ranks as a compact RFC 22 idset ("0-3,7").
func RankSet(rs []uint32) string { return wire.FormatIDSet(rs) }

// Output says how to print an answer: Kind is table (the default), json or
// csv; a table prints by Format (a format string of {field:spec} items, or
// a named format: default, devices, long; "" is default), without its
// header where NoHeader, and fitted to Width columns where Width > 0 (a
// terminal: columns are dropped whole, format.Options).
type Output struct {
	Kind     string
	Format   string
	NoHeader bool
	Width    int
}

// Table prints a title line, a line per rank (and per missing rank), a
// total line, and notes under them (where the job shared a rank and what
// it was charged for there, why data is missing), in the default format.
func Table(w io.Writer, resp *wire.QueryResponse) error { return table(w, resp, nil, Output{}) }

// WriteOutput prints resp as out says, and which instance answered (o, as
// WriteFrom).
func WriteOutput(w io.Writer, out Output, resp *wire.QueryResponse, o *nested.Origin) error {
	switch out.Kind {
	case FormatTable, "":
		return table(w, resp, o, out)
	case FormatJSON:
		return jsonDoc(w, resp, o)
	case FormatCSV:
		return csvOut(w, resp, !out.NoHeader)
	}
	return fmt.Errorf("unknown format %q (table, json or csv)", out.Kind)
}

func table(w io.Writer, resp *wire.QueryResponse, o *nested.Origin, out Output) error {
	fs := JobFields(resp)
	spec := out.Format
	if spec == "" {
		spec = "default"
	}
	f, err := fs.Parse(spec)
	if err != nil {
		return err
	}
	var lines []string
	if !out.NoHeader {
		lines = append(lines, Title(resp))
		if o != nil && (!o.This || o.Level > 0) {
			lines = append(lines, o.Line())
		}
	}
	table, dropped := f.Fit(Rows(resp), format.Options{NoHeader: out.NoHeader, Width: out.Width})
	lines = append(lines, table...)
	if n := format.DroppedNote(dropped, out.Width); n != "" && !out.NoHeader {
		lines = append(lines, format.Wrap(n, out.Width, "    ")...)
	}
	if !out.NoHeader {
		for _, n := range Notes(resp) {
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

type row struct {
	rank    uint32
	res     *wire.RankResult
	missing *wire.Missing
}

// mergedRows interleaves answered and missing ranks in rank order.
func mergedRows(resp *wire.QueryResponse) []row {
	rows := make([]row, 0, len(resp.Ranks)+len(resp.Missing))
	i, j := 0, 0
	for i < len(resp.Ranks) || j < len(resp.Missing) {
		if j >= len(resp.Missing) || (i < len(resp.Ranks) && resp.Ranks[i].Rank < resp.Missing[j].Rank) {
			rows = append(rows, row{rank: resp.Ranks[i].Rank, res: &resp.Ranks[i]})
			i++
		} else {
			rows = append(rows, row{rank: resp.Missing[j].Rank, missing: &resp.Missing[j]})
			j++
		}
	}
	return rows
}

// JSONRank is one rank in the JSON output: the answer of the rank, with the
// figures people look for first at the top level. energy_j and power_w are
// what the job is charged on the rank (charge.Charged: its part
// where its share is known, the node's where not, 0 with a job_error); the
// node_ fields are the node's.
type JSONRank struct {
	Rank        uint32           `json:"rank"`
	Enclosing   *uint32          `json:"enclosing_rank,omitempty"` // its rank in the instance that answered
	Hostname    string           `json:"hostname"`
	EnergyJ     float64          `json:"energy_j"`
	PowerW      float64          `json:"power_w"` // EnergyJ over the covered seconds
	NodeEnergyJ float64          `json:"node_energy_j"`
	NodePowerW  float64          `json:"node_power_w"` // time-weighted mean
	MinPowerW   float64          `json:"node_power_min_w"`
	MaxPowerW   float64          `json:"node_power_max_w"`
	Presence    string           `json:"data_presence"`
	Reason      string           `json:"reason,omitempty"`
	Coverage    float64          `json:"coverage"`
	Samples     int              `json:"samples"`
	Source      string           `json:"source"`
	Share       *wire.Share      `json:"share,omitempty"`     // what the job holds on the rank
	Job         *wire.JobFigures `json:"job,omitempty"`       // the job's part of the rank, by domain
	JobError    string           `json:"job_error,omitempty"` // why the job's part is unknown
	Detail      *wire.Aggregate  `json:"detail"`              // the node's figures
}

// JSONDoc is the JSON output.
type JSONDoc struct {
	ID      uint64         `json:"id,omitempty"`
	JobID   string         `json:"jobid,omitempty"`
	UserID  *uint32        `json:"userid,omitempty"`
	State   string         `json:"state,omitempty"`
	Running bool           `json:"running"`
	Start   float64        `json:"start"`
	End     float64        `json:"end"`
	RankSet string         `json:"rankset"`
	Ranks   []JSONRank     `json:"ranks"`
	Missing []wire.Missing `json:"missing"`
	// ShareError says why ranks have no share.
	ShareError string     `json:"share_error,omitempty"`
	Total      wire.Total `json:"total"`
	// AnsweredBy says which instance's samples answered.
	AnsweredBy *nested.Origin `json:"answered_by,omitempty"`
}

// JSON prints resp as one indented JSON document.
func JSON(w io.Writer, resp *wire.QueryResponse) error { return jsonDoc(w, resp, nil) }

func jsonDoc(w io.Writer, resp *wire.QueryResponse, o *nested.Origin) error {
	doc := JSONDoc{ID: resp.ID, JobID: resp.JobID, UserID: resp.UserID, State: resp.State,
		Running: resp.Running, Start: resp.Start, End: resp.End, RankSet: resp.RankSet,
		Ranks: []JSONRank{}, Missing: resp.Missing, ShareError: resp.ShareError, Total: resp.Total,
		AnsweredBy: o}
	if doc.Missing == nil {
		doc.Missing = []wire.Missing{}
	}
	for i := range resp.Ranks {
		r := &resp.Ranks[i]
		f := charge.Charged(r)
		doc.Ranks = append(doc.Ranks, JSONRank{
			Rank: r.Rank, Hostname: r.Hostname, EnergyJ: f.EnergyJ, PowerW: f.MeanW,
			NodeEnergyJ: r.Node.EnergyJ, NodePowerW: r.Node.MeanW, MinPowerW: r.Node.MinW, MaxPowerW: r.Node.MaxW,
			Presence: r.Presence, Reason: r.Reason, Coverage: r.Coverage,
			Samples: r.Samples, Source: r.Source, Share: r.Share, Job: r.Job, JobError: r.JobError,
			Detail: &r.Aggregate,
		})
		if o != nil {
			if er, ok := o.Enclosing[r.Rank]; ok {
				doc.Ranks[len(doc.Ranks)-1].Enclosing = &er
			}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&doc)
}

// CSV prints one line per rank. The first columns are flux-power-monitor's,
// with its names, units and meaning, the node's (hostname, node_power in W,
// result_start_time and result_end_time in microseconds since the epoch,
// data_presence, then cpu_power_N, gpu_power_N, mem_power_N in W, -1.0 where
// unsupported); ours follow (rank, node_energy_j, node_power_min_w,
// node_power_max_w, coverage, samples, reason, source, the energy of each
// device of the node), then the job's: job_energy_j and job_power_w (what it
// is charged on the rank, charge.Charged; -1.0 with a job_error),
// its cores and gpus there (RFC 22 idsets), core_fraction and exclusive
// (empty where its share is unknown). A missing rank has data_presence
// "none" and its reason.
func CSV(w io.Writer, resp *wire.QueryResponse) error { return csvOut(w, resp, true) }

// csvOut is CSV, without the header line where header is false
// (--no-header).
func csvOut(w io.Writer, resp *wire.QueryResponse, header bool) error {
	nc, nm, ng := width(resp)
	cols := []string{"hostname", "node_power", "result_start_time", "result_end_time", "data_presence"}
	for _, p := range []struct {
		name string
		n    int
	}{{"cpu_power", nc}, {"gpu_power", ng}, {"mem_power", nm}} {
		for i := 0; i < p.n; i++ {
			cols = append(cols, fmt.Sprintf("%s_%d", p.name, i))
		}
	}
	cols = append(cols, "rank", "node_energy_j", "node_power_min_w", "node_power_max_w", "coverage", "samples", "reason", "source")
	for _, p := range []struct {
		name string
		n    int
	}{{"cpu_energy_j", nc}, {"gpu_energy_j", ng}, {"mem_energy_j", nm}} {
		for i := 0; i < p.n; i++ {
			cols = append(cols, fmt.Sprintf("%s_%d", strings.TrimSuffix(p.name, "_j"), i)+"_j")
		}
	}
	cols = append(cols, "job_energy_j", "job_power_w", "cores", "gpus", "core_fraction", "exclusive")
	cw := csv.NewWriter(w)
	if header {
		if err := cw.Write(cols); err != nil {
			return err
		}
	}
	us := func(t float64) string { return strconv.FormatInt(int64(math.Round(t*1e6)), 10) }
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	// column appends n cells of one quantity of each domain, -1.0 where a
	// domain is absent or unmeasured.
	column := func(get func(wire.Domain) float64) func([]wire.Domain, int, []string) []string {
		return func(ds []wire.Domain, n int, out []string) []string {
			for i := 0; i < n; i++ {
				if i < len(ds) && ds[i].Measured {
					out = append(out, f(get(ds[i])))
				} else {
					out = append(out, "-1.0")
				}
			}
			return out
		}
	}
	mean := column(func(d wire.Domain) float64 { return d.MeanW })
	energy := column(func(d wire.Domain) float64 { return d.EnergyJ })
	for _, rw := range mergedRows(resp) {
		var rec []string
		if rw.res == nil {
			m := rw.missing
			rec = []string{m.Hostname, "-1.0", us(resp.Start), us(resp.End), aggregate.PresenceNone}
			for i := 0; i < nc+ng+nm; i++ {
				rec = append(rec, "-1.0")
			}
			rec = append(rec, fmt.Sprint(m.Rank), "-1.0", "-1.0", "-1.0", "0", "0", m.Reason, "")
			for i := 0; i < nc+ng+nm; i++ {
				rec = append(rec, "-1.0")
			}
			rec = append(rec, "-1.0", "-1.0", "", "", "", "")
		} else {
			r := rw.res
			node, energyJ, minW, maxW := "-1.0", "-1.0", "-1.0", "-1.0"
			if r.Node.Measured {
				node, energyJ, minW, maxW = f(r.Node.MeanW), f(r.Node.EnergyJ), f(r.Node.MinW), f(r.Node.MaxW)
			}
			rec = []string{r.Hostname, node, us(resp.Start), us(resp.End), r.Presence}
			rec = mean(r.CPU, nc, rec)
			rec = mean(r.GPU, ng, rec)
			rec = mean(r.Mem, nm, rec)
			rec = append(rec, fmt.Sprint(r.Rank), energyJ, minW, maxW,
				f(r.Coverage), fmt.Sprint(r.Samples), r.Reason, r.Source)
			rec = energy(r.CPU, nc, rec)
			rec = energy(r.GPU, ng, rec)
			rec = energy(r.Mem, nm, rec)
			jobEnergy, jobPower := "-1.0", "-1.0"
			if r.JobError == "" && r.Node.Measured {
				c := charge.Charged(r)
				jobEnergy, jobPower = f(c.EnergyJ), f(c.MeanW)
			}
			rec = append(rec, jobEnergy, jobPower)
			if s := r.Share; s != nil {
				rec = append(rec, s.Cores, s.GPUs, f(s.CoreFraction), strconv.FormatBool(s.Exclusive))
			} else {
				rec = append(rec, "", "", "", "")
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
