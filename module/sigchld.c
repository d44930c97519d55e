// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

/* SIGCHLD guard for a Go runtime inside a Flux broker or module-exec.
 *
 * The broker blocks SIGCHLD in every thread and reads it through signalfd;
 * libsubprocess reaps children from it. The Go runtime unblocks SIGCHLD in
 * every thread it creates, with no handler installed, so the kernel may hand
 * the process-directed SIGCHLD to a Go thread where the default action
 * discards it: `flux exec` and jobs then hang forever (golang/go#55066).
 *
 * The guard installs a handler, only where SIGCHLD's disposition is SIG_DFL,
 * that blocks SIGCHLD in the interrupted thread's saved mask (so that thread
 * never takes it again) and posts it again to the process. Once every Go
 * thread has it blocked, it stays pending for the process and the broker's
 * signalfd reads it. See doc/architecture.md, "Rules that hold everywhere".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

static void sigchld_repost (int sig, siginfo_t *si, void *ucv)
{
    ucontext_t *uc = ucv;
    int saved_errno = errno;

    (void)sig;
    (void)si;
    sigaddset (&uc->uc_sigmask, SIGCHLD);
    kill (getpid (), SIGCHLD);
    errno = saved_errno;
}

/* Returns 1 if the guard was installed now, 0 if it was already in place or
 * another handler owns SIGCHLD, -1 on error.
 */
int powermon_sigchld_guard (void)
{
    struct sigaction old, sa;

    if (sigaction (SIGCHLD, NULL, &old) < 0)
        return -1;
    if ((old.sa_flags & SA_SIGINFO)) {
        return 0; /* ours (from an earlier load) or someone else's */
    }
    if (old.sa_handler != SIG_DFL)
        return 0;
    memset (&sa, 0, sizeof (sa));
    sa.sa_sigaction = sigchld_repost;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset (&sa.sa_mask);
    if (sigaction (SIGCHLD, &sa, NULL) < 0)
        return -1;
    return 1;
}

void powermon_set_errno (int e)
{
    errno = e;
}
