// SPDX-License-Identifier: LGPL-3.0-only

//go:build cgo

package source

// go-nvml leaves every nvml* symbol undefined for its own dlopen to
// resolve; the broker's dlopen(RTLD_NOW) of power-monitor.so refuses that.
// nvmlshim defines them (see its package comment).
import _ "github.com/flux-framework/power-monitor/internal/read/nvmlshim"
