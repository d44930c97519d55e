// SPDX-License-Identifier: LGPL-3.0-only

//go:build cgo

package source

// nvmlshim makes power-monitor.so loadable with go-nvml linked in: its
// package comment says why.
import _ "github.com/flux-framework/power-monitor/internal/read/nvmlshim"
