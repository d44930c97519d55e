// SPDX-License-Identifier: LGPL-3.0-only

package charge

import (
	"fmt"
	"math"
	"sort"
	"strconv"

	"github.com/flux-framework/power-monitor/internal/wire"
)

// WindowSlack is how far, in seconds, a guest's window may reach past its
// job's run: float rounding of the times it copied, not more.
const WindowSlack = 0.001

// Denied is a request that a guest may not make (EPERM): it asks about
// more than its own job. The instance owner is never denied.
type Denied struct{ Reason string }

func (d *Denied) Error() string { return d.Reason }

// Narrowing is what a request about a job asks beyond the job itself, read
// from the request before the job is known: a subset of its ranks, a
// sub-window of its run, and a share on some ranks. A zero field asks for
// the job's own.
type Narrowing struct {
	Ranks []uint32                      // nil: the job's ranks
	Start float64                       // 0: the job's t_run
	End   float64                       // 0: the job's end (now while it runs)
	Share map[uint32]wire.RankResources // nil: charge each rank as the job
}

// ParseNarrowing reads the ranks, start, end and share of a request about
// a job. Its errors are the request's form (EINVAL): an idset or rank that
// does not parse, a negative or reversed window, a share without cores.
func ParseNarrowing(req wire.QueryRequest) (Narrowing, error) {
	var n Narrowing
	if req.Ranks != "" {
		ranks, err := wire.ParseIDSet(req.Ranks)
		if err != nil {
			return n, fmt.Errorf("ranks: %v", err)
		}
		if len(ranks) == 0 {
			return n, fmt.Errorf("ranks %q names no rank", req.Ranks)
		}
		n.Ranks = ranks
	}
	for _, t := range []float64{req.Start, req.End} {
		if math.IsNaN(t) || math.IsInf(t, 0) || t < 0 {
			return n, fmt.Errorf("invalid time interval [%.6f, %.6f]: times must be unix times", req.Start, req.End)
		}
	}
	if req.Start != 0 && req.End != 0 && req.End < req.Start {
		return n, fmt.Errorf("invalid time interval [%.6f, %.6f]: start must not be after end", req.Start, req.End)
	}
	n.Start, n.End = req.Start, req.End
	if len(req.Share) == 0 {
		return n, nil
	}
	n.Share = map[uint32]wire.RankResources{}
	for key, rs := range req.Share {
		rank, err := strconv.ParseUint(key, 10, 32)
		if err != nil || rank == 1<<32-1 {
			return n, fmt.Errorf("share: %q is not a rank", key)
		}
		cores, err := wire.ParseIDSet(rs.Cores)
		if err != nil {
			return n, fmt.Errorf("share on rank %d: cores: %v", rank, err)
		}
		if len(cores) == 0 {
			return n, fmt.Errorf("share on rank %d has no cores", rank)
		}
		gpus, err := wire.ParseIDSet(rs.GPUs)
		if err != nil {
			return n, fmt.Errorf("share on rank %d: gpus: %v", rank, err)
		}
		n.Share[uint32(rank)] = wire.RankResources{Cores: cores, GPUs: gpus}
	}
	return n, nil
}

// JobRun is a job as a request about it is checked against: its jobid as
// messages name it, its run (t_run to t_cleanup, or to now while it runs)
// and its ranks, sorted.
type JobRun struct {
	JobID      string
	Start, End float64
	Ranks      []uint32
}

// Narrowed is the window and the ranks that a request about a job is
// answered over.
type Narrowed struct {
	Start, End float64
	Ranks      []uint32
}

// Apply is the window and ranks that n asks of job. A guest (not the
// instance owner) is refused (Denied) a window that reaches outside the
// job's run by more than WindowSlack, and a rank, asked or in the share,
// that is not one of the job's; the owner may ask anything. Its other
// errors are the request's form (EINVAL).
func (n Narrowing) Apply(job JobRun, guest bool) (Narrowed, error) {
	out := Narrowed{Start: job.Start, End: job.End, Ranks: job.Ranks}
	if n.Start != 0 {
		out.Start = n.Start
	}
	if n.End != 0 {
		out.End = n.End
	}
	if guest && !(within(out.Start, job) && within(out.End, job)) {
		return Narrowed{}, &Denied{fmt.Sprintf("window [%.6f, %.6f] is outside job %s's run [%.6f, %.6f]",
			out.Start, out.End, job.JobID, job.Start, job.End)}
	}
	if out.End < out.Start {
		return Narrowed{}, fmt.Errorf("invalid time interval [%.6f, %.6f]: start must not be after end", out.Start, out.End)
	}
	if guest {
		for _, r := range append(append([]uint32{}, n.Ranks...), sortedKeys(n.Share)...) {
			if !contains(job.Ranks, r) {
				return Narrowed{}, &Denied{fmt.Sprintf("rank %d is not one of job %s's ranks (%s)", r, job.JobID, wire.FormatIDSet(job.Ranks))}
			}
		}
	}
	if n.Ranks != nil {
		out.Ranks = n.Ranks
	}
	for _, r := range sortedKeys(n.Share) {
		if !contains(out.Ranks, r) {
			return Narrowed{}, fmt.Errorf("share names rank %d, which the request does not ask about (ranks %s)", r, wire.FormatIDSet(out.Ranks))
		}
	}
	return out, nil
}

// CheckShare refuses (Denied) a share that holds a core or GPU that job's
// R does not hold on that rank: a guest may only split its own job's
// resources.
func CheckShare(jobID string, share map[uint32]wire.RankResources, jobR wire.Resources) error {
	for _, rank := range sortedKeys(share) {
		have, ok := jobR[rank]
		if !ok {
			return &Denied{fmt.Sprintf("rank %d is not one of job %s's ranks (%s)", rank, jobID, wire.FormatIDSet(sortedKeys(jobR)))}
		}
		s := share[rank]
		if extra := minus(s.Cores, have.Cores); len(extra) > 0 {
			return &Denied{fmt.Sprintf("core %d on rank %d is not job %s's (%s)", extra[0], rank, jobID, idsOrNone(have.Cores))}
		}
		if extra := minus(s.GPUs, have.GPUs); len(extra) > 0 {
			return &Denied{fmt.Sprintf("gpu %d on rank %d is not job %s's (%s)", extra[0], rank, jobID, idsOrNone(have.GPUs))}
		}
	}
	return nil
}

// within reports whether t is in job's run, give or take WindowSlack.
func within(t float64, job JobRun) bool {
	return t >= job.Start-WindowSlack && t <= job.End+WindowSlack
}

func idsOrNone(ids []uint32) string {
	if len(ids) == 0 {
		return "none"
	}
	return wire.FormatIDSet(ids)
}

// contains reports whether sorted ids holds id.
func contains(ids []uint32, id uint32) bool {
	i := sort.Search(len(ids), func(i int) bool { return ids[i] >= id })
	return i < len(ids) && ids[i] == id
}

// sortedKeys is the ranks of m, sorted.
func sortedKeys(m map[uint32]wire.RankResources) []uint32 {
	out := make([]uint32, 0, len(m))
	for r := range m {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
