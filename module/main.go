// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

// Command power-monitor is the Flux broker module, built with
// -buildmode=c-shared into power-monitor.so. Loaded on every rank, it samples
// the node's power into a per-rank circular buffer and answers the
// power-monitor.* RPCs (doc/rpc.md).
//
// Files: main.go (mod_main: the exported boundary), monitor.go (the
// per-load context, setup and teardown), config.go (settings from the
// instance's configuration, and config-reload), window.go and series.go
// (one rank's answer), query.go (a job's answer, gathered from its ranks),
// record.go (power-monitor.record: a job's record at its end), records.go
// (rank 0: the inactive jobs' records, power-monitor.records), sources.go
// (power-monitor.sources), running.go (the jobs running here, for the
// exports), export.go (the spool, and which jobs are followed), jobs.go
// (rank 0: the job-manager's journal, and each ended job's summary for the
// exports), stats.go (flux module stats), sigchld.c (the SIGCHLD guard),
// power-monitor.map (the symbols exported). Goroutines reach the reactor
// thread through a fluxbind.Bridge.
package main

/*
#cgo pkg-config: flux-core
#include <flux/core.h>
int powermon_sigchld_guard (void);
void powermon_set_errno (int e);
*/
import "C"

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"syscall"
	"unsafe"

	"github.com/flux-framework/power-monitor/fluxbind"
)

func main() {}

// mod_main is the module's entry point, called by the broker on the module's
// thread (or by flux module-exec). It returns when the module is removed.
//
//export mod_main
func mod_main(h *C.flux_t, argc C.int, argv **C.char) (rc C.int) {
	fh := fluxbind.FromModule(unsafe.Pointer(h))
	defer func() {
		if v := recover(); v != nil {
			fh.Log(fluxbind.LogErr, fmt.Sprintf("panic: %v\n%s", v, debug.Stack()))
			C.powermon_set_errno(C.int(syscall.ECONNRESET))
			rc = -1
		}
	}()
	if C.powermon_sigchld_guard() < 0 {
		fh.Log(fluxbind.LogErr, "cannot install the SIGCHLD guard: jobs could hang; refusing to load")
		C.powermon_set_errno(C.int(syscall.EPERM))
		return -1
	}
	// A broker module needs little: do not let the host's environment
	// (GOMAXPROCS, GOGC=off) decide.
	runtime.GOMAXPROCS(2)
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64) // ignore a GOMEMLIMIT meant for the host

	var args []string
	if argc > 0 {
		for _, a := range unsafe.Slice(argv, int(argc)) {
			args = append(args, C.GoString(a))
		}
	}
	err := run(fh, args)
	if err != nil {
		fh.Log(fluxbind.LogErr, err.Error())
	}
	fh.Close() // after the log: a closed handle logs nothing
	if err != nil {
		var e syscall.Errno
		if !errors.As(err, &e) {
			e = syscall.EINVAL
		}
		C.powermon_set_errno(C.int(e))
		return -1
	}
	return 0
}
