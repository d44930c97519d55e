// SPDX-License-Identifier: LGPL-3.0-only

package variorum

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flux-framework/power-monitor/internal/sample"
	"github.com/flux-framework/power-monitor/internal/store/ring"
)

// BenchmarkParse: parsing one v0.8 reading (2 sockets, 4 GPUs).
func BenchmarkParse(b *testing.B) {
	js, err := os.ReadFile(filepath.Join("testdata", "v0.8.0-intel-nvidia.json"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(js)))
	for i := 0; i < b.N; i++ {
		if _, err := Parse(js); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseReuse: parsing one v0.8 reading into the same reading
// with the same Parser, as the sampler does at every period.
func BenchmarkParseReuse(b *testing.B) {
	js, err := os.ReadFile(filepath.Join("testdata", "v0.8.0-intel-nvidia.json"))
	if err != nil {
		b.Fatal(err)
	}
	var p Parser
	var r sample.Reading
	b.ReportAllocs()
	b.SetBytes(int64(len(js)))
	for i := 0; i < b.N; i++ {
		if err := p.Parse(js, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSample: the cost of one sample in this package: the dlopen'd
// variorum_get_power_json of the stand-in (2 sockets, 2 GPUs a socket),
// parsing, and storing in a 100,000-sample ring, the JSON's array, the
// parser and the reading reused (the whole path, through the sampler and
// into the exporter, is internal/read/source's BenchmarkSample).
func BenchmarkSample(b *testing.B) {
	for _, k := range []string{"VARIORUM_STUB_SHAPE", "VARIORUM_STUB_FAIL", "VARIORUM_STUB_DELAY_MS", "VARIORUM_STUB_CONTROL"} {
		b.Setenv(k, "")
	}
	l := openStub(b)
	st := ring.New(100000, time.Second)
	defer st.Close()
	t := time.Now().UnixNano()
	var js []byte
	var p Parser
	var r sample.Reading
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var err error
		if js, err = l.AppendPowerJSON(js[:0]); err != nil {
			b.Fatal(err)
		}
		if err := p.Parse(js, &r); err != nil {
			b.Fatal(err)
		}
		st.Append(t+int64(i)*1e9, &r)
	}
}
