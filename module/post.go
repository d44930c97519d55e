//go:build flux

package main

import (
	"fmt"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/flux-framework/power-monitor/fluxbind"
)

// poster runs functions on the reactor thread on behalf of goroutines, which
// must never call libflux themselves: a queue plus an eventfd watched by the
// reactor.
type poster struct {
	mu sync.Mutex
	q  []func()
	fd int
	w  *fluxbind.Watcher
}

func newPoster(h *fluxbind.Handle) (*poster, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	p := &poster{fd: fd}
	if p.w, err = h.FdWatcher(fd, fluxbind.PollIn, p.drain); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return p, nil
}

// Post queues f to run on the reactor thread. Safe from any goroutine.
func (p *poster) Post(f func()) {
	p.mu.Lock()
	p.q = append(p.q, f)
	p.mu.Unlock()
	var one = [8]byte{1}
	unix.Write(p.fd, one[:])
}

func (p *poster) drain(int) {
	var buf [8]byte
	unix.Read(p.fd, buf[:])
	p.mu.Lock()
	q := p.q
	p.q = nil
	p.mu.Unlock()
	for _, f := range q {
		f()
	}
}

// Close stops watching; call it after every goroutine that posts has stopped.
func (p *poster) Close() {
	p.w.Destroy()
	unix.Close(p.fd)
	p.drainQueueOnly()
}

func (p *poster) drainQueueOnly() {
	p.mu.Lock()
	p.q = nil
	p.mu.Unlock()
}
