// SPDX-License-Identifier: LGPL-3.0-only

// Package fluxbind is this project's small cgo binding to libflux-core: a
// handle, message handlers with JSON request unpacking (Msg.Unpack) and
// responses whose failures are logged, RPCs with futures, events, fd and
// timer watchers, the bridge from goroutines to the reactor thread (Bridge),
// job id parsing and job-list lookups, and logging.
//
// It is built only with the "flux" build tag (make does this when configure
// found flux-core with pkg-config); without it the package is empty and
// everything that needs libflux is skipped.
//
// Rules, from the measured hazards of a Go runtime inside Flux processes:
//   - A flux_t is not thread-safe. Every method of Handle, and of the objects
//     made from it, must run on the thread that owns the handle (the one that
//     runs the reactor). Handle checks this and refuses calls from any other
//     thread with ErrWrongThread. Goroutines hand work to that thread with
//     Bridge.Post.
//   - Callbacks enter Go through C trampolines with the exact libflux
//     signature; the Go side is found through a cgo.Handle passed as the
//     callback argument. Every callback recovers panics and logs them.
//   - cgo cannot call variadic functions; shim.c wraps the few needed.
package fluxbind
