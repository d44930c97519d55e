// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

package fluxbind

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"fmt"
	"unsafe"
)

// Subscribe asks the broker for the events whose topic begins with topic;
// they reach a handler added with AddHandler(MsgEvent, ...).
func (h *Handle) Subscribe(topic string) error {
	if err := h.check(); err != nil {
		return err
	}
	ct := C.CString(topic)
	defer C.free(unsafe.Pointer(ct))
	if rc, err := C.flux_event_subscribe(h.h, ct); rc < 0 {
		return fmt.Errorf("subscribing to %s: %w", topic, err)
	}
	return nil
}

// Unsubscribe undoes Subscribe.
func (h *Handle) Unsubscribe(topic string) error {
	if err := h.check(); err != nil {
		return err
	}
	ct := C.CString(topic)
	defer C.free(unsafe.Pointer(ct))
	if rc, err := C.flux_event_unsubscribe(h.h, ct); rc < 0 {
		return fmt.Errorf("unsubscribing from %s: %w", topic, err)
	}
	return nil
}

// Publish publishes an event with a JSON payload ("" for none) to every
// rank. The future is fulfilled once the broker has given the event its
// sequence number; Get returns the error if it could not.
func (h *Handle) Publish(topic, payload string) (*Future, error) {
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
	f, err := C.flux_event_publish(h.h, ct, 0, cp)
	if f == nil {
		return nil, fmt.Errorf("publishing %s: %w", topic, err)
	}
	return &Future{h: h, f: f}, nil
}

// DecodeEvent returns an event message's topic and JSON payload ("" when
// there is none).
func (m *Msg) DecodeEvent() (topic string, payload string, err error) {
	var t, s *C.char
	if rc, e := C.flux_event_decode(m.m, &t, &s); rc < 0 {
		return "", "", fmt.Errorf("decoding event: %w", e)
	}
	if s != nil {
		payload = C.GoString(s)
	}
	return C.GoString(t), payload, nil
}
