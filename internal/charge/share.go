// SPDX-License-Identifier: LGPL-3.0-only

package charge

import (
	"fmt"
	"math"

	"github.com/flux-framework/power-monitor/internal/wire"
)

// ShareOf is the share of a job on a rank: what the job's R holds there
// over what the instance's R holds there. It fails, saying why, where the
// two do not fit together (a rank or an id the instance does not have).
func ShareOf(rank uint32, job, instance wire.Resources) (wire.Share, error) {
	j, ok := job[rank]
	if !ok {
		return wire.Share{}, fmt.Errorf("the job's R holds nothing on rank %d", rank)
	}
	n, ok := instance[rank]
	if !ok {
		return wire.Share{}, fmt.Errorf("the instance's R has no rank %d", rank)
	}
	if len(n.Cores) == 0 {
		return wire.Share{}, fmt.Errorf("the instance's R has no cores on rank %d", rank)
	}
	if extra := minus(j.Cores, n.Cores); len(extra) > 0 {
		return wire.Share{}, fmt.Errorf("the job's cores %s on rank %d are not in the instance's R (cores %s)",
			wire.FormatIDSet(extra), rank, wire.FormatIDSet(n.Cores))
	}
	if extra := minus(j.GPUs, n.GPUs); len(extra) > 0 {
		return wire.Share{}, fmt.Errorf("the job's GPUs %s on rank %d are not in the instance's R (GPUs %q)",
			wire.FormatIDSet(extra), rank, wire.FormatIDSet(n.GPUs))
	}
	return wire.Share{
		Cores: wire.FormatIDSet(j.Cores), GPUs: wire.FormatIDSet(j.GPUs),
		NCores: len(j.Cores), NGPUs: len(j.GPUs),
		NodeCores: len(n.Cores), NodeGPUs: len(n.GPUs), NodeGPUIDs: wire.FormatIDSet(n.GPUs),
		CoreFraction: float64(len(j.Cores)) / float64(len(n.Cores)),
		Exclusive:    len(j.Cores) == len(n.Cores) && len(j.GPUs) == len(n.GPUs),
	}, nil
}

// Attribute charges a job its part of what one rank drew, by its share
// there:
//
//	energy = the energy of the job's GPUs (each whole, reading gpu k is R's gpu k)
//	       + core fraction x max(0, node energy - energy of the instance's GPUs)
//
// "The instance's GPUs" are those the instance's R holds on the rank
// (wire.Share.NodeGPUIDs): only they can be given to a job. A GPU that the
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
func Attribute(r wire.RankResult, s wire.Share) (wire.JobFigures, error) {
	if s.Exclusive {
		f := nodeFigures(&r)
		f.Exclusive, f.CoreFraction = true, 1
		return f, nil
	}
	a, err := newAttribution(r.Rank, s)
	if err != nil {
		return wire.JobFigures{}, err
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
func newAttribution(rank uint32, s wire.Share) (attribution, error) {
	cf := s.CoreFraction
	if !(cf >= 0 && cf <= 1) {
		return attribution{}, fmt.Errorf("rank %d: core fraction %g is not between 0 and 1", rank, cf)
	}
	gpus, err := wire.ParseIDSet(s.GPUs)
	if err != nil {
		return attribution{}, fmt.Errorf("rank %d: the share's GPUs: %v", rank, err)
	}
	nodeGPUs, err := wire.ParseIDSet(s.NodeGPUIDs)
	if err != nil {
		return attribution{}, fmt.Errorf("rank %d: the share's node GPUs: %v", rank, err)
	}
	if len(nodeGPUs) != s.NodeGPUs {
		return attribution{}, fmt.Errorf("rank %d: the share counts %d node GPUs but lists %q", rank, s.NodeGPUs, s.NodeGPUIDs)
	}
	if extra := minus(gpus, nodeGPUs); len(extra) > 0 {
		return attribution{}, fmt.Errorf("rank %d: the job's GPUs %s are not among the instance's (%q)", rank, wire.FormatIDSet(extra), s.NodeGPUIDs)
	}
	return attribution{cf: cf, gpus: gpus, nodeGPUs: nodeGPUs}, nil
}

// apply is Attribute's rule for a share that is not exclusive.
func (a *attribution) apply(r *wire.RankResult) (wire.JobFigures, error) {
	cf, gpus, nodeGPUs := a.cf, a.gpus, a.nodeGPUs
	f := wire.JobFigures{CoreFraction: cf, CPU: scaleDomains(r.CPU, cf), Mem: scaleDomains(r.Mem, cf), GPU: []wire.Domain{}}
	if !r.Node.Measured {
		return f, nil
	}
	jobGPU := 0.0
	for _, k := range gpus {
		d := findGPU(r.GPU, k)
		switch {
		case d == nil:
			return wire.JobFigures{}, fmt.Errorf("rank %d: the job holds gpu %d, which the rank's reading does not have (it reads %d GPUs)",
				r.Rank, k, len(r.GPU))
		case !d.Measured:
			return wire.JobFigures{}, fmt.Errorf("rank %d: the job holds gpu %d, which is not measured", r.Rank, k)
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
func nodeFigures(r *wire.RankResult) wire.JobFigures {
	return wire.JobFigures{EnergyJ: r.Node.EnergyJ, MeanW: r.Node.MeanW,
		CPU: copyDomains(r.CPU), Mem: copyDomains(r.Mem), GPU: copyDomains(r.GPU),
		RestJ: math.Max(0, r.Node.EnergyJ-sumEnergy(r.CPU)-sumEnergy(r.Mem)-sumEnergy(r.GPU))}
}

// Charge sets the job's part of each rank that has a share: Job from
// Attribute, or JobError with the reason it failed. Ranks without a share
// are left as they are (Totals charges them the node's figures).
func Charge(ranks []wire.RankResult) {
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

func findGPU(ds []wire.Domain, k uint32) *wire.Domain {
	for i := range ds {
		if ds[i].Index == int(k) {
			return &ds[i]
		}
	}
	return nil
}

// scaleDomains is ds with every figure times cf.
func scaleDomains(ds []wire.Domain, cf float64) []wire.Domain {
	out := copyDomains(ds)
	for i := range out {
		out[i].EnergyJ *= cf
		out[i].MeanW *= cf
		out[i].MinW *= cf
		out[i].MaxW *= cf
	}
	return out
}

func copyDomains(ds []wire.Domain) []wire.Domain {
	return append([]wire.Domain{}, ds...)
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
