// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package fluxbind

/*
#cgo pkg-config: flux-core flux-idset flux-hostlist jansson
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"runtime/cgo"
	"syscall"
	"unsafe"
)

// Log levels (syslog).
const (
	LogErr     = 3
	LogWarning = 4
	LogNotice  = 5
	LogInfo    = 6
	LogDebug   = 7
)

// Roles and node ids.
const (
	RoleOwner  = uint32(C.FLUX_ROLE_OWNER)
	RoleUser   = uint32(C.FLUX_ROLE_USER)
	NodeIDAny  = uint32(C.FLUX_NODEID_ANY)
	MsgRequest = int(C.FLUX_MSGTYPE_REQUEST)
	MsgEvent   = int(C.FLUX_MSGTYPE_EVENT)
	PollIn     = int(C.FLUX_POLLIN)
)

// ErrWrongThread is returned by a call made off the handle's owner thread.
var ErrWrongThread = errors.New("fluxbind: libflux called off the thread that owns the handle")

// Handle is a flux_t with the callbacks registered on it.
type Handle struct {
	h     *C.flux_t
	owned bool // opened by Open: Close closes it
	tid   int  // owner thread
	// objects with a live cgo.Handle, released by Close or their Destroy
	live map[cgo.Handle]struct{}
	// OnPanic is called with the value of a panic recovered in a callback.
	OnPanic func(v any)
}

// Open connects to the broker at uri ("" means FLUX_URI or the default).
// The calling goroutine must stay on its thread (runtime.LockOSThread).
func Open(uri string) (*Handle, error) {
	var curi *C.char
	if uri != "" {
		curi = C.CString(uri)
		defer C.free(unsafe.Pointer(curi))
	}
	h, err := C.flux_open(curi, 0)
	if h == nil {
		return nil, fmt.Errorf("cannot connect to Flux: %w", err)
	}
	return newHandle(h, true), nil
}

// FromModule wraps the flux_t that the broker passes to mod_main. It is
// owned by the calling thread, which runs the module's reactor.
func FromModule(p unsafe.Pointer) *Handle {
	return newHandle((*C.flux_t)(p), false)
}

func newHandle(h *C.flux_t, owned bool) *Handle {
	return &Handle{h: h, owned: owned, tid: syscall.Gettid(), live: map[cgo.Handle]struct{}{}}
}

func (h *Handle) check() error {
	if h == nil || h.h == nil {
		return errors.New("fluxbind: handle is closed")
	}
	if syscall.Gettid() != h.tid {
		return ErrWrongThread
	}
	return nil
}

// Close releases every callback still registered and, for a handle made by
// Open, closes the connection.
func (h *Handle) Close() {
	if h.h == nil {
		return
	}
	for ch := range h.live {
		if o, ok := ch.Value().(destroyer); ok {
			o.destroy()
		}
	}
	if h.owned {
		C.flux_close(h.h)
	}
	h.h = nil
}

type destroyer interface{ destroy() }

func (h *Handle) keep(v any) cgo.Handle {
	ch := cgo.NewHandle(v)
	h.live[ch] = struct{}{}
	return ch
}

func (h *Handle) release(ch cgo.Handle) {
	if _, ok := h.live[ch]; ok {
		delete(h.live, ch)
		ch.Delete()
	}
}

// Live is the number of callbacks currently registered (for leak checks).
func (h *Handle) Live() int { return len(h.live) }

func (h *Handle) recoverPanic() {
	if v := recover(); v != nil {
		if h.OnPanic != nil {
			h.OnPanic(v)
		} else {
			h.Log(LogErr, fmt.Sprintf("panic in callback: %v", v))
		}
	}
}

// Log writes one line to the broker log.
func (h *Handle) Log(level int, msg string) {
	if h.check() != nil {
		return
	}
	cs := C.CString(msg)
	defer C.free(unsafe.Pointer(cs))
	C.fluxbind_log(h.h, C.int(level), cs)
}

// Rank is this broker's rank.
func (h *Handle) Rank() (uint32, error) {
	if err := h.check(); err != nil {
		return 0, err
	}
	var r C.uint32_t
	if rc, err := C.flux_get_rank(h.h, &r); rc < 0 {
		return 0, fmt.Errorf("flux_get_rank: %w", err)
	}
	return uint32(r), nil
}

// Size is the number of brokers in the instance.
func (h *Handle) Size() (uint32, error) {
	if err := h.check(); err != nil {
		return 0, err
	}
	var r C.uint32_t
	if rc, err := C.flux_get_size(h.h, &r); rc < 0 {
		return 0, fmt.Errorf("flux_get_size: %w", err)
	}
	return uint32(r), nil
}

// Attr returns a broker attribute.
func (h *Handle) Attr(name string) (string, error) {
	if err := h.check(); err != nil {
		return "", err
	}
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	v, err := C.flux_attr_get(h.h, cs)
	if v == nil {
		return "", fmt.Errorf("attribute %s: %w", name, err)
	}
	return C.GoString(v), nil
}

// Run runs the reactor until Stop or an error.
func (h *Handle) Run() error {
	if err := h.check(); err != nil {
		return err
	}
	if rc, err := C.flux_reactor_run(C.flux_get_reactor(h.h), 0); rc < 0 {
		return fmt.Errorf("flux_reactor_run: %w", err)
	}
	return nil
}

// Stop makes Run return.
func (h *Handle) Stop() {
	if h.check() == nil {
		C.flux_reactor_stop(C.flux_get_reactor(h.h))
	}
}
