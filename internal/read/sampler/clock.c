// SPDX-License-Identifier: LGPL-3.0-only

//go:build cgo

/* The sampler's clock thread: see clock_cgo.go. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "_cgo_export.h"

struct pm_clock {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv; // on CLOCK_MONOTONIC
    int quit;
    uintptr_t h;
    int (*fn) (char **); // a CSource's function, called here; or NULL

    // With fn: the readings held back (k at most, none longer than f),
    // under bmu, and the schedule, kept here since Go is entered only to
    // store readings (k 1: each at once).
    pthread_mutex_t bmu;
    struct pm_pending *batch;
    int k, n;
    int64_t f;      // the longest a reading is held back, ns
    int64_t oldest; // CLOCK_MONOTONIC of batch[0]
    uint64_t late;
    int64_t period, next;
};

// pm_flush_locked hands the held readings to Go and frees their strings.
static void pm_flush_locked (struct pm_clock *c)
{
    if (c->n == 0 && c->late == 0)
        return;
    pmSamplerBatch (c->h, c->batch, c->n, c->late);
    for (int i = 0; i < c->n; i++)
        free (c->batch[i].out);
    c->n = 0;
    c->late = 0;
}

void pm_clock_flush (struct pm_clock *c)
{
    if (c->batch == NULL)
        return;
    pthread_mutex_lock (&c->bmu);
    pm_flush_locked (c);
    pthread_mutex_unlock (&c->bmu);
}

// pm_advance is schedule.advance (clock.go) for the batching thread.
static int64_t pm_advance (struct pm_clock *c, int64_t now)
{
    c->next += c->period;
    int64_t d = now - c->next;
    if (d > 0) {
        int64_t k = (d + c->period / 2 - 1) / c->period;
        if (k > 0) {
            c->next += k * c->period;
            c->late += k;
        }
    }
    return c->next;
}

static int64_t pm_real (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t pm_mono (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// pm_clock_main sleeps until each due time (or until stopped), then calls
// into Go for the sample. Every signal is blocked in this thread before it
// starts; Go unblocks the ones it needs (SIGCHLD among them) the first time
// the thread enters Go, so SIGCHLD is blocked again after each call: it must
// stay pending for the broker's signalfd.
static void *pm_clock_main (void *arg)
{
    struct pm_clock *c = arg;
    sigset_t chld;
    int64_t next = pm_mono ();

    sigemptyset (&chld);
    sigaddset (&chld, SIGCHLD);
    pthread_mutex_lock (&c->mu);
    for (;;) {
        struct timespec ts = {next / 1000000000LL, next % 1000000000LL};
        while (!c->quit && pthread_cond_timedwait (&c->cv, &c->mu, &ts) != ETIMEDOUT)
            ;
        if (c->quit)
            break;
        pthread_mutex_unlock (&c->mu);
        if (c->batch != NULL) {
            struct pm_pending p = {0, NULL, 0, 0, 0};
            int64_t now;
            p.t0 = pm_real ();
            p.rc = c->fn (&p.out);
            p.t1 = pm_real ();
            p.len = p.out ? strlen (p.out) : 0;
            now = pm_mono ();
            pthread_mutex_lock (&c->bmu);
            if (c->n == 0)
                c->oldest = now;
            c->batch[c->n++] = p;
            // Store them when full, or when the oldest would be held
            // longer than f by waiting for the next due time; the sample
            // ends when they are stored.
            if (c->n >= c->k || c->next + c->period - c->oldest > c->f) {
                pm_flush_locked (c);
                now = pm_mono ();
            }
            next = pm_advance (c, now);
            pthread_mutex_unlock (&c->bmu);
        } else
            next = pmSamplerTick (c->h, pm_mono ());
        pthread_sigmask (SIG_BLOCK, &chld, NULL);
        pthread_mutex_lock (&c->mu);
    }
    pthread_mutex_unlock (&c->mu);
    return NULL;
}

struct pm_clock *pm_clock_start (uintptr_t h, void *fn, int64_t period, int k, int64_t f, int *err)
{
    struct pm_clock *c = calloc (1, sizeof (*c));
    pthread_condattr_t ca;
    sigset_t all, old;

    if (c == NULL) {
        *err = ENOMEM;
        return NULL;
    }
    c->h = h;
    c->fn = (int (*) (char **))fn;
    if (c->fn != NULL) {
        c->batch = calloc (k, sizeof (*c->batch));
        if (c->batch == NULL) {
            free (c);
            *err = ENOMEM;
            return NULL;
        }
        pthread_mutex_init (&c->bmu, NULL);
        c->k = k > 0 ? k : 1;
        c->f = f;
        c->period = period > 0 ? period : 1;
        c->next = pm_mono ();
    }
    pthread_mutex_init (&c->mu, NULL);
    pthread_condattr_init (&ca);
    pthread_condattr_setclock (&ca, CLOCK_MONOTONIC);
    pthread_cond_init (&c->cv, &ca);
    pthread_condattr_destroy (&ca);
    sigfillset (&all);
    pthread_sigmask (SIG_SETMASK, &all, &old);
    *err = pthread_create (&c->thread, NULL, pm_clock_main, c);
    pthread_sigmask (SIG_SETMASK, &old, NULL);
    if (*err != 0) {
        if (c->batch != NULL) {
            pthread_mutex_destroy (&c->bmu);
            free (c->batch);
        }
        pthread_cond_destroy (&c->cv);
        pthread_mutex_destroy (&c->mu);
        free (c);
        return NULL;
    }
    return c;
}

// pm_clock_stop wakes the thread, waits for it (and for a sample in
// progress) to end, and frees the clock.
void pm_clock_stop (struct pm_clock *c)
{
    pthread_mutex_lock (&c->mu);
    c->quit = 1;
    pthread_cond_signal (&c->cv);
    pthread_mutex_unlock (&c->mu);
    pthread_join (c->thread, NULL);
    if (c->batch != NULL) {
        pm_clock_flush (c); // every reading taken reaches the store
        pthread_mutex_destroy (&c->bmu);
        free (c->batch);
    }
    pthread_cond_destroy (&c->cv);
    pthread_mutex_destroy (&c->mu);
    free (c);
}
