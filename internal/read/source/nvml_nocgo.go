// SPDX-License-Identifier: LGPL-3.0-only

//go:build !cgo

package source

import "errors"

// OpenNVML needs cgo: go-nvml calls libnvidia-ml through it.
func OpenNVML() (*NVML, error) {
	return nil, errors.New("nvml: cannot load libnvidia-ml.so.1: built without cgo")
}
