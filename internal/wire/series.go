package wire

// A series is a window's power over time, in buckets (doc/rpc.md,
// "Series"). A query asks for one with its "series" member (SeriesSpec);
// the answering rank asks every rank for its series over the same window
// and buckets (TopicSeriesWindow, SeriesWindowRequest) and sums them bucket
// by bucket into QueryResponse.Series.

// TopicSeriesWindow asks one rank for the aggregate of its own samples
// over a time interval and its series over the same interval in buckets.
// Instance owner only (the module's own fan-out), like TopicWindow.
const TopicSeriesWindow = "power-monitor.series-window"

// Bucket counts.
const (
	// DefaultBuckets is the number of buckets of a series asked with
	// "buckets" 0 or absent.
	DefaultBuckets = 100
	// MaxBuckets is the largest number of buckets a series may ask for.
	MaxBuckets = 10000
)

// SeriesSpec is the "series" member of a QueryRequest: the answer then
// carries the series of the window in QueryResponse.Series.
type SeriesSpec struct {
	// Buckets is the number of buckets, 1 to MaxBuckets; 0: DefaultBuckets.
	// A window shorter than Buckets nanoseconds has one bucket per
	// nanosecond.
	Buckets int `json:"buckets,omitempty"`
	// PerRank asks for each rank's series beside the sum (Series.Ranks).
	PerRank bool `json:"per_rank,omitempty"`
	// Node asks, for a job, for the nodes' series beside the job's
	// (Series.Node, and RankSeries.Node with PerRank): the whole nodes'
	// figures, whatever the job's share of them.
	Node bool `json:"node,omitempty"`
}

// Series is the power of a window over time, in buckets that tile it.
// Bucket k spans [Start + k*(End-Start)/n, Start + (k+1)*(End-Start)/n],
// computed in integer nanoseconds (aggregate.Edges), the same on every
// rank.
type Series struct {
	Start float64 `json:"start"` // the window, unix seconds (as the query's)
	End   float64 `json:"end"`
	// Buckets is the sum over the ranks that answered of what is charged
	// to the job on each (its part of a node it shares, the node's figures
	// where it holds the whole node or no share is known), bucket by
	// bucket. A query by ranks and interval charges the nodes' figures.
	Buckets []Bucket `json:"buckets"`
	// Node is the sum of the nodes' own figures, when asked (SeriesSpec.Node).
	Node []Bucket `json:"node,omitempty"`
	// Ranks is each answering rank's series, in rank order, when asked
	// (SeriesSpec.PerRank).
	Ranks []RankSeries `json:"ranks,omitempty"`
}

// RankSeries is one rank's series in a Series.
type RankSeries struct {
	Rank     uint32   `json:"rank"`
	Hostname string   `json:"hostname"`
	Buckets  []Bucket `json:"buckets"`        // what the job is charged on the rank
	Node     []Bucket `json:"node,omitempty"` // the node's own figures, when asked
}

// Bucket is one bucket of a series: its span and its figures per domain
// kind.
type Bucket struct {
	Start float64 `json:"start"` // unix seconds
	End   float64 `json:"end"`
	// Domains by kind: "node" (the whole node, or the job's part of it),
	// "cpu", "mem", "gpu", each the sum of the domains of that kind. A kind
	// that no rank of the series has is absent.
	Domains map[string]BucketDomain `json:"domains"`
}

// BucketDomain is one domain kind's figures over a bucket.
type BucketDomain struct {
	// EnergyJ is the kind's energy over the bucket: from the energy
	// counters where there are some, else the integral of the sampled
	// power (the query's window integrator). The buckets' energies add up
	// to the window's.
	EnergyJ float64 `json:"energy_j"`
	// MeanW is EnergyJ over the bucket's duration (End - Start): like the
	// query's avg_power_w, it is lower than the draw where the bucket is
	// not fully covered (Coverage < 1).
	MeanW float64 `json:"mean_w"`
	// MinW and MaxW are the lowest and highest power sampled in the
	// bucket. For a sum (several domains of a kind, several ranks) they
	// are the sums of the parts' minima and maxima: bounds, since the
	// parts need not peak together.
	MinW float64 `json:"min_w"`
	MaxW float64 `json:"max_w"`
	// Coverage is the part of the bucket covered by samples, over the
	// ranks asked that have the kind (a rank that did not answer counts as
	// uncovered), in [0, 1].
	Coverage float64 `json:"coverage"`
}

// SeriesWindowRequest is the payload of TopicSeriesWindow.
type SeriesWindowRequest struct {
	Start   float64 `json:"start"` // unix seconds
	End     float64 `json:"end"`
	Buckets int     `json:"buckets"` // 1 to MaxBuckets
}

// SeriesWindowResponse is the answer to TopicSeriesWindow: the rank's
// aggregate over the whole window (as TopicWindow answers it) and its
// buckets, whose spans follow from the request (aggregate.Edges).
type SeriesWindowResponse struct {
	RankResult
	Buckets []RankBucket `json:"buckets"`
}

// RankBucket is one rank's figures over one bucket, per domain as in an
// Aggregate (node, then each CPU, memory and GPU domain by index).
type RankBucket struct {
	CoveredS float64         `json:"covered_s"` // seconds of the bucket covered by samples
	Node     *BucketFigure   `json:"node"`      // null: not measured in the bucket
	CPU      []*BucketFigure `json:"cpu"`
	Mem      []*BucketFigure `json:"mem"`
	GPU      []*BucketFigure `json:"gpu"`
}

// BucketFigure is one domain's figures over a bucket on one rank.
type BucketFigure struct {
	EnergyJ float64 `json:"energy_j"`
	MinW    float64 `json:"min_w"`
	MaxW    float64 `json:"max_w"`
}
