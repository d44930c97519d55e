package variorum

import (
	"os"
	"path/filepath"
	"testing"
	"time"

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

// BenchmarkSample: the whole cost of one sample, as the module's sampler
// pays it: the dlopen'd variorum_get_power_json of the stand-in (2 sockets,
// 2 GPUs a socket), parsing, and storing in a 100,000-sample ring.
func BenchmarkSample(b *testing.B) {
	for _, k := range []string{"VARIORUM_STUB_SHAPE", "VARIORUM_STUB_FAIL", "VARIORUM_STUB_DELAY_MS", "VARIORUM_STUB_CONTROL"} {
		b.Setenv(k, "")
	}
	l := openStub(b)
	st := ring.New(100000, time.Second)
	t := time.Now().UnixNano()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		js, err := l.PowerJSON()
		if err != nil {
			b.Fatal(err)
		}
		r, err := Parse(js)
		if err != nil {
			b.Fatal(err)
		}
		st.Append(t+int64(i)*1e9, &r)
	}
}
