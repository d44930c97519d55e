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
	"sort"

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

// Len is the number of buckets, that of covered_s (SumSeries checks that
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
// module converts a request's window, and SumSeries the bucket edges, by
// this one rule, so that the ranks' buckets and the sum's line up.
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

// domainKinds are the kinds of a bucket, in the order of an Aggregate.
var domainKinds = [...]string{aggregate.KindNode, aggregate.KindCPU, aggregate.KindMem, aggregate.KindGPU}

// kindSum accumulates one domain kind of a bucket: over the domains of the
// kind on a rank, then over ranks.
type kindSum struct {
	have           bool    // some part has the kind
	measured       bool    // some part measured it
	e, min, max    float64 // sums of the measured parts
	covered, ranks float64 // covered seconds of the ranks that measured it; ranks that have it
}

func (s *kindSum) addDomains(ds []Domain, covered float64) {
	if len(ds) == 0 {
		return
	}
	s.have = true
	s.ranks++
	measured := false
	for _, d := range ds {
		if d.Measured {
			measured = true
			s.e += d.EnergyJ
			s.min += d.MinW
			s.max += d.MaxW
		}
	}
	if measured {
		s.measured = true
		s.covered += covered
	}
}

// bucketSums are the kinds of one bucket (domainKinds order).
type bucketSums [len(domainKinds)]kindSum

func (bs *bucketSums) add(f *bucketFigures) {
	node := [1]Domain{f.node}
	bs[0].addDomains(node[:], f.covered)
	bs[1].addDomains(f.cpu, f.covered)
	bs[2].addDomains(f.mem, f.covered)
	bs[3].addDomains(f.gpu, f.covered)
}

// bucket is the wire form of the sums over the bucket [a, b] (unix ns),
// sent as from and to (unix seconds); missing ranks that did not answer
// count as uncovered for every kind.
func (bs *bucketSums) bucket(a, b int64, from, to float64, missing int) Bucket {
	out := Bucket{Start: from, End: to, Domains: map[string]BucketDomain{}}
	dur := float64(b-a) / 1e9
	for i := range bs {
		s := &bs[i]
		if !s.have {
			continue
		}
		d := BucketDomain{EnergyJ: s.e, MinW: s.min, MaxW: s.max}
		if dur > 0 {
			d.MeanW = s.e / dur
			d.Coverage = math.Min(1, s.covered/((s.ranks+float64(missing))*dur))
		} else if s.measured {
			d.MeanW, d.Coverage = (s.min+s.max)/2, 1
		}
		out.Domains[domainKinds[i]] = d
	}
	return out
}

// bucketFigures are one rank's figures over one bucket, as Domains (the
// form Attribute charges): cpu and mem each the kind's sum, if the rank
// has the kind.
type bucketFigures struct {
	covered       float64
	node          Domain
	cpu, mem, gpu []Domain
}

// check says whether every column has n buckets.
func (rb *RankBuckets) check(n int) error {
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

// figuresAt fills f with the rank's figures over bucket k, reusing f's
// lists.
func (rb *RankBuckets) figuresAt(k int, f *bucketFigures) {
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
	f.covered = rb.CoveredS[k]
	f.node = at(&rb.Node, aggregate.KindNode, -1)
	f.cpu = sum(f.cpu, rb.CPU, aggregate.KindCPU)
	f.mem = sum(f.mem, rb.Mem, aggregate.KindMem)
	f.gpu = f.gpu[:0]
	for i := range rb.GPU {
		f.gpu = append(f.gpu, at(&rb.GPU[i], aggregate.KindGPU, i))
	}
}

// rankCharge is how a job is charged on one rank over each bucket, by
// the same rule as over the window (RankResult.Charged): nothing where its
// part could not be computed, the node's figures where no share is known
// or the job holds the whole node, else its part under Attribute.
type rankCharge struct {
	nothing bool
	share   *attribution
	rank    uint32
}

func chargeOf(r *RankResult) rankCharge {
	switch {
	case r.JobError != "":
		return rankCharge{nothing: true}
	case r.Share == nil || r.Share.Exclusive:
		return rankCharge{}
	}
	a, err := newAttribution(r.Rank, *r.Share)
	if err != nil {
		return rankCharge{nothing: true}
	}
	return rankCharge{share: &a, rank: r.Rank}
}

// charged is what the job is charged over a bucket of node figures f.
// Where the job's part of a shared rank cannot be computed for the bucket
// (a GPU of the job not measured in it) it is charged nothing there. The
// job's node minimum and maximum on a shared rank are the node's scaled
// by the job's part of the node's energy over the bucket.
func (c *rankCharge) charged(f *bucketFigures) bucketFigures {
	nothing := bucketFigures{covered: f.covered, node: Domain{Kind: aggregate.KindNode, Index: -1}}
	switch {
	case c.nothing:
		return nothing
	case c.share == nil:
		return *f
	}
	rr := RankResult{Rank: c.rank, Aggregate: Aggregate{CoveredS: f.covered, Node: f.node, CPU: f.cpu, Mem: f.mem, GPU: f.gpu}}
	jf, err := c.share.apply(&rr)
	if err != nil {
		return nothing
	}
	node := Domain{Kind: aggregate.KindNode, Index: -1, Measured: f.node.Measured, EnergyJ: jf.EnergyJ}
	if f.node.EnergyJ > 0 {
		scale := jf.EnergyJ / f.node.EnergyJ
		node.MinW, node.MaxW = f.node.MinW*scale, f.node.MaxW*scale
	}
	return bucketFigures{covered: f.covered, node: node, cpu: jf.CPU, mem: jf.Mem, gpu: jf.GPU}
}

// SumSeries is the series of a query's window [start, end] in n buckets
// (aggregate.Edges of the window in UnixNano) from the answers of its
// ranks: ranks, with their shares set (as for Totals), and each one's
// buckets by rank; missing is the number of ranks asked that gave none.
// Buckets sums what each rank charges the job (charged); Node, when
// asked, the nodes' own figures; Ranks, when asked, each rank's. A rank
// whose number of buckets is not the window's is an error (it answered
// another request).
func SumSeries(start, end float64, spec SeriesSpec, ranks []RankResult, buckets map[uint32]*RankBuckets, missing int) (*Series, error) {
	n := spec.Buckets
	if n <= 0 {
		n = DefaultBuckets
	}
	edges := aggregate.Edges(UnixNano(start), UnixNano(end), n)
	nb := len(edges) - 1
	// The edges in seconds: the window's own start and end at its ends,
	// so that the buckets end where the window does.
	secs := make([]float64, nb+1)
	for k, e := range edges {
		secs[k] = float64(e) / 1e9
	}
	secs[0], secs[nb] = start, end
	bucket := func(s *bucketSums, k, missing int) Bucket {
		return s.bucket(edges[k], edges[k+1], secs[k], secs[k+1], missing)
	}
	job := make([]bucketSums, nb)
	var node []bucketSums
	if spec.Node {
		node = make([]bucketSums, nb)
	}
	out := &Series{Start: start, End: end}
	order := make([]int, len(ranks))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(i, j int) bool { return ranks[order[i]].Rank < ranks[order[j]].Rank })
	for _, i := range order {
		r := &ranks[i]
		rb := buckets[r.Rank]
		if rb == nil || rb.Len() != nb {
			got := 0
			if rb != nil {
				got = rb.Len()
			}
			return nil, fmt.Errorf("rank %d answered %d buckets, the window has %d", r.Rank, got, nb)
		}
		if err := rb.check(nb); err != nil {
			return nil, fmt.Errorf("rank %d: %v", r.Rank, err)
		}
		charge := chargeOf(r)
		var rs *RankSeries
		if spec.PerRank {
			out.Ranks = append(out.Ranks, RankSeries{Rank: r.Rank, Hostname: r.Hostname, Buckets: make([]Bucket, nb)})
			rs = &out.Ranks[len(out.Ranks)-1]
			if spec.Node {
				rs.Node = make([]Bucket, nb)
			}
		}
		var f bucketFigures
		for k := range nb {
			rb.figuresAt(k, &f)
			c := charge.charged(&f)
			job[k].add(&c)
			if spec.Node {
				node[k].add(&f)
			}
			if rs != nil {
				var one bucketSums
				one.add(&c)
				rs.Buckets[k] = bucket(&one, k, 0)
				if spec.Node {
					var n bucketSums
					n.add(&f)
					rs.Node[k] = bucket(&n, k, 0)
				}
			}
		}
	}
	out.Buckets = make([]Bucket, nb)
	for k := range job {
		out.Buckets[k] = bucket(&job[k], k, missing)
	}
	if spec.Node {
		out.Node = make([]Bucket, nb)
		for k := range node {
			out.Node[k] = bucket(&node[k], k, missing)
		}
	}
	return out, nil
}
