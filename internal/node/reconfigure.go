// SPDX-License-Identifier: LGPL-3.0-only

package node

import (
	"fmt"
	"slices"
	"strings"

	"github.com/flux-framework/power-monitor/internal/config"
	"github.com/flux-framework/power-monitor/internal/read/sampler"
)

// Reconfigure applies new options to the running node without losing the
// ring or its samples (the module's config-reload):
//
//   - a new period or --batch: sampling goes on at them; the ring's gap and
//     edge rules follow (ring.SetPeriod);
//   - new sources (the list, or what they read: variorum-lib, sysfs,
//     procfs, the estimate's watts, the replay's speed): they are opened
//     before anything stops, and the ring takes their layout as well as its
//     own (ring.NewSource);
//   - new exports: the old exporter delivers what it holds, up to its flush
//     timeout, and stops; the new one starts on the same spool directories,
//     so what was not delivered goes on to wherever it now points. A change
//     of sources restarts the exporter too, since what it publishes names
//     them.
//
// Sampling stops only while this runs (on the caller's goroutine, that
// which starts and stops the node), and every sample taken before reaches
// every store; the new exporter tags the samples with the jobs the old one
// did (SetJobID). The buffer size cannot change: the ring's memory is fixed
// when it is made. On error nothing has changed, and the node samples and
// exports as before: the new sources work in none of the ways asked where
// the old ones work, or the new exporter does not start.
func (n *Node) Reconfigure(o config.Options) error {
	old := n.opts
	if o.BufferSize != old.BufferSize {
		// (short: flux config reload shows the first 130 characters or so)
		return fmt.Errorf("buffer-size %d -> %d needs a reload of the module, which empties the ring (flux module reload power-monitor)",
			old.BufferSize, o.BufferSize)
	}
	sources := !sameSources(old, o)
	exports := old.Export != o.Export || (sources && o.Export.Enabled())
	timing := old.Period != o.Period || old.BatchDelay() != o.BatchDelay()
	if !sources && !exports && !timing {
		n.opts, n.cfg.Options = o, o
		return nil
	}

	// Sampling stops first: opening a source reads it (Variorum is probed
	// whether listed or not), and a library such as Variorum must not be
	// read from two threads at once.
	n.StopSampling()
	src, statuses, srcErr := n.src, n.statuses, n.srcErr
	if sources {
		var err error
		if src, statuses, err = openSources(o); err != nil {
			if n.src != nil {
				n.resumeSampling()
				return fmt.Errorf("source %s: none works, still sampling %s: %v", strings.Join(o.Sources, ","), n.SourceName(), err)
			}
			src, srcErr = nil, err
		} else {
			srcErr = nil
		}
	}

	ex := n.exporter
	if exports {
		if n.exporter != nil {
			n.exporter.Stop()
		}
		var err error
		if ex, err = n.startExporter(o.Export, src); err != nil {
			if sources && src != nil {
				src.Close()
			}
			n.restoreExporter(old)
			n.resumeSampling()
			return err
		}
		if ex != nil && n.exporter != nil {
			ex.SetJobID(n.exporter.JobID()) // the jobs running here still do
		}
	}

	n.opts, n.cfg.Options = o, o
	n.exporter = ex
	if sources {
		n.closeSource()
		n.src, n.statuses, n.srcErr = src, statuses, srcErr
		if n.src != nil {
			n.reportUnused()
		}
		n.store.NewSource()
	}
	if old.Period != o.Period {
		n.store.SetPeriod(o.Period)
	}
	n.resumeSampling()
	return nil
}

// restoreExporter starts again the exporter of the options old after a
// new one failed to start; it was stopped.
func (n *Node) restoreExporter(old config.Options) {
	if n.exporter == nil {
		return
	}
	ex, err := n.startExporter(old.Export, n.src)
	if err != nil {
		n.log.Log(Error, fmt.Sprintf("the exports could not be restarted as they were: %v; the samples are not exported until the next reload", err))
	} else {
		ex.SetJobID(n.exporter.JobID())
	}
	n.exporter = ex
}

// resumeSampling starts sampling again after a Stop, with the node's
// source, stores and options, making the sampler if there was none.
func (n *Node) resumeSampling() {
	if n.src == nil {
		n.sampler = nil
		return
	}
	if n.sampler == nil {
		n.sampler = sampler.New(n.src, n.stores(), n.opts.Period, n.sampleError)
	} else {
		n.sampler.Retarget(n.src, n.stores(), n.opts.Period)
	}
	n.sampler.SetBatch(n.opts.BatchDelay())
	n.sampler.Start()
}

// sameSources reports whether a and b sample the same sources the same way.
func sameSources(a, b config.Options) bool {
	return slices.Equal(a.Sources, b.Sources) && a.VariorumLib == b.VariorumLib &&
		a.Sysfs == b.Sysfs && a.Procfs == b.Procfs && a.IdleW == b.IdleW &&
		a.PeakW == b.PeakW && a.ReplaySpeed == b.ReplaySpeed
}
