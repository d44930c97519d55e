// SPDX-License-Identifier: LGPL-3.0-only

package charge

import (
	"fmt"
	"math"
	"sort"

	"github.com/flux-framework/power-monitor/internal/store/aggregate"
	"github.com/flux-framework/power-monitor/internal/wire"
)

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

func (s *kindSum) addDomains(ds []wire.Domain, covered float64) {
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

func (bs *bucketSums) add(f *wire.BucketFigures) {
	node := [1]wire.Domain{f.Node}
	bs[0].addDomains(node[:], f.CoveredS)
	bs[1].addDomains(f.CPU, f.CoveredS)
	bs[2].addDomains(f.Mem, f.CoveredS)
	bs[3].addDomains(f.GPU, f.CoveredS)
}

// bucket is the wire form of the sums over the bucket [a, b] (unix ns),
// sent as from and to (unix seconds); missing ranks that did not answer
// count as uncovered for every kind.
func (bs *bucketSums) bucket(a, b int64, from, to float64, missing int) wire.Bucket {
	out := wire.Bucket{Start: from, End: to, Domains: map[string]wire.BucketDomain{}}
	dur := float64(b-a) / 1e9
	for i := range bs {
		s := &bs[i]
		if !s.have {
			continue
		}
		d := wire.BucketDomain{EnergyJ: s.e, MinW: s.min, MaxW: s.max}
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

// rankCharge is how a job is charged on one rank over each bucket, by
// the same rule as over the window (Charged): nothing where its
// part could not be computed, the node's figures where no share is known
// or the job holds the whole node, else its part under Attribute.
type rankCharge struct {
	nothing bool
	share   *attribution
	rank    uint32
}

func chargeOf(r *wire.RankResult) rankCharge {
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
func (c *rankCharge) charged(f *wire.BucketFigures) wire.BucketFigures {
	nothing := wire.BucketFigures{CoveredS: f.CoveredS, Node: wire.Domain{Kind: aggregate.KindNode, Index: -1}}
	switch {
	case c.nothing:
		return nothing
	case c.share == nil:
		return *f
	}
	rr := wire.RankResult{Rank: c.rank, Aggregate: wire.Aggregate{CoveredS: f.CoveredS, Node: f.Node, CPU: f.CPU, Mem: f.Mem, GPU: f.GPU}}
	jf, err := c.share.apply(&rr)
	if err != nil {
		return nothing
	}
	node := wire.Domain{Kind: aggregate.KindNode, Index: -1, Measured: f.Node.Measured, EnergyJ: jf.EnergyJ}
	if f.Node.EnergyJ > 0 {
		scale := jf.EnergyJ / f.Node.EnergyJ
		node.MinW, node.MaxW = f.Node.MinW*scale, f.Node.MaxW*scale
	}
	return wire.BucketFigures{CoveredS: f.CoveredS, Node: node, CPU: jf.CPU, Mem: jf.Mem, GPU: jf.GPU}
}

// SumSeries is the series of a query's window [start, end] in n buckets
// (aggregate.Edges of the window in wire.UnixNano) from the answers of its
// ranks: ranks, with their shares set (as for Totals), and each one's
// buckets by rank; missing is the number of ranks asked that gave none.
// Buckets sums what each rank charges the job (charged); Node, when
// asked, the nodes' own figures; Ranks, when asked, each rank's. A rank
// whose number of buckets is not the window's is an error (it answered
// another request).
func SumSeries(start, end float64, spec wire.SeriesSpec, ranks []wire.RankResult, buckets map[uint32]*wire.RankBuckets, missing int) (*wire.Series, error) {
	n := spec.Buckets
	if n <= 0 {
		n = wire.DefaultBuckets
	}
	edges := aggregate.Edges(wire.UnixNano(start), wire.UnixNano(end), n)
	nb := len(edges) - 1
	// The edges in seconds: the window's own start and end at its ends,
	// so that the buckets end where the window does.
	secs := make([]float64, nb+1)
	for k, e := range edges {
		secs[k] = float64(e) / 1e9
	}
	secs[0], secs[nb] = start, end
	bucket := func(s *bucketSums, k, missing int) wire.Bucket {
		return s.bucket(edges[k], edges[k+1], secs[k], secs[k+1], missing)
	}
	job := make([]bucketSums, nb)
	var node []bucketSums
	if spec.Node {
		node = make([]bucketSums, nb)
	}
	out := &wire.Series{Start: start, End: end}
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
		if err := rb.Check(nb); err != nil {
			return nil, fmt.Errorf("rank %d: %v", r.Rank, err)
		}
		charge := chargeOf(r)
		var rs *wire.RankSeries
		if spec.PerRank {
			out.Ranks = append(out.Ranks, wire.RankSeries{Rank: r.Rank, Hostname: r.Hostname, Buckets: make([]wire.Bucket, nb)})
			rs = &out.Ranks[len(out.Ranks)-1]
			if spec.Node {
				rs.Node = make([]wire.Bucket, nb)
			}
		}
		var f wire.BucketFigures
		for k := range nb {
			rb.FiguresAt(k, &f)
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
	out.Buckets = make([]wire.Bucket, nb)
	for k := range job {
		out.Buckets[k] = bucket(&job[k], k, missing)
	}
	if spec.Node {
		out.Node = make([]wire.Bucket, nb)
		for k := range node {
			out.Node[k] = bucket(&node[k], k, missing)
		}
	}
	return out, nil
}
