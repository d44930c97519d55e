// SPDX-License-Identifier: LGPL-3.0-only

//go:build flux

#include <errno.h>
#include <jansson.h>
#include "shim.h"
#include "_cgo_export.h"

static void msg_cb (flux_t *h,
                    flux_msg_handler_t *mh,
                    const flux_msg_t *msg,
                    void *arg)
{
    fluxbindMsgCallback ((flux_msg_t *)msg, (uintptr_t)arg);
}

flux_msg_handler_t *fluxbind_msg_handler_create (flux_t *h,
                                                 int typemask,
                                                 const char *topic,
                                                 uint32_t rolemask,
                                                 uintptr_t arg)
{
    struct flux_match match = FLUX_MATCH_ANY;
    flux_msg_handler_t *mh;

    match.typemask = typemask;
    match.topic_glob = (char *)topic;
    if (!(mh = flux_msg_handler_create (h, match, msg_cb, (void *)arg)))
        return NULL;
    if (rolemask != 0)
        flux_msg_handler_allow_rolemask (mh, rolemask);
    return mh;
}

static void future_cb (flux_future_t *f, void *arg)
{
    fluxbindFutureCallback (f, (uintptr_t)arg);
}

int fluxbind_future_then (flux_future_t *f, double timeout, uintptr_t arg)
{
    return flux_future_then (f, timeout, future_cb, (void *)arg);
}

static void watcher_cb (flux_reactor_t *r,
                        flux_watcher_t *w,
                        int revents,
                        void *arg)
{
    fluxbindWatcherCallback (revents, (uintptr_t)arg);
}

flux_watcher_t *fluxbind_fd_watcher_create (flux_reactor_t *r,
                                            int fd,
                                            int events,
                                            uintptr_t arg)
{
    return flux_fd_watcher_create (r, fd, events, watcher_cb, (void *)arg);
}

flux_watcher_t *fluxbind_timer_watcher_create (flux_reactor_t *r,
                                               double after,
                                               uintptr_t arg)
{
    return flux_timer_watcher_create (r, after, 0., watcher_cb, (void *)arg);
}

void fluxbind_log (flux_t *h, int level, const char *s)
{
    flux_log (h, level, "%s", s);
}

const char *fluxbind_future_strerror (flux_future_t *f, int errnum)
{
    return future_strerror (f, errnum);
}

/* flux_rpc_get() that also returns errno, read on the same thread. */
int fluxbind_rpc_get (flux_future_t *f, const char **s, int *errnum)
{
    int rc = flux_rpc_get (f, s);
    *errnum = rc < 0 ? errno : 0;
    return rc;
}

int fluxbind_msg_cred (const flux_msg_t *msg, uint32_t *userid, uint32_t *rolemask)
{
    struct flux_msg_cred cred;
    if (flux_msg_get_cred (msg, &cred) < 0)
        return -1;
    *userid = cred.userid;
    *rolemask = cred.rolemask;
    return 0;
}

/* The handle's cached configuration object (flux_get_conf) as a JSON
 * string the caller frees, or NULL with errno set. */
char *fluxbind_conf_json (flux_t *h)
{
    const flux_conf_t *conf;
    json_t *o;
    char *s;

    if (!(conf = flux_get_conf (h)) || flux_conf_unpack (conf, NULL, "o", &o) < 0)
        return NULL;
    if (!(s = json_dumps (o, JSON_COMPACT))) {
        errno = ENOMEM;
        return NULL;
    }
    return s;
}

/* Cache the configuration a config-reload request carries as the handle's
 * (what flux_get_conf then returns), as flux-core's modules do once they
 * have applied it. */
int fluxbind_conf_update (flux_t *h, const flux_msg_t *msg)
{
    flux_conf_t *conf;

    if (flux_module_config_request_decode (msg, &conf) < 0)
        return -1;
    if (flux_set_conf_new (h, conf) < 0) {
        int saved = errno;
        flux_conf_decref (conf);
        errno = saved;
        return -1;
    }
    return 0;
}
