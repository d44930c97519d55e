// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package fluxbind

/*
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"runtime/cgo"
)

// Watcher is a reactor watcher (fd or timer) whose callback runs on the
// reactor thread.
type Watcher struct {
	h  *Handle
	w  *C.flux_watcher_t
	ch cgo.Handle
	cb func(revents int)
}

// FdWatcher watches fd for events (PollIn) and starts watching at once.
func (h *Handle) FdWatcher(fd int, events int, cb func(revents int)) (*Watcher, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	w := &Watcher{h: h, cb: cb}
	w.ch = h.keep(w)
	p, err := C.fluxbind_fd_watcher_create(C.flux_get_reactor(h.h), C.int(fd), C.int(events), C.uintptr_t(w.ch))
	if p == nil {
		h.release(w.ch)
		return nil, fmt.Errorf("creating fd watcher: %w", err)
	}
	w.w = p
	C.flux_watcher_start(p)
	return w, nil
}

// Timer calls cb once after the given number of seconds.
func (h *Handle) Timer(after float64, cb func()) (*Watcher, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	w := &Watcher{h: h, cb: func(int) { cb() }}
	w.ch = h.keep(w)
	p, err := C.fluxbind_timer_watcher_create(C.flux_get_reactor(h.h), C.double(after), C.uintptr_t(w.ch))
	if p == nil {
		h.release(w.ch)
		return nil, fmt.Errorf("creating timer: %w", err)
	}
	w.w = p
	C.flux_watcher_start(p)
	return w, nil
}

// Destroy stops and frees the watcher.
func (w *Watcher) Destroy() { w.destroy() }

func (w *Watcher) destroy() {
	if w.w != nil {
		C.flux_watcher_destroy(w.w)
		w.w = nil
		w.h.release(w.ch)
	}
}

//export fluxbindWatcherCallback
func fluxbindWatcherCallback(revents C.int, arg C.uintptr_t) {
	w, ok := cgo.Handle(arg).Value().(*Watcher)
	if !ok {
		return
	}
	defer w.h.recoverPanic()
	w.cb(int(revents))
}
