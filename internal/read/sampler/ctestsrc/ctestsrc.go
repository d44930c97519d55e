// SPDX-License-Identifier: LGPL-3.0-only

//go:build cgo && linux

// Package ctestsrc is a C function of the form sampler.CSource calls,
// int fn(char **out), for the sampler's tests: the clock thread calls it
// in C as it calls Variorum. Call n writes {"n":n}; every failEvery-th call
// fails (returns -7 and writes nothing); each call notes whether SIGCHLD
// was blocked on its thread. Only tests import it (its counters are
// process-wide).
package ctestsrc

/*
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_int calls, unblocked, fail_every;

static int pm_test_read (char **out)
{
    int n = atomic_fetch_add (&calls, 1) + 1;
    sigset_t s;
    pthread_sigmask (SIG_BLOCK, NULL, &s);
    if (!sigismember (&s, SIGCHLD))
        atomic_fetch_add (&unblocked, 1);
    int fe = atomic_load (&fail_every);
    *out = NULL;
    if (fe > 0 && n % fe == 0)
        return -7;
    if (asprintf (out, "{\"n\":%d}", n) < 0) {
        *out = NULL;
        return -1;
    }
    return 0;
}

static void *pm_test_entry (void) { return (void *)pm_test_read; }
static int pm_test_calls (void) { return atomic_load (&calls); }
static int pm_test_unblocked (void) { return atomic_load (&unblocked); }
static void pm_test_reset (int fe)
{
    atomic_store (&calls, 0);
    atomic_store (&unblocked, 0);
    atomic_store (&fail_every, fe);
}
static int pm_test_call (char **out) { return pm_test_read (out); }
*/
import "C"

import "unsafe"

// Reset zeroes the counters; from now on every failEvery-th call fails
// (0: none).
func Reset(failEvery int) { C.pm_test_reset(C.int(failEvery)) }

// Entry is the C function.
func Entry() unsafe.Pointer { return C.pm_test_entry() }

// Calls is how many times it was called since Reset.
func Calls() int { return int(C.pm_test_calls()) }

// Unblocked is how many of those calls ran with SIGCHLD unblocked.
func Unblocked() int { return int(C.pm_test_unblocked()) }

// Call calls it from Go, as a source's Read does: rc, and a copy of the
// string written (nil when none).
func Call() (int, []byte) {
	var out *C.char
	rc := C.pm_test_call(&out)
	if out == nil {
		return int(rc), nil
	}
	defer C.free(unsafe.Pointer(out))
	return int(rc), []byte(C.GoString(out))
}
