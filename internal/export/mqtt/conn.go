// SPDX-License-Identifier: LGPL-3.0-only

package mqtt

import (
	"bufio"
	"crypto/tls"
	"errors"
	"net"
	"net/url"
	"sync"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"
)

// Paho writes each packet with a write call of its own and reads each
// acknowledgement with two or three: at 100 samples a second, a burst of
// 25 messages every 0.25 s cost some 75 system calls. burstConn, the
// connection Paho is given where messages are acknowledged (QoS 1 and 2),
// gathers the PUBLISH packets of a burst into one write (as soon as the
// last one the sender announced comes, expect, or at most flushDelay after
// the first), and reads through a buffer. Any other packet
// (CONNECT, PINGREQ, PUBREL, DISCONNECT) goes out at once, after what is
// gathered. A record leaves its spool only once the broker acknowledged
// its messages, so a write that fails later loses nothing: the connection
// is closed, the acknowledgements never come, and the records are sent
// again on a new connection.

// flushDelay bounds how long a gathered PUBLISH waits for the write.
const flushDelay = time.Millisecond

// maxGathered is the most bytes gathered before a write.
const maxGathered = 64 << 10

type burstConn struct {
	net.Conn
	r       *bufio.Reader
	timeout time.Duration // bound on a write of what was gathered

	mu    sync.Mutex
	buf   []byte
	want  int // PUBLISH packets still to come in this burst (expect)
	timer *time.Timer
	err   error // a failed write: every later one fails
}

// expect says that n PUBLISH packets are about to be written: the write
// goes once the last of them is gathered, in Paho's goroutine, without
// waiting for the timer (one wake-up of the process less a burst).
func (c *burstConn) expect(n int) {
	c.mu.Lock()
	c.want += n
	c.mu.Unlock()
}

func newBurstConn(c net.Conn, timeout time.Duration) *burstConn {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	bc := &burstConn{Conn: c, r: bufio.NewReaderSize(c, 4096), timeout: timeout}
	bc.timer = time.AfterFunc(time.Hour, bc.flushTimer)
	bc.timer.Stop()
	return bc
}

func (c *burstConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// Write gathers a PUBLISH packet (Paho writes a packet in one call) and
// writes anything else at once, after what is gathered.
func (c *burstConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	if len(p) > 0 && p[0]>>4 == 3 && len(c.buf)+len(p) <= maxGathered {
		c.buf = append(c.buf, p...)
		if c.want > 0 {
			if c.want--; c.want == 0 { // the last one announced
				if err := c.flushLocked(); err != nil {
					return 0, err
				}
				return len(p), nil
			}
		}
		if len(c.buf) == len(p) {
			c.timer.Reset(flushDelay)
		}
		return len(p), nil
	}
	if err := c.flushLocked(); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	if err != nil {
		c.err = err
	}
	return n, err
}

func (c *burstConn) flushTimer() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.want = 0 // announced packets that never came (a publish that failed)
	if c.flushLocked() != nil {
		c.Conn.Close() // the reader fails: Paho sees the connection lost
	}
}

func (c *burstConn) flushLocked() error {
	if c.err != nil || len(c.buf) == 0 {
		return c.err
	}
	c.timer.Stop()
	c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	_, err := c.Conn.Write(c.buf)
	c.Conn.SetWriteDeadline(time.Time{})
	if cap(c.buf) > maxGathered {
		c.buf = nil
	}
	c.buf = c.buf[:0]
	if err != nil {
		c.err = err
	}
	return err
}

// Close writes what is gathered, then closes.
func (c *burstConn) Close() error {
	c.mu.Lock()
	c.flushLocked()
	c.timer.Stop()
	c.mu.Unlock()
	return c.Conn.Close()
}

// openConn is a paho.OpenConnectionFunc: the connection Paho would open
// (TCP, or TLS for ssl://, through the proxy the environment names), as a
// burstConn, which the sink keeps to announce its bursts.
func (s *Sink) openConn(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
	d := &net.Dialer{Timeout: o.ConnectTimeout}
	var c net.Conn
	var err error
	switch uri.Scheme {
	case "tcp", "mqtt":
		c, err = proxy.FromEnvironmentUsing(d).Dial("tcp", uri.Host)
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
		c, err = tls.DialWithDialer(d, "tcp", uri.Host, o.TLSConfig)
	default:
		err = errors.New("unknown protocol " + uri.Scheme)
	}
	if err != nil {
		return nil, err
	}
	bc := newBurstConn(c, o.WriteTimeout)
	s.conn.Store(bc)
	return bc, nil
}
