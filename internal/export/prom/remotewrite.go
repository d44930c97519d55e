package prom

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golang/snappy"
	"github.com/prometheus/prometheus/prompb"

	"github.com/flux-framework/power-monitor/internal/export"
)

// RemoteWriteOptions configure the remote-write sink.
type RemoteWriteOptions struct {
	URL         string // e.g. http://prometheus:9090/api/v1/write
	Username    string // basic auth
	Password    string
	BearerToken string
	CAFile      string        // for an https URL signed by a private CA
	Timeout     time.Duration // per request; 0: 30 s
}

// RemoteWrite sends batches of records to a Prometheus remote-write
// receiver (remote-write 1.0: a snappy-compressed prompb.WriteRequest).
// Errors say what the export loop does: a network error, a 5xx or a 429 is
// retried (after Retry-After when the server sends one); any other 4xx is
// *export.Rejected.
type RemoteWrite struct {
	o      RemoteWriteOptions
	client *http.Client
}

// NewRemoteWrite checks the options.
func NewRemoteWrite(o RemoteWriteOptions) (*RemoteWrite, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prometheus remote-write: URL %q: want http(s)://HOST:PORT/PATH", o.URL)
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if o.CAFile != "" {
		pool, err := export.CAPool(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("prometheus remote-write: %w", err)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &RemoteWrite{o: o, client: &http.Client{Transport: tr, Timeout: o.Timeout}}, nil
}

// Name says where it writes.
func (w *RemoteWrite) Name() string { return "prometheus remote-write (" + w.o.URL + ")" }

// ID names its spool.
func (w *RemoteWrite) ID() string { return "prometheus" }

// Close releases idle connections.
func (w *RemoteWrite) Close() { w.client.CloseIdleConnections() }

// retryable is a failed write worth retrying.
type retryable struct {
	err   error
	after time.Duration
}

func (r *retryable) Error() string             { return r.err.Error() }
func (r *retryable) Unwrap() error             { return r.err }
func (r *retryable) RetryAfter() time.Duration { return r.after }

// Send writes the records as one request.
func (w *RemoteWrite) Send(ctx context.Context, recs []export.Record) error {
	body, err := Encode(recs)
	if err != nil {
		return &export.Rejected{Err: err}
	}
	if body == nil {
		return nil // no value measured in these records
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.o.URL, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Encoding", "snappy")
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "flux-power-monitor")
	req.Header.Set("X-Prometheus-Remote-Write-Version", "0.1.0")
	if w.o.Username != "" || w.o.Password != "" {
		req.SetBasicAuth(w.o.Username, w.o.Password)
	}
	if w.o.BearerToken != "" {
		req.Header.Set("Authorization", "Bearer "+w.o.BearerToken)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("HTTP %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode/100 == 5 {
		return &retryable{err: err, after: retryAfter(resp.Header.Get("Retry-After"))}
	}
	return &export.Rejected{Err: err}
}

func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil {
		return time.Until(t)
	}
	return 0
}

// Encode makes the request body of a batch: a prompb.WriteRequest, one
// series per metric and label set, samples in record order, snappy-encoded.
func Encode(recs []export.Record) ([]byte, error) {
	var wr prompb.WriteRequest
	index := map[string]int{}
	var key strings.Builder
	for i := range recs {
		for _, p := range points(&recs[i]) {
			key.Reset()
			key.WriteString(p.name)
			for _, l := range p.labels {
				key.WriteByte(0)
				key.WriteString(l.name)
				key.WriteByte(0)
				key.WriteString(l.value)
			}
			k := key.String()
			n, ok := index[k]
			if !ok {
				n = len(wr.Timeseries)
				index[k] = n
				wr.Timeseries = append(wr.Timeseries, prompb.TimeSeries{Labels: promLabels(p)})
			}
			ts := &wr.Timeseries[n]
			if m := len(ts.Samples); m > 0 && ts.Samples[m-1].Timestamp >= p.tms {
				continue // a record delivered twice within a batch: keep the first
			}
			ts.Samples = append(ts.Samples, prompb.Sample{Value: p.value, Timestamp: p.tms})
		}
	}
	if len(wr.Timeseries) == 0 {
		return nil, nil
	}
	data, err := wr.Marshal()
	if err != nil {
		return nil, err
	}
	return snappy.Encode(nil, data), nil
}

func promLabels(p point) []prompb.Label {
	ls := make([]prompb.Label, 0, len(p.labels)+1)
	ls = append(ls, prompb.Label{Name: "__name__", Value: p.name})
	for _, l := range p.labels {
		if l.value != "" {
			ls = append(ls, prompb.Label{Name: l.name, Value: l.value})
		}
	}
	sort.Slice(ls, func(i, j int) bool { return ls[i].Name < ls[j].Name })
	return ls
}
