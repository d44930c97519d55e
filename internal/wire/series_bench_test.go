// SPDX-License-Identifier: LGPL-3.0-only

package wire

import (
	"encoding/json"
	"testing"
)

// benchRank is one rank's answer to TopicSeriesWindow as the stand-in
// libvariorum gives it (a node, 2 CPUs, 2 memories and 4 GPUs) over n
// buckets of 20 ms.
func benchRank(rank uint32, n int) SeriesWindowResponse {
	f := func(s, w float64) *tfig { return fig(w*s, w, w) }
	bs := make([]tbucket, n)
	for k := range bs {
		s := 0.0203601571 * (1 + float64(k)*1.2345678e-7) // 16 or 17 digits, as measured figures have
		bs[k] = tbucket{covered: s, node: f(s, 440),
			cpu: []*tfig{f(s, 100), f(s, 100)}, mem: []*tfig{f(s, 20), f(s, 20)},
			gpu: []*tfig{f(s, 50), f(s, 50), f(s, 50), f(s, 50)}}
	}
	d := func(kind string, i int) Domain { return Domain{Kind: kind, Index: i, Measured: true} }
	return SeriesWindowResponse{
		RankResult: RankResult{Rank: rank, Hostname: "node", Aggregate: Aggregate{Node: d("node", -1),
			CPU: []Domain{d("cpu", 0), d("cpu", 1)}, Mem: []Domain{d("mem", 0), d("mem", 1)},
			GPU: []Domain{d("gpu", 0), d("gpu", 1), d("gpu", 2), d("gpu", 3)}}},
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
	half := Share{Cores: "0-1", GPUs: "1", NCores: 2, NGPUs: 1, NodeCores: 4, NodeGPUs: 4, NodeGPUIDs: "0-3", CoreFraction: 0.5}
	b.ReportAllocs()
	for b.Loop() {
		var ranks []RankResult
		buckets := map[uint32]*RankBuckets{}
		for _, p := range payloads {
			var sw SeriesWindowResponse
			if err := json.Unmarshal(p, &sw); err != nil {
				b.Fatal(err)
			}
			sw.RankResult.Share = &half
			ranks = append(ranks, sw.RankResult)
			buckets[sw.Rank] = &sw.Buckets
		}
		s, err := SumSeries(0, 2, SeriesSpec{Buckets: 100}, ranks, buckets, 0)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := json.Marshal(s); err != nil {
			b.Fatal(err)
		}
	}
}
