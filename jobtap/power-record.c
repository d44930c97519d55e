/* SPDX-License-Identifier: LGPL-3.0-only */
/* power-record.so - job-manager (jobtap) plugin: every job's energy record,
 * kept in its main eventlog.
 *
 * When a job that ran enters CLEANUP (its `finish` event, or the exception
 * that ended it), ask the power-monitor module on this rank
 * (power-monitor.record, doc/rpc.md) for the job's record over its run
 * window [t_run, t_cleanup], then post:
 *   - a `power` event whose context is the module's answer plus the job's
 *     userid and its jobspec's attributes.system queue, bank and project;
 *     where the module did not answer within the timeout, or the request
 *     failed, a record built here that says why (data_presence "none");
 *   - a `memo` event with energy_j, power_w, node_energy_j, node_power_w,
 *     duration_s and power_presence, so that flux jobs shows them;
 * The answer usually comes before the job's resources are freed (its `free`
 * event, after every shell has exited): the two events are then kept until
 * `free`, and posted with it, so that they go into the job's eventlog in
 * the same KVS commit as `free` and `clean` rather than in one of their
 * own. Where the answer has not come by `free`, the plugin posts
 * `epilog-start` (description "power-record") at `free`, and
 * `epilog-finish` after the record: the resources go back to the scheduler
 * at once, and only the job's move to INACTIVE waits (at most timeout +
 * 1 s). Holding only the jobs that need it spares the others two events.
 * A job that never had resources gets a record at CLEANUP at once ("the job
 * never ran"), with no epilog. A job that already has a `power` event gets
 * no second one. The record is what accounting reads: only the instance
 * owner's job-manager can write the main eventlog (doc/rpc.md, The job's
 * record).
 *
 * Configuration (flux jobtap load power-record.so timeout=2, or
 * [job-manager] plugins = [{load = "power-record.so", conf = {timeout = 2}}]):
 *   timeout = SECONDS   the module's time to answer (default 5)
 *
 * Nothing here ever holds a job: every path that starts the epilog
 * finishes it, and what the module cannot say goes into the record.
 *
 * Written in C, not Go: jobtap plugins are dlopened into the job-manager,
 * and a Go runtime there would be a second one beside the broker's
 * power-monitor module (doc/architecture.md), with its threads and signal
 * hazards, for a few hundred lines of event handling.
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <jansson.h>
#include <flux/core.h>
#include <flux/idset.h>
#include <flux/jobtap.h>

#define PLUGIN_NAME "power-record"
#define AUX_JOB "power-record::job"
#define DEFAULT_TIMEOUT 5.0

struct job_rec;

struct ctx {
    flux_plugin_t *p;
    double timeout;             /* the module's time to answer, seconds */
    struct job_rec *pending;    /* records waiting for the module */
};

/* One per job that ran (job aux AUX_JOB), from job.state.run (or job.new
 * when the plugin is loaded later) until the job is destroyed. */
struct job_rec {
    struct ctx *ctx;
    flux_jobid_t id;
    double t_run;               /* the alloc event's time; 0: unknown */
    flux_future_t *f;           /* power-monitor.record, while pending */
    int held;                   /* the epilog was started: finish it */
    int done;                   /* the record was posted, or is kept */
    json_t *kept;               /* the record, kept until free */
    json_t *R;                  /* for a record without an answer */
    json_t *extra;              /* userid, queue, bank, project */
    double start, end;
    struct job_rec *prev, *next;    /* ctx->pending, while f != NULL */
};

static void pending_unlink (struct job_rec *rec)
{
    if (rec->prev)
        rec->prev->next = rec->next;
    else if (rec->ctx->pending == rec)
        rec->ctx->pending = rec->next;
    if (rec->next)
        rec->next->prev = rec->prev;
    rec->prev = rec->next = NULL;
}

static void record_abandon (struct job_rec *rec);
static void kept_abandon (struct job_rec *rec);

/* job aux destructor: the job is destroyed, or the plugin removed (flux
 * jobtap remove: the job-manager deletes the plugin's job aux first) - a
 * pending request is abandoned, and the job released. */
static void job_rec_destroy (void *arg)
{
    struct job_rec *rec = arg;

    if (rec) {
        int saved_errno = errno;
        if (rec->f)
            record_abandon (rec);
        if (rec->kept)
            kept_abandon (rec);
        json_decref (rec->R);
        json_decref (rec->extra);
        free (rec);
        errno = saved_errno;
    }
}

/* plugin aux destructor: the plugin is unloaded - no continuation may run
 * after its code is gone. */
static void ctx_destroy (void *arg)
{
    struct ctx *ctx = arg;

    if (ctx) {
        int saved_errno = errno;
        while (ctx->pending) {
            struct job_rec *rec = ctx->pending;
            pending_unlink (rec);
            flux_future_destroy (rec->f);
            rec->f = NULL;
        }
        free (ctx);
        errno = saved_errno;
    }
}

static void log_err (flux_plugin_t *p, flux_jobid_t id, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void log_err (flux_plugin_t *p, flux_jobid_t id, const char *fmt, ...)
{
    char buf[256];
    char idstr[32] = "";
    va_list ap;

    va_start (ap, fmt);
    vsnprintf (buf, sizeof (buf), fmt, ap);
    va_end (ap);
    if (id != FLUX_JOBID_ANY)
        flux_job_id_encode (id, "f58", idstr, sizeof (idstr));
    flux_log (flux_jobtap_get_flux (p), LOG_ERR, "%s: %s%s%s", PLUGIN_NAME,
              idstr, *idstr ? ": " : "", buf);
}

static double entry_time (json_t *entry)
{
    double t = 0.;

    if (entry)
        (void)json_unpack (entry, "{s:F}", "timestamp", &t);
    return t;
}

/* R's execution.starttime, or 0 */
static double R_starttime (json_t *R)
{
    double t = 0.;

    if (R)
        (void)json_unpack (R, "{s:{s:F}}", "execution", "starttime", &t);
    return t;
}

/* userid, and attributes.system.{queue,bank,project} where they are
 * strings. */
static json_t *extra_create (json_int_t userid, json_t *jobspec)
{
    static const char *keys[] = { "queue", "bank", "project" };
    json_t *system = NULL;
    json_t *o;

    if (!(o = json_pack ("{s:I}", "userid", userid)))
        return NULL;
    if (jobspec)
        (void)json_unpack (jobspec, "{s:{s:o}}",
                           "attributes", "system", &system);
    for (size_t i = 0; i < sizeof (keys) / sizeof (keys[0]); i++) {
        json_t *v = json_object_get (system, keys[i]);
        if (json_is_string (v) && json_object_set (o, keys[i], v) < 0) {
            json_decref (o);
            return NULL;
        }
    }
    return o;
}

/* The record where power-monitor gave none (doc/rpc.md, Record object):
 * the job's ranks from R's R_lite, no energy, and why. R NULL: the job
 * never ran. */
static json_t *record_without_answer (json_t *R,
                                      double start,
                                      double end,
                                      const char *reason)
{
    struct idset *ids = NULL;
    json_t *R_lite = NULL;
    json_t *o;
    char *ranks = NULL;
    size_t nnodes = 0;

    if (start > end)
        start = end;
    if (R
        && json_unpack (R, "{s:{s:o}}", "execution", "R_lite", &R_lite) == 0
        && json_is_array (R_lite)
        && (ids = idset_create (0, IDSET_FLAG_AUTOGROW))) {
        size_t i;
        json_t *entry;
        json_array_foreach (R_lite, i, entry) {
            const char *rank = json_string_value (json_object_get (entry, "rank"));
            if (!rank || idset_decode_add (ids, rank, -1, NULL) < 0) {
                idset_destroy (ids);
                ids = NULL;
                break;
            }
        }
        if (ids) {
            nnodes = idset_count (ids);
            ranks = idset_encode (ids, IDSET_FLAG_RANGE);
        }
    }
    o = json_pack ("{s:i s:f s:f s:f s:f s:f s:f s:f s:I s:f s:s s:s s:b s:s}",
                   "version", 1,
                   "energy_j", 0.,
                   "avg_power_w", 0.,
                   "node_energy_j", 0.,
                   "node_avg_power_w", 0.,
                   "start", start,
                   "end", end,
                   "duration_s", end - start,
                   "nnodes", (json_int_t)nnodes,
                   "coverage", 0.,
                   "data_presence", "none",
                   "method", "none",
                   "shared", 0,
                   "reason", reason);
    if (o && ranks && nnodes > 0
        && json_object_set_new (o, "ranks", json_string (ranks)) < 0) {
        json_decref (o);
        o = NULL;
    }
    free (ranks);
    idset_destroy (ids);
    return o;
}

static double num (json_t *o, const char *key)
{
    json_t *v = json_object_get (o, key);
    return json_is_number (v) ? json_number_value (v) : 0.;
}

/* The memo's context for RECORD: what flux jobs shows of it ({user.KEY}). */
static json_t *memo_of (json_t *record)
{
    const char *presence = json_string_value (json_object_get (record, "data_presence"));

    return json_pack ("{s:f s:f s:f s:f s:f s:s}",
                      "energy_j", num (record, "energy_j"),
                      "power_w", num (record, "avg_power_w"),
                      "node_energy_j", num (record, "node_energy_j"),
                      "node_power_w", num (record, "node_avg_power_w"),
                      "duration_s", num (record, "duration_s"),
                      "power_presence", presence ? presence : "none");
}

/* Post the `power` event (RECORD plus EXTRA; RECORD is consumed) and the
 * memo. Errors are logged: the caller finishes the epilog whatever happens
 * here. */
static void post_record (flux_plugin_t *p,
                         flux_jobid_t id,
                         json_t *record,
                         json_t *extra)
{
    json_t *memo;

    if (!record) {
        log_err (p, id, "could not build the record: out of memory");
        return;
    }
    if (extra && json_object_update (record, extra) < 0) {
        log_err (p, id, "could not build the record: out of memory");
        goto done;
    }
    if (flux_jobtap_event_post_pack (p, id, "power", "O", record) < 0) {
        log_err (p, id, "could not post the power event: %s", strerror (errno));
        goto done;
    }
    if (!(memo = memo_of (record))
        || flux_jobtap_event_post_pack (p, id, "memo", "O", memo) < 0)
        log_err (p, id, "could not post the memo: %s", strerror (errno));
    json_decref (memo);
done:
    json_decref (record);
}

static void finish (flux_plugin_t *p, flux_jobid_t id)
{
    if (flux_jobtap_epilog_finish (p, id, PLUGIN_NAME, 0) < 0)
        log_err (p, id, "could not finish the epilog: %s", strerror (errno));
}

/* Post event NAME with CONTEXT to job ID through flux-core's builtin
 * .post-event plugin (job-manager.post-event.post), without an answer: the
 * job-manager handles it once the current message is done with. */
static int post_later (flux_plugin_t *p,
                       flux_jobid_t id,
                       const char *name,
                       json_t *context)
{
    flux_future_t *f;

    if (!context
        || !(f = flux_rpc_pack (flux_jobtap_get_flux (p),
                                "job-manager.post-event.post",
                                FLUX_NODEID_ANY,
                                FLUX_RPC_NORESPONSE,
                                "{s:I s:s s:O}",
                                "id", (json_int_t)id,
                                "name", name,
                                "context", context))) {
        log_err (p, id, "could not post %s: %s", name, strerror (errno));
        return -1;
    }
    flux_future_destroy (f);
    return 0;
}

/* post_record for when the plugin is being removed: RECORD (plus EXTRA;
 * consumed) and its memo go by post_later. */
static void post_record_later (flux_plugin_t *p,
                               flux_jobid_t id,
                               json_t *record,
                               json_t *extra)
{
    json_t *memo = NULL;

    if (record && extra)
        (void)json_object_update (record, extra);
    if (record)
        memo = memo_of (record);
    (void)post_later (p, id, "power", record);
    (void)post_later (p, id, "memo", memo);
    json_decref (record);
    json_decref (memo);
}

/* The job's record is pending and the plugin is being removed (flux
 * jobtap remove deletes its job aux while the job is active, then the
 * plugin): the record says so, and the job goes. Nothing may be posted
 * from here directly: the job-manager is walking its plugin list, which
 * the callbacks of the events would walk too; and after this, no code of
 * the plugin runs. The events go by a request to the job-manager itself,
 * in order: power, memo, epilog-finish. */
static void record_abandon (struct job_rec *rec)
{
    flux_plugin_t *p = rec->ctx->p;
    flux_jobid_t id = rec->id;
    json_t *fin;

    pending_unlink (rec);
    flux_future_destroy (rec->f);
    rec->f = NULL;

    post_record_later (p, id,
                       record_without_answer (rec->R, rec->start, rec->end,
                                              "power-record was removed before "
                                              "power-monitor answered"),
                       rec->extra);
    fin = json_pack ("{s:s s:i}", "description", PLUGIN_NAME, "status", 0);
    if (rec->held && post_later (p, id, "epilog-finish", fin) < 0)
        log_err (p, id, "the job stays in CLEANUP: its epilog is not finished");
    json_decref (fin);
}

/* The module's answer, or why there is none. */
static void record_cb (flux_future_t *f, void *arg)
{
    struct job_rec *rec = arg;
    flux_plugin_t *p = rec->ctx->p;
    flux_jobid_t id = rec->id;
    json_t *answer = NULL;
    json_t *record;

    if (flux_rpc_get_unpack (f, "o", &answer) == 0 && json_is_object (answer))
        record = json_deep_copy (answer);
    else {
        char reason[256];
        if (answer)
            errno = EPROTO;
        if (errno == ETIMEDOUT)
            snprintf (reason, sizeof (reason),
                      "power-monitor did not answer within %gs",
                      rec->ctx->timeout);
        else if (errno == ENOSYS)
            snprintf (reason, sizeof (reason),
                      "power-monitor is not loaded on rank 0");
        else
            snprintf (reason, sizeof (reason), "%s",
                      answer ? "power-monitor.record: the answer is not an object"
                             : future_strerror (f, errno));
        record = record_without_answer (rec->R, rec->start, rec->end, reason);
    }
    pending_unlink (rec);
    rec->f = NULL;
    rec->done = 1;
    if (!rec->held && record
        && flux_jobtap_job_event_posted (p, id, "free") == 0) {
        /* before free: free_cb posts it, in free's commit */
        rec->kept = record;
        flux_future_destroy (f);
        return;
    }
    post_record (p, id, record, rec->extra);

    /* The future is ours now: finishing the epilog may make the job
     * inactive, and destroy rec. */
    flux_jobtap_job_unsubscribe (p, id);
    if (rec->held)
        finish (p, id);
    flux_future_destroy (f);
}

/* The job's record is kept for its free event and the plugin is being
 * removed: the record goes as record_abandon's does. */
static void kept_abandon (struct job_rec *rec)
{
    json_t *record = rec->kept;

    rec->kept = NULL;
    post_record_later (rec->ctx->p, rec->id, record, rec->extra);
}

static struct job_rec *job_rec_get (flux_plugin_t *p,
                                    struct ctx *ctx,
                                    flux_jobid_t id,
                                    double t_run)
{
    struct job_rec *rec;

    if ((rec = flux_jobtap_job_aux_get (p, id, AUX_JOB))) {
        if (t_run > 0.)
            rec->t_run = t_run;
        return rec;
    }
    if (!(rec = calloc (1, sizeof (*rec))))
        return NULL;
    rec->ctx = ctx;
    rec->id = id;
    rec->t_run = t_run;
    if (flux_jobtap_job_aux_set (p, id, AUX_JOB, rec, job_rec_destroy) < 0) {
        job_rec_destroy (rec);
        return NULL;
    }
    return rec;
}

static int already_recorded (flux_plugin_t *p, flux_jobid_t id)
{
    return flux_jobtap_job_event_posted (p, id, "power") == 1;
}

/* Ask the module for the job's record. With HOLD (the job's resources are
 * freed, or will never be), hold it in CLEANUP with an epilog until the
 * answer; without, free_cb holds it if the answer has not come by then.
 * Called from a callback of the job (the current job). */
static void record_start (flux_plugin_t *p,
                          struct ctx *ctx,
                          flux_plugin_arg_t *args,
                          int hold)
{
    flux_jobid_t id;
    json_int_t userid = -1;
    json_t *R = NULL, *jobspec = NULL, *end_event = NULL, *entry = NULL;
    struct job_rec *rec;
    double start, end;
    char why[256];

    if (flux_plugin_arg_unpack (args, FLUX_PLUGIN_ARG_IN,
                                "{s:I s:I s?o s?o s?o s?o}",
                                "id", &id,
                                "userid", &userid,
                                "R", &R,
                                "jobspec", &jobspec,
                                "end_event", &end_event,
                                "entry", &entry) < 0) {
        log_err (p, FLUX_JOBID_ANY, "job arguments: %s",
                 flux_plugin_arg_strerror (args));
        return;
    }
    if (already_recorded (p, id))
        return;
    if (!(rec = job_rec_get (p, ctx, id, 0.))) {
        log_err (p, id, "could not keep the job's state: %s", strerror (errno));
        return;
    }
    if (rec->f || rec->done)    /* already asked */
        return;

    if (!(end = entry_time (end_event)) && !(end = entry_time (entry)))
        end = flux_reactor_now (flux_get_reactor (flux_jobtap_get_flux (p)));
    if (!(start = rec->t_run) && !(start = R_starttime (R)))
        start = end;
    if (start > end)
        start = end;
    rec->start = start;
    rec->end = end;
    json_decref (rec->R);
    rec->R = json_incref (R);
    json_decref (rec->extra);
    rec->extra = extra_create (userid, jobspec);

    if (hold && flux_jobtap_epilog_start (p, PLUGIN_NAME) < 0) {
        /* the job will not wait: post what is known now */
        snprintf (why, sizeof (why), "power-record could not hold the job: %s",
                  strerror (errno));
        log_err (p, id, "%s", why);
        post_record (p, id, record_without_answer (R, start, end, why),
                     rec->extra);
        rec->done = 1;
        return;
    }
    rec->held = hold;
    if (!(rec->f = flux_rpc_pack (flux_jobtap_get_flux (p),
                                  "power-monitor.record",
                                  FLUX_NODEID_ANY,
                                  0,
                                  "{s:I s:O s:f s:f s:f}",
                                  "jobid", (json_int_t)id,
                                  "R", R ? R : json_null (),
                                  "start", start,
                                  "end", end,
                                  "timeout", ctx->timeout))
        || flux_future_then (rec->f, ctx->timeout + 1., record_cb, rec) < 0) {
        snprintf (why, sizeof (why), "power-monitor.record: %s", strerror (errno));
        log_err (p, id, "could not send %s", why);
        flux_future_destroy (rec->f);
        rec->f = NULL;
        post_record (p, id, record_without_answer (R, start, end, why),
                     rec->extra);
        rec->done = 1;
        if (rec->held)
            finish (p, id);
        return;
    }
    rec->next = ctx->pending;
    if (ctx->pending)
        ctx->pending->prev = rec;
    ctx->pending = rec;
}

/* job.state.run: the alloc event; remember t_run, and follow the job's
 * events to see its free event. */
static int run_cb (flux_plugin_t *p,
                   const char *topic,
                   flux_plugin_arg_t *args,
                   void *arg)
{
    flux_jobid_t id;
    json_t *entry = NULL;

    if (flux_plugin_arg_unpack (args, FLUX_PLUGIN_ARG_IN,
                                "{s:I s?o}", "id", &id, "entry", &entry) < 0) {
        log_err (p, FLUX_JOBID_ANY, "job.state.run: %s",
                 flux_plugin_arg_strerror (args));
        return 0;
    }
    if (!job_rec_get (p, arg, id, entry_time (entry))
        || flux_jobtap_job_subscribe (p, FLUX_JOBTAP_CURRENT_JOB) < 0)
        log_err (p, id, "could not follow the job: %s", strerror (errno));
    return 0;
}

/* job.event.free: the job is in CLEANUP and its resources were released.
 * If the record asked for at CLEANUP has not come yet, hold the job until
 * it does; if it was never asked for (the plugin was loaded since), ask
 * now, holding the job. */
static int free_cb (flux_plugin_t *p,
                    const char *topic,
                    flux_plugin_arg_t *args,
                    void *arg)
{
    flux_jobid_t id;
    struct job_rec *rec;

    if (flux_plugin_arg_unpack (args, FLUX_PLUGIN_ARG_IN, "{s:I}", "id", &id) < 0) {
        log_err (p, FLUX_JOBID_ANY, "job.event.free: %s",
                 flux_plugin_arg_strerror (args));
        return 0;
    }
    rec = flux_jobtap_job_aux_get (p, id, AUX_JOB);
    if (rec && rec->kept) {
        /* posted now, they are processed after free and before the clean
         * event that free may bring, and committed with both */
        json_t *record = rec->kept;
        rec->kept = NULL;
        post_record (p, id, record, rec->extra);
        flux_jobtap_job_unsubscribe (p, id);
        return 0;
    }
    if (rec && rec->f && !rec->held) {
        if (flux_jobtap_epilog_start (p, PLUGIN_NAME) == 0)
            rec->held = 1;
        else
            log_err (p, id, "could not hold the job for its record: %s",
                     strerror (errno));
        return 0;
    }
    record_start (p, arg, args, 1);
    return 0;
}

/* job.state.cleanup: a job that ran is asked for (its window is complete);
 * a job that never had resources gets its record now; one whose allocation
 * could not be reinstated after a restart (scheduler-restart exception)
 * will see no free event: it is held now. */
static int cleanup_cb (flux_plugin_t *p,
                       const char *topic,
                       flux_plugin_arg_t *args,
                       void *arg)
{
    flux_jobid_t id;
    json_int_t userid = -1;
    json_t *R = NULL, *jobspec = NULL, *end_event = NULL, *entry = NULL;
    const char *name = NULL, *type = NULL;
    double end;

    if (flux_plugin_arg_unpack (args, FLUX_PLUGIN_ARG_IN,
                                "{s:I s:I s?o s?o s?o s?o}",
                                "id", &id,
                                "userid", &userid,
                                "R", &R,
                                "jobspec", &jobspec,
                                "end_event", &end_event,
                                "entry", &entry) < 0) {
        log_err (p, FLUX_JOBID_ANY, "job.state.cleanup: %s",
                 flux_plugin_arg_strerror (args));
        return 0;
    }
    if (already_recorded (p, id))
        return 0;
    if (R) {
        if (end_event
            && json_unpack (end_event, "{s:s s:{s:s}}",
                            "name", &name, "context", "type", &type) == 0
            && !strcmp (name, "exception")
            && !strcmp (type, "scheduler-restart"))
            record_start (p, arg, args, 1);
        else if (flux_jobtap_job_aux_get (p, id, AUX_JOB))
            record_start (p, arg, args, 0);     /* followed since RUN */
        return 0;
    }
    if (!(end = entry_time (end_event)) && !(end = entry_time (entry)))
        end = flux_reactor_now (flux_get_reactor (flux_jobtap_get_flux (p)));
    json_t *extra = extra_create (userid, jobspec);
    post_record (p, id, record_without_answer (NULL, end, end, "the job never ran"),
                 extra);
    json_decref (extra);
    return 0;
}

/* job.new: at plugin load, for every active job, and at a job-manager
 * restart for the jobs it reloads. A running job is followed as from
 * job.state.run, with R's starttime for t_run; a job in CLEANUP whose
 * resources were freed since this job-manager started is recorded now. */
static int new_cb (flux_plugin_t *p,
                   const char *topic,
                   flux_plugin_arg_t *args,
                   void *arg)
{
    flux_jobid_t id;
    int state;
    json_t *R = NULL;

    if (flux_plugin_arg_unpack (args, FLUX_PLUGIN_ARG_IN,
                                "{s:I s:i s?o}",
                                "id", &id, "state", &state, "R", &R) < 0) {
        log_err (p, FLUX_JOBID_ANY, "job.new: %s",
                 flux_plugin_arg_strerror (args));
        return 0;
    }
    if (!R
        || (state != FLUX_JOB_STATE_RUN && state != FLUX_JOB_STATE_CLEANUP)
        || already_recorded (p, id))
        return 0;
    if (state == FLUX_JOB_STATE_CLEANUP
        && flux_jobtap_job_event_posted (p, id, "free") == 1) {
        record_start (p, arg, args, 1);
        return 0;
    }
    if (!job_rec_get (p, arg, id, R_starttime (R))
        || flux_jobtap_job_subscribe (p, FLUX_JOBTAP_CURRENT_JOB) < 0)
        log_err (p, id, "could not follow the job: %s", strerror (errno));
    return 0;
}

/* The plugin's own configuration: {"timeout": SECONDS}, a number or a
 * numeric string (flux jobtap load passes what does not parse as JSON as a
 * string). Returns 0, or -1 with ERR set. */
static int parse_conf (flux_plugin_t *p, double *timeout, char *err, size_t len)
{
    const char *s = flux_plugin_get_conf (p);
    json_error_t jerr;
    json_t *conf, *v;
    const char *key;
    int rc = -1;

    *timeout = DEFAULT_TIMEOUT;
    if (!s)
        return 0;
    if (!(conf = json_loads (s, 0, &jerr))) {
        snprintf (err, len, "%s: configuration: %s", PLUGIN_NAME, jerr.text);
        return -1;
    }
    json_object_foreach (conf, key, v) {
        double t = NAN;
        if (strcmp (key, "timeout") != 0) {
            snprintf (err, len, "%s: unknown key '%s' (the one key is timeout)",
                      PLUGIN_NAME, key);
            goto out;
        }
        if (json_is_number (v))
            t = json_number_value (v);
        else if (json_is_string (v)) {
            const char *str = json_string_value (v);
            char *end;
            errno = 0;
            t = strtod (str, &end);
            if (errno || end == str || *end != '\0')
                t = NAN;
        }
        if (!isfinite (t) || t <= 0.) {
            char *val = json_dumps (v, JSON_ENCODE_ANY);
            snprintf (err, len,
                      "%s: timeout=%s: want a positive number of seconds",
                      PLUGIN_NAME, val ? val : "?");
            free (val);
            goto out;
        }
        *timeout = t;
    }
    rc = 0;
out:
    json_decref (conf);
    return rc;
}

/* conf.update: called at load, before any job callback, so a bad value
 * fails the load with its message (flux jobtap load prints it). */
static int conf_update_cb (flux_plugin_t *p,
                           const char *topic,
                           flux_plugin_arg_t *args,
                           void *arg)
{
    struct ctx *ctx = arg;
    char err[256];

    if (parse_conf (p, &ctx->timeout, err, sizeof (err)) < 0) {
        flux_log (flux_jobtap_get_flux (p), LOG_ERR, "%s", err);
        errno = EINVAL;
        return flux_jobtap_error (p, args, "%s", err);
    }
    return 0;
}

/* plugin.query (flux jobtap query power-record.so): the timeout, and how
 * many jobs wait for the module now. */
static int query_cb (flux_plugin_t *p,
                     const char *topic,
                     flux_plugin_arg_t *args,
                     void *arg)
{
    struct ctx *ctx = arg;
    int n = 0;

    for (struct job_rec *rec = ctx->pending; rec; rec = rec->next)
        n++;
    if (flux_plugin_arg_pack (args, FLUX_PLUGIN_ARG_OUT,
                              "{s:f s:i}",
                              "timeout", ctx->timeout,
                              "pending", n) < 0)
        return flux_jobtap_error (p, args, "%s", flux_plugin_arg_strerror (args));
    return 0;
}

static const struct flux_plugin_handler tab[] = {
    { "job.new", new_cb, NULL },
    { "job.state.run", run_cb, NULL },
    { "job.event.free", free_cb, NULL },
    { "job.state.cleanup", cleanup_cb, NULL },
    { "conf.update", conf_update_cb, NULL },
    { "plugin.query", query_cb, NULL },
    { 0 },
};

int flux_plugin_init (flux_plugin_t *p)
{
    struct ctx *ctx;

    if (!(ctx = calloc (1, sizeof (*ctx))))
        return -1;
    ctx->p = p;
    ctx->timeout = DEFAULT_TIMEOUT;
    if (flux_plugin_aux_set (p, NULL, ctx, ctx_destroy) < 0) {
        ctx_destroy (ctx);
        return -1;
    }
    if (flux_plugin_set_name (p, PLUGIN_NAME) < 0)
        return -1;
    for (int i = 0; tab[i].topic; i++)
        if (flux_plugin_add_handler (p, tab[i].topic, tab[i].cb, ctx) < 0)
            return -1;
    return 0;
}

/*
 * vi:tabstop=4 shiftwidth=4 expandtab
 */
