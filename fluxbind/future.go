// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package fluxbind

/*
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

// RPCError is an error response: the errno and the text the responder gave.
type RPCError struct {
	Errno syscall.Errno
	Text  string
}

func (e *RPCError) Error() string { return e.Text }

// Unwrap lets errors.Is(err, syscall.ENOENT) work.
func (e *RPCError) Unwrap() error { return e.Errno }

// Future is a pending RPC (flux_future_t).
type Future struct {
	h  *Handle
	f  *C.flux_future_t
	ch cgo.Handle
	cb func(*Future)
}

// RPC sends a request with a JSON payload ("" for none) to nodeid.
func (h *Handle) RPC(topic string, payload string, nodeid uint32) (*Future, error) {
	return h.rpc(topic, payload, nodeid, 0)
}

// rpc sends a request with flux_rpc's flags (0, or FLUX_RPC_STREAMING).
func (h *Handle) rpc(topic, payload string, nodeid uint32, flags C.int) (*Future, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	ct := C.CString(topic)
	defer C.free(unsafe.Pointer(ct))
	var cp *C.char
	if payload != "" {
		cp = C.CString(payload)
		defer C.free(unsafe.Pointer(cp))
	}
	f, err := C.flux_rpc(h.h, ct, cp, C.uint32_t(nodeid), flags)
	if f == nil {
		return nil, fmt.Errorf("sending %s: %w", topic, err)
	}
	return &Future{h: h, f: f}, nil
}

// Then calls cb on the reactor thread when the response arrives, or after
// timeout seconds (then Get returns ETIMEDOUT); timeout < 0 means never.
// The future stays alive until Destroy; call it from cb or later.
func (fu *Future) Then(timeout float64, cb func(*Future)) error {
	if err := fu.h.check(); err != nil {
		return err
	}
	fu.cb = cb
	fu.ch = fu.h.keep(fu)
	if rc, err := C.fluxbind_future_then(fu.f, C.double(timeout), C.uintptr_t(fu.ch)); rc < 0 {
		fu.h.release(fu.ch)
		fu.ch = 0
		return fmt.Errorf("flux_future_then: %w", err)
	}
	return nil
}

// Get returns the JSON payload of the response, blocking until it arrives
// if needed. An error response is returned as *RPCError.
func (fu *Future) Get() (string, error) {
	if err := fu.h.check(); err != nil {
		return "", err
	}
	var s *C.char
	var errnum C.int
	if C.fluxbind_rpc_get(fu.f, &s, &errnum) < 0 {
		e := syscall.Errno(errnum)
		return "", &RPCError{Errno: e, Text: C.GoString(C.fluxbind_future_strerror(fu.f, errnum))}
	}
	if s == nil {
		return "", nil
	}
	return C.GoString(s), nil
}

// WaitFor blocks until the response arrives or timeout seconds pass
// (ETIMEDOUT). For commands; never call it in a module's callback.
func (fu *Future) WaitFor(timeout float64) error {
	if err := fu.h.check(); err != nil {
		return err
	}
	if rc, err := C.flux_future_wait_for(fu.f, C.double(timeout)); rc < 0 {
		return err
	}
	return nil
}

// GetWithin waits at most timeout seconds for the answer and returns it;
// where none comes, the error says that what (the service asked) gave none.
func (fu *Future) GetWithin(timeout float64, what string) (string, error) {
	if err := fu.WaitFor(timeout); err != nil {
		return "", fmt.Errorf("%s gave no answer within %gs", what, timeout)
	}
	return fu.Get()
}

// Destroy releases the future; a response that arrives later is dropped.
func (fu *Future) Destroy() { fu.destroy() }

func (fu *Future) destroy() {
	if fu.f != nil {
		C.flux_future_destroy(fu.f)
		fu.f = nil
	}
	if fu.ch != 0 {
		fu.h.release(fu.ch)
		fu.ch = 0
	}
}

//export fluxbindFutureCallback
func fluxbindFutureCallback(f *C.flux_future_t, arg C.uintptr_t) {
	fu, ok := cgo.Handle(arg).Value().(*Future)
	if !ok {
		return
	}
	defer fu.h.recoverPanic()
	fu.cb(fu)
}

// IsErrno reports whether err is an RPC or system error with this errno.
func IsErrno(err error, e syscall.Errno) bool { return errors.Is(err, e) }
