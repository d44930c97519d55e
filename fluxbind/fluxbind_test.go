// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package fluxbind

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/flux-framework/power-monitor/internal/wire"
)

func TestJobIDEncodings(t *testing.T) {
	const id = uint64(21827158016)
	for _, enc := range []string{"dec", "hex", "dothex", "words", "f58", "f58plain", "kvs"} {
		s := EncodeJobID(id, enc)
		got, err := ParseJobID(s)
		if err != nil || got != id {
			t.Errorf("%s: %q parses to %d, %v; want %d", enc, s, got, err, id)
		}
	}
	if s := EncodeJobID(id, "f58plain"); !strings.HasPrefix(s, "f") {
		t.Errorf("f58plain %q", s)
	}
	for _, bad := range []string{"", "not-a-job", "ƒ", "0xZZ", "-1"} {
		if _, err := ParseJobID(bad); err == nil || !strings.Contains(err.Error(), "invalid jobid") {
			t.Errorf("ParseJobID(%q) = %v, want an invalid jobid error", bad, err)
		}
	}
}

// TestIDSetAsLibflux: wire.ParseIDSet, the product's only idset decoder,
// and libflux's idset_decode agree on every case of
// internal/wire/testdata/idsets.json (the ids, or a refusal), and
// wire.FormatIDSet prints what libflux's idset_encode prints.
func TestIDSetAsLibflux(t *testing.T) {
	b, err := os.ReadFile("../internal/wire/testdata/idsets.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Cases map[string][]uint32 `json:"cases"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.Cases) < 10 {
		t.Fatalf("idsets.json: %v", err)
	}
	for s, want := range doc.Cases {
		lib, lerr := libfluxDecodeIDSet(s)
		got, gerr := wire.ParseIDSet(s)
		if want == nil {
			if lerr == nil || gerr == nil {
				t.Errorf("%q: libflux %v %v, wire %v %v: both must refuse it", s, lib, lerr, got, gerr)
			}
			continue
		}
		if lerr != nil || gerr != nil || fmt.Sprint(lib) != fmt.Sprint(want) || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q: want %v; libflux %v %v, wire %v %v", s, want, lib, lerr, got, gerr)
			continue
		}
		if f, l := wire.FormatIDSet(got), libfluxEncodeIDSet(got); f != l {
			t.Errorf("%q: wire.FormatIDSet %q, libflux %q", s, f, l)
		}
	}
}

func TestHostlistAndStates(t *testing.T) {
	hosts := DecodeHostlist("node[0-2],login")
	if strings.Join(hosts, " ") != "node0 node1 node2 login" {
		t.Fatalf("DecodeHostlist: %q", hosts)
	}
	if JobStateName(16) != "RUN" {
		t.Fatalf("JobStateName(16) = %q", JobStateName(16))
	}
}

// open connects to the enclosing instance, or skips: t0000-go.t runs the Go
// tests inside `flux start --test-size=1` where flux-core is installed.
func open(t *testing.T) *Handle {
	t.Helper()
	if os.Getenv("FLUX_URI") == "" {
		skipFlux(t, "not inside a Flux instance (FLUX_URI unset): make check runs this under flux start")
	}
	runtime.LockOSThread()
	t.Cleanup(runtime.UnlockOSThread)
	h, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

func TestHandleRPC(t *testing.T) {
	h := open(t)
	if r, err := h.Rank(); err != nil || r != 0 {
		t.Fatalf("Rank: %d %v", r, err)
	}
	if s, err := h.Attr("size"); err != nil || s != "1" {
		t.Fatalf("Attr(size): %q %v", s, err)
	}
	fu, err := h.RPC("broker.ping", `{"seq":1,"pad":"","route":""}`, NodeIDAny)
	if err != nil {
		t.Fatal(err)
	}
	out, err := fu.Get()
	fu.Destroy()
	if err != nil || !strings.Contains(out, `"seq"`) {
		t.Fatalf("broker.ping: %q %v", out, err)
	}
	fu, _ = h.RPC("no-such-service.get", "{}", NodeIDAny)
	_, err = fu.Get()
	fu.Destroy()
	if !IsErrno(err, syscall.ENOSYS) {
		t.Fatalf("unknown service: %v, want ENOSYS", err)
	}
}

func TestThenRunsOnReactorAndTimesOut(t *testing.T) {
	h := open(t)
	var got []string
	fu, err := h.RPC("broker.ping", `{"seq":1,"pad":"","route":""}`, NodeIDAny)
	if err != nil {
		t.Fatal(err)
	}
	err = fu.Then(5, func(f *Future) {
		_, err := f.Get()
		got = append(got, "ping:"+errString(err))
		f.Destroy()
		if _, err := h.Timer(0.01, func() { got = append(got, "timer"); h.Stop() }); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "ping:ok,timer" {
		t.Fatalf("callbacks: %q", got)
	}
	if h.Live() != 1 { // the fired timer, released by Close
		t.Fatalf("%d callbacks live", h.Live())
	}
}

func TestWrongThreadIsRefused(t *testing.T) {
	h := open(t)
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		_, err := h.Rank()
		done <- err
	}()
	if err := <-done; err != ErrWrongThread {
		t.Fatalf("Rank from another thread: %v, want ErrWrongThread", err)
	}
}

func errString(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// An event published through the broker reaches a subscribed handler with
// its payload; after Unsubscribe a second one does not.
func TestPublishSubscribe(t *testing.T) {
	h := open(t)
	const topic = "fluxbind-test.ping"
	var got []string
	mh, err := h.AddHandler(MsgEvent, topic, 0, func(m *Msg) {
		tp, payload, err := m.DecodeEvent()
		got = append(got, tp+" "+payload+" "+errString(err))
		h.Stop()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer mh.Destroy()
	if err := h.Subscribe(topic); err != nil {
		t.Fatal(err)
	}
	fu, err := h.Publish(topic, `{"jobids":[1,2]}`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fu.Get(); err != nil {
		t.Fatalf("publish: %v", err)
	}
	fu.Destroy()
	if _, err := h.Timer(5, func() { got = append(got, "timeout"); h.Stop() }); err != nil {
		t.Fatal(err)
	}
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != topic+` {"jobids":[1,2]} ok` {
		t.Fatalf("events: %q", got)
	}
	if err := h.Unsubscribe(topic); err != nil {
		t.Fatal(err)
	}
	got = nil
	fu, _ = h.Publish(topic, "")
	fu.Get()
	fu.Destroy()
	if _, err := h.Timer(0.3, func() { got = append(got, "quiet"); h.Stop() }); err != nil {
		t.Fatal(err)
	}
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "quiet" {
		t.Fatalf("after unsubscribe: %q", got)
	}
}

// skipFlux skips a test that needs a live Flux instance, or fails it where
// PM_REQUIRE_FLUX=1 (CI: no Flux test may skip there).
func skipFlux(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("PM_REQUIRE_FLUX") == "1" {
		t.Fatal(why + " (PM_REQUIRE_FLUX=1: a Flux test that would skip fails)")
	}
	t.Skip(why)
}

// Conf is the configuration a handle caches, a JSON object: for a client
// handle, the empty one (a module's is what the broker gave it; t0015
// tests that).
func TestConf(t *testing.T) {
	h := open(t)
	b, err := h.Conf()
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("Conf() = %q: %v", b, err)
	}
}
