// SPDX-License-Identifier: LGPL-3.0-only

package wire

import (
	"encoding/json"
	"fmt"
	"math"
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

// ShareOf is the share of a job on a rank: what the job's R holds there
// over what the instance's R holds there. It fails, saying why, where the
// two do not fit together (a rank or an id the instance does not have).
func ShareOf(rank uint32, job, instance Resources) (Share, error) {
	j, ok := job[rank]
	if !ok {
		return Share{}, fmt.Errorf("the job's R holds nothing on rank %d", rank)
	}
	n, ok := instance[rank]
	if !ok {
		return Share{}, fmt.Errorf("the instance's R has no rank %d", rank)
	}
	if len(n.Cores) == 0 {
		return Share{}, fmt.Errorf("the instance's R has no cores on rank %d", rank)
	}
	if extra := minus(j.Cores, n.Cores); len(extra) > 0 {
		return Share{}, fmt.Errorf("the job's cores %s on rank %d are not in the instance's R (cores %s)",
			FormatIDSet(extra), rank, FormatIDSet(n.Cores))
	}
	if extra := minus(j.GPUs, n.GPUs); len(extra) > 0 {
		return Share{}, fmt.Errorf("the job's GPUs %s on rank %d are not in the instance's R (GPUs %q)",
			FormatIDSet(extra), rank, FormatIDSet(n.GPUs))
	}
	return Share{
		Cores: FormatIDSet(j.Cores), GPUs: FormatIDSet(j.GPUs),
		NCores: len(j.Cores), NGPUs: len(j.GPUs),
		NodeCores: len(n.Cores), NodeGPUs: len(n.GPUs), NodeGPUIDs: FormatIDSet(n.GPUs),
		CoreFraction: float64(len(j.Cores)) / float64(len(n.Cores)),
		Exclusive:    len(j.Cores) == len(n.Cores) && len(j.GPUs) == len(n.GPUs),
	}, nil
}

// JobFigures is a job's part of one rank's figures under the attribution
// rule (Attribute).
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

// Attribute charges a job its part of what one rank drew, by its share
// there:
//
//	energy = the energy of the job's GPUs (each whole, reading gpu k is R's gpu k)
//	       + core fraction x max(0, node energy - energy of the instance's GPUs)
//
// "The instance's GPUs" are those the instance's R holds on the rank
// (Share.NodeGPUIDs): only they can be given to a job. A GPU that the
// reading sees but the instance does not hold is part of the rest of the
// node, split by the core fraction like the rest.
//
// Per domain: the job's GPUs whole, each CPU socket and memory domain x the
// core fraction (sockets are charged by the core fraction, not by which
// socket the job's cores sit on), and the rest of the node (node - cpu -
// mem - the instance's GPUs, not below 0) x the core fraction. A job that
// is exclusive on the rank (every core and GPU of the instance's R there)
// gets the node's figures. Jobs that share a rank at the same time never
// sum above the node's energy (as long as the instance's GPUs do not alone
// read more than the node). A rank with no measured node energy charges
// nothing (its reason says why). A GPU of the share that the reading does
// not have, or does not measure, is an error, not a guess.
func Attribute(r RankResult, s Share) (JobFigures, error) {
	if s.Exclusive {
		f := nodeFigures(&r)
		f.Exclusive, f.CoreFraction = true, 1
		return f, nil
	}
	a, err := newAttribution(r.Rank, s)
	if err != nil {
		return JobFigures{}, err
	}
	return a.apply(&r)
}

// attribution is a share checked and its id lists read: what Attribute
// applies to a rank's figures (a series applies it to each bucket's).
type attribution struct {
	cf             float64
	gpus, nodeGPUs []uint32
}

// newAttribution checks the share s of a rank that is not exclusive.
func newAttribution(rank uint32, s Share) (attribution, error) {
	cf := s.CoreFraction
	if !(cf >= 0 && cf <= 1) {
		return attribution{}, fmt.Errorf("rank %d: core fraction %g is not between 0 and 1", rank, cf)
	}
	gpus, err := ParseIDSet(s.GPUs)
	if err != nil {
		return attribution{}, fmt.Errorf("rank %d: the share's GPUs: %v", rank, err)
	}
	nodeGPUs, err := ParseIDSet(s.NodeGPUIDs)
	if err != nil {
		return attribution{}, fmt.Errorf("rank %d: the share's node GPUs: %v", rank, err)
	}
	if len(nodeGPUs) != s.NodeGPUs {
		return attribution{}, fmt.Errorf("rank %d: the share counts %d node GPUs but lists %q", rank, s.NodeGPUs, s.NodeGPUIDs)
	}
	if extra := minus(gpus, nodeGPUs); len(extra) > 0 {
		return attribution{}, fmt.Errorf("rank %d: the job's GPUs %s are not among the instance's (%q)", rank, FormatIDSet(extra), s.NodeGPUIDs)
	}
	return attribution{cf: cf, gpus: gpus, nodeGPUs: nodeGPUs}, nil
}

// apply is Attribute's rule for a share that is not exclusive.
func (a *attribution) apply(r *RankResult) (JobFigures, error) {
	cf, gpus, nodeGPUs := a.cf, a.gpus, a.nodeGPUs
	f := JobFigures{CoreFraction: cf, CPU: scaleDomains(r.CPU, cf), Mem: scaleDomains(r.Mem, cf), GPU: []Domain{}}
	if !r.Node.Measured {
		return f, nil
	}
	jobGPU := 0.0
	for _, k := range gpus {
		d := findGPU(r.GPU, k)
		switch {
		case d == nil:
			return JobFigures{}, fmt.Errorf("rank %d: the job holds gpu %d, which the rank's reading does not have (it reads %d GPUs)",
				r.Rank, k, len(r.GPU))
		case !d.Measured:
			return JobFigures{}, fmt.Errorf("rank %d: the job holds gpu %d, which is not measured", r.Rank, k)
		}
		f.GPU = append(f.GPU, *d)
		jobGPU += d.EnergyJ
	}
	instGPU := 0.0
	for _, k := range nodeGPUs {
		if d := findGPU(r.GPU, k); d != nil && d.Measured {
			instGPU += d.EnergyJ
		}
	}
	f.EnergyJ = jobGPU + cf*math.Max(0, r.Node.EnergyJ-instGPU)
	f.RestJ = cf * math.Max(0, r.Node.EnergyJ-sumEnergy(r.CPU)-sumEnergy(r.Mem)-instGPU)
	if r.CoveredS > 0 {
		f.MeanW = f.EnergyJ / r.CoveredS
	}
	return f, nil
}

// nodeFigures are the rank's own figures as a job's part of it (copies of
// its domain lists).
func nodeFigures(r *RankResult) JobFigures {
	return JobFigures{EnergyJ: r.Node.EnergyJ, MeanW: r.Node.MeanW,
		CPU: copyDomains(r.CPU), Mem: copyDomains(r.Mem), GPU: copyDomains(r.GPU),
		RestJ: math.Max(0, r.Node.EnergyJ-sumEnergy(r.CPU)-sumEnergy(r.Mem)-sumEnergy(r.GPU))}
}

// Charge sets the job's part of each rank that has a share: Job from
// Attribute, or JobError with the reason it failed. Ranks without a share
// are left as they are (Totals charges them the node's figures).
func Charge(ranks []RankResult) {
	for i := range ranks {
		r := &ranks[i]
		r.Job, r.JobError = nil, ""
		if r.Share == nil {
			continue
		}
		f, err := Attribute(*r, *r.Share)
		if err != nil {
			r.JobError = err.Error()
			continue
		}
		r.Job = &f
	}
}

func findGPU(ds []Domain, k uint32) *Domain {
	for i := range ds {
		if ds[i].Index == int(k) {
			return &ds[i]
		}
	}
	return nil
}

// scaleDomains is ds with every figure times cf.
func scaleDomains(ds []Domain, cf float64) []Domain {
	out := copyDomains(ds)
	for i := range out {
		out[i].EnergyJ *= cf
		out[i].MeanW *= cf
		out[i].MinW *= cf
		out[i].MaxW *= cf
	}
	return out
}

func copyDomains(ds []Domain) []Domain {
	return append([]Domain{}, ds...)
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

// minus is the ids of a that are not in b (both sorted, distinct).
func minus(a, b []uint32) []uint32 {
	var out []uint32
	j := 0
	for _, id := range a {
		for j < len(b) && b[j] < id {
			j++
		}
		if j == len(b) || b[j] != id {
			out = append(out, id)
		}
	}
	return out
}
