// SPDX-License-Identifier: LGPL-3.0-only

//go:build !cgo

package variorum

import (
	"errors"
	"unsafe"
)

// Lib is libvariorum loaded with dlopen; without cgo it cannot be loaded.
type Lib struct{}

var errNoCgo = errors.New("variorum: built without cgo (CGO_ENABLED=0): cannot load libvariorum")

// Open always fails in a build without cgo.
func Open(path string) (*Lib, error) { return nil, errNoCgo }

// Path returns "".
func (l *Lib) Path() string { return "" }

// Symbol returns "".
func (l *Lib) Symbol() string { return "" }

// PowerJSON always fails in a build without cgo.
func (l *Lib) PowerJSON() ([]byte, error) { return nil, errNoCgo }

// Close does nothing.
func (l *Lib) Close() error { return nil }

// AppendPowerJSON always fails in a build without cgo.
func (l *Lib) AppendPowerJSON(buf []byte) ([]byte, error) { return buf, errNoCgo }

// ResultError always fails in a build without cgo.
func (l *Lib) ResultError(rc int, gotString bool) error { return errNoCgo }

// Entry returns nil in a build without cgo.
func (l *Lib) Entry() unsafe.Pointer { return nil }
