// SPDX-License-Identifier: LGPL-3.0-only

package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/flux-framework/power-monitor/internal/report/format"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// Series is a job's (or ranks') power over time, ready to draw or print:
// one Line per domain kind summed over ranks (Rank "total"), or per rank;
// for a job, on request, the same of the nodes' own figures beside.
type Series struct {
	Title   string  `json:"title"` // the job and its window, for a chart's head
	JobID   string  `json:"jobid,omitempty"`
	Start   float64 `json:"start"`    // seconds since the epoch; the x axis counts from here
	End     float64 `json:"end"`      // seconds since the epoch
	EnergyJ float64 `json:"energy_j"` // the window's energy as the query reports it (NaN: unknown)
	Running bool    `json:"running,omitempty"`
	Lines   []Line  `json:"lines"`
}

// Line is one domain kind's buckets, on one rank or summed over ranks.
type Line struct {
	Rank    string   `json:"rank"`   // "total" or a rank number
	Domain  string   `json:"domain"` // "node", "cpu", "mem" or "gpu"
	Of      string   `json:"series"` // whose figures: OfJob or OfNode
	Buckets []Bucket `json:"buckets"`
}

// Line.Of: what a job is charged (its part of a node it shares), or the
// nodes' own figures (a query by ranks, or the nodes' series beside a
// job's).
const (
	OfJob  = "job"
	OfNode = "node"
)

// Whole says whether the line is the nodes' own figures beside a job's
// (Of OfNode in a series that has job lines).
func (s *Series) Whole(l *Line) bool {
	return l.Of == OfNode && s.JobID != ""
}

// Name is how a legend names the line: its domain, "whole" before it for
// the nodes' own beside a job's, and the rank first unless it is the
// total.
func (s *Series) Name(l *Line) string {
	name := l.Domain
	if s.Whole(l) {
		name = "whole " + name
	}
	if l.Rank == "" || l.Rank == RankTotal {
		return name
	}
	return "rank " + l.Rank + " " + name
}

// RankTotal is Line.Rank of a line summed over ranks.
const RankTotal = "total"

// Bucket is one interval of a Line. MeanW is the bucket's energy over its
// duration; a bucket with no coverage has no value and is not drawn.
type Bucket struct {
	Start    float64 `json:"start"` // seconds since the epoch
	End      float64 `json:"end"`
	MeanW    float64 `json:"mean_w"`
	MinW     float64 `json:"min_w"`
	MaxW     float64 `json:"max_w"`
	Coverage float64 `json:"coverage"` // fraction of the bucket with samples, 0 to 1
}

// Valid says whether the bucket has a value to draw.
func (b Bucket) Valid() bool {
	return b.Coverage > 0 && !math.IsNaN(b.MeanW) && !math.IsInf(b.MeanW, 0)
}

// EnergyJ is the bucket's energy: its mean over its duration.
func (b Bucket) EnergyJ() float64 {
	if !b.Valid() {
		return 0
	}
	return b.MeanW * (b.End - b.Start)
}

// SeriesCSV prints the series long: one record per bucket, line by line,
// with the columns start and end (seconds since the epoch), rank ("total"
// or a rank), domain, mean_w, min_w, max_w, coverage (0 to 1) and series
// (Line.Of). A bucket with no samples has empty mean, min and max.
func SeriesCSV(w io.Writer, s *Series, header bool) error {
	cw := csv.NewWriter(w)
	if header {
		if err := cw.Write([]string{"start", "end", "rank", "domain", "mean_w", "min_w", "max_w", "coverage", "series"}); err != nil {
			return err
		}
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }
	for _, l := range s.Lines {
		for _, b := range l.Buckets {
			mean, lo, hi := "", "", ""
			if b.Valid() {
				mean, lo, hi = f(b.MeanW), f(b.MinW), f(b.MaxW)
			}
			rec := []string{f(b.Start), f(b.End), l.Rank, l.Domain, mean, lo, hi, f(b.Coverage), l.Of}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// SeriesJSON prints the series as one JSON document. A bucket with no
// samples has null mean, min and max.
func SeriesJSON(w io.Writer, s *Series) error {
	type jbucket struct {
		Start    float64  `json:"start"`
		End      float64  `json:"end"`
		MeanW    *float64 `json:"mean_w"`
		MinW     *float64 `json:"min_w"`
		MaxW     *float64 `json:"max_w"`
		Coverage float64  `json:"coverage"`
	}
	type jline struct {
		Rank    string    `json:"rank"`
		Domain  string    `json:"domain"`
		Of      string    `json:"series"`
		Buckets []jbucket `json:"buckets"`
	}
	doc := struct {
		Title   string   `json:"title"`
		JobID   string   `json:"jobid,omitempty"`
		Start   float64  `json:"start"`
		End     float64  `json:"end"`
		EnergyJ *float64 `json:"energy_j"`
		Running bool     `json:"running"`
		Lines   []jline  `json:"lines"`
	}{Title: s.Title, JobID: s.JobID, Start: s.Start, End: s.End, Running: s.Running, Lines: []jline{}}
	if !math.IsNaN(s.EnergyJ) {
		e := s.EnergyJ
		doc.EnergyJ = &e
	}
	for _, l := range s.Lines {
		jl := jline{Rank: l.Rank, Domain: l.Domain, Of: l.Of, Buckets: make([]jbucket, len(l.Buckets))}
		for i, b := range l.Buckets {
			jb := jbucket{Start: b.Start, End: b.End, Coverage: b.Coverage}
			if b.Valid() {
				m, lo, hi := b.MeanW, b.MinW, b.MaxW
				jb.MeanW, jb.MinW, jb.MaxW = &m, &lo, &hi
			}
			jl.Buckets[i] = jb
		}
		doc.Lines = append(doc.Lines, jl)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(doc)
}

// domainMarks are the marks of the total lines, by domain kind, and
// wholeMarks those of the nodes' own beside a job's.
var (
	domainMarks = map[string]rune{"node": '#', "cpu": 'c', "mem": 'm', "gpu": 'g'}
	wholeMarks  = map[string]rune{"node": 'N', "cpu": 'C', "mem": 'M', "gpu": 'G'}
)

// overlapMark marks where lines meet.
const overlapMark = '*'

// rankMarks mark the lines of a per-rank chart, in turn.
const rankMarks = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// marks gives each line its mark: its domain's where every line is a total
// of a different kind (the nodes' own beside a job's in capitals),
// otherwise letters in turn.
func marks(s *Series) []rune {
	lines := s.Lines
	out := make([]rune, len(lines))
	seen := map[rune]bool{}
	byDomain := true
	for i, l := range lines {
		byKind := domainMarks
		if s.Whole(&l) {
			byKind = wholeMarks
		}
		m, ok := byKind[l.Domain]
		if !ok || seen[m] || (l.Rank != RankTotal && l.Rank != "") {
			byDomain = false
			break
		}
		seen[m] = true
		out[i] = m
	}
	if !byDomain {
		rs := []rune(rankMarks)
		for i := range out {
			out[i] = rs[i%len(rs)]
		}
	}
	return out
}

// MinChartWidth and MinChartHeight are the smallest chart Chart draws; a
// smaller size is raised to them.
const (
	MinChartWidth  = 30
	MinChartHeight = 8
)

// Chart draws the series as plain text in width columns and about height
// lines: a title, the power in watts (from 0) against the seconds from
// the series' start, one mark per line (each bucket's mean, joined by
// vertical runs; '*' where values of lines meet), and a legend. A bucket with no samples leaves a gap.
func Chart(w io.Writer, s *Series, width, height int) error {
	width = max(width, MinChartWidth)
	height = max(height, MinChartHeight)
	ms := marks(s)

	// The legend, wrapped to the width.
	var legend []string
	var cur strings.Builder
	items := make([]string, 0, len(s.Lines)+1)
	for i, l := range s.Lines {
		items = append(items, fmt.Sprintf("%c %s", ms[i], s.Name(&l)))
	}
	if len(s.Lines) > 1 {
		items = append(items, fmt.Sprintf("%c more than one", overlapMark))
	}
	for _, item := range items {
		if cur.Len() > 0 && len([]rune(cur.String()))+2+len([]rune(item)) > width {
			legend = append(legend, cur.String())
			cur.Reset()
		}
		cur.WriteString("  ")
		cur.WriteString(item)
	}
	if cur.Len() > 0 {
		legend = append(legend, cur.String())
	}
	if len(s.Lines) == 0 {
		legend = []string{"  (no samples in the window)"}
	}

	// The scale: 0 to a round maximum.
	top := 0.0
	for _, l := range s.Lines {
		for _, b := range l.Buckets {
			if b.Valid() {
				top = max(top, b.MeanW)
			}
		}
	}
	top = niceCeil(top)
	rows := max(height-3-len(legend), 3)
	row := func(v float64) int {
		if top <= 0 {
			return 0
		}
		return min(max(int(math.Round(v/top*float64(rows-1))), 0), rows-1)
	}
	// Labels at 0, the top and half way: on the rows where those values
	// are drawn.
	ylabels := map[int]string{0: wattLabel(0), rows - 1: wattLabel(top)}
	if rows >= 5 {
		ylabels[row(top/2)] = wattLabel(top / 2)
	}
	lw := 0
	for _, l := range ylabels {
		lw = max(lw, len(l))
	}
	cols := width - lw - 2 // label, space, axis
	span := s.End - s.Start
	if span <= 0 {
		span = 1
	}

	// The canvas: grid[row][col], row 0 at the bottom.
	grid := make([][]rune, rows)
	point := make([][]bool, rows) // grid[r][c] is a bucket's value
	for r := range grid {
		grid[r] = []rune(strings.Repeat(" ", cols))
		point[r] = make([]bool, cols)
	}
	for i, l := range s.Lines {
		prev := -1
		for c := 0; c < cols; c++ {
			t := s.Start + (float64(c)+0.5)/float64(cols)*span
			b, ok := bucketAt(l.Buckets, t)
			if !ok {
				prev = -1
				continue
			}
			r := row(b.MeanW)
			lo, hi := r, r
			if prev >= 0 {
				lo, hi = min(prev, r), max(prev, r)
			}
			// The bucket's value: '*' on another line's value; the
			// run from the previous column's: only on blanks.
			switch g := grid[r][c]; {
			case g == ' ' || !point[r][c]:
				grid[r][c] = ms[i]
			case g != ms[i]:
				grid[r][c] = overlapMark
			}
			point[r][c] = true
			for y := lo; y <= hi; y++ {
				if grid[y][c] == ' ' {
					grid[y][c] = ms[i]
				}
			}
			prev = r
		}
	}

	var out strings.Builder
	out.WriteString(s.Title)
	out.WriteByte('\n')
	for r := rows - 1; r >= 0; r-- {
		label, tick := ylabels[r], '│'
		if label != "" {
			tick = '┤'
		}
		if r == 0 {
			tick = '┼'
		}
		fmt.Fprintf(&out, "%*s %c%s\n", lw, label, tick, strings.TrimRight(string(grid[r]), " "))
	}
	fmt.Fprintf(&out, "%*s └%s\n", lw, "", strings.Repeat("─", cols))
	// x labels: the start, the middle and the end, in seconds.
	axis := []rune(strings.Repeat(" ", width))
	place := func(pos int, text string) {
		rs := []rune(text)
		pos = min(max(pos, 0), len(axis)-len(rs))
		for i, r := range rs {
			axis[pos+i] = r
		}
	}
	x0 := lw + 2
	place(x0, "0 s")
	mid := secondsLabel(span / 2)
	place(x0+cols/2-len(mid)/2, mid)
	place(x0+cols-len(secondsLabel(span)), secondsLabel(span))
	out.WriteString(strings.TrimRight(string(axis), " "))
	out.WriteByte('\n')
	for _, l := range legend {
		out.WriteString(l)
		out.WriteByte('\n')
	}
	_, err := io.WriteString(w, out.String())
	return err
}

// bucketAt finds the bucket that holds t (buckets in time order), and
// whether it has a value.
func bucketAt(bs []Bucket, t float64) (Bucket, bool) {
	lo, hi := 0, len(bs)
	for lo < hi {
		m := (lo + hi) / 2
		if bs[m].End <= t {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo < len(bs) && bs[lo].Start <= t && bs[lo].Valid() {
		return bs[lo], true
	}
	return Bucket{}, false
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten (1 for 0).
func niceCeil(v float64) float64 {
	if v <= 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p*(1+1e-12) {
			return m * p
		}
	}
	return 10 * p
}

func wattLabel(v float64) string {
	return strconv.FormatFloat(math.Round(v*10)/10, 'f', -1, 64) + " W"
}

func secondsLabel(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64) + " s"
	}
	return strconv.FormatFloat(v, 'g', 3, 64) + " s"
}

// Kinds are the domain kinds of a series, in the order lines are drawn.
var Kinds = []string{"node", "cpu", "mem", "gpu"}

// SeriesFrom takes the series of a query's answer: a line per domain kind
// of the sum over ranks, or, with perRank, of each rank (where the answer
// has them); with node, each followed by the same of the nodes' own
// figures (where the answer has them). It is nil where the answer has no
// series.
func SeriesFrom(resp *wire.QueryResponse, perRank, node bool) *Series {
	ws := resp.Series
	if ws == nil {
		return nil
	}
	s := &Series{JobID: resp.JobID, Start: ws.Start, End: ws.End, EnergyJ: resp.Total.EnergyJ, Running: resp.Running}
	name := "ranks " + resp.RankSet
	if resp.JobID != "" {
		name = "job " + resp.JobID
	}
	s.Title = fmt.Sprintf("%s: power over time, %s in %s", name, format.Joules(resp.Total.EnergyJ), secondsLabel(ws.End-ws.Start))
	if resp.Running {
		s.Title += ", still running"
	}
	of := OfJob
	if resp.JobID == "" {
		of = OfNode // a query by ranks charges the nodes' figures
	}
	lines := func(rank, of string, bs []wire.Bucket) {
		if bs == nil {
			return
		}
		for _, k := range Kinds {
			l := Line{Rank: rank, Domain: k, Of: of}
			has := false
			for _, b := range bs {
				d, ok := b.Domains[k]
				has = has || ok
				l.Buckets = append(l.Buckets, Bucket{Start: b.Start, End: b.End, MeanW: d.MeanW, MinW: d.MinW, MaxW: d.MaxW, Coverage: d.Coverage})
			}
			if has {
				s.Lines = append(s.Lines, l)
			}
		}
	}
	if perRank && len(ws.Ranks) > 0 {
		for _, r := range ws.Ranks {
			rank := strconv.FormatUint(uint64(r.Rank), 10)
			lines(rank, of, r.Buckets)
			if node {
				lines(rank, OfNode, r.Node)
			}
		}
	} else {
		lines(RankTotal, of, ws.Buckets)
		if node {
			lines(RankTotal, OfNode, ws.Node)
		}
	}
	return s
}
