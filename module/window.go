// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"encoding/json"
	"fmt"
	"math"
	"syscall"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/store/aggregate"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// windowCB answers power-monitor.window: this rank's aggregate over
// [start, end]. Only the instance owner (the module's own fan-out) may ask.
func (m *monitor) windowCB(msg *fluxbind.Msg) {
	var req wire.WindowRequest
	if !m.unpackRankRequest(msg, &req, func() (float64, float64) { return req.Start, req.End }) {
		return
	}
	m.node.Flush() // the samples held back (--batch) are in the window too
	m.answerRank(msg, m.rankResult(req.Start, req.End))
}

// unpackRankRequest decodes a per-rank request (power-monitor.window,
// power-monitor.series-window) into req and checks the window it gives;
// false when the request was refused, and answered so.
func (m *monitor) unpackRankRequest(msg *fluxbind.Msg, req any, window func() (start, end float64)) bool {
	if err := msg.Unpack(req); err != nil {
		m.h.RespondError(msg, syscall.EPROTO, err.Error())
		return false
	}
	if err := checkWindow(window()); err != nil {
		m.h.RespondError(msg, syscall.EINVAL, err.Error())
		return false
	}
	return true
}

// answerRank sends this rank's answer to a per-rank request.
func (m *monitor) answerRank(msg *fluxbind.Msg, answer any) {
	out, err := json.Marshal(answer)
	if err != nil {
		m.h.RespondError(msg, syscall.EINVAL, err.Error())
		return
	}
	m.windows++
	m.h.Respond(msg, out)
}

func checkWindow(start, end float64) error {
	if math.IsNaN(start) || math.IsNaN(end) || start <= 0 || end < start {
		return fmt.Errorf("invalid time interval [%.6f, %.6f]: start must be a positive unix time not after end", start, end)
	}
	return nil
}

// rankResult is this rank's row for a window.
func (m *monitor) rankResult(start, end float64) wire.RankResult {
	return m.rankRow(m.node.Store().Window(wire.UnixNano(start), wire.UnixNano(end)))
}

// rankRow is this rank's row for the aggregate res of a window: why it
// has no data, if so, and where each domain's values came from.
func (m *monitor) rankRow(res aggregate.Result) wire.RankResult {
	if res.Samples == 0 && res.CoveredS == 0 {
		switch {
		case m.node.Source() == nil:
			res.Presence = aggregate.PresenceNone
			res.Reason = wire.ReasonNoSource + ": " + m.node.SourceErr().Error()
		case m.node.Sampler() != nil:
			if st := m.node.Sampler().Stats(); st.Samples == 0 && st.LastError != "" {
				res.Reason = "sampling fails: " + st.LastError
			}
		}
	}
	if m.node.Source() != nil {
		prov := m.node.Source().Provenance()
		res.Node.Source = prov[aggregate.KindNode]
		for _, ds := range []struct {
			kind string
			ds   []aggregate.Domain
		}{{aggregate.KindCPU, res.CPU}, {aggregate.KindMem, res.Mem}, {aggregate.KindGPU, res.GPU}} {
			for i := range ds.ds {
				ds.ds[i].Source = prov[ds.kind]
			}
		}
	}
	return wire.RankResult{Rank: m.rank, Hostname: m.hostName(m.rank), Source: m.sourceName(), Aggregate: wire.FromAggregate(res)}
}
