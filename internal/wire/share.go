// SPDX-License-Identifier: LGPL-3.0-only

package wire

import (
	"encoding/json"
	"fmt"
)

// Share is what a job holds on one rank, from the job's R and the
// instance's R (RFC 20): its cores and GPUs, and those of the rank. The
// rank that answers a power-monitor.query sets it on every rank of a job
// (RankResult.Share).
type Share struct {
	Cores        string  `json:"cores"`         // RFC 22 idset of the job's cores on the rank
	GPUs         string  `json:"gpus"`          // RFC 22 idset of the job's GPUs on the rank, "" for none
	NCores       int     `json:"ncores"`        // the job's cores on the rank
	NGPUs        int     `json:"ngpus"`         // the job's GPUs on the rank
	NodeCores    int     `json:"node_cores"`    // the cores the instance's R holds on the rank
	NodeGPUs     int     `json:"node_gpus"`     // the GPUs the instance's R holds on the rank
	NodeGPUIDs   string  `json:"node_gpu_ids"`  // RFC 22 idset of those GPUs, "" for none
	CoreFraction float64 `json:"core_fraction"` // NCores / NodeCores
	Exclusive    bool    `json:"exclusive"`     // the job holds every core and GPU of the rank
}

// RankResources are the cores and GPUs that an R holds on one rank, as
// sorted, distinct ids.
type RankResources struct {
	Cores []uint32
	GPUs  []uint32
}

// Resources are the cores and GPUs of an R, by rank.
type Resources map[uint32]RankResources

// rv1 is the part of an R (RFC 20, version 1) that Resources reads.
type rv1 struct {
	Version   int `json:"version"`
	Execution *struct {
		RLite []struct {
			Rank     string `json:"rank"`
			Children struct {
				Core string `json:"core"`
				GPU  string `json:"gpu"`
			} `json:"children"`
		} `json:"R_lite"`
	} `json:"execution"`
}

// ParseR reads the cores and GPUs of each rank from an R (RFC 20 version 1,
// execution.R_lite). A rank named by several entries holds the union of
// their children.
func ParseR(r []byte) (Resources, error) {
	var v rv1
	if err := json.Unmarshal(r, &v); err != nil {
		return nil, fmt.Errorf("R is not valid JSON: %v", err)
	}
	if v.Version != 1 {
		return nil, fmt.Errorf("R version %d: only version 1 is understood", v.Version)
	}
	if v.Execution == nil {
		return nil, fmt.Errorf("R has no execution section")
	}
	out := Resources{}
	for i, e := range v.Execution.RLite {
		ranks, err := ParseIDSet(e.Rank)
		if err != nil {
			return nil, fmt.Errorf("R_lite[%d].rank: %v", i, err)
		}
		cores, err := ParseIDSet(e.Children.Core)
		if err != nil {
			return nil, fmt.Errorf("R_lite[%d].children.core: %v", i, err)
		}
		gpus, err := ParseIDSet(e.Children.GPU)
		if err != nil {
			return nil, fmt.Errorf("R_lite[%d].children.gpu: %v", i, err)
		}
		for _, rank := range ranks {
			have := out[rank]
			out[rank] = RankResources{Cores: union(have.Cores, cores), GPUs: union(have.GPUs, gpus)}
		}
	}
	return out, nil
}

// JobFigures is a job's part of one rank's figures under the attribution
// rule (charge.Attribute).
type JobFigures struct {
	Exclusive    bool     `json:"exclusive"`
	CoreFraction float64  `json:"core_fraction"`
	EnergyJ      float64  `json:"energy_j"` // the job's energy on the rank
	MeanW        float64  `json:"mean_w"`   // EnergyJ over the rank's covered seconds
	CPU          []Domain `json:"cpu"`      // each socket's figures x the core fraction
	Mem          []Domain `json:"mem"`      // each memory domain's figures x the core fraction
	GPU          []Domain `json:"gpu"`      // the job's GPUs, whole
	RestJ        float64  `json:"rest_j"`   // the rest of the node x the core fraction
}

// union of two sorted, distinct id lists. Where one is empty it is the
// other itself, not a copy: the ranks of one R_lite entry share its lists,
// which nothing modifies.
func union(a, b []uint32) []uint32 {
	if len(a) == 0 {
		return b
	}
	if len(b) == 0 {
		return a
	}
	out := make([]uint32, 0, len(a)+len(b))
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b) || (i < len(a) && a[i] < b[j]):
			out = append(out, a[i])
			i++
		case i == len(a) || b[j] < a[i]:
			out = append(out, b[j])
			j++
		default:
			out = append(out, a[i])
			i++
			j++
		}
	}
	return out
}
