// SPDX-License-Identifier: LGPL-3.0-only

package aggregate

import "math/bits"

// Edges are the edges of n buckets that tile the window [t0, t1] (unix
// ns): edge k is t0 + floor((t1-t0)*k/n), computed exactly in 128 bits, so
// that every rank given the same window and n finds the same edges, and
// bucket k spans [edge k, edge k+1]. n is at least 1 and at most the
// window's length in ns (a shorter window has fewer buckets, one a ns;
// an empty window one bucket of length 0). t1 < t0 is treated as t1 = t0.
func Edges(t0, t1 int64, n int) []int64 {
	if t1 < t0 {
		t1 = t0
	}
	length := uint64(t1 - t0)
	if n < 1 {
		n = 1
	}
	if uint64(n) > length {
		n = int(max(length, 1))
	}
	edges := make([]int64, n+1)
	for k := range n {
		hi, lo := bits.Mul64(length, uint64(k))
		q, _ := bits.Div64(hi, lo, uint64(n)) // hi < n since k < n
		edges[k] = t0 + int64(q)
	}
	edges[n] = t1
	return edges
}

// Buckets aggregates the series over each bucket [edges[k], edges[k+1]]
// with Window: the same integrator as a whole window, so each bucket's
// figures mean what a window's do (energy from the counters where there
// are some, else the integral of the power; min and max; coverage). The
// integrator is additive over adjacent windows (a pair of samples across
// an edge is split at the edge: the power interpolated there, the counters'
// difference shared in proportion), so the buckets' energies add up to
// the energy of the window [edges[0], edges[n]], up to rounding.
//
// Each bucket is found by binary search, so an ordered series costs about
// one walk of the window's samples however many buckets; a series with a
// backward clock step (Series.Ordered false) is scanned once a bucket.
func Buckets(s *Series, edges []int64) []Result {
	if len(edges) < 2 {
		return nil
	}
	out := make([]Result, len(edges)-1)
	for k := range out {
		out[k] = Window(s, edges[k], edges[k+1])
	}
	return out
}
