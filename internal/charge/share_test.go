// SPDX-License-Identifier: LGPL-3.0-only

package charge

import (
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"github.com/flux-framework/power-monitor/internal/wire"
)

// instanceR is what `flux R encode -r 0-1 -c 0-7 -g 0-3 -H vm,vm` prints.
const instanceR = `{"version": 1, "execution": {"R_lite": [{"rank": "0-1", "children": {"gpu": "0-3", "core": "0-7"}}], "starttime": 0.0, "expiration": 0.0, "nodelist": ["vm,vm"]}}`

// jobR is an R that sched-simple gave a job of two ranks: a different share
// on each, and no "gpu" key where it has none.
const jobR = `{"version": 1, "execution": {"R_lite": [{"rank": "0", "children": {"core": "4-5"}}, {"rank": "1", "children": {"core": "0-7", "gpu": "0-3"}}], "starttime": 1796420656.4, "expiration": 0.0, "nslots": 2, "nodelist": ["vm,vm"]}}`

func mustParseR(t *testing.T, s string) wire.Resources {
	t.Helper()
	r, err := wire.ParseR([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestShareOf(t *testing.T) {
	inst := mustParseR(t, instanceR)
	job := mustParseR(t, jobR)
	s0, err := ShareOf(0, job, inst)
	if err != nil {
		t.Fatal(err)
	}
	if want := (wire.Share{Cores: "4-5", GPUs: "", NCores: 2, NGPUs: 0, NodeCores: 8, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: 0.25}); s0 != want {
		t.Errorf("rank 0: %+v, want %+v", s0, want)
	}
	s1, err := ShareOf(1, job, inst)
	if err != nil {
		t.Fatal(err)
	}
	if want := (wire.Share{Cores: "0-7", GPUs: "0-3", NCores: 8, NGPUs: 4, NodeCores: 8, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: 1, Exclusive: true}); s1 != want {
		t.Errorf("rank 1: %+v, want %+v", s1, want)
	}
	// every core but not every GPU is not exclusive
	cores := mustParseR(t, `{"version":1,"execution":{"R_lite":[{"rank":"0","children":{"core":"0-7","gpu":"1"}}]}}`)
	if s, err := ShareOf(0, cores, inst); err != nil || s.Exclusive || s.CoreFraction != 1 || s.GPUs != "1" {
		t.Errorf("all cores, one GPU: %+v, %v", s, err)
	}
	// a rank without GPUs: every core is exclusive
	noGPU := mustParseR(t, `{"version":1,"execution":{"R_lite":[{"rank":"0","children":{"core":"0-1"}}]}}`)
	if s, err := ShareOf(0, noGPU, noGPU); err != nil || !s.Exclusive || s.NodeGPUs != 0 {
		t.Errorf("a rank without GPUs: %+v, %v", s, err)
	}

	for _, c := range []struct {
		rank      uint32
		job, inst string
		want      string
	}{
		{2, jobR, instanceR, "the job's R holds nothing on rank 2"},
		{0, `{"version":1,"execution":{"R_lite":[{"rank":"3","children":{"core":"0"}}]}}`, instanceR, "the job's R holds nothing on rank 0"},
		{3, `{"version":1,"execution":{"R_lite":[{"rank":"3","children":{"core":"0"}}]}}`, instanceR, "the instance's R has no rank 3"},
		{0, `{"version":1,"execution":{"R_lite":[{"rank":"0","children":{"core":"6-9"}}]}}`, instanceR, "the job's cores 8-9 on rank 0 are not in the instance's R (cores 0-7)"},
		{0, `{"version":1,"execution":{"R_lite":[{"rank":"0","children":{"core":"0","gpu":"4"}}]}}`, instanceR, `the job's GPUs 4 on rank 0 are not in the instance's R (GPUs "0-3")`},
		{0, `{"version":1,"execution":{"R_lite":[{"rank":"0","children":{"gpu":"0"}}]}}`, `{"version":1,"execution":{"R_lite":[{"rank":"0","children":{"gpu":"0"}}]}}`, "the instance's R has no cores on rank 0"},
	} {
		if s, err := ShareOf(c.rank, mustParseR(t, c.job), mustParseR(t, c.inst)); err == nil || err.Error() != c.want {
			t.Errorf("ShareOf(%d, %s): %+v, %v; want the error %q", c.rank, c.job, s, err, c.want)
		}
	}
}

// reading is one rank over 10 s: a 5200 J node, 2 sockets of 1000 J, 2
// memory domains of 200 J and 4 GPUs of 400, 500, 600 and 700 J (2200 J):
// the node without its GPUs is 3000 J, the rest (node - cpu - mem - gpu)
// 600 J.
func reading() wire.RankResult {
	d := func(kind string, i int, e float64) wire.Domain {
		return wire.Domain{Kind: kind, Index: i, Measured: true, EnergyJ: e, MeanW: e / 10, MinW: e / 20, MaxW: e / 5, Method: "power", Source: "variorum"}
	}
	return wire.RankResult{Rank: 0, Hostname: "node0", Source: "variorum", Aggregate: wire.Aggregate{
		Start: 100, End: 110, Samples: 11, CoveredS: 10, Coverage: 1, Presence: "complete",
		Node: d("node", -1, 5200),
		CPU:  []wire.Domain{d("cpu", 0, 1000), d("cpu", 1, 1000)},
		Mem:  []wire.Domain{d("mem", 0, 200), d("mem", 1, 200)},
		GPU:  []wire.Domain{d("gpu", 0, 400), d("gpu", 1, 500), d("gpu", 2, 600), d("gpu", 3, 700)},
	}}
}

func energies(ds []wire.Domain) []float64 {
	out := []float64{}
	for _, d := range ds {
		out = append(out, d.EnergyJ)
	}
	return out
}

func attribute(t *testing.T, r wire.RankResult, s wire.Share) wire.JobFigures {
	t.Helper()
	f, err := Attribute(r, s)
	if err != nil {
		t.Fatalf("Attribute(%+v): %v", s, err)
	}
	return f
}

// TestAttributeClosedForm: two jobs splitting the rank's cores in halves,
// one with gpu 2 and one with gpus 0, 1 and 3, each charged its GPUs whole
// and half the rest, summing to the node.
func TestAttributeClosedForm(t *testing.T) {
	r := reading()
	a := attribute(t, r, wire.Share{Cores: "0-3", GPUs: "2", NCores: 4, NGPUs: 1, NodeCores: 8, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: 0.5})
	// 600 + 0.5 x (5200 - 2200)
	if !near(a.EnergyJ, 2100) || !near(a.MeanW, 210) || !near(a.RestJ, 300) || a.Exclusive || a.CoreFraction != 0.5 {
		t.Errorf("job a: %+v", a)
	}
	if got := energies(a.CPU); !reflect.DeepEqual(got, []float64{500, 500}) {
		t.Errorf("job a cpu %v", got)
	}
	if got := energies(a.Mem); !reflect.DeepEqual(got, []float64{100, 100}) {
		t.Errorf("job a mem %v", got)
	}
	if len(a.GPU) != 1 || a.GPU[0].Index != 2 || a.GPU[0] != r.GPU[2] {
		t.Errorf("job a gpu %+v, want gpu 2 whole", a.GPU)
	}
	if a.CPU[0].MeanW != 50 || a.CPU[0].MinW != 25 || a.CPU[0].MaxW != 100 || a.CPU[0].Source != "variorum" {
		t.Errorf("job a cpu 0 is not the socket's figures x 0.5: %+v", a.CPU[0])
	}
	// the domains add up to the job's energy
	if sum := sumEnergy(a.CPU) + sumEnergy(a.Mem) + sumEnergy(a.GPU) + a.RestJ; !near(sum, a.EnergyJ) {
		t.Errorf("job a domains sum to %g, energy %g", sum, a.EnergyJ)
	}

	b := attribute(t, r, wire.Share{Cores: "4-7", GPUs: "0-1,3", NCores: 4, NGPUs: 3, NodeCores: 8, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: 0.5})
	// 400 + 500 + 700 + 0.5 x 3000
	if !near(b.EnergyJ, 3100) || !reflect.DeepEqual(energies(b.GPU), []float64{400, 500, 700}) {
		t.Errorf("job b: %+v", b)
	}
	if !near(a.EnergyJ+b.EnergyJ, r.Node.EnergyJ) {
		t.Errorf("the two jobs that hold the whole rank sum to %g, the node drew %g", a.EnergyJ+b.EnergyJ, r.Node.EnergyJ)
	}
	if r.CPU[0].EnergyJ != 1000 || r.GPU[2].EnergyJ != 600 {
		t.Errorf("Attribute changed the reading: %+v", r)
	}
}

func TestAttributeExclusiveIsTheNode(t *testing.T) {
	r := reading()
	f := attribute(t, r, wire.Share{Cores: "0-7", GPUs: "0-3", NCores: 8, NGPUs: 4, NodeCores: 8, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: 1, Exclusive: true})
	if f.EnergyJ != 5200 || f.MeanW != 520 || !f.Exclusive || f.CoreFraction != 1 || !near(f.RestJ, 600) {
		t.Errorf("exclusive: %+v", f)
	}
	if !reflect.DeepEqual(f.CPU, r.CPU) || !reflect.DeepEqual(f.Mem, r.Mem) || !reflect.DeepEqual(f.GPU, r.GPU) {
		t.Errorf("exclusive domains are not the node's: %+v", f)
	}
	// the same share without the flag comes to the same energy by the rule
	s := wire.Share{Cores: "0-7", GPUs: "0-3", NCores: 8, NGPUs: 4, NodeCores: 8, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: 1}
	if g := attribute(t, r, s); !near(g.EnergyJ, 5200) {
		t.Errorf("all cores and GPUs by the rule: %g", g.EnergyJ)
	}
}

// TestAttributeNoGPUs: a job without GPUs on a rank with GPUs is charged
// none of them; eight single-core jobs sum to the node without its GPUs.
func TestAttributeNoGPUs(t *testing.T) {
	r := reading()
	sum := 0.0
	for c := 0; c < 8; c++ {
		f := attribute(t, r, wire.Share{Cores: wire.FormatIDSet([]uint32{uint32(c)}), NCores: 1, NodeCores: 8, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: 0.125})
		if !near(f.EnergyJ, 375) || len(f.GPU) != 0 || f.GPU == nil {
			t.Fatalf("single-core job: %+v, want 375 J and no GPU", f)
		}
		sum += f.EnergyJ
	}
	if !near(sum, 3000) {
		t.Errorf("eight single-core jobs sum to %g, want the node without its GPUs (3000)", sum)
	}
}

func TestAttributeReasons(t *testing.T) {
	half := wire.Share{Cores: "0-3", GPUs: "4", NCores: 4, NGPUs: 1, NodeCores: 8, NodeGPUs: 5, NodeGPUIDs: "0-4", CoreFraction: 0.5}
	if _, err := Attribute(reading(), half); err == nil || !strings.Contains(err.Error(), "gpu 4, which the rank's reading does not have (it reads 4 GPUs)") {
		t.Errorf("a GPU the reading does not have: %v", err)
	}
	r := reading()
	r.GPU[1] = wire.Domain{Kind: "gpu", Index: 1}
	half.GPUs = "1"
	if _, err := Attribute(r, half); err == nil || !strings.Contains(err.Error(), "gpu 1, which is not measured") {
		t.Errorf("a GPU not measured: %v", err)
	}
	// another job's GPU that is not measured is no error
	half.GPUs = "0"
	if f, err := Attribute(r, half); err != nil || !near(f.EnergyJ, 400+0.5*(5200-1700)) {
		t.Errorf("another job's GPU not measured: %+v, %v", f, err)
	}
	r.GPU = nil
	if _, err := Attribute(r, half); err == nil || !strings.Contains(err.Error(), "it reads 0 GPUs") {
		t.Errorf("a reading without GPUs: %v", err)
	}
	half.CoreFraction = 1.5
	if _, err := Attribute(reading(), half); err == nil || !strings.Contains(err.Error(), "core fraction 1.5") {
		t.Errorf("a core fraction above 1: %v", err)
	}
	half.CoreFraction, half.GPUs = 0.5, "x"
	if _, err := Attribute(reading(), half); err == nil || !strings.Contains(err.Error(), "the share's GPUs") {
		t.Errorf("a bad GPU idset: %v", err)
	}
}

// TestAttributeNothingMeasured: a rank with no measured node charges
// nothing (its reason says why), without an error for the share's GPUs.
func TestAttributeNothingMeasured(t *testing.T) {
	r := wire.RankResult{Rank: 2, Aggregate: wire.Aggregate{Presence: "none", Reason: wire.ReasonNoSource, Node: wire.Domain{Kind: "node", Index: -1}, CPU: []wire.Domain{}}}
	f, err := Attribute(r, wire.Share{Cores: "0-3", GPUs: "0", NCores: 4, NGPUs: 1, NodeCores: 8, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: 0.5})
	if err != nil || f.EnergyJ != 0 || f.MeanW != 0 || len(f.GPU) != 0 {
		t.Errorf("nothing measured: %+v, %v", f, err)
	}
}

// TestAttributeGPUsAboveNode: where the GPUs alone read more than the node
// (sensors that disagree), the rest is 0, not negative: a job is charged
// its GPUs and never less.
func TestAttributeGPUsAboveNode(t *testing.T) {
	r := reading()
	r.Node.EnergyJ = 2000
	f := attribute(t, r, wire.Share{Cores: "0-3", GPUs: "3", NCores: 4, NGPUs: 1, NodeCores: 8, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: 0.5})
	if f.EnergyJ != 700 || f.RestJ != 0 {
		t.Errorf("GPUs above the node: %+v", f)
	}
}

// TestAttributeNeverAboveTheNode: any split of a rank's cores and GPUs
// between jobs running at the same time sums to no more than the node,
// and to the node when every core is held.
func TestAttributeNeverAboveTheNode(t *testing.T) {
	r := reading()
	rng := rand.New(rand.NewSource(1))
	for trial := 0; trial < 1000; trial++ {
		jobs := 1 + rng.Intn(8)
		cores := make([][]uint32, jobs)
		gpus := make([][]uint32, jobs)
		held := 0
		for c := uint32(0); c < 8; c++ {
			if j := rng.Intn(jobs + 1); j < jobs { // j == jobs: a free core
				cores[j] = append(cores[j], c)
				held++
			}
		}
		for g := uint32(0); g < 4; g++ {
			if j := rng.Intn(jobs + 1); j < jobs {
				gpus[j] = append(gpus[j], g)
			}
		}
		sum := 0.0
		for j := 0; j < jobs; j++ {
			s := wire.Share{Cores: wire.FormatIDSet(cores[j]), GPUs: wire.FormatIDSet(gpus[j]), NCores: len(cores[j]), NGPUs: len(gpus[j]),
				NodeCores: 8, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: float64(len(cores[j])) / 8,
				Exclusive: len(cores[j]) == 8 && len(gpus[j]) == 4}
			sum += attribute(t, r, s).EnergyJ
		}
		if sum > r.Node.EnergyJ*(1+1e-12) {
			t.Fatalf("trial %d: %d jobs (cores %v, gpus %v) sum to %g, above the node's %g", trial, jobs, cores, gpus, sum, r.Node.EnergyJ)
		}
		if held == 8 && !near(sum, r.Node.EnergyJ-2200+sumGPUs(r, gpus)) {
			t.Fatalf("trial %d: every core held, sum %g", trial, sum)
		}
	}
}

// sumGPUs is the energy of the GPUs that some job holds.
func sumGPUs(r wire.RankResult, gpus [][]uint32) float64 {
	s := 0.0
	for _, g := range gpus {
		for _, k := range g {
			s += r.GPU[k].EnergyJ
		}
	}
	return s
}

// TestAttributeGPUsOutsideTheInstance: the GPUs subtracted before the split
// by cores are those the instance's R holds, not every GPU the reading
// sees. A test instance on a machine without GPUs (R with no GPUs) under a
// source that reads 4: a job with 1 of 2 cores is charged half the node,
// GPUs included, and the two halves sum to the node.
func TestAttributeGPUsOutsideTheInstance(t *testing.T) {
	r := reading()
	half := wire.Share{Cores: "0", NCores: 1, NodeCores: 2, CoreFraction: 0.5}
	f := attribute(t, r, half)
	// 0.5 x 5200; the rest is 0.5 x (5200 - 2000 - 400), the GPUs in it
	if !near(f.EnergyJ, 2600) || !near(f.MeanW, 260) || !near(f.RestJ, 1400) || len(f.GPU) != 0 {
		t.Errorf("half of a rank whose R has no GPUs: %+v, want 2600 J, rest 1400 J, no GPU", f)
	}
	if sum := sumEnergy(f.CPU) + sumEnergy(f.Mem) + sumEnergy(f.GPU) + f.RestJ; !near(sum, f.EnergyJ) {
		t.Errorf("domains sum to %g, energy %g", sum, f.EnergyJ)
	}
	other := attribute(t, r, wire.Share{Cores: "1", NCores: 1, NodeCores: 2, CoreFraction: 0.5})
	if !near(f.EnergyJ+other.EnergyJ, r.Node.EnergyJ) {
		t.Errorf("the two halves sum to %g, the node drew %g", f.EnergyJ+other.EnergyJ, r.Node.EnergyJ)
	}
	// both cores and no GPU is exclusive there: the node's figures
	excl := attribute(t, r, wire.Share{Cores: "0-1", NCores: 2, NodeCores: 2, CoreFraction: 1, Exclusive: true})
	if excl.EnergyJ != r.Node.EnergyJ || !reflect.DeepEqual(excl.GPU, r.GPU) {
		t.Errorf("exclusive on a rank whose R has no GPUs: %+v, want the node's", excl)
	}
	// the instance holds gpus 0-1 of the 4 read: 2 and 3 (1300 J) are the rest's
	s := wire.Share{Cores: "0-3", GPUs: "1", NCores: 4, NGPUs: 1, NodeCores: 8, NodeGPUs: 2, NodeGPUIDs: "0-1", CoreFraction: 0.5}
	g := attribute(t, r, s)
	// 500 + 0.5 x (5200 - 900); rest 0.5 x (5200 - 2000 - 400 - 900)
	if !near(g.EnergyJ, 2650) || !near(g.RestJ, 950) || !reflect.DeepEqual(energies(g.GPU), []float64{500}) {
		t.Errorf("gpu 1 of an instance that holds gpus 0-1: %+v, want 2650 J, rest 950 J", g)
	}
	s2 := wire.Share{Cores: "4-7", GPUs: "0", NCores: 4, NGPUs: 1, NodeCores: 8, NodeGPUs: 2, NodeGPUIDs: "0-1", CoreFraction: 0.5}
	if sum := g.EnergyJ + attribute(t, r, s2).EnergyJ; !near(sum, r.Node.EnergyJ) {
		t.Errorf("two jobs holding the instance's whole rank sum to %g, the node drew %g", sum, r.Node.EnergyJ)
	}
}

// TestAttributeShareMismatch: a share whose node GPUs do not agree with
// themselves, or whose job holds a GPU outside them, is an error, never a
// GPU charged twice.
func TestAttributeShareMismatch(t *testing.T) {
	for _, c := range []struct {
		s    wire.Share
		want string
	}{
		{wire.Share{Cores: "0", GPUs: "0", NCores: 1, NGPUs: 1, NodeCores: 8, NodeGPUs: 4, CoreFraction: 0.125}, `counts 4 node GPUs but lists ""`},
		{wire.Share{Cores: "0", GPUs: "3", NCores: 1, NGPUs: 1, NodeCores: 8, NodeGPUs: 2, NodeGPUIDs: "0-1", CoreFraction: 0.125}, `the job's GPUs 3 are not among the instance's ("0-1")`},
		{wire.Share{Cores: "0", NCores: 1, NodeCores: 8, NodeGPUs: 1, NodeGPUIDs: "y", CoreFraction: 0.125}, "the share's node GPUs"},
	} {
		if f, err := Attribute(reading(), c.s); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Attribute(%+v): %+v, %v; want an error with %q", c.s, f, err, c.want)
		}
	}
}

// TestAttributeNeverAboveTheNodeOutsideGPUs: as TestAttributeNeverAboveTheNode
// where the instance holds only some of the GPUs the reading sees: jobs at
// the same time sum to no more than the node, and to the node when every
// core is held and every instance GPU is held.
func TestAttributeNeverAboveTheNodeOutsideGPUs(t *testing.T) {
	r := reading()
	rng := rand.New(rand.NewSource(2))
	for trial := 0; trial < 1000; trial++ {
		inst := []uint32{}
		for g := uint32(0); g < 4; g++ {
			if rng.Intn(2) == 0 {
				inst = append(inst, g)
			}
		}
		jobs := 1 + rng.Intn(4)
		cores := make([][]uint32, jobs)
		gpus := make([][]uint32, jobs)
		heldCores, heldGPUs := 0, 0
		for c := uint32(0); c < 8; c++ {
			if j := rng.Intn(jobs + 1); j < jobs {
				cores[j] = append(cores[j], c)
				heldCores++
			}
		}
		for _, g := range inst {
			if j := rng.Intn(jobs + 1); j < jobs {
				gpus[j] = append(gpus[j], g)
				heldGPUs++
			}
		}
		sum := 0.0
		for j := 0; j < jobs; j++ {
			s := wire.Share{Cores: wire.FormatIDSet(cores[j]), GPUs: wire.FormatIDSet(gpus[j]), NCores: len(cores[j]), NGPUs: len(gpus[j]),
				NodeCores: 8, NodeGPUs: len(inst), NodeGPUIDs: wire.FormatIDSet(inst), CoreFraction: float64(len(cores[j])) / 8,
				Exclusive: len(cores[j]) == 8 && len(gpus[j]) == len(inst)}
			sum += attribute(t, r, s).EnergyJ
		}
		if sum > r.Node.EnergyJ*(1+1e-12) {
			t.Fatalf("trial %d: instance gpus %v, %d jobs (cores %v, gpus %v) sum to %g, above the node's %g", trial, inst, jobs, cores, gpus, sum, r.Node.EnergyJ)
		}
		if heldCores == 8 && heldGPUs == len(inst) && !near(sum, r.Node.EnergyJ) {
			t.Fatalf("trial %d: instance gpus %v all held with every core, sum %g, want the node's %g", trial, inst, sum, r.Node.EnergyJ)
		}
	}
}

// TestCharge: each rank with a share gets its Job or its JobError; a rank
// without one is left alone; a second Charge replaces the first.
func TestCharge(t *testing.T) {
	noShare := reading()
	noShare.Rank = 1
	bad := reading()
	bad.Rank = 2
	bad.Share = &wire.Share{Cores: "0", GPUs: "3", NCores: 1, NGPUs: 1, NodeCores: 8, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: 0.125}
	bad.GPU = bad.GPU[:2]
	good := reading()
	good.Share = &wire.Share{Cores: "0-3", GPUs: "2", NCores: 4, NGPUs: 1, NodeCores: 8, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: 0.5}
	ranks := []wire.RankResult{good, noShare, bad}
	Charge(ranks)
	if ranks[0].Job == nil || !near(ranks[0].Job.EnergyJ, 2100) || ranks[0].JobError != "" {
		t.Errorf("rank with a share: job %+v, error %q", ranks[0].Job, ranks[0].JobError)
	}
	if ranks[1].Job != nil || ranks[1].JobError != "" {
		t.Errorf("rank without a share: job %+v, error %q", ranks[1].Job, ranks[1].JobError)
	}
	if ranks[2].Job != nil || !strings.Contains(ranks[2].JobError, "rank 2: the job holds gpu 3, which the rank's reading does not have") {
		t.Errorf("rank whose GPU is not read: job %+v, error %q", ranks[2].Job, ranks[2].JobError)
	}
	ranks[2].Share = nil
	Charge(ranks)
	if ranks[2].Job != nil || ranks[2].JobError != "" {
		t.Errorf("a share removed, Charge again: job %+v, error %q", ranks[2].Job, ranks[2].JobError)
	}
}
