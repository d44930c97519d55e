// SPDX-License-Identifier: LGPL-3.0-only

package sampler

import (
	"fmt"

	"github.com/flux-framework/power-monitor/internal/sample"
)

func fmtAny(v any) string { return fmt.Sprint(v) }

// Tee is a Store that appends every reading to each of its stores, in
// order.
type Tee []Store

// Append appends to every store.
func (t Tee) Append(ts int64, r *sample.Reading) {
	for _, s := range t {
		s.Append(ts, r)
	}
}

// Hold holds every store that can be held (Holder).
func (t Tee) Hold() {
	for _, s := range t {
		if h, ok := s.(Holder); ok {
			h.Hold()
		}
	}
}

// Release releases them, in the reverse order.
func (t Tee) Release() {
	for i := len(t) - 1; i >= 0; i-- {
		if h, ok := t[i].(Holder); ok {
			h.Release()
		}
	}
}
