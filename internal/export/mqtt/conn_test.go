// SPDX-License-Identifier: LGPL-3.0-only

package mqtt

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is a net.Conn that keeps each write call apart.
type recorder struct {
	net.Conn // nil: only Write, Close and the deadlines are called
	mu       sync.Mutex
	writes   []string
	fail     bool
	closed   bool
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail {
		return 0, errors.New("broken pipe")
	}
	r.writes = append(r.writes, string(p))
	return len(p), nil
}
func (r *recorder) Close() error                     { r.mu.Lock(); r.closed = true; r.mu.Unlock(); return nil }
func (r *recorder) SetWriteDeadline(time.Time) error { return nil }
func (r *recorder) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.writes...)
}

// A burst of PUBLISH packets goes out in one write; any other packet goes
// at once, after what was gathered, in order.
func TestBurstConnGathersPublishes(t *testing.T) {
	r := &recorder{}
	c := newBurstConn(r, time.Second)
	for _, p := range []string{"\x30a", "\x32b", "\x3bc"} { // PUBLISH, QoS 0, 1, 1 with flags
		if n, err := c.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	if got := r.got(); len(got) != 0 {
		t.Fatalf("written at once: %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(r.got()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := strings.Join(r.got(), "|"); got != "\x30a\x32b\x3bc" {
		t.Fatalf("writes %q, want the three packets in one", got)
	}
	c.Write([]byte("\x30d"))
	c.Write([]byte("\xc0\x00")) // PINGREQ: what was gathered first, then it
	if got := strings.Join(r.got(), "|"); got != "\x30a\x32b\x3bc|\x30d|\xc0\x00" {
		t.Fatalf("writes %q", got)
	}
	c.Write([]byte("\x30e"))
	c.Close() // writes what was gathered
	if got := r.got(); got[len(got)-1] != "\x30e" || !r.closed {
		t.Fatalf("Close: writes %q, closed %v", got, r.closed)
	}
}

// A write that fails closes the connection, and every later write fails:
// Paho sees the connection lost and the records stay in their spool.
func TestBurstConnWriteError(t *testing.T) {
	r := &recorder{fail: true}
	c := newBurstConn(r, time.Second)
	if _, err := c.Write([]byte("\x30a")); err != nil {
		t.Fatalf("a gathered write fails later, not now: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		closed := r.closed
		r.mu.Unlock()
		if closed {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if _, err := c.Write([]byte("\x30b")); err == nil || !r.closed {
		t.Fatalf("after a failed write: err %v, closed %v", err, r.closed)
	}
}

// Announced, a burst is written as soon as its last packet comes, without
// waiting for the timer; one that falls short still goes by the timer.
func TestBurstConnExpect(t *testing.T) {
	r := &recorder{}
	c := newBurstConn(r, time.Second)
	c.timer.Stop()
	c.expect(3)
	c.Write([]byte("\x30a"))
	c.Write([]byte("\x30b"))
	if got := r.got(); len(got) != 0 {
		t.Fatalf("written before the last announced packet: %q", got)
	}
	c.Write([]byte("\x30c"))
	if got := strings.Join(r.got(), "|"); got != "\x30a\x30b\x30c" {
		t.Fatalf("writes %q, want the three at once", got)
	}
	c.expect(2)
	c.Write([]byte("\x30d")) // the second never comes
	deadline := time.Now().Add(5 * time.Second)
	for len(r.got()) < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := strings.Join(r.got(), "|"); got != "\x30a\x30b\x30c|\x30d" {
		t.Fatalf("writes %q", got)
	}
	c.Write([]byte("\x30e")) // not announced: by the timer, as before
	for len(r.got()) < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := r.got(); len(got) != 3 || got[2] != "\x30e" {
		t.Fatalf("writes %q", got)
	}
}
