// SPDX-License-Identifier: LGPL-3.0-only

package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/tw"

	"github.com/flux-framework/power-monitor/internal/wire"
)

// SourcesDoc is the answer of `flux power-query --sources`: every rank's
// sources, and the ranks that did not answer.
type SourcesDoc struct {
	Ranks   []wire.SourcesResponse `json:"ranks"`
	Missing []wire.Missing         `json:"missing"`
}

// Sources prints, for every kind of power source, on which ranks it is used,
// found but not used, or missing, and why; identical lines of several ranks
// are printed once with their ranks.
func Sources(w io.Writer, format string, doc *SourcesDoc) error {
	sort.Slice(doc.Ranks, func(i, j int) bool { return doc.Ranks[i].Rank < doc.Ranks[j].Rank })
	if doc.Missing == nil {
		doc.Missing = []wire.Missing{}
	}
	if format == FormatJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	}
	if format != FormatTable && format != "" {
		return fmt.Errorf("--sources prints a table or json, not %s", format)
	}
	type line struct{ kind, status, detail string }
	var order []line
	ranks := map[line][]uint32{}
	for _, r := range doc.Ranks {
		for _, s := range r.Sources {
			l := line{kind: s.Kind}
			switch {
			case s.Used:
				l.status, l.detail = "used", s.Name
				if e := r.Errors[s.Kind]; e != "" {
					l.detail += "; last read failed: " + e
				}
			case s.Name != "":
				l.status, l.detail = "found, not used", s.Reason
			default:
				l.status, l.detail = "missing", s.Reason
			}
			if _, ok := ranks[l]; !ok {
				order = append(order, l)
			}
			ranks[l] = append(ranks[l], r.Rank)
		}
	}
	for _, m := range doc.Missing {
		l := line{kind: "-", status: "no answer", detail: m.Reason}
		if m.Error != "" {
			l.detail += ": " + m.Error
		}
		if _, ok := ranks[l]; !ok {
			order = append(order, l)
		}
		ranks[l] = append(ranks[l], m.Rank)
	}
	t := tablewriter.NewTable(w, tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithRowAlignment(tw.AlignLeft))
	t.Header([]string{"ranks", "source", "status", "detail"})
	for _, l := range order {
		if err := t.Append([]string{RankSet(ranks[l]), l.kind, l.status, l.detail}); err != nil {
			return err
		}
	}
	return t.Render()
}

// domainNotes says, for each rank, where each kind of domain's energy came
// from and how: "node: sum of rapl+nvml; cpu: rapl, counter; gpu: nvml,
// counter/power" (GPUs of one kind measured differently list each way).
func domainNotes(r *wire.RankResult) string {
	var parts []string
	add := func(kind string, ds []wire.Domain) {
		var sources, methods []string
		for _, d := range ds {
			if d.Measured {
				sources = appendNew(sources, d.Source)
				methods = appendNew(methods, d.Method)
			}
		}
		if len(sources)+len(methods) > 0 {
			parts = append(parts, kind+": "+strings.Join(nonEmpty(strings.Join(sources, "/"), strings.Join(methods, "/")), ", "))
		}
	}
	add("node", []wire.Domain{r.Node})
	add("cpu", r.CPU)
	add("mem", r.Mem)
	add("gpu", r.GPU)
	return strings.Join(parts, "; ")
}

func appendNew(list []string, s string) []string {
	if s == "" {
		return list
	}
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
