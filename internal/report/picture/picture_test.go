// SPDX-License-Identifier: LGPL-3.0-only

package picture

import (
	"bytes"
	"encoding/xml"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot/vg"

	"github.com/flux-framework/power-monitor/internal/report"
)

func series() *report.Series {
	s := &report.Series{Title: "job fTest: power over time, 12 kJ in 60 s", Start: 1000, End: 1060}
	for _, k := range []string{"node", "cpu", "gpu"} {
		l := report.Line{Rank: report.RankTotal, Domain: k}
		for t := 0.0; t < 60; t += 5 {
			v := 100 + t
			b := report.Bucket{Start: 1000 + t, End: 1005 + t, MeanW: v, MinW: v - 10, MaxW: v + 10, Coverage: 1}
			if k == "gpu" && t == 50 {
				b = report.Bucket{Start: 1000 + t, End: 1005 + t}
			}
			l.Buckets = append(l.Buckets, b)
		}
		s.Lines = append(s.Lines, l)
	}
	return s
}

func TestPNGSize(t *testing.T) {
	file := filepath.Join(t.TempDir(), "p.png")
	if err := Write(file, series(), 8*vg.Inch, 4*vg.Inch); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", file, err)
	}
	if b := img.Bounds(); b.Dx() != 768 || b.Dy() != 384 {
		t.Errorf("%s is %dx%d, want 768x384 (8x4 in at 96 dpi)", file, b.Dx(), b.Dy())
	}
}

func TestSVGAndPDF(t *testing.T) {
	for _, c := range []struct{ ext, head, size string }{
		{".svg", "<?xml", `width="720pt" height="360pt"`},
		{".PDF", "%PDF-", "/MediaBox [0 0 720.00 360.00]"},
	} {
		file := filepath.Join(t.TempDir(), "p"+c.ext)
		if err := Write(file, series(), DefaultWidth, DefaultHeight); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte(c.head)) {
			t.Errorf("%s starts %q, want %q", file, b[:min(len(b), 16)], c.head)
		}
		if !bytes.Contains(b, []byte(c.size)) {
			t.Errorf("%s does not say its size %s:\n%.300s", file, c.size, b)
		}
		// A whole document: the SVG well-formed XML with an svg root, the
		// PDF ending with its end-of-file marker.
		switch c.ext {
		case ".svg":
			var root struct {
				XMLName xml.Name
			}
			if err := xml.Unmarshal(b, &root); err != nil || root.XMLName.Local != "svg" {
				t.Errorf("%s: not an SVG document (root %q): %v", file, root.XMLName.Local, err)
			}
		case ".PDF":
			if !bytes.HasSuffix(bytes.TrimSpace(b), []byte("%%EOF")) {
				t.Errorf("%s does not end with %%%%EOF", file)
			}
		}
	}
}

func TestKind(t *testing.T) {
	if _, err := Kind("a.jpeg"); err == nil || !strings.Contains(err.Error(), ".png, .svg or .pdf") {
		t.Errorf("Kind(a.jpeg): %v, want an error naming the kinds", err)
	}
	if k, err := Kind("x/A.Svg"); k != "svg" || err != nil {
		t.Errorf("Kind(A.Svg) = %q, %v", k, err)
	}
	if err := Write(filepath.Join(t.TempDir(), "p.gif"), series(), DefaultWidth, DefaultHeight); err == nil {
		t.Error("Write p.gif: no error")
	}
}

// The nodes' own lines beside a job's are dashed and named "whole" in the
// legend; the job's are not dashed.
func TestWholeDashed(t *testing.T) {
	draw := func(s *report.Series) string {
		file := filepath.Join(t.TempDir(), "p.svg")
		if err := Write(file, s, DefaultWidth, DefaultHeight); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	s := series()
	s.JobID = "fTest"
	if svg := draw(s); strings.Contains(svg, "stroke-dasharray:6") || strings.Contains(svg, "whole") {
		t.Errorf("a job's lines alone drawn dashed or named whole")
	}
	w := report.Line{Rank: report.RankTotal, Domain: "node", Of: report.OfNode}
	for _, b := range s.Lines[0].Buckets {
		b.MeanW += 50
		w.Buckets = append(w.Buckets, b)
	}
	s.Lines = append(s.Lines, w)
	svg := draw(s)
	if n := strings.Count(svg, "stroke-dasharray:6"); n != 2 { // the line and its legend's sample
		t.Errorf("%d dashed paths, want the whole node's line and its legend's", n)
	}
	if !strings.Contains(svg, "whole node") {
		t.Errorf("the legend does not name the whole node")
	}
}
