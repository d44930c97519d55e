// SPDX-License-Identifier: LGPL-3.0-only

// Package picture draws a power series (report.Series) as an image: PNG,
// SVG or PDF, from the file name's extension. It is apart from package
// report so that only the commands that draw pictures link the plotting
// library (never the broker module).
package picture

import (
	"fmt"
	"image/color"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/flux-framework/power-monitor/internal/report"
)

// Default size of a picture: 10 by 5 inches (960 by 480 pixels in PNG).
const (
	DefaultWidth  = 10 * vg.Inch
	DefaultHeight = 5 * vg.Inch
)

// Formats are the extensions Write knows.
var Formats = []string{".png", ".svg", ".pdf"}

// Kind is the picture kind of a file name, from its extension, or an
// error that names the extensions known.
func Kind(file string) (string, error) {
	ext := strings.ToLower(filepath.Ext(file))
	for _, f := range Formats {
		if ext == f {
			return ext[1:], nil
		}
	}
	return "", fmt.Errorf("cannot tell the picture kind of %q: name it .png, .svg or .pdf", file)
}

// colors of the lines, by domain kind; lines of other names take the
// palette in turn.
var colors = map[string]color.RGBA{
	"node": {0x1f, 0x1f, 0x1f, 0xff},
	"cpu":  {0x1f, 0x77, 0xb4, 0xff},
	"mem":  {0x2c, 0xa0, 0x2c, 0xff},
	"gpu":  {0xd6, 0x27, 0x28, 0xff},
}

var palette = []color.RGBA{
	{0x1f, 0x77, 0xb4, 0xff}, {0xff, 0x7f, 0x0e, 0xff}, {0x2c, 0xa0, 0x2c, 0xff},
	{0xd6, 0x27, 0x28, 0xff}, {0x94, 0x67, 0xbd, 0xff}, {0x8c, 0x56, 0x4b, 0xff},
	{0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff}, {0xbc, 0xbd, 0x22, 0xff},
	{0x17, 0xbe, 0xcf, 0xff},
}

// Write draws s into file, of the kind its extension names, width by
// height: a line per Line (each bucket's mean, at the bucket's middle, in
// watts against the seconds from the start), a band from each bucket's
// min to its max, and the series' title (the job and its energy). The
// nodes' own lines beside a job's (Series.Whole) are dashed, in their
// kind's colour, without a band. A bucket with no samples breaks the line.
func Write(file string, s *report.Series, width, height vg.Length) error {
	if _, err := Kind(file); err != nil {
		return err
	}
	p := plot.New()
	p.Title.Text = s.Title
	p.Title.Padding = vg.Points(8)
	p.X.Label.Text = "seconds from the start"
	p.Y.Label.Text = "power (W)"
	p.Y.Min = 0
	p.X.Min, p.X.Max = 0, s.End-s.Start
	p.Add(plotter.NewGrid())
	p.Legend.Top = true
	perRank := false
	for _, l := range s.Lines {
		perRank = perRank || (l.Rank != report.RankTotal && l.Rank != "")
	}
	// A whole line takes the colour of the job's line of its rank and kind.
	jobColor := map[[2]string]color.RGBA{}
	job := 0
	for _, l := range s.Lines {
		whole := s.Whole(&l)
		c, ok := colors[l.Domain]
		if perRank || !ok {
			c = palette[job%len(palette)]
		}
		if jc, ok := jobColor[[2]string{l.Rank, l.Domain}]; whole && ok {
			c = jc
		} else if !whole {
			jobColor[[2]string{l.Rank, l.Domain}] = c
			job++
		}
		band := color.NRGBA{R: c.R, G: c.G, B: c.B, A: 0x40}
		first := true
		// Each run of buckets with samples is a line and a band.
		for _, run := range runs(l.Buckets) {
			pts := make(plotter.XYs, len(run))
			poly := make(plotter.XYs, 0, 2*len(run)+2)
			for j, b := range run {
				pts[j] = plotter.XY{X: (b.Start+b.End)/2 - s.Start, Y: b.MeanW}
				poly = append(poly, plotter.XY{X: b.Start - s.Start, Y: b.MinW}, plotter.XY{X: b.End - s.Start, Y: b.MinW})
			}
			for j := len(run) - 1; j >= 0; j-- {
				b := run[j]
				poly = append(poly, plotter.XY{X: b.End - s.Start, Y: b.MaxW}, plotter.XY{X: b.Start - s.Start, Y: b.MaxW})
			}
			pg, err := plotter.NewPolygon(poly)
			if err != nil {
				return err
			}
			pg.Color = band
			pg.LineStyle.Width = 0
			ln, err := plotter.NewLine(pts)
			if err != nil {
				return err
			}
			ln.Color = c
			ln.Width = vg.Points(1.5)
			if whole {
				ln.Dashes = []vg.Length{vg.Points(6), vg.Points(3)}
				p.Add(ln)
			} else {
				p.Add(pg, ln)
			}
			if first {
				p.Legend.Add(s.Name(&l), ln)
				first = false
			}
		}
	}
	// Room above the highest band for the legend.
	p.Y.Max *= 1.25
	return p.Save(width, height, file)
}

// runs splits buckets at those with no samples.
func runs(bs []report.Bucket) [][]report.Bucket {
	var out [][]report.Bucket
	start := -1
	for i, b := range bs {
		switch {
		case b.Valid() && start < 0:
			start = i
		case !b.Valid() && start >= 0:
			out = append(out, bs[start:i])
			start = -1
		}
	}
	if start >= 0 {
		out = append(out, bs[start:])
	}
	return out
}
