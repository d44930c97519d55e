// SPDX-License-Identifier: LGPL-3.0-only

package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/flux-framework/power-monitor/internal/charge"
	"github.com/flux-framework/power-monitor/internal/store/aggregate"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// bigNodes is a 4-rank job on nodes with 2 CPU sockets, 2 memory domains
// and 8 GPUs each (the widest node the default table is sized for), long
// host names, a rank that did not answer; shared: the job holds half the
// cores and GPUs 0-3 of ranks 0 and 1.
func bigNodes(shared bool) *wire.QueryResponse {
	uid := uint32(5001)
	resp := &wire.QueryResponse{ID: 1, JobID: "ƒ2eoTe1ogb", UserID: &uid, State: "INACTIVE",
		Start: 1764950400.25, End: 1764954000.75, RankSet: "0-3"}
	for rank := uint32(0); rank < 3; rank++ {
		r := wire.RankResult{Rank: rank, Hostname: fmt.Sprintf("tioga%d", 101+rank), Source: "variorum",
			Aggregate: wire.Aggregate{Start: resp.Start, End: resp.End, Samples: 3600, FirstSample: resp.Start + 0.5,
				LastSample: resp.End - 0.5, CoveredS: 3600.5, Coverage: 1, Presence: aggregate.PresenceComplete}}
		if rank == 2 {
			r.Coverage, r.CoveredS, r.Presence, r.Reason = 0.874, 3147, aggregate.PresencePartial, "gap in samples: 453 s"
		}
		s := r.CoveredS
		gpuW := 0.0
		for i := 0; i < 8; i++ {
			w := 280.0 + 10*float64(i) + 5*float64(rank)
			gpuW += w
			r.GPU = append(r.GPU, wire.Domain{Kind: "gpu", Index: i, Measured: true, EnergyJ: w * s, MeanW: w, MinW: w - 50, MaxW: w + 50, Method: "counter", Source: "nvml"})
		}
		for i := 0; i < 2; i++ {
			cw, mw := 185.0+float64(i), 21.5
			r.CPU = append(r.CPU, wire.Domain{Kind: "cpu", Index: i, Measured: true, EnergyJ: cw * s, MeanW: cw, MinW: cw - 30, MaxW: cw + 30, Method: "counter", Source: "rapl"})
			r.Mem = append(r.Mem, wire.Domain{Kind: "mem", Index: i, Measured: true, EnergyJ: mw * s, MeanW: mw, MinW: mw, MaxW: mw, Method: "counter", Source: "rapl"})
		}
		nodeW := gpuW + 185 + 186 + 43 + 220
		r.Node = wire.Domain{Kind: "node", Index: -1, Measured: true, EnergyJ: nodeW * s, MeanW: nodeW, MinW: nodeW - 400, MaxW: nodeW + 300, Method: "counter", Source: "sum of rapl+nvml"}
		if shared && rank < 2 {
			r.Share = &wire.Share{Cores: "0-31", GPUs: "0-3", NCores: 32, NGPUs: 4, NodeCores: 64, NodeGPUs: 8, NodeGPUIDs: "0-7", CoreFraction: 0.5}
		}
		resp.Ranks = append(resp.Ranks, r)
	}
	resp.Missing = []wire.Missing{{Rank: 3, Hostname: "tioga104", Reason: wire.ReasonNotLoaded}}
	charge.Charge(resp.Ranks)
	charge.Summarize(resp)
	return resp
}

// TestTableGolden: the job's table in each named format, on terminals of
// 80 and 120 columns and into a pipe (no width: nothing cut), against the
// golden files in testdata (go test -run TableGolden -update rewrites
// them). On a terminal every line fits; into a pipe nothing is dropped.
func TestTableGolden(t *testing.T) {
	saved := time.Local
	time.Local = time.UTC
	defer func() { time.Local = saved }()
	for _, shared := range []bool{false, true} {
		for _, name := range []string{"default", "devices", "long"} {
			for _, width := range []int{80, 120, 0} {
				kind := "exclusive"
				if shared {
					kind = "shared"
				}
				where := fmt.Sprintf("tty%d", width)
				if width == 0 {
					where = "pipe"
				}
				golden := filepath.Join("testdata", fmt.Sprintf("table-%s-%s-%s.golden", kind, name, where))
				var b bytes.Buffer
				if err := WriteOutput(&b, Output{Format: name, Width: width}, bigNodes(shared), nil); err != nil {
					t.Fatal(err)
				}
				got := b.String()
				lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
				if width > 0 {
					for _, l := range lines {
						if n := utf8.RuneCountInString(l); n > width {
							t.Errorf("%s: a line of %d characters on a %d-column terminal:\n%s", golden, n, width, l)
						}
					}
				}
				if *update {
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatal(err)
				}
				if got != string(want) {
					t.Errorf("%s differs:\ngot\n%s\nwant\n%s", golden, got, want)
				}
			}
		}
	}
}

// TestDefaultFits80: the default table of a job on nodes with 2 sockets
// and 8 GPUs fits 80 columns with every one of its columns, shared or not:
// nothing is dropped to fit (the golden files show which columns).
func TestDefaultFits80(t *testing.T) {
	for _, shared := range []bool{false, true} {
		resp := bigNodes(shared)
		f, err := JobFields(resp).Parse("default")
		if err != nil {
			t.Fatal(err)
		}
		wide, fitted := f.Lines(Rows(resp), formatOptions(0)), f.Lines(Rows(resp), formatOptions(80))
		if strings.Join(wide, "\n") != strings.Join(fitted, "\n") {
			t.Errorf("shared %v: a column dropped at 80:\n%s", shared, strings.Join(fitted, "\n"))
		}
		if n := widestLine(wide); n > 80 {
			t.Errorf("shared %v: %d columns", shared, n)
		}
		head := wide[0]
		for _, h := range []string{"RANK", "HOSTNAME", "ENERGY", "POWER", "CPU_E", "GPU_E", "MEM_E", "COVER"} {
			if !strings.Contains(head, h) {
				t.Errorf("shared %v: no %s in %q", shared, h, head)
			}
		}
		if strings.Contains(head, "NODE_E") != shared {
			t.Errorf("shared %v: the node's columns in %q", shared, head)
		}
	}
}

// TestEveryDocumentedFieldRenders: each field flux-power-query(1) lists
// under FIELDS (cpuN_... read as cpu0_..., and so on) is known, renders a
// value in every row, and prints a number with a numeric spec where it is
// a number; and each field of the code is documented.
func TestEveryDocumentedFieldRenders(t *testing.T) {
	doc, err := os.ReadFile("../../doc/man1/flux-power-query.rst")
	if err != nil {
		t.Fatal(err)
	}
	sec := string(doc)
	i := strings.Index(sec, "\nFIELDS\n------\n")
	if i < 0 {
		t.Fatal("flux-power-query(1) has no FIELDS section")
	}
	sec = sec[i+len("\nFIELDS\n------\n"):]
	if j := regexp.MustCompile(`\n[A-Za-z ]+\n(-+|=+)\n`).FindStringIndex(sec); j != nil {
		sec = sec[:j[0]]
	}
	var documented []string
	for _, m := range regexp.MustCompile(`(?m)^\*\*([a-zN_]+)\*\*`).FindAllStringSubmatch(sec, -1) {
		documented = append(documented, m[1])
	}
	if len(documented) < 20 {
		t.Fatalf("only %d fields documented: %q", len(documented), documented)
	}
	resp := bigNodes(true)
	fs := JobFields(resp)
	rows := Rows(resp)
	seen := map[string]bool{}
	for _, name := range documented {
		seen[name] = true
		concrete := strings.ReplaceAll(name, "N", "0")
		f, err := fs.Parse("{" + concrete + "}")
		if err != nil {
			t.Errorf("documented field %s: %v", name, err)
			continue
		}
		lines := f.Lines(rows, formatOptions(0))
		if len(lines) != len(rows)+1 || strings.TrimSpace(lines[0]) == "" {
			t.Errorf("field %s: lines %q", name, lines)
		}
		if strings.TrimSpace(lines[1]) == "" {
			t.Errorf("field %s: rank 0 renders nothing", name)
		}
	}
	for _, fd := range fs.List {
		if !seen[fd.Name] {
			t.Errorf("field %s is not documented in flux-power-query(1) FIELDS", fd.Name)
		}
	}
	for _, dev := range []string{"cpuN_energy_j", "cpuN_power_w", "gpuN_energy_j", "gpuN_power_w", "memN_energy_j", "memN_power_w"} {
		if !seen[dev] {
			t.Errorf("device field %s is not documented", dev)
		}
	}
}

func widestLine(lines []string) int {
	n := 0
	for _, l := range lines {
		n = max(n, utf8.RuneCountInString(l))
	}
	return n
}
