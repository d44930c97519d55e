// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package main

import (
	"encoding/json"
	"fmt"
	"syscall"

	"github.com/flux-framework/power-monitor/fluxbind"
	"github.com/flux-framework/power-monitor/internal/wire"
)

// seriesWindowCB answers power-monitor.series-window: this rank's aggregate
// over [start, end] and over each of its buckets, from the ring under one
// hold of its lock. Only the instance owner (the module's own fan-out) may
// ask.
func (m *monitor) seriesWindowCB(msg *fluxbind.Msg) {
	var req wire.SeriesWindowRequest
	if !m.unpackRankRequest(msg, &req, func() (float64, float64) { return req.Start, req.End }) {
		return
	}
	if err := checkBuckets(req.Buckets); err != nil {
		m.h.RespondError(msg, syscall.EINVAL, err.Error())
		return
	}
	m.node.Flush() // the samples held back (--batch) are in the window too
	whole, buckets := m.node.Store().Series(wire.UnixNano(req.Start), wire.UnixNano(req.End), req.Buckets)
	m.answerRank(msg, wire.SeriesWindowResponse{RankResult: m.rankRow(whole), Buckets: wire.BucketColumns(buckets)})
}

func checkBuckets(n int) error {
	if n < 1 || n > wire.MaxBuckets {
		return fmt.Errorf("%d buckets: a series has 1 to %d", n, wire.MaxBuckets)
	}
	return nil
}

// askSeries notes what series a query asks for, if any (its bucket count
// set: wire.DefaultBuckets where it gives none).
func (q *jobQuery) askSeries(spec *wire.SeriesSpec) error {
	if spec == nil {
		return nil
	}
	s := *spec
	if s.Buckets == 0 {
		s.Buckets = wire.DefaultBuckets
	}
	if err := checkBuckets(s.Buckets); err != nil {
		return fmt.Errorf("series: %v", err)
	}
	q.series, q.buckets = &s, map[uint32]*wire.RankBuckets{}
	return nil
}

// rankRequest is the request each rank is sent: its window, or with a
// series its window and buckets.
func (q *jobQuery) rankRequest() (topic, payload string) {
	var out []byte
	if q.series != nil {
		topic = wire.TopicSeriesWindow
		out, _ = json.Marshal(wire.SeriesWindowRequest{Start: q.resp.Start, End: q.resp.End, Buckets: q.series.Buckets})
	} else {
		topic = wire.TopicWindow
		out, _ = json.Marshal(wire.WindowRequest{Start: q.resp.Start, End: q.resp.End})
	}
	return topic, string(out)
}

// rankAnswer takes a rank's answer to rankRequest.
func (q *jobQuery) rankAnswer(payload string) error {
	if q.series == nil {
		var rr wire.RankResult
		if err := json.Unmarshal([]byte(payload), &rr); err != nil {
			return err
		}
		q.resp.Ranks = append(q.resp.Ranks, rr)
		return nil
	}
	var sw wire.SeriesWindowResponse
	if err := json.Unmarshal([]byte(payload), &sw); err != nil {
		return err
	}
	q.resp.Ranks = append(q.resp.Ranks, sw.RankResult)
	q.buckets[sw.Rank] = &sw.Buckets
	return nil
}
