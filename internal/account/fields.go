// SPDX-License-Identifier: LGPL-3.0-only

package account

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/flux-framework/power-monitor/internal/report/format"
)

// Line is one line of a report's table: a group, or the total.
type Line struct {
	r *Report
	g *Group // nil: the total
}

func (l Line) sum() *Sum {
	if l.g == nil {
		return &l.r.Total
	}
	return &l.g.Sum
}

// Lines are the lines of r's table: its groups, then the total.
func (r *Report) Lines() []Line {
	out := make([]Line, 0, len(r.Groups)+1)
	for i := range r.Groups {
		out = append(out, Line{r: r, g: &r.Groups[i]})
	}
	return append(out, Line{r: r})
}

// reportKeys are the keys a report may group by, which are also fields.
var reportKeys = []string{ByUser, "bank", "project", "queue", "day", "month"}

// ReportFields are the fields of a report's table (flux-power-query(1),
// REPORT FIELDS), named as its JSON names them. Its default format has a
// column per key of --by, and the cost and CO2e where a price and a
// carbon intensity are given.
func ReportFields(r *Report) *format.Fields[Line] {
	count := func(get func(*Sum) int, hideZero bool) func(Line) format.Cell {
		return func(l Line) format.Cell {
			n := get(l.sum())
			c := format.Number(float64(n), strconv.Itoa(n))
			c.Blank = hideZero && n == 0
			return c
		}
	}
	num := func(get func(*Sum) float64, human func(float64) string) func(Line) format.Cell {
		return func(l Line) format.Cell {
			v := get(l.sum())
			return format.Number(v, human(v))
		}
	}
	fixed := func(prec int) func(float64) string {
		return func(v float64) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	}
	var fields []format.Field[Line]
	for _, k := range reportKeys {
		k := k
		fields = append(fields, format.Field[Line]{Name: k, Header: strings.ToUpper(k), Get: func(l Line) format.Cell {
			i := indexOf(l.r.By, k)
			switch {
			case i < 0:
				return format.None
			case l.g == nil && i == 0:
				return format.Text("TOTAL")
			case l.g == nil:
				return format.Text("")
			}
			return format.Text(l.g.Keys[i])
		}})
	}
	fields = append(fields,
		format.Field[Line]{Name: "label", Header: "", Get: func(l Line) format.Cell {
			if l.g == nil {
				return format.Text("TOTAL")
			}
			return format.Text("")
		}},
		format.Field[Line]{Name: "userid", Header: "USERID", Drop: 80, Get: func(l Line) format.Cell {
			if l.g == nil || l.g.UserID == nil {
				return format.None
			}
			return format.Number(float64(*l.g.UserID), strconv.FormatUint(uint64(*l.g.UserID), 10))
		}},
		format.Field[Line]{Name: "jobs", Header: "JOBS", Get: count(func(s *Sum) int { return s.Jobs }, false)},
		format.Field[Line]{Name: "node_hours", Header: "NODE-H", Drop: 30, Get: num(func(s *Sum) float64 { return s.NodeHours() }, format.Sig3)},
		format.Field[Line]{Name: "node_seconds", Header: "NODE-S", Drop: 70, Get: num(func(s *Sum) float64 { return s.NodeSeconds }, fixed(0))},
		format.Field[Line]{Name: "energy_kwh", Header: "ENERGY-KWH", Get: func(l Line) format.Cell {
			s := l.sum()
			return format.Number(s.KWh(), format.KWh(s.EnergyJ))
		}},
		format.Field[Line]{Name: "energy_j", Header: "ENERGY-J", Drop: 40, Get: num(func(s *Sum) float64 { return s.EnergyJ }, format.Joules)},
		format.Field[Line]{Name: "node_energy_j", Header: "NODE-ENERGY", Drop: 60, Get: num(func(s *Sum) float64 { return s.NodeEnergyJ }, format.Joules)},
		format.Field[Line]{Name: "cost", Header: "COST", Drop: 20, Get: func(l Line) format.Cell {
			if l.r.Price == nil {
				return format.None
			}
			v := l.r.Cost(l.sum())
			return format.Number(v, format.Sig3(v))
		}},
		format.Field[Line]{Name: "co2e_kg", Header: "CO2E-KG", Drop: 25, Get: func(l Line) format.Cell {
			if l.r.Carbon == nil {
				return format.None
			}
			v := l.r.CO2eKg(l.sum())
			return format.Number(v, format.Sig3(v))
		}},
		format.Field[Line]{Name: "no_record", Header: "NO-RECORD", Drop: 50, Get: count(func(s *Sum) int { return s.NoRecord }, true)},
		format.Field[Line]{Name: "partial", Header: "PARTIAL", Drop: 50, Get: count(func(s *Sum) int { return s.Partial }, true)},
		format.Field[Line]{Name: "no_data", Header: "NO-DATA", Drop: 50, Get: count(func(s *Sum) int { return s.NoData }, true)},
	)
	return &format.Fields[Line]{List: fields, Named: map[string]string{
		"default": r.defaultFormat(false),
		"long":    r.defaultFormat(true),
	}}
}

// defaultFormat is a column per key (as wide as its widest value), then
// the figures; long adds the userid, node seconds and node energy, and
// keeps the counts where they are all zero.
func (r *Report) defaultFormat(long bool) string {
	var b strings.Builder
	if len(r.By) == 0 {
		b.WriteString("{label:<5} ") // the total is the only line
	}
	for i, k := range r.By {
		w := len(k)
		if i == 0 {
			w = max(w, len("TOTAL"))
		}
		for _, g := range r.Groups {
			w = max(w, utf8.RuneCountInString(g.Keys[i]))
		}
		fmt.Fprintf(&b, "{%s:<%d} ", k, w)
		if long && k == ByUser {
			b.WriteString("{userid:>6} ")
		}
	}
	b.WriteString("{jobs:>6} {node_hours:>8} {energy_kwh:>12} {energy_j:>8}")
	if long {
		b.WriteString(" {node_seconds:>10} {node_energy_j:>11}")
	}
	if r.Price != nil {
		b.WriteString(" {cost:>10}")
	}
	if r.Carbon != nil {
		b.WriteString(" {co2e_kg:>8}")
	}
	opt := "?:"
	if long {
		opt = ""
	}
	fmt.Fprintf(&b, " {%sno_record:>9} {%spartial:>7} {%sno_data:>7}", opt, opt, opt)
	return b.String()
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// RecordFields are the fields of a job's record as flux power-query -j
// prints it where the samples are gone (flux-power-query(1)), named as
// the record's JSON names them.
func RecordFields(_ *Record) *format.Fields[*Record] {
	energy := func(get func(*Record) float64) func(*Record) format.Cell {
		return func(r *Record) format.Cell { v := get(r); return format.Number(v, format.Joules(v)) }
	}
	power := func(get func(*Record) float64) func(*Record) format.Cell {
		return func(r *Record) format.Cell { v := get(r); return format.Number(v, format.Watts(v)) }
	}
	text := func(get func(*Record) string) func(*Record) format.Cell {
		return func(r *Record) format.Cell {
			if v := get(r); v != "" {
				return format.Text(v)
			}
			return format.None
		}
	}
	fields := []format.Field[*Record]{
		{Name: "nnodes", Header: "NNODES", Get: func(r *Record) format.Cell {
			return format.Number(float64(r.NNodes), strconv.Itoa(r.NNodes))
		}},
		{Name: "ranks", Header: "RANKS", Drop: 20, Get: text(func(r *Record) string { return r.Ranks })},
		{Name: "energy_j", Header: "ENERGY", Get: energy(func(r *Record) float64 { return r.EnergyJ })},
		{Name: "avg_power_w", Header: "POWER", Drop: 10, Get: power(func(r *Record) float64 { return r.AvgPowerW })},
		{Name: "node_energy_j", Header: "NODE_E", Drop: 30, Get: func(r *Record) format.Cell {
			if !r.Shared {
				return format.None // the job's own: its nodes were its alone
			}
			return format.Number(r.NodeEnergyJ, format.Joules(r.NodeEnergyJ))
		}},
		{Name: "node_avg_power_w", Header: "NODE_P", Drop: 50, Get: func(r *Record) format.Cell {
			if !r.Shared {
				return format.None
			}
			return format.Number(r.NodeAvgPowerW, format.Watts(r.NodeAvgPowerW))
		}},
		{Name: "cpu_energy_j", Header: "CPU_E", Drop: 62, Get: energy(func(r *Record) float64 { return r.CPUEnergyJ })},
		{Name: "gpu_energy_j", Header: "GPU_E", Drop: 60, Get: energy(func(r *Record) float64 { return r.GPUEnergyJ })},
		{Name: "mem_energy_j", Header: "MEM_E", Drop: 64, Get: energy(func(r *Record) float64 { return r.MemEnergyJ })},
		{Name: "coverage", Header: "COVER", Drop: 40, Get: func(r *Record) format.Cell {
			return format.Number(r.Coverage, format.Percent(r.Coverage))
		}},
		{Name: "data_presence", Header: "PRESENCE", Drop: 55, Get: text(func(r *Record) string { return r.Presence })},
		{Name: "method", Header: "METHOD", Drop: 70, Get: text(func(r *Record) string { return r.Method })},
		{Name: "shared", Header: "SHARED", Drop: 65, Get: func(r *Record) format.Cell { return format.Text(strconv.FormatBool(r.Shared)) }},
		{Name: "duration_s", Header: "DURATION", Drop: 45, Get: func(r *Record) format.Cell {
			return format.Number(r.DurationS, format.Seconds(r.DurationS))
		}},
	}
	return &format.Fields[*Record]{List: fields, Named: map[string]string{
		"default": "{nnodes:>6} {ranks:<8} {energy_j:>7} {avg_power_w:>7} {?:node_energy_j:>7} {?:node_avg_power_w:>7} " +
			"{cpu_energy_j:>7} {gpu_energy_j:>7} {mem_energy_j:>7} {coverage:>5}",
		"long": "{nnodes:>6} {ranks:<8} {energy_j:>7} {avg_power_w:>7} {node_energy_j:>7} {node_avg_power_w:>7} " +
			"{cpu_energy_j:>7} {gpu_energy_j:>7} {mem_energy_j:>7} {duration_s:>8} {coverage:>5} {data_presence:<8} {shared:<6} {method}",
	}}
}
