// SPDX-License-Identifier: LGPL-3.0-only

package charge

// The two halves of a series' cost that BENCHMARKS.md reports ("The
// whole --timeline command"), side by side: a rank's encoding of its
// answer (wire's columns) and the answering rank's sum of them (SumSeries).

import (
	"encoding/json"
	"testing"

	"github.com/flux-framework/power-monitor/internal/wire"
)

// benchRank is one rank's answer to wire.TopicSeriesWindow as the stand-in
// libvariorum gives it (a node, 2 CPUs, 2 memories and 4 GPUs) over n
// buckets of 20 ms.
func benchRank(rank uint32, n int) wire.SeriesWindowResponse {
	f := func(s, w float64) *tfig { return fig(w*s, w, w) }
	bs := make([]tbucket, n)
	for k := range bs {
		s := 0.0203601571 * (1 + float64(k)*1.2345678e-7) // 16 or 17 digits, as measured figures have
		bs[k] = tbucket{covered: s, node: f(s, 440),
			cpu: []*tfig{f(s, 100), f(s, 100)}, mem: []*tfig{f(s, 20), f(s, 20)},
			gpu: []*tfig{f(s, 50), f(s, 50), f(s, 50), f(s, 50)}}
	}
	d := func(kind string, i int) wire.Domain { return wire.Domain{Kind: kind, Index: i, Measured: true} }
	return wire.SeriesWindowResponse{
		RankResult: wire.RankResult{Rank: rank, Hostname: "node", Aggregate: wire.Aggregate{Node: d("node", -1),
			CPU: []wire.Domain{d("cpu", 0), d("cpu", 1)}, Mem: []wire.Domain{d("mem", 0), d("mem", 1)},
			GPU: []wire.Domain{d("gpu", 0), d("gpu", 1), d("gpu", 2), d("gpu", 3)}}},
		Buckets: *columns(bs...),
	}
}

// BenchmarkSeriesRankEncode is one rank's part of a 100-bucket series:
// encoding its answer.
func BenchmarkSeriesRankEncode(b *testing.B) {
	r := benchRank(1, 100)
	b.ReportAllocs()
	for b.Loop() {
		out, err := json.Marshal(r)
		if err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(out)))
	}
}

// BenchmarkSeriesSum16 is the answering rank's part of a 16-rank,
// 100-bucket series of a job that holds half of each node's cores and one
// of its 4 GPUs: decoding the 16 answers, summing them (SumSeries) and
// encoding the series.
func BenchmarkSeriesSum16(b *testing.B) {
	var payloads [][]byte
	for r := range uint32(16) {
		p, _ := json.Marshal(benchRank(r, 100))
		payloads = append(payloads, p)
	}
	half := wire.Share{Cores: "0-1", GPUs: "1", NCores: 2, NGPUs: 1, NodeCores: 4, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: 0.5}
	b.ReportAllocs()
	for b.Loop() {
		var ranks []wire.RankResult
		buckets := map[uint32]*wire.RankBuckets{}
		for _, p := range payloads {
			var sw wire.SeriesWindowResponse
			if err := json.Unmarshal(p, &sw); err != nil {
				b.Fatal(err)
			}
			sw.RankResult.Share = &half
			ranks = append(ranks, sw.RankResult)
			buckets[sw.Rank] = &sw.Buckets
		}
		s, err := SumSeries(0, 2, wire.SeriesSpec{Buckets: 100}, ranks, buckets, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(s); err != nil {
			b.Fatal(err)
		}
	}
}
