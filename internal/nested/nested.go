// SPDX-License-Identifier: LGPL-3.0-only

// Package nested finds a job's energy inside a nested Flux instance (flux
// batch, flux alloc) that has no power-monitor module: it asks the nearest
// enclosing instance that has one about the ranks of the enclosing job, over
// the inner job's window, with the inner job's cores and GPUs (walk.go).
//
// This file is the pure part: how a nested instance's resources map onto the
// enclosing job's. flux-core (v0.88, src/modules/resource/inventory.c) builds
// a nested instance's R from the enclosing job's R with rlist_remap: ranks
// renumbered 0..n-1 in ascending order of the enclosing job's ranks (after
// rlist_rerank by the nested hostlist where its hostnames are distinct,
// which keeps that order: the job shell starts broker i on the job's i-th
// rank), core ids renumbered 0..k-1 in ascending order of the enclosing
// job's cores on that rank, and GPU ids kept as they are. So:
//
//	nested rank i      = the i-th rank (ascending) of the enclosing job's R
//	nested core c there = the c-th core (ascending) the enclosing job holds there
//	nested gpu g       = gpu g
package nested

import (
	"fmt"
	"sort"
	"strconv"

	"github.com/flux-framework/power-monitor/internal/wire"
)

// Origin says which instance's samples answered: this one (Level = this
// instance's level, no URI), or an enclosing one at URI, about its job JobID
// (f58) on Ranks (in its numbering). Enclosing maps each rank of the answer,
// numbered as in this instance, to its rank there.
type Origin struct {
	This      bool              `json:"this_instance"`
	URI       string            `json:"uri,omitempty"`
	JobID     string            `json:"jobid,omitempty"`
	Level     int               `json:"level"`
	Ranks     string            `json:"ranks,omitempty"`
	Enclosing map[uint32]uint32 `json:"-"`
}

// Line says, for people, which instance's samples answered.
func (o *Origin) Line() string {
	if o.This {
		return "samples from this instance"
	}
	return fmt.Sprintf("samples from the enclosing instance at %s (level %d; job %s, ranks %s there)", o.URI, o.Level, o.JobID, o.Ranks)
}

// Ranks of an R in ascending order.
func Ranks(r wire.Resources) []uint32 {
	out := make([]uint32, 0, len(r))
	for rank := range r {
		out = append(out, rank)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// MapUp maps what a job holds in a nested instance (inner, in the nested
// instance's ranks and ids) onto the enclosing instance, through the R of
// the job the nested instance runs as there (enclosing): it returns the
// same resources in the enclosing instance's ranks and ids, and for each
// enclosing rank the nested rank it came from. It fails, saying why, where
// the inner job holds a rank, a core or a GPU that the enclosing job does
// not have.
func MapUp(inner, enclosing wire.Resources) (wire.Resources, map[uint32]uint32, error) {
	ranks := Ranks(enclosing)
	out := wire.Resources{}
	from := map[uint32]uint32{}
	for _, r := range Ranks(inner) {
		if int(r) >= len(ranks) {
			return nil, nil, fmt.Errorf("nested rank %d has no rank in the enclosing job's R (it has %d ranks: %s)",
				r, len(ranks), wire.FormatIDSet(ranks))
		}
		er := ranks[r]
		have := enclosing[er]
		in := inner[r]
		cores := make([]uint32, 0, len(in.Cores))
		for _, c := range in.Cores {
			if int(c) >= len(have.Cores) {
				return nil, nil, fmt.Errorf("nested core %d on rank %d: the enclosing job holds only %d cores on rank %d (%s)",
					c, r, len(have.Cores), er, wire.FormatIDSet(have.Cores))
			}
			cores = append(cores, have.Cores[c])
		}
		for _, g := range in.GPUs {
			if !contains(have.GPUs, g) {
				return nil, nil, fmt.Errorf("nested gpu %d on rank %d is not one of the enclosing job's GPUs on rank %d (%q)",
					g, r, er, wire.FormatIDSet(have.GPUs))
			}
		}
		sort.Slice(cores, func(i, j int) bool { return cores[i] < cores[j] })
		out[er] = wire.RankResources{Cores: cores, GPUs: append([]uint32{}, in.GPUs...)}
		from[er] = r
	}
	return out, from, nil
}

// ShareOf is a request's share (wire.QueryRequest.Share) for resources in
// the enclosing numbering.
func ShareOf(r wire.Resources) map[string]wire.RankShare {
	out := map[string]wire.RankShare{}
	for rank, rr := range r {
		out[strconv.FormatUint(uint64(rank), 10)] = wire.RankShare{Cores: wire.FormatIDSet(rr.Cores), GPUs: wire.FormatIDSet(rr.GPUs)}
	}
	return out
}

// Compose follows a rank map one level further: outer maps the ranks of an
// instance to the nested ranks they came from (MapUp), inner maps those to
// the ranks of the instance nested in it; the result maps outer's ranks to
// the innermost ones.
func Compose(outer, inner map[uint32]uint32) map[uint32]uint32 {
	out := map[uint32]uint32{}
	for o, mid := range outer {
		if in, ok := inner[mid]; ok {
			out[o] = in
		}
	}
	return out
}

// Relabel gives the answer's ranks (in the answering instance's numbering)
// the numbers they have where the question was asked, by toInner (answering
// rank -> asking rank), keeps ranks in order and returns the enclosing
// number of each relabelled rank (asking rank -> answering rank). A rank
// that toInner does not know keeps its number.
func Relabel(resp *wire.QueryResponse, toInner map[uint32]uint32) map[uint32]uint32 {
	enclosing := map[uint32]uint32{}
	asked := make([]uint32, 0, len(toInner))
	for i := range resp.Ranks {
		r := &resp.Ranks[i]
		if in, ok := toInner[r.Rank]; ok {
			enclosing[in] = r.Rank
			r.Rank = in
		}
	}
	for i := range resp.Missing {
		m := &resp.Missing[i]
		if in, ok := toInner[m.Rank]; ok {
			enclosing[in] = m.Rank
			m.Rank = in
		}
	}
	for _, in := range toInner {
		asked = append(asked, in)
	}
	sort.Slice(asked, func(i, j int) bool { return asked[i] < asked[j] })
	resp.RankSet = wire.FormatIDSet(asked)
	sort.Slice(resp.Ranks, func(i, j int) bool { return resp.Ranks[i].Rank < resp.Ranks[j].Rank })
	sort.Slice(resp.Missing, func(i, j int) bool { return resp.Missing[i].Rank < resp.Missing[j].Rank })
	return enclosing
}

func contains(ids []uint32, id uint32) bool {
	i := sort.Search(len(ids), func(i int) bool { return ids[i] >= id })
	return i < len(ids) && ids[i] == id
}
