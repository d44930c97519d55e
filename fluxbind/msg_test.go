// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package fluxbind

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A request's JSON payload is unpacked into a struct, or refused with
// EPROTO and a message naming the topic and what was wrong, through a real
// broker: this handle registers a service and sends itself requests.
func TestUnpackRequest(t *testing.T) {
	h := open(t)
	const service = "fluxbindtest"
	fu, err := h.RegisterService(service)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fu.Get(); err != nil {
		t.Fatalf("registering %s: %v", service, err)
	}
	fu.Destroy()
	mh, err := h.AddHandler(MsgRequest, service+".*", 0, func(m *Msg) {
		var req struct {
			Start float64 `json:"start"`
		}
		unpack := m.Unpack
		if m.Topic() == service+".optional" {
			unpack = m.UnpackOptional
		}
		if err := unpack(&req); err != nil {
			if !errors.Is(err, syscall.EPROTO) {
				t.Errorf("%s: %v is not EPROTO", m.Topic(), err)
			}
			h.RespondError(m, syscall.EPROTO, err.Error())
			return
		}
		h.Respond(m, fmt.Appendf(nil, `{"start":%g}`, req.Start))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer mh.Destroy()

	cases := []struct{ topic, payload, want string }{
		{"strict", `{"start": 1.5}`, `{"start":1.5}`},
		{"strict", `{"start": "x"}`, "error 71: fluxbindtest.strict: json: cannot unmarshal string into Go struct field .start of type float64"},
		{"strict", `[1]`, "error 71: fluxbindtest.strict: json: cannot unmarshal array into Go value of type struct { Start float64 \"json:\\\"start\\\"\" }"},
		{"strict", "", "error 71: fluxbindtest.strict: unexpected end of JSON input"},
		{"optional", "", `{"start":0}`},
		{"optional", `{"start": 2}`, `{"start":2}`},
	}
	got := make([]string, len(cases))
	left := len(cases)
	for i, c := range cases {
		fu, err := h.RPC(service+"."+c.topic, c.payload, NodeIDAny)
		if err != nil {
			t.Fatal(err)
		}
		if err := fu.Then(5, func(f *Future) {
			out, err := f.Get()
			if err != nil {
				var re *RPCError
				if errors.As(err, &re) {
					out = fmt.Sprintf("error %d: %s", re.Errno, re.Text)
				} else {
					out = err.Error()
				}
			}
			got[i] = out
			f.Destroy()
			if left--; left == 0 {
				h.Stop()
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if got[i] != c.want {
			t.Errorf("%s %q:\n got %s\nwant %s", c.topic, c.payload, got[i], c.want)
		}
	}
}

// A response that cannot be sent (here: to an event, which takes none) is
// logged once, with the topic, in the broker's log.
func TestFailedRespondIsLogged(t *testing.T) {
	h := open(t)
	topic := fmt.Sprintf("fluxbind-test.respond-%d", os.Getpid())
	var unpackErr error
	mh, err := h.AddHandler(MsgEvent, topic, 0, func(m *Msg) {
		var v struct{}
		unpackErr = m.Unpack(&v)
		h.Respond(m, []byte("{}"))
		h.Stop()
	})
	if err != nil {
		t.Fatal(err)
	}
	defer mh.Destroy()
	if err := h.Subscribe(topic); err != nil {
		t.Fatal(err)
	}
	defer h.Unsubscribe(topic)
	fu, err := h.Publish(topic, "")
	if err != nil {
		t.Fatal(err)
	}
	fu.Get()
	fu.Destroy()
	if _, err := h.Timer(5, func() { t.Error("the event did not arrive within 5s"); h.Stop() }); err != nil {
		t.Fatal(err)
	}
	if err := h.Run(); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(unpackErr, syscall.EPROTO) || !strings.HasPrefix(unpackErr.Error(), "decoding request: ") {
		t.Errorf("Unpack of an event: %v, want EPROTO decoding request: ...", unpackErr)
	}
	want := "cannot answer " + topic + ": flux_respond: "
	var n int
	var dmesg []byte
	for range 50 { // the log line travels to the broker on its own
		if dmesg, err = exec.Command("flux", "dmesg").Output(); err != nil {
			t.Fatalf("flux dmesg: %v", err)
		}
		if n = strings.Count(string(dmesg), want); n > 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if n != 1 {
		t.Errorf("%q logged %d times, want once:\n%s", want, n, dmesg)
	}
}
