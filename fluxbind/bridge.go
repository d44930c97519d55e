// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package fluxbind

import (
	"encoding/binary"
	"fmt"
	"sync"

	"golang.org/x/sys/unix"
)

// Bridge runs functions on the reactor thread on behalf of goroutines, which
// must never call libflux themselves: a queue plus an eventfd watched by the
// reactor. Post may be called from any goroutine; the functions run in the
// order they were posted, each in a reactor callback (a panic in one is
// recovered, like any callback's, and the next ones still run).
type Bridge struct {
	h  *Handle
	w  *Watcher
	mu sync.Mutex
	q  []func()
	fd int // -1 once closed
}

// NewBridge makes a Bridge that runs posted functions on h's reactor.
func (h *Handle) NewBridge() (*Bridge, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	b := &Bridge{h: h, fd: fd}
	if b.w, err = h.FdWatcher(fd, PollIn, b.drain); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return b, nil
}

// Post queues f to run on the reactor thread. Safe from any goroutine.
// After Close it does nothing: f is dropped.
func (b *Bridge) Post(f func()) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fd < 0 {
		return
	}
	b.q = append(b.q, f)
	var one [8]byte // eventfd adds a uint64 in host byte order
	binary.NativeEndian.PutUint64(one[:], 1)
	unix.Write(b.fd, one[:])
}

// Flush runs, now, the functions queued so far. Call it on the reactor
// thread, for instance after stopping a goroutine whose last posts must run
// before the reactor would get to them.
func (b *Bridge) Flush() { b.drain(0) }

func (b *Bridge) drain(int) {
	b.mu.Lock()
	if b.fd < 0 {
		b.mu.Unlock()
		return
	}
	var buf [8]byte
	unix.Read(b.fd, buf[:]) // resets the counter
	q := b.q
	b.q = nil
	b.mu.Unlock()
	for _, f := range q {
		b.run(f)
	}
}

func (b *Bridge) run(f func()) {
	defer b.h.recoverPanic()
	f()
}

// Close stops watching and drops what is still queued. Call it on the
// reactor thread, after the goroutines that post have stopped; a Post that
// comes later anyway is dropped.
func (b *Bridge) Close() {
	b.w.Destroy()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fd >= 0 {
		unix.Close(b.fd)
		b.fd = -1
	}
	b.q = nil
}
