// SPDX-License-Identifier: LGPL-3.0-only

package source

import (
	"fmt"
	"unsafe"

	"github.com/flux-framework/power-monitor/internal/sample"
	"github.com/flux-framework/power-monitor/variorum"
)

// Variorum reads the node's power through libvariorum's
// variorum_get_power_json, loaded at run time.
//
// GPUs: Variorum's GPU k, numbered across sockets (socket_1 of a node with
// 2 GPUs a socket holds GPU_2 and GPU_3), is the reading's gpu k, taken as
// R's gpu k (gpuorder.go). Variorum gives no PCI address to check that by:
// its NVIDIA back end numbers GPUs by NVML index (nvmlDeviceGetCount, then
// one handle per index), which is PCI order on the usual node but is not
// promised to be. Where GPUs must match R for certain, list nvml before
// variorum in --source, so that the GPUs come from nvml.
type Variorum struct {
	lib    *variorum.Lib
	js     []byte          // the last JSON document, its array reused
	parser variorum.Parser // its scratch reused
}

// OpenVariorum loads libvariorum from path ("" searches the default library
// path) and checks that one reading parses.
func OpenVariorum(path string) (*Variorum, error) {
	lib, err := variorum.Open(path)
	if err != nil {
		return nil, err
	}
	v := &Variorum{lib: lib}
	if err := v.Read(&sample.Reading{}); err != nil {
		lib.Close()
		return nil, fmt.Errorf("%s: first reading failed: %w", lib.Path(), err)
	}
	return v, nil
}

// Name says which library and entry point are used.
func (v *Variorum) Name() string {
	return fmt.Sprintf("variorum (%s, %s)", v.lib.Path(), v.lib.Symbol())
}

// Read takes one reading.
func (v *Variorum) Read(r *sample.Reading) error {
	js, err := v.lib.AppendPowerJSON(v.js[:0])
	v.js = js
	if err != nil {
		return err
	}
	return v.parser.Parse(js, r)
}

// CEntry returns Variorum's entry point, for the sampler's clock thread to
// call itself (sampler.CSource).
func (v *Variorum) CEntry() unsafe.Pointer { return v.lib.Entry() }

// ParseC takes the reading from what a call of CEntry's function returned:
// rc, and the string it wrote (gotString), copied here so that nothing
// refers to the C string once the caller frees it.
func (v *Variorum) ParseC(rc int, js []byte, gotString bool, r *sample.Reading) error {
	if err := v.lib.ResultError(rc, gotString); err != nil {
		return err
	}
	v.js = append(v.js[:0], js...)
	return v.parser.Parse(v.js, r)
}

// Close unloads the library.
func (v *Variorum) Close() error { return v.lib.Close() }
