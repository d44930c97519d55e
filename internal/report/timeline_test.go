// SPDX-License-Identifier: LGPL-3.0-only

package report

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flux-framework/power-monitor/internal/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixedSeries is 60 s of a job on two nodes, summed: the node draws 200 W,
// 400 W from 20 s to 40 s; the cpus 100 W then 250 W; the gpus 50 W, with
// no samples from 50 s to 55 s.
func fixedSeries() *Series {
	s := &Series{Title: "job fTest: power over time", JobID: "fTest", Start: 1000, End: 1060, EnergyJ: 0}
	mk := func(domain string, f func(t float64) float64) Line {
		l := Line{Rank: RankTotal, Domain: domain, Of: OfJob}
		for t := 0.0; t < 60; t += 5 {
			v := f(t)
			b := Bucket{Start: 1000 + t, End: 1005 + t, MeanW: v, MinW: v * 0.9, MaxW: v * 1.1, Coverage: 1}
			if math.IsNaN(v) {
				b = Bucket{Start: 1000 + t, End: 1005 + t, MeanW: math.NaN()}
			}
			l.Buckets = append(l.Buckets, b)
		}
		return l
	}
	s.Lines = []Line{
		mk("node", func(t float64) float64 {
			if t >= 20 && t < 40 {
				return 400
			}
			return 200
		}),
		mk("cpu", func(t float64) float64 {
			if t >= 20 {
				return 250
			}
			return 100
		}),
		mk("gpu", func(t float64) float64 {
			if t >= 50 && t < 55 {
				return math.NaN()
			}
			return 50
		}),
	}
	for _, b := range s.Lines[0].Buckets {
		s.EnergyJ += b.EnergyJ()
	}
	return s
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the chart drawn:\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestChartGolden(t *testing.T) {
	var b bytes.Buffer
	if err := Chart(&b, fixedSeries(), 72, 16); err != nil {
		t.Fatal(err)
	}
	golden(t, "chart.golden", b.Bytes())
}

// withWhole is the fixed series of a job that holds part of its nodes,
// with the nodes' own lines: the node draws 100 W more than the job is
// charged, the cpus 1.5 times as much.
func withWhole() *Series {
	s := fixedSeries()
	for _, l := range s.Lines[:2] {
		w := Line{Rank: l.Rank, Domain: l.Domain, Of: OfNode}
		for _, b := range l.Buckets {
			if l.Domain == "node" {
				b.MeanW, b.MinW, b.MaxW = b.MeanW+100, b.MinW+100, b.MaxW+100
			} else {
				b.MeanW, b.MinW, b.MaxW = b.MeanW*1.5, b.MinW*1.5, b.MaxW*1.5
			}
			w.Buckets = append(w.Buckets, b)
		}
		s.Lines = append(s.Lines, w)
	}
	return s
}

// The nodes' own lines beside a job's are drawn in capitals (N above #,
// C above c) and named "whole" in the legend.
func TestChartWholeGolden(t *testing.T) {
	var b bytes.Buffer
	if err := Chart(&b, withWhole(), 72, 18); err != nil {
		t.Fatal(err)
	}
	golden(t, "chart-whole.golden", b.Bytes())
}

func TestChartPerRankGolden(t *testing.T) {
	s := fixedSeries()
	for i := range s.Lines {
		s.Lines[i].Rank = strconv.Itoa(i)
	}
	var b bytes.Buffer
	if err := Chart(&b, s, 40, 10); err != nil {
		t.Fatal(err)
	}
	golden(t, "chart-ranks.golden", b.Bytes())
}

func TestChartSize(t *testing.T) {
	for _, sz := range [][2]int{{40, 10}, {80, 24}, {132, 50}} {
		var b bytes.Buffer
		if err := Chart(&b, fixedSeries(), sz[0], sz[1]); err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
		if len(lines) != sz[1] {
			t.Errorf("%dx%d: %d lines, want %d", sz[0], sz[1], len(lines), sz[1])
		}
		for _, l := range lines {
			if n := len([]rune(l)); n > sz[0] {
				t.Errorf("%dx%d: line of %d columns: %q", sz[0], sz[1], n, l)
			}
		}
		// Each line of the series leaves its mark.
		for _, m := range []string{"#", "c", "g"} {
			if strings.Count(b.String(), m) < 3 {
				t.Errorf("%dx%d: mark %q drawn fewer than 3 times:\n%s", sz[0], sz[1], m, b.String())
			}
		}
	}
}

func TestChartEmpty(t *testing.T) {
	var b bytes.Buffer
	if err := Chart(&b, &Series{Title: "nothing", Start: 1, End: 2}, 40, 10); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "no samples") {
		t.Errorf("an empty series does not say so:\n%s", b.String())
	}
}

func TestSeriesCSV(t *testing.T) {
	s := fixedSeries()
	var b bytes.Buffer
	if err := SeriesCSV(&b, s, true); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"start", "end", "rank", "domain", "mean_w", "min_w", "max_w", "coverage", "series"}
	if strings.Join(recs[0], ",") != strings.Join(want, ",") {
		t.Fatalf("header %v, want %v", recs[0], want)
	}
	if len(recs) != 1+3*12 {
		t.Fatalf("%d records, want %d", len(recs), 1+3*12)
	}
	// --no-header: the same records without the header
	var with, without bytes.Buffer
	if SeriesCSV(&with, s, true) != nil || SeriesCSV(&without, s, false) != nil {
		t.Fatal("SeriesCSV failed")
	}
	if _, rest, _ := strings.Cut(with.String(), "\n"); without.String() != rest {
		t.Fatalf("without the header:\n%s\nwant the records of:\n%s", without.String(), with.String())
	}
	energy, gaps := 0.0, 0
	for _, r := range recs[1:] {
		if r[2] != "total" || r[8] != "job" {
			t.Errorf("rank %q, series %q: want total, job", r[2], r[8])
		}
		if r[4] == "" {
			gaps++
			if r[3] != "gpu" || r[7] != "0" {
				t.Errorf("unexpected empty bucket %v", r)
			}
			continue
		}
		if r[3] != "node" {
			continue
		}
		start, _ := strconv.ParseFloat(r[0], 64)
		end, _ := strconv.ParseFloat(r[1], 64)
		mean, _ := strconv.ParseFloat(r[4], 64)
		energy += mean * (end - start)
	}
	if gaps != 1 {
		t.Errorf("%d empty buckets, want 1", gaps)
	}
	if math.Abs(energy-s.EnergyJ) > 1e-9 {
		t.Errorf("node buckets sum to %g J, want %g", energy, s.EnergyJ)
	}
	// The nodes' own lines follow, saying so.
	b.Reset()
	if err := SeriesCSV(&b, withWhole(), true); err != nil {
		t.Fatal(err)
	}
	recs, _ = csv.NewReader(&b).ReadAll()
	if len(recs) != 1+5*12 || strings.Join(recs[1+3*12][2:4], ",") != "total,node" || recs[1+3*12][8] != "node" || recs[1+3*12][4] != "300" {
		t.Errorf("the nodes' node line starts %v", recs[1+3*12])
	}
}

func TestSeriesJSON(t *testing.T) {
	var b bytes.Buffer
	if err := SeriesJSON(&b, fixedSeries()); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		EnergyJ float64 `json:"energy_j"`
		Lines   []struct {
			Domain  string `json:"domain"`
			Buckets []struct {
				MeanW *float64 `json:"mean_w"`
			} `json:"buckets"`
		} `json:"lines"`
	}
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("%v:\n%s", err, b.String())
	}
	if len(doc.Lines) != 3 || doc.Lines[2].Domain != "gpu" || doc.Lines[2].Buckets[10].MeanW != nil || doc.Lines[0].Buckets[4].MeanW == nil || *doc.Lines[0].Buckets[4].MeanW != 400 {
		t.Errorf("unexpected document:\n%s", b.String())
	}
	if doc.EnergyJ != 200*40+400*20 {
		t.Errorf("energy_j %g, want %d", doc.EnergyJ, 200*40+400*20)
	}
}

func TestSeriesFrom(t *testing.T) {
	b := func(start float64, node, gpu float64) wire.Bucket {
		return wire.Bucket{Start: start, End: start + 10, Domains: map[string]wire.BucketDomain{
			"node": {EnergyJ: node * 10, MeanW: node, MinW: node, MaxW: node, Coverage: 1},
			"gpu":  {EnergyJ: gpu * 10, MeanW: gpu, MinW: gpu, MaxW: gpu, Coverage: 1},
		}}
	}
	resp := &wire.QueryResponse{JobID: "fX", Running: true, Total: wire.Total{EnergyJ: 6000}, Series: &wire.Series{
		Start: 100, End: 120,
		Buckets: []wire.Bucket{b(100, 200, 50), b(110, 400, 100)},
		Ranks: []wire.RankSeries{
			{Rank: 0, Buckets: []wire.Bucket{b(100, 100, 25), b(110, 200, 50)}},
			{Rank: 3, Buckets: []wire.Bucket{b(100, 100, 25), b(110, 200, 50)}},
		},
	}}
	s := SeriesFrom(resp, false, false)
	if s.Title != "job fX: power over time, 6.00 kJ in 20 s, still running" {
		t.Errorf("title %q", s.Title)
	}
	lineNames := func(s *Series) string {
		var names []string
		for _, l := range s.Lines {
			names = append(names, s.Name(&l)+" ("+l.Of+")")
		}
		return strings.Join(names, ",")
	}
	if names := lineNames(s); names != "node (job),gpu (job)" || s.Lines[0].Buckets[1].MeanW != 400 || s.Lines[1].Buckets[0].MeanW != 50 {
		t.Errorf("total lines %v: %+v", lineNames(s), s.Lines)
	}
	if names := lineNames(SeriesFrom(resp, true, false)); names != "rank 0 node (job),rank 0 gpu (job),rank 3 node (job),rank 3 gpu (job)" {
		t.Errorf("per-rank lines %v", names)
	}
	// The nodes' own, where the answer has them.
	if names := lineNames(SeriesFrom(resp, false, true)); names != "node (job),gpu (job)" {
		t.Errorf("nodes' lines from an answer without them: %v", names)
	}
	resp.Series.Node = []wire.Bucket{b(100, 300, 50), b(110, 500, 100)}
	resp.Series.Ranks[1].Node = []wire.Bucket{b(100, 150, 25), b(110, 250, 50)}
	s = SeriesFrom(resp, false, true)
	if names := lineNames(s); names != "node (job),gpu (job),whole node (node),whole gpu (node)" || s.Lines[2].Buckets[1].MeanW != 500 {
		t.Errorf("lines with the nodes' %v: %+v", names, s.Lines)
	}
	if names := lineNames(SeriesFrom(resp, true, true)); names != "rank 0 node (job),rank 0 gpu (job),rank 3 node (job),rank 3 gpu (job),rank 3 whole node (node),rank 3 whole gpu (node)" {
		t.Errorf("per-rank lines with the nodes' %v", names)
	}
	// A query by ranks: the nodes' figures, not "whole" ones.
	resp.JobID = ""
	if names := lineNames(SeriesFrom(resp, false, false)); names != "node (node),gpu (node)" {
		t.Errorf("a query by ranks: %v", names)
	}
	resp.Series = nil
	if SeriesFrom(resp, false, false) != nil {
		t.Error("a series from an answer without one")
	}
}
