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

// Conf is the instance's configuration as the handle caches it
// (flux_get_conf): for a module, what the broker gave it at load, then
// what the config-reload requests it accepted gave it (UpdateConf). A JSON
// object; {} where the instance has no configuration.
func (h *Handle) Conf() ([]byte, error) {
	if err := h.check(); err != nil {
		return nil, err
	}
	s, err := C.fluxbind_conf_json(h.h)
	if s == nil {
		return nil, fmt.Errorf("flux_get_conf: %w", err)
	}
	defer C.free(unsafe.Pointer(s))
	return []byte(C.GoString(s)), nil
}

// UpdateConf caches the configuration of a config-reload request as the
// handle's, once the module has applied it (flux-core's modules do the
// same), so that Conf returns it.
func (h *Handle) UpdateConf(m *Msg) error {
	if err := h.check(); err != nil {
		return err
	}
	if rc, err := C.fluxbind_conf_update(h.h, m.m); rc < 0 {
		return fmt.Errorf("caching the new configuration: %w", err)
	}
	return nil
}
