// SPDX-License-Identifier: LGPL-3.0-only

package account

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/flux-framework/power-monitor/internal/report/format"
	"github.com/flux-framework/power-monitor/internal/store/aggregate"
)

// Grouping keys of a report (--by).
const (
	ByUser    = "user"
	ByBank    = "bank"
	ByProject = "project"
	ByQueue   = "queue"
	ByDay     = "day"
	ByMonth   = "month"
)

// JoulesPerKWh converts joules to kilowatt-hours: kWh = J / 3.6e6.
const JoulesPerKWh = 3.6e6

// ParseBy reads --by: a comma-separated list of distinct keys.
func ParseBy(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, k := range strings.Split(s, ",") {
		k = strings.TrimSpace(k)
		switch k {
		case ByUser, ByBank, ByProject, ByQueue, ByDay, ByMonth:
		default:
			return nil, fmt.Errorf("--by: unknown key %q: use user, bank, project, queue, day or month, or a comma list of them", k)
		}
		if seen[k] {
			return nil, fmt.Errorf("--by: %q is given twice", k)
		}
		seen[k] = true
		out = append(out, k)
	}
	return out, nil
}

// ParseRate reads --price or --carbon: a finite non-negative number.
func ParseRate(name, s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, fmt.Errorf("--%s: %q is not a non-negative number", name, s)
	}
	return v, nil
}

// Job is one inactive job of a report: what job-list says of it, and its
// record where its eventlog has one (nil where it has none).
type Job struct {
	ID        uint64
	UserID    uint32
	Queue     string
	Bank      string
	Project   string
	TInactive float64
	NNodes    int
	Record    *Record
}

// Sum is what a group of jobs adds up to. Sums are taken in float64 in
// job-id order, so that anyone who adds the same records in that order
// gets the same numbers to the last bit.
type Sum struct {
	Jobs int `json:"jobs"`
	// NoRecord jobs have no `power` event (they ended before power-record.so
	// was loaded, or their eventlog could not be read): nothing of theirs is
	// in the figures.
	NoRecord int `json:"no_record"`
	// Partial and NoData count the records of jobs that ran whose
	// data_presence is "partial" or "none": their energy is summed as
	// recorded (what was covered).
	Partial int `json:"partial"`
	NoData  int `json:"no_data"`
	// NodeSeconds is the sum of nnodes x duration_s of the records.
	NodeSeconds float64 `json:"node_seconds"`
	EnergyJ     float64 `json:"energy_j"`
	NodeEnergyJ float64 `json:"node_energy_j"`
}

// NodeHours is NodeSeconds / 3600.
func (s *Sum) NodeHours() float64 { return s.NodeSeconds / 3600 }

// KWh is EnergyJ / 3.6e6.
func (s *Sum) KWh() float64 { return s.EnergyJ / JoulesPerKWh }

func (s *Sum) add(j *Job) {
	s.Jobs++
	r := j.Record
	if r == nil {
		s.NoRecord++
		return
	}
	if r.NNodes > 0 {
		switch r.Presence {
		case aggregate.PresenceComplete:
		case aggregate.PresenceNone:
			s.NoData++
		default:
			s.Partial++
		}
	}
	s.NodeSeconds += float64(r.NNodes) * r.DurationS
	s.EnergyJ += r.EnergyJ
	s.NodeEnergyJ += r.NodeEnergyJ
}

// Group is one line of a report: the values of its keys (in the order of
// Report.By) and its sum.
type Group struct {
	Keys []string
	// UserID is the group's user, where it is grouped by user.
	UserID *uint32
	Sum
}

// Report is the sum of the records of inactive jobs, per group.
type Report struct {
	By []string
	// Since and Until bound t_inactive: Since <= t_inactive < Until (unix
	// seconds; 0 where not given).
	Since, Until float64
	// Price is per kWh and Carbon in g CO2e per kWh, where given.
	Price, Carbon *float64
	Groups        []Group
	Total         Sum
}

// Cost is kWh x Price (0 without a price).
func (r *Report) Cost(s *Sum) float64 {
	if r.Price == nil {
		return 0
	}
	return s.KWh() * *r.Price
}

// CO2eKg is kWh x Carbon / 1000: kilograms of CO2e (0 without Carbon).
func (r *Report) CO2eKg(s *Sum) float64 {
	if r.Carbon == nil {
		return 0
	}
	return s.KWh() * *r.Carbon / 1000
}

// Options of Build.
type Options struct {
	By            []string
	Since, Until  float64
	Price, Carbon *float64
	// Loc is the time zone of day and month (default: time.Local).
	Loc *time.Location
	// UserName names a uid (default: the number).
	UserName func(uint32) string
}

// Build sums jobs per group. Jobs are taken in job-id order (a sorted copy;
// jobs is not changed). A job's user, queue, bank and project are its
// record's where it has one (what the job-manager saw at its end), job-list's
// otherwise; "-" where it has none. Day and month are those of t_inactive in
// o.Loc. Groups are in the order of their keys (users by name; days and
// months in time order); without keys there are none, only the total.
func Build(jobs []Job, o Options) *Report {
	loc := o.Loc
	if loc == nil {
		loc = time.Local
	}
	name := o.UserName
	if name == nil {
		name = func(uid uint32) string { return strconv.FormatUint(uint64(uid), 10) }
	}
	names := map[uint32]string{}
	userName := func(uid uint32) string {
		n, ok := names[uid]
		if !ok {
			n = name(uid)
			names[uid] = n
		}
		return n
	}
	sorted := make([]*Job, len(jobs))
	for i := range jobs {
		sorted[i] = &jobs[i]
	}
	sort.SliceStable(sorted, func(a, b int) bool { return sorted[a].ID < sorted[b].ID })

	rep := &Report{By: o.By, Since: o.Since, Until: o.Until, Price: o.Price, Carbon: o.Carbon}
	index := map[string]int{}
	keys := make([]string, len(o.By))
	for _, j := range sorted {
		uid, queue, bank, project := j.UserID, j.Queue, j.Bank, j.Project
		if r := j.Record; r != nil {
			if r.UserID != nil {
				uid = *r.UserID
			}
			if r.Queue != "" {
				queue = r.Queue
			}
			if r.Bank != "" {
				bank = r.Bank
			}
			if r.Project != "" {
				project = r.Project
			}
		}
		for i, k := range o.By {
			switch k {
			case ByUser:
				keys[i] = userName(uid)
			case ByBank:
				keys[i] = orDash(bank)
			case ByProject:
				keys[i] = orDash(project)
			case ByQueue:
				keys[i] = orDash(queue)
			case ByDay:
				keys[i] = format.Unix(j.TInactive, loc).Format("2006-01-02")
			case ByMonth:
				keys[i] = format.Unix(j.TInactive, loc).Format("2006-01")
			}
		}
		// a user is grouped by uid: two uids that share a name stay apart
		id := strings.Join(keys, "\x00")
		if containsKey(o.By, ByUser) {
			id += "\x00" + strconv.FormatUint(uint64(uid), 10)
		}
		rep.Total.add(j)
		if len(o.By) == 0 {
			continue // one total line
		}
		gi, ok := index[id]
		if !ok {
			g := Group{Keys: append([]string(nil), keys...)}
			if containsKey(o.By, ByUser) {
				u := uid
				g.UserID = &u
			}
			rep.Groups = append(rep.Groups, g)
			gi = len(rep.Groups) - 1
			index[id] = gi
		}
		rep.Groups[gi].add(j)
	}
	sort.SliceStable(rep.Groups, func(a, b int) bool {
		ga, gb := &rep.Groups[a], &rep.Groups[b]
		for i := range ga.Keys {
			if ga.Keys[i] != gb.Keys[i] {
				return ga.Keys[i] < gb.Keys[i]
			}
		}
		if ga.UserID != nil && gb.UserID != nil {
			return *ga.UserID < *gb.UserID
		}
		return false
	})
	return rep
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func containsKey(keys []string, k string) bool {
	for _, x := range keys {
		if x == k {
			return true
		}
	}
	return false
}
