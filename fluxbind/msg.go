// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package fluxbind

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"encoding/json"
	"fmt"
	"runtime/cgo"
	"syscall"
	"unsafe"
)

// Msg is a request message. One passed to a handler is valid only during the
// callback; call Ref to keep it for a later response, and Unref when done.
type Msg struct {
	m *C.flux_msg_t
}

// Ref takes a reference on the message so that it can be answered later.
func (m *Msg) Ref() *Msg {
	return &Msg{m: (*C.flux_msg_t)(unsafe.Pointer(C.flux_msg_incref(m.m)))}
}

// Unref drops a reference taken with Ref.
func (m *Msg) Unref() {
	if m.m != nil {
		C.flux_msg_decref(m.m)
		m.m = nil
	}
}

// Decode returns the topic and JSON payload ("" when there is none).
func (m *Msg) Decode() (topic string, payload string, err error) {
	var t, s *C.char
	if rc, e := C.flux_request_decode(m.m, &t, &s); rc < 0 {
		return "", "", fmt.Errorf("decoding request: %w", e)
	}
	if s != nil {
		payload = C.GoString(s)
	}
	return C.GoString(t), payload, nil
}

// Cred returns the requester's user id and role mask.
func (m *Msg) Cred() (userid, rolemask uint32, err error) {
	var u, r C.uint32_t
	if rc, e := C.fluxbind_msg_cred(m.m, &u, &r); rc < 0 {
		return 0, 0, fmt.Errorf("reading message credentials: %w", e)
	}
	return uint32(u), uint32(r), nil
}

// Authorize reports whether the requester is the instance owner or the user
// userid (flux_msg_authorize).
func (m *Msg) Authorize(userid uint32) bool {
	return C.flux_msg_authorize(m.m, C.uint32_t(userid)) == 0
}

// Unpack decodes the request's JSON payload into v. It fails when the
// request cannot be decoded ("decoding request: ..."), when there is no
// payload, or when the payload is not a JSON object of v's types; the error
// then names the topic and what the JSON decoder found wrong ("TOPIC: json:
// cannot unmarshal string into Go struct field X.start of type float64"),
// and is meant for RespondError with EPROTO (errors.Is(err, syscall.EPROTO)
// holds).
func (m *Msg) Unpack(v any) error {
	return m.unpack(v, false)
}

// UnpackOptional is Unpack for a request whose keys are all optional: no
// payload is taken as {}.
func (m *Msg) UnpackOptional(v any) error {
	return m.unpack(v, true)
}

func (m *Msg) unpack(v any, emptyOK bool) error {
	topic, payload, err := m.Decode()
	if err != nil {
		return &protoError{err}
	}
	if payload == "" && emptyOK {
		payload = "{}"
	}
	if err := json.Unmarshal([]byte(payload), v); err != nil {
		return &protoError{fmt.Errorf("%s: %w", topic, err)}
	}
	return nil
}

// protoError is a request that cannot be unpacked: EPROTO.
type protoError struct{ err error }

func (e *protoError) Error() string { return e.err.Error() }

func (e *protoError) Is(target error) bool { return target == syscall.EPROTO }

func (e *protoError) Unwrap() error { return e.err }

// Topic is the message's topic ("" if it has none).
func (m *Msg) Topic() string {
	var t *C.char
	if rc, _ := C.flux_msg_get_topic(m.m, &t); rc < 0 || t == nil {
		return ""
	}
	return C.GoString(t)
}

// Respond answers a request with a JSON payload. A response that cannot be
// sent is logged here, once, with the request's topic: the requester gets no
// answer, and there is nothing else a handler could do about it. Called off
// the handle's thread (a bug: see ErrWrongThread) it sends and logs nothing.
func (h *Handle) Respond(m *Msg, payload []byte) {
	if h.check() != nil {
		return
	}
	cs := C.CString(string(payload))
	defer C.free(unsafe.Pointer(cs))
	if rc, err := C.flux_respond(h.h, m.m, cs); rc < 0 {
		h.respondFailed(m, fmt.Errorf("flux_respond: %w", err))
	}
}

// RespondError answers a request with an error number and a message. A
// failure is logged as Respond's is.
func (h *Handle) RespondError(m *Msg, errnum syscall.Errno, text string) {
	if h.check() != nil {
		return
	}
	var cs *C.char
	if text != "" {
		cs = C.CString(text)
		defer C.free(unsafe.Pointer(cs))
	}
	if rc, err := C.flux_respond_error(h.h, m.m, C.int(errnum), cs); rc < 0 {
		h.respondFailed(m, fmt.Errorf("flux_respond_error: %w", err))
	}
}

// respondFailed logs, on the owner thread, a response that could not be sent.
func (h *Handle) respondFailed(m *Msg, err error) {
	h.Log(LogErr, fmt.Sprintf("cannot answer %s: %v", m.Topic(), err))
}

// RegisterService asks the broker to route the requests for name.* to this
// handle: a client's service (a module's own is registered by the broker).
// The future is fulfilled once the broker has done so.
func (h *Handle) RegisterService(name string) (*Future, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	cs := C.CString(name)
	defer C.free(unsafe.Pointer(cs))
	f, err := C.flux_service_register(h.h, cs)
	if f == nil {
		return nil, fmt.Errorf("registering service %s: %w", name, err)
	}
	return &Future{h: h, f: f}, nil
}

// MsgHandler is a registered message handler.
type MsgHandler struct {
	h  *Handle
	mh *C.flux_msg_handler_t
	ch cgo.Handle
	cb func(*Msg)
}

// AddHandler registers cb for messages of the given type matching topic.
// rolemask adds roles beyond the instance owner (RoleUser lets guests in).
func (h *Handle) AddHandler(typemask int, topic string, rolemask uint32, cb func(*Msg)) (*MsgHandler, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	mh := &MsgHandler{h: h, cb: cb}
	mh.ch = h.keep(mh)
	ct := C.CString(topic)
	defer C.free(unsafe.Pointer(ct))
	p, err := C.fluxbind_msg_handler_create(h.h, C.int(typemask), ct, C.uint32_t(rolemask), C.uintptr_t(mh.ch))
	if p == nil {
		h.release(mh.ch)
		return nil, fmt.Errorf("registering handler for %s: %w", topic, err)
	}
	mh.mh = p
	C.flux_msg_handler_start(p)
	return mh, nil
}

// Destroy unregisters the handler.
func (mh *MsgHandler) Destroy() { mh.destroy() }

func (mh *MsgHandler) destroy() {
	if mh.mh != nil {
		C.flux_msg_handler_destroy(mh.mh)
		mh.mh = nil
		mh.h.release(mh.ch)
	}
}

//export fluxbindMsgCallback
func fluxbindMsgCallback(m *C.flux_msg_t, arg C.uintptr_t) {
	mh, ok := cgo.Handle(arg).Value().(*MsgHandler)
	if !ok {
		return
	}
	defer mh.h.recoverPanic()
	mh.cb(&Msg{m: m})
}
