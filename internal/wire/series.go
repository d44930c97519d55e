// SPDX-License-Identifier: LGPL-3.0-only

package wire

// A series is a window's power over time, in buckets (doc/rpc.md,
// "Series"). A query asks for one with its "series" member (SeriesSpec);
// the answering rank asks every rank for its series over the same window
// and buckets (TopicSeriesWindow, SeriesWindowRequest) and sums them bucket
// by bucket into QueryResponse.Series.

import (
	"fmt"
	"math"

	"github.com/flux-framework/power-monitor/internal/store/aggregate"
)

// TopicSeriesWindow asks one rank for the aggregate of its own samples
// over a time interval and its series over the same interval in buckets.
// Instance owner only (the module's own fan-out), like TopicWindow.
const TopicSeriesWindow = "power-monitor.series-window"

// Bucket counts.
const (
	// DefaultBuckets is the number of buckets of a series asked with
	// "buckets" 0 or absent.
	DefaultBuckets = 100
	// MaxBuckets is the largest number of buckets a series may ask for.
	MaxBuckets = 10000
)

// SeriesSpec is the "series" member of a QueryRequest: the answer then
// carries the series of the window in QueryResponse.Series.
type SeriesSpec struct {
	// Buckets is the number of buckets, 1 to MaxBuckets; 0: DefaultBuckets.
	// A window shorter than Buckets nanoseconds has one bucket per
	// nanosecond.
	Buckets int `json:"buckets,omitempty"`
	// PerRank asks for each rank's series beside the sum (Series.Ranks).
	PerRank bool `json:"per_rank,omitempty"`
	// Node asks, for a job, for the nodes' series beside the job's
	// (Series.Node, and RankSeries.Node with PerRank): the whole nodes'
	// figures, whatever the job's share of them.
	Node bool `json:"node,omitempty"`
}

// Series is the power of a window over time, in buckets that tile it.
// Bucket k spans [Start + k*(End-Start)/n, Start + (k+1)*(End-Start)/n],
// computed in integer nanoseconds (aggregate.Edges), the same on every
// rank; the first bucket starts at Start and the last ends at End exactly.
type Series struct {
	Start float64 `json:"start"` // the window, unix seconds (as the query's)
	End   float64 `json:"end"`
	// Buckets is the sum over the ranks that answered of what is charged
	// to the job on each (its part of a node it shares, the node's figures
	// where it holds the whole node or no share is known), bucket by
	// bucket. A query by ranks and interval charges the nodes' figures.
	Buckets []Bucket `json:"buckets"`
	// Node is the sum of the nodes' own figures, when asked (SeriesSpec.Node).
	Node []Bucket `json:"node,omitempty"`
	// Ranks is each answering rank's series, in rank order, when asked
	// (SeriesSpec.PerRank).
	Ranks []RankSeries `json:"ranks,omitempty"`
}

// RankSeries is one rank's series in a Series.
type RankSeries struct {
	Rank     uint32   `json:"rank"`
	Hostname string   `json:"hostname"`
	Buckets  []Bucket `json:"buckets"`        // what the job is charged on the rank
	Node     []Bucket `json:"node,omitempty"` // the node's own figures, when asked
}

// Bucket is one bucket of a series: its span and its figures per domain
// kind.
type Bucket struct {
	Start float64 `json:"start"` // unix seconds
	End   float64 `json:"end"`
	// Domains by kind: "node" (the whole node, or the job's part of it),
	// "cpu", "mem", "gpu", each the sum of the domains of that kind. A kind
	// that no rank of the series has is absent.
	Domains map[string]BucketDomain `json:"domains"`
}

// BucketDomain is one domain kind's figures over a bucket.
type BucketDomain struct {
	// EnergyJ is the kind's energy over the bucket: from the energy
	// counters where there are some, else the integral of the sampled
	// power (the query's window integrator). The buckets' energies add up
	// to the window's.
	EnergyJ float64 `json:"energy_j"`
	// MeanW is EnergyJ over the bucket's duration (End - Start): like the
	// query's avg_power_w, it is lower than the draw where the bucket is
	// not fully covered (Coverage < 1).
	MeanW float64 `json:"mean_w"`
	// MinW and MaxW are the lowest and highest power sampled in the
	// bucket. For a sum (several domains of a kind, several ranks) they
	// are the sums of the parts' minima and maxima: bounds, since the
	// parts need not peak together.
	MinW float64 `json:"min_w"`
	MaxW float64 `json:"max_w"`
	// Coverage is the part of the bucket covered by samples, over the
	// ranks asked that have the kind (a rank that did not answer counts as
	// uncovered), in [0, 1].
	Coverage float64 `json:"coverage"`
}

// SeriesWindowRequest is the payload of TopicSeriesWindow.
type SeriesWindowRequest struct {
	Start   float64 `json:"start"` // unix seconds
	End     float64 `json:"end"`
	Buckets int     `json:"buckets"` // 1 to MaxBuckets
}

// SeriesWindowResponse is the answer to TopicSeriesWindow: the rank's
// aggregate over the whole window (as TopicWindow answers it) and its
// figures over each bucket, whose spans follow from the request
// (aggregate.Edges).
type SeriesWindowResponse struct {
	RankResult
	Buckets RankBuckets `json:"buckets"`
}

// RankBuckets are one rank's figures over the buckets of a window, by
// column: each an array of one number a bucket, in time order (a third of
// the bytes of an object a bucket, and quicker to read: BENCHMARKS.md,
// "The whole --timeline command"). The CPU and memory domains are summed
// per kind on the rank (the job's share of them is a fraction of each, the
// same for all); the GPUs are each apart (the share says which are the
// job's).
type RankBuckets struct {
	CoveredS Floats   `json:"covered_s"` // seconds of each bucket covered by samples
	Node     Column   `json:"node"`
	CPU      *Column  `json:"cpu,omitempty"` // the sum of the CPU domains; nil: the rank has none
	Mem      *Column  `json:"mem,omitempty"` // the sum of the memory domains; nil: none
	GPU      []Column `json:"gpu"`           // each GPU by index
}

// Len is the number of buckets, that of covered_s (Check says whether
// every column has as many).
func (rb *RankBuckets) Len() int { return len(rb.CoveredS) }

// Column is one domain's figures, or the sum of a kind's, over each
// bucket: NaN (null on the wire) in all three where no domain was measured
// in the bucket; a sum is that of the domains measured.
type Column struct {
	EnergyJ Floats `json:"energy_j"`
	MinW    Floats `json:"min_w"`
	MaxW    Floats `json:"max_w"`
}

func newColumn(n int) Column {
	return Column{EnergyJ: make(Floats, n), MinW: make(Floats, n), MaxW: make(Floats, n)}
}

// set sets bucket k to the sum of the measured domains of ds.
func (c *Column) set(k int, ds ...aggregate.Domain) {
	e, lo, hi, measured := 0.0, 0.0, 0.0, false
	for i := range ds {
		if d := &ds[i]; d.Measured {
			e, lo, hi, measured = e+d.EnergyJ, lo+d.MinW, hi+d.MaxW, true
		}
	}
	if !measured {
		e, lo, hi = math.NaN(), math.NaN(), math.NaN()
	}
	c.EnergyJ[k], c.MinW[k], c.MaxW[k] = e, lo, hi
}

// UnixNano is a time in unix seconds as the integrator takes it: the
// module converts a request's window, and charge.SumSeries the bucket
// edges, by this one rule, so that the ranks' buckets and the sum's line
// up.
func UnixNano(sec float64) int64 { return int64(sec * 1e9) }

// BucketColumns is the wire form of one rank's buckets (aggregate.Buckets),
// all of the layout of the first.
func BucketColumns(bs []aggregate.Result) RankBuckets {
	n := len(bs)
	out := RankBuckets{CoveredS: make(Floats, n), Node: newColumn(n), GPU: []Column{}}
	if n == 0 {
		return out
	}
	if len(bs[0].CPU) > 0 {
		c := newColumn(n)
		out.CPU = &c
	}
	if len(bs[0].Mem) > 0 {
		c := newColumn(n)
		out.Mem = &c
	}
	for range bs[0].GPU {
		out.GPU = append(out.GPU, newColumn(n))
	}
	for k := range bs {
		b := &bs[k]
		out.CoveredS[k] = b.CoveredS
		out.Node.set(k, b.Node)
		if out.CPU != nil {
			out.CPU.set(k, b.CPU...)
		}
		if out.Mem != nil {
			out.Mem.set(k, b.Mem...)
		}
		for i := range out.GPU {
			if i < len(b.GPU) {
				out.GPU[i].set(k, b.GPU[i])
			} else {
				out.GPU[i].set(k)
			}
		}
	}
	return out
}

// BucketFigures are one rank's figures over one bucket of its RankBuckets,
// read back as Domains (the form a rank's figures over the window take):
// CPU and Mem each hold the kind's sum, if the rank has the kind; GPU each
// GPU by index.
type BucketFigures struct {
	CoveredS      float64
	Node          Domain
	CPU, Mem, GPU []Domain
}

// Check says whether every column has n buckets.
func (rb *RankBuckets) Check(n int) error {
	cols := append([]Column{rb.Node}, rb.GPU...)
	for _, c := range []*Column{rb.CPU, rb.Mem} {
		if c != nil {
			cols = append(cols, *c)
		}
	}
	for _, c := range cols {
		if len(c.EnergyJ) != n || len(c.MinW) != n || len(c.MaxW) != n {
			return fmt.Errorf("a domain has %d, %d and %d buckets of energy, minimum and maximum", len(c.EnergyJ), len(c.MinW), len(c.MaxW))
		}
	}
	return nil
}

// FiguresAt fills f with the rank's figures over bucket k (0 <= k < Len,
// the columns checked by Check), reusing f's lists.
func (rb *RankBuckets) FiguresAt(k int, f *BucketFigures) {
	at := func(c *Column, kind string, index int) Domain {
		d := Domain{Kind: kind, Index: index}
		if e := c.EnergyJ[k]; !math.IsNaN(e) {
			d.Measured, d.EnergyJ, d.MinW, d.MaxW = true, e, c.MinW[k], c.MaxW[k]
		}
		return d
	}
	sum := func(out []Domain, c *Column, kind string) []Domain {
		out = out[:0]
		if c != nil {
			out = append(out, at(c, kind, 0))
		}
		return out
	}
	f.CoveredS = rb.CoveredS[k]
	f.Node = at(&rb.Node, aggregate.KindNode, -1)
	f.CPU = sum(f.CPU, rb.CPU, aggregate.KindCPU)
	f.Mem = sum(f.Mem, rb.Mem, aggregate.KindMem)
	f.GPU = f.GPU[:0]
	for i := range rb.GPU {
		f.GPU = append(f.GPU, at(&rb.GPU[i], aggregate.KindGPU, i))
	}
}
