// SPDX-License-Identifier: LGPL-3.0-only

package report

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/flux-framework/power-monitor/internal/charge"
	"github.com/flux-framework/power-monitor/internal/report/format"
	"github.com/flux-framework/power-monitor/internal/store/aggregate"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// Row is one line of a job's table: an answered rank, a missing rank, or
// the total.
type Row struct {
	resp    *wire.QueryResponse
	res     *wire.RankResult // an answered rank
	missing *wire.Missing    // a missing rank
	total   bool
}

// Rows are the lines of resp's table: the ranks, answered and missing, in
// rank order, then the total.
func Rows(resp *wire.QueryResponse) []Row {
	var rows []Row
	for _, r := range mergedRows(resp) {
		rows = append(rows, Row{resp: resp, res: r.res, missing: r.missing})
	}
	return append(rows, Row{resp: resp, total: true})
}

// The named formats of a job's table (flux-power-query(1), OUTPUT FORMAT).
// The default shows the node's figures beside the job's only where the
// job shared a node (DefaultFormat).
const (
	formatDefault = "{rank:>5} {hostname:<10} {energy_j:>7} {avg_power_w:>7} " +
		"{?:cpu_energy_j:>7} {?:gpu_energy_j:>7} {?:mem_energy_j:>7} {coverage:>5}"
	formatShared = "{rank:>5} {hostname:<10} {energy_j:>7} {avg_power_w:>7} {node_energy_j:>7} {node_power_w:>7} " +
		"{?:cpu_energy_j:>7} {?:gpu_energy_j:>7} {?:mem_energy_j:>7} {coverage:>5}"
	formatDevices = "{rank:>5} {hostname:<10} {energy_j:>7} " +
		"{cpu*_power_w:>7} {gpu*_power_w:>7} {mem*_power_w:>7}"
	formatLong = "{rank:>5} {hostname:<10} {energy_j:>7} {avg_power_w:>7} {node_energy_j:>7} {node_power_w:>7} " +
		"{node_power_min_w:>7} {node_power_max_w:>7} {?:cpu_energy_j:>7} {?:gpu_energy_j:>7} {?:mem_energy_j:>7} " +
		"{cpu*_power_w:>7} {gpu*_power_w:>7} {mem*_power_w:>7} {samples:>7} {coverage:>5} " +
		"{first_sample:>12} {last_sample:>12} {source:<8} {data_presence}"
)

// DefaultFormat is the default table's format for resp: with the node's
// energy and power where some rank was shared.
func DefaultFormat(resp *wire.QueryResponse) string {
	if resp.Total.Shared {
		return formatShared
	}
	return formatDefault
}

// The order in which a terminal too narrow drops columns (Field.Drop): the
// highest first, the rightmost of equals first. The rank and the job's
// energy stay.
const (
	dropDevice     = 90
	dropPower      = 10
	dropHostname   = 20
	dropNodeEnergy = 30
	dropCoverage   = 40
	dropNodePower  = 50
	dropPresence   = 55
	dropGPU        = 60
	dropCPU        = 62
	dropMem        = 64
	dropMinMax     = 70
	dropSamples    = 75
	dropTimes      = 80
	dropSource     = 85
)

var deviceField = regexp.MustCompile(`^(cpu|gpu|mem)([0-9]+)_(energy_j|power_w)$`)

// JobFields are the fields of a job's table (flux-power-query(1), FIELDS),
// named as the JSON output names them; per-device fields (cpu0_power_w,
// gpu3_energy_j...) for the devices of resp's ranks.
func JobFields(resp *wire.QueryResponse) *format.Fields[Row] {
	energy := func(v float64) format.Cell { return format.Number(v, format.Joules(v)) }
	power := func(v float64) format.Cell { return format.Number(v, format.Watts(v)) }
	count := func(n int) format.Cell { return format.Number(float64(n), strconv.Itoa(n)) }
	// charged: the job's figures on an answered rank, where measured
	charged := func(r Row) (wire.JobFigures, bool) {
		if r.res == nil || r.res.JobError != "" || !r.res.Node.Measured {
			return wire.JobFigures{}, false
		}
		return charge.Charged(r.res), true
	}
	// perKind is the job's energy (watts false) or mean power (true) of a
	// kind of domain, summed over its devices: on a rank, its charged
	// domains; in total, the kind's energy (over the window, for power).
	perKind := func(name string, watts bool) func(Row) format.Cell {
		return func(r Row) format.Cell {
			if r.total {
				t := r.resp.Total
				v := map[string]float64{"cpu": t.CPUEnergyJ, "gpu": t.GPUEnergyJ, "mem": t.MemEnergyJ}[name]
				switch {
				case !anyKind(r.resp, name), watts && t.DurationS <= 0:
					return format.None
				case watts:
					return power(v / t.DurationS)
				}
				return energy(v)
			}
			f, ok := charged(r)
			if !ok {
				return format.None
			}
			sum, any := 0.0, false
			for _, d := range map[string][]wire.Domain{"cpu": f.CPU, "gpu": f.GPU, "mem": f.Mem}[name] {
				if d.Measured {
					any = true
					if watts {
						sum += d.MeanW
					} else {
						sum += d.EnergyJ
					}
				}
			}
			switch {
			case !any:
				return format.None
			case watts:
				return power(sum)
			}
			return energy(sum)
		}
	}
	rankOnly := func(get func(*wire.RankResult) format.Cell) func(Row) format.Cell {
		return func(r Row) format.Cell {
			if r.res == nil {
				return format.None
			}
			return get(r.res)
		}
	}
	// nodePower is one of the node's power figures, on a rank's line
	nodePower := func(get func(wire.Domain) float64) func(Row) format.Cell {
		return rankOnly(func(res *wire.RankResult) format.Cell {
			if !res.Node.Measured {
				return format.None
			}
			return power(get(res.Node))
		})
	}
	fields := []format.Field[Row]{
		{Name: "rank", Header: "RANK", Get: func(r Row) format.Cell {
			switch {
			case r.total:
				return format.Text("total")
			case r.res != nil:
				return count(int(r.res.Rank))
			}
			return count(int(r.missing.Rank))
		}},
		{Name: "hostname", Header: "HOSTNAME", Drop: dropHostname, Get: func(r Row) format.Cell {
			switch {
			case r.total:
				return format.Text(fmt.Sprintf("%d/%d ranks", r.resp.Total.Answered, r.resp.Total.Ranks))
			case r.res != nil:
				return format.Text(r.res.Hostname)
			}
			return format.Text(r.missing.Hostname)
		}},
		{Name: "energy_j", Header: "ENERGY", Get: func(r Row) format.Cell {
			if r.total {
				return energy(r.resp.Total.EnergyJ)
			}
			if f, ok := charged(r); ok {
				return energy(f.EnergyJ)
			}
			return format.None
		}},
		{Name: "avg_power_w", Header: "POWER", Drop: dropPower, Get: func(r Row) format.Cell {
			if r.total {
				return power(r.resp.Total.AvgPowerW)
			}
			if f, ok := charged(r); ok {
				return power(f.MeanW)
			}
			return format.None
		}},
		{Name: "node_energy_j", Header: "NODE_E", Drop: dropNodeEnergy, Get: func(r Row) format.Cell {
			if r.total {
				return energy(r.resp.Total.NodeEnergyJ)
			}
			if r.res == nil || !r.res.Node.Measured {
				return format.None
			}
			return energy(r.res.Node.EnergyJ)
		}},
		{Name: "node_power_w", Header: "NODE_P", Drop: dropNodePower, Get: func(r Row) format.Cell {
			if r.total {
				return power(r.resp.Total.NodeAvgPowerW)
			}
			if r.res == nil || !r.res.Node.Measured {
				return format.None
			}
			return power(r.res.Node.MeanW)
		}},
		{Name: "node_power_min_w", Header: "MIN_P", Drop: dropMinMax, Get: nodePower(func(d wire.Domain) float64 { return d.MinW })},
		{Name: "node_power_max_w", Header: "MAX_P", Drop: dropMinMax, Get: nodePower(func(d wire.Domain) float64 { return d.MaxW })},
		{Name: "cpu_energy_j", Header: "CPU_E", Drop: dropCPU, Get: perKind("cpu", false)},
		{Name: "gpu_energy_j", Header: "GPU_E", Drop: dropGPU, Get: perKind("gpu", false)},
		{Name: "mem_energy_j", Header: "MEM_E", Drop: dropMem, Get: perKind("mem", false)},
		{Name: "cpu_power_w", Header: "CPU_P", Drop: dropCPU, Get: perKind("cpu", true)},
		{Name: "gpu_power_w", Header: "GPU_P", Drop: dropGPU, Get: perKind("gpu", true)},
		{Name: "mem_power_w", Header: "MEM_P", Drop: dropMem, Get: perKind("mem", true)},
		{Name: "coverage", Header: "COVER", Drop: dropCoverage, Get: func(r Row) format.Cell {
			switch {
			case r.total:
				return format.Number(r.resp.Total.Coverage, format.Percent(r.resp.Total.Coverage))
			case r.res != nil:
				return format.Number(r.res.Coverage, format.Percent(r.res.Coverage))
			}
			return format.None
		}},
		{Name: "data_presence", Header: "PRESENCE", Drop: dropPresence, Get: func(r Row) format.Cell {
			switch {
			case r.total:
				p := r.resp.Total.Presence
				if p != aggregate.PresenceComplete {
					p = p + " " + format.Percent(r.resp.Total.Coverage)
				}
				return format.Text(p)
			case r.res != nil:
				return format.Text(presence(&r.res.Aggregate))
			}
			return format.Text("missing (" + r.missing.Reason + ")")
		}},
		{Name: "reason", Header: "REASON", Drop: dropPresence, Get: func(r Row) format.Cell {
			switch {
			case r.res != nil && r.res.Reason != "":
				return format.Text(r.res.Reason)
			case r.missing != nil:
				return format.Text(r.missing.Reason)
			}
			return format.None
		}},
		{Name: "samples", Header: "SAMPLES", Drop: dropSamples, Get: func(r Row) format.Cell {
			switch {
			case r.total:
				return count(r.resp.Total.Samples)
			case r.res != nil:
				return count(r.res.Samples)
			}
			return format.None
		}},
		{Name: "first_sample", Header: "FIRST", Drop: dropTimes, Get: rankOnly(func(res *wire.RankResult) format.Cell {
			return format.Number(res.FirstSample, clock(res.FirstSample))
		})},
		{Name: "last_sample", Header: "LAST", Drop: dropTimes, Get: rankOnly(func(res *wire.RankResult) format.Cell {
			return format.Number(res.LastSample, clock(res.LastSample))
		})},
		{Name: "source", Header: "SOURCE", Drop: dropSource, Get: rankOnly(func(res *wire.RankResult) format.Cell {
			return format.Text(res.Source)
		})},
		{Name: "cores", Header: "CORES", Drop: dropSource, Get: rankOnly(func(res *wire.RankResult) format.Cell {
			if res.Share == nil {
				return format.None
			}
			return format.Text(res.Share.Cores)
		})},
		{Name: "gpus", Header: "GPUS", Drop: dropSource, Get: rankOnly(func(res *wire.RankResult) format.Cell {
			if res.Share == nil || res.Share.GPUs == "" {
				return format.None
			}
			return format.Text(res.Share.GPUs)
		})},
		{Name: "core_fraction", Header: "CORE_FR", Drop: dropSource, Get: rankOnly(func(res *wire.RankResult) format.Cell {
			if res.Share == nil {
				return format.None
			}
			return format.Number(res.Share.CoreFraction, format.Percent(res.Share.CoreFraction))
		})},
		{Name: "exclusive", Header: "EXCL", Drop: dropSource, Get: rankOnly(func(res *wire.RankResult) format.Cell {
			if res.Share == nil {
				return format.None
			}
			return format.Text(strconv.FormatBool(res.Share.Exclusive))
		})},
	}
	// the JSON's other names of the same figures
	alias := func(name, of string) {
		for _, f := range fields {
			if f.Name == of {
				f.Name = name
				fields = append(fields, f)
				return
			}
		}
	}
	alias("power_w", "avg_power_w")
	alias("node_avg_power_w", "node_power_w")

	fs := &format.Fields[Row]{List: fields, Named: map[string]string{
		"default": DefaultFormat(resp),
		"devices": formatDevices,
		"long":    formatLong,
	}}
	nc, nm, ng := width(resp)
	for _, k := range []struct {
		name string
		n    int
	}{{"cpu", nc}, {"gpu", ng}, {"mem", nm}} {
		for i := 0; i < k.n; i++ {
			fs.Names = append(fs.Names, fmt.Sprintf("%s%d_energy_j", k.name, i), fmt.Sprintf("%s%d_power_w", k.name, i))
		}
	}
	fs.More = func(name string) (format.Field[Row], bool) {
		m := deviceField.FindStringSubmatch(name)
		if m == nil {
			return format.Field[Row]{}, false
		}
		k, what := m[1], m[3]
		i, err := strconv.Atoi(m[2])
		if err != nil {
			return format.Field[Row]{}, false
		}
		header := fmt.Sprintf("%s%d_E", k, i)
		if what == "power_w" {
			header = fmt.Sprintf("%s%d_P", k, i)
		}
		return format.Field[Row]{Name: name, Header: strings.ToUpper(header), Drop: dropDevice, Get: func(r Row) format.Cell {
			if r.res == nil {
				return format.None
			}
			ds := map[string][]wire.Domain{"cpu": r.res.CPU, "gpu": r.res.GPU, "mem": r.res.Mem}[k]
			if i >= len(ds) || !ds[i].Measured {
				return format.None
			}
			if what == "power_w" {
				return power(ds[i].MeanW)
			}
			return energy(ds[i].EnergyJ)
		}}, true
	}
	return fs
}

// anyKind says whether some rank charges the job a measured domain of
// that kind.
func anyKind(resp *wire.QueryResponse, kind string) bool {
	for i := range resp.Ranks {
		r := &resp.Ranks[i]
		if r.JobError != "" || !r.Node.Measured {
			continue
		}
		f := charge.Charged(r)
		ds := map[string][]wire.Domain{"cpu": f.CPU, "gpu": f.GPU, "mem": f.Mem}[kind]
		for _, d := range ds {
			if d.Measured {
				return true
			}
		}
	}
	return false
}

// formatOptions are the options of a table of the given width.
func formatOptions(width int) format.Options { return format.Options{Width: width} }
