/* SPDX-License-Identifier: LGPL-3.0-only */
/* C side of the fluxbind package: trampolines with the exact libflux
 * callback signatures, and wrappers for libflux's variadic functions,
 * which cgo cannot call.
 */
#ifndef FLUXBIND_SHIM_H
#define FLUXBIND_SHIM_H

#include <stdint.h>
#include <flux/core.h>
#include <flux/idset.h>

flux_msg_handler_t *fluxbind_msg_handler_create (flux_t *h,
                                                 int typemask,
                                                 const char *topic,
                                                 uint32_t rolemask,
                                                 uintptr_t arg);
int fluxbind_future_then (flux_future_t *f, double timeout, uintptr_t arg);
flux_watcher_t *fluxbind_fd_watcher_create (flux_reactor_t *r,
                                            int fd,
                                            int events,
                                            uintptr_t arg);
flux_watcher_t *fluxbind_timer_watcher_create (flux_reactor_t *r,
                                               double after,
                                               uintptr_t arg);
void fluxbind_log (flux_t *h, int level, const char *s);
const char *fluxbind_future_strerror (flux_future_t *f, int errnum);
int fluxbind_rpc_get (flux_future_t *f, const char **s, int *errnum);
int fluxbind_msg_cred (const flux_msg_t *msg, uint32_t *userid, uint32_t *rolemask);
char *fluxbind_conf_json (flux_t *h);
int fluxbind_conf_update (flux_t *h, const flux_msg_t *msg);

#endif
