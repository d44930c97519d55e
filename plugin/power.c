/* SPDX-License-Identifier: LGPL-3.0-only */
/* power.so - job shell plugin: every job reports its energy when it ends.
 *
 * On the leader shell, once every task of the job has exited
 * (shell.tasks-complete) and while the job is still active, ask the
 * power-monitor module (power-monitor.query, RFC-style spec in doc/rpc.md:
 * this rank's, given the job's R, where the shell is the instance owner's;
 * rank 0's otherwise)
 * for this job over its run window so far, and log one line to the job's
 * output:
 *     power: 12.4 kJ in 24.1 s, average 514 W over 4 nodes (cpu 4.8 kJ, ...)
 * where a node was shared with other jobs, the line ends its parts with
 * what the nodes drew: (cpu ...; shared nodes drew 24.8 kJ).
 * The energy and power are the job's own (the module's total: each rank's
 * share of the node, doc/rpc.md); the node_ figures are what its nodes drew
 * over the same time, equal to the job's where it had its nodes to itself.
 *
 * In a nested instance without the module (flux batch, flux alloc), the
 * figures are those of the nearest enclosing instance that has one:
 * flux power-query finds them (its walk up parent-uri is internal/nested),
 * run as a subprocess of the leader shell, asynchronously, killed past
 * power.timeout.
 *
 * Where this instance's module answers, these lines are all the shell
 * writes: the job's memo (user.energy_j, user.power_w, user.node_energy_j,
 * user.node_power_w, user.duration_s, user.power_presence) and its "power"
 * event are power-record.so's, written into the main eventlog with the
 * instance's credentials (flux-power-record(7), doc/rpc.md "The job's
 * record"). The shell writes them itself only for figures from an
 * enclosing instance (a nested instance without the module, hence without
 * power-record.so and no record): a memo with those keys, and a "power"
 * event with the same figures appended to the exec eventlog.
 *
 * On every shell, tell the local module (power-monitor.running) when the job
 * starts and when its local tasks are done, so that the samples the module
 * publishes to MQTT carry the jobid.
 * All of it is bounded by a timeout (power.timeout, default 5 s) and never
 * changes the job's result: the module absent, a rank missing or an error
 * gives at most one notice line.
 *
 * Shell options (flux run -o power=off, -o power.ranks, ...):
 *   power=off | power=0 | power.enable=0   nothing for this job
 *   power.ranks=1                          one more line per rank
 *   power.timeout=SECONDS                  bound on the whole exchange
 *
 * Written in C, not Go: flux-shell runs once per job per node, and a Go
 * runtime in every shell would cost threads and megabytes and bring the
 * signal hazards listed in doc/architecture.md.
 */
#define FLUX_SHELL_PLUGIN_NAME "power"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <flux/core.h>
#include <flux/shell.h>

#define DEFAULT_TIMEOUT 5.0

struct power {
    flux_shell_t *shell;
    flux_t *h;
    flux_jobid_t id;
    char idstr[64];
    int ranks;          /* per-rank lines */
    double timeout;
    int pending;        /* futures not yet answered */
    int ref;            /* completion reference held */
    uint32_t rank;      /* this shell's broker rank */
    int told_end;       /* the local module heard that the job ended here */
    double asked;       /* when the leader asked (the walk's deadline runs from it) */
    int to_kvs;         /* the shell's log goes to the output eventlog */
    json_t *lines;      /* log events said and not yet written (say) */
};

static void power_destroy (struct power *p)
{
    if (p) {
        json_decref (p->lines);
        free (p);
    }
}

static void release (struct power *p)
{
    if (p->pending == 0 && p->ref) {
        p->ref = 0;
        flux_shell_remove_completion_ref (p->shell, "power");
    }
}

static void done_cb (flux_future_t *f, void *arg)
{
    struct power *p = arg;
    const char *what = flux_future_aux_get (f, "power::what");

    if (flux_future_get (f, NULL) < 0)
        shell_log ("could not %s: %s",
                   what ? what : "record the figures",
                   future_strerror (f, errno));
    flux_future_destroy (f);
    p->pending--;
    release (p);
}

static int track (struct power *p, flux_future_t *f, const char *what)
{
    if (!f
        || flux_future_aux_set (f, "power::what", (void *)what, NULL) < 0
        || flux_future_then (f, p->timeout, done_cb, p) < 0) {
        shell_log ("could not %s: %s", what, strerror (errno));
        flux_future_destroy (f);
        return -1;
    }
    p->pending++;
    return 0;
}

static double now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The leader's lines. shell_log() would hand them to the shell's evlog,
 * which holds each line up to 10 ms for a batch that never comes (the
 * job's tasks have all exited) and then commits it: the leader shell, and
 * so the job's cores, stay 10 ms longer. Where the shell's log goes to the
 * job's output eventlog (RFC 24), say() keeps the lines as RFC 24 log
 * events, exactly as evlog writes them, and say_flush() appends them at
 * once, in one commit. Where stderr goes to a file, the shell writes its
 * log there (synchronously): say() is shell_log(). */
#define say(p, ...) say_at ((p), __FILE__, __LINE__, __VA_ARGS__)

static void say_at (struct power *p, const char *file, int line, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    json_t *entry;

    va_start (ap, fmt);
    vsnprintf (msg, sizeof (msg), fmt, ap);
    va_end (ap);
    if (p->to_kvs
        && (p->lines || (p->lines = json_array ()))
        && (entry = json_pack ("{s:f s:s s:{s:i s:i s:s s:s s:s s:i}}",
                               "timestamp", now (),
                               "name", "log",
                               "context",
                                 "rank", 0,
                                 "level", FLUX_SHELL_NOTICE,
                                 "message", msg,
                                 "component", FLUX_SHELL_PLUGIN_NAME,
                                 "file", file,
                                 "line", line))
        && json_array_append_new (p->lines, entry) == 0)
        return;
    flux_shell_log (FLUX_SHELL_PLUGIN_NAME, FLUX_SHELL_NOTICE, file, line, "%s", msg);
}

/* The lines again through the shell's own log (their commit failed). */
static void say_again (json_t *lines)
{
    size_t i;
    json_t *e;

    json_array_foreach (lines, i, e) {
        json_t *c = json_object_get (e, "context");
        flux_shell_log (FLUX_SHELL_PLUGIN_NAME, FLUX_SHELL_NOTICE,
                        json_string_value (json_object_get (c, "file")),
                        (int)json_integer_value (json_object_get (c, "line")),
                        "%s", json_string_value (json_object_get (c, "message")));
    }
}

static void said_cb (flux_future_t *f, void *arg)
{
    struct power *p = arg;

    if (flux_future_get (f, NULL) < 0) {
        shell_log ("could not write to the job's output: %s", future_strerror (f, errno));
        say_again (flux_future_aux_get (f, "power::lines"));
    }
    flux_future_destroy (f);
    p->pending--;
    release (p);
}

/* Append the lines said so far to the job's output eventlog ("output" in
 * the job's guest namespace, where the shell's handle points); the shell
 * stays until the commit is answered. */
static void say_flush (struct power *p)
{
    json_t *lines = p->lines;
    flux_kvs_txn_t *txn = NULL;
    flux_future_t *f = NULL;
    char *buf = NULL;
    size_t len = 0, i;
    FILE *fp;
    json_t *e;

    if (!lines)
        return;
    p->lines = NULL;
    if (!(fp = open_memstream (&buf, &len)))
        goto error;
    json_array_foreach (lines, i, e) {
        if (json_dumpf (e, fp, JSON_COMPACT) < 0 || fputc ('\n', fp) == EOF)
            break;
    }
    if (fclose (fp) != 0 || i < json_array_size (lines))
        goto error;
    if (!(txn = flux_kvs_txn_create ())
        || flux_kvs_txn_put (txn, FLUX_KVS_APPEND, "output", buf) < 0
        || !(f = flux_kvs_commit (p->h, NULL, 0, txn))
        || flux_future_aux_set (f, "power::lines", lines, (flux_free_f)json_decref) < 0)
        goto error;
    lines = NULL; /* f's now */
    if (flux_future_then (f, p->timeout, said_cb, p) < 0)
        goto error;
    p->pending++;
    flux_kvs_txn_destroy (txn);
    free (buf);
    return;
error:
    if (lines)
        say_again (lines);
    else
        say_again (flux_future_aux_get (f, "power::lines"));
    flux_future_destroy (f);
    json_decref (lines);
    flux_kvs_txn_destroy (txn);
    free (buf);
}

/* Whether stderr, and so the shell's log, goes to the job's output
 * eventlog: the shell's rule (output.stdout / output.stderr options), in
 * which stderr follows stdout into a file unless its type is "kvs". */
static int log_to_kvs (flux_shell_t *shell)
{
    const char *otype = NULL, *opath = NULL, *etype = NULL, *epath = NULL;

    if (flux_shell_getopt_unpack (shell, "output", "{s?{s?s s?s} s?{s?s s?s}}",
                                  "stdout", "type", &otype, "path", &opath,
                                  "stderr", "type", &etype, "path", &epath) < 0)
        return 0;
    if (etype && !strcmp (etype, "kvs"))
        return 1;
    if (epath)
        return 0;
    return (otype && !strcmp (otype, "kvs")) || !opath;
}

/* "12.4 kJ", "873 J", "3.21 MJ" */
static void fmt_energy (char *buf, size_t len, double j)
{
    if (j >= 1e9)
        snprintf (buf, len, "%.2f GJ", j / 1e9);
    else if (j >= 1e6)
        snprintf (buf, len, "%.2f MJ", j / 1e6);
    else if (j >= 1e3)
        snprintf (buf, len, "%.1f kJ", j / 1e3);
    else
        snprintf (buf, len, "%.1f J", j);
}

static double num (json_t *o, const char *key)
{
    json_t *v = json_object_get (o, key);
    return json_is_number (v) ? json_number_value (v) : 0.;
}

/* The node's figure of a total or rank, key "node_" KEY, or the job's own
 * where the module gives none. */
static double node_num (json_t *o, const char *key, double job)
{
    char k[64];
    json_t *v;

    snprintf (k, sizeof (k), "node_%s", key);
    v = json_object_get (o, k);
    return json_is_number (v) ? json_number_value (v) : job;
}

static void append_part (char *buf, size_t len, const char *name, double j, int *n)
{
    char e[32];
    size_t used = strlen (buf);

    if (j <= 0.)
        return;
    fmt_energy (e, sizeof (e), j);
    snprintf (buf + used, len - used, "%s%s %s", *n ? ", " : "", name, e);
    (*n)++;
}

/* Log the figures: a line in the job's output (and one a rank with
 * power.ranks=1). */
static void report (struct power *p, json_t *resp)
{
    json_t *total = json_object_get (resp, "total");
    json_t *ranks = json_object_get (resp, "ranks");
    json_t *missing = json_object_get (resp, "missing");
    double energy = num (total, "energy_j");
    double duration = num (total, "duration_s");
    double power = num (total, "avg_power_w");
    double node_energy = node_num (total, "energy_j", energy);
    int shared = json_is_true (json_object_get (total, "shared"));
    double coverage = num (total, "coverage");
    const char *presence = json_string_value (json_object_get (total, "data_presence"));
    int nranks = (int)num (total, "ranks");
    int job_errors = (int)num (total, "job_errors");
    char e[32], ne[32], parts[256] = "", cov[96] = "", uncharged[96] = "";
    int n = 0;

    if (!presence)
        presence = "none";
    append_part (parts, sizeof (parts), "cpu", num (total, "cpu_energy_j"), &n);
    append_part (parts, sizeof (parts), "gpu", num (total, "gpu_energy_j"), &n);
    append_part (parts, sizeof (parts), "mem", num (total, "mem_energy_j"), &n);
    if (shared) {
        size_t used = strlen (parts);
        fmt_energy (ne, sizeof (ne), node_energy);
        snprintf (parts + used, sizeof (parts) - used, "%sshared nodes drew %s",
                  n ? "; " : "", ne);
        n++;
    }
    if (strcmp (presence, "complete") != 0)
        /* truncated, not rounded: partial data never reads as 100% */
        snprintf (cov, sizeof (cov), "; %s data: %.1f%% of the job covered%s",
                  presence, (double)(long)(1000. * coverage) / 10.,
                  json_array_size (missing) ? ", ranks missing" : "");
    if (job_errors > 0)
        snprintf (uncharged, sizeof (uncharged),
                  "; %d rank%s not charged (power.ranks=1 says why)",
                  job_errors, job_errors == 1 ? "" : "s");
    fmt_energy (e, sizeof (e), energy);
    say (p, "%s in %.1f s, average %.0f W over %d node%s%s%s%s%s%s",
               e, duration, power, nranks, nranks == 1 ? "" : "s",
               n ? " (" : "", parts, n ? ")" : "", cov, uncharged);

    if (p->ranks) {
        size_t i;
        json_t *r;
        json_array_foreach (ranks, i, r) {
            const char *host = json_string_value (json_object_get (r, "hostname"));
            const char *pr = json_string_value (json_object_get (r, "data_presence"));
            const char *why = json_string_value (json_object_get (r, "reason"));
            json_t *node = json_object_get (r, "node");
            json_t *job = json_object_get (r, "job");
            const char *jerr = json_string_value (json_object_get (r, "job_error"));
            double rj = num (node, "energy_j"), rw = num (node, "mean_w");
            char rcov[96] = "", rnode[512] = "";
            /* the job's figures on the rank where the module charged it a
             * share; the node's beside them where that share is not all;
             * nothing, and why, where its share could not be charged */
            if (jerr) {
                fmt_energy (ne, sizeof (ne), rj);
                snprintf (rnode, sizeof (rnode), " (node %s, %.0f W; not charged: %s)",
                          ne, rw, jerr);
                rj = rw = 0.;
            }
            else if (json_is_object (job)) {
                if (!json_is_true (json_object_get (job, "exclusive"))) {
                    fmt_energy (ne, sizeof (ne), rj);
                    snprintf (rnode, sizeof (rnode), " (node %s, %.0f W)", ne, rw);
                }
                rj = num (job, "energy_j");
                rw = num (job, "mean_w");
            }
            if (pr && strcmp (pr, "complete") != 0)
                snprintf (rcov, sizeof (rcov), " (%.1f%% covered%s%s)",
                          (double)(long)(1000. * num (r, "coverage")) / 10.,
                          why ? ": " : "", why ? why : "");
            fmt_energy (e, sizeof (e), rj);
            say (p, "rank %d (%s): %s, average %.0f W%s, %s%s",
                       (int)num (r, "rank"), host ? host : "?", e,
                       rw, rnode, pr ? pr : "?", rcov);
        }
        json_array_foreach (missing, i, r) {
            const char *reason = json_string_value (json_object_get (r, "reason"));
            say (p, "rank %d: no data (%s)", (int)num (r, "rank"),
                       reason ? reason : "?");
        }
    }
}

/* Write the figures where no record will: memo annotations and an exec
 * eventlog event. Only for figures from an enclosing instance (walk_up):
 * where this instance's module answers, power-record.so writes the memo
 * and the job's "power" event (flux-power-record(7)). */
static void post_figures (struct power *p, json_t *resp)
{
    json_t *total = json_object_get (resp, "total");
    double energy = num (total, "energy_j");
    double duration = num (total, "duration_s");
    double power = num (total, "avg_power_w");
    double node_energy = node_num (total, "energy_j", energy);
    double node_power = node_num (total, "avg_power_w", power);
    double coverage = num (total, "coverage");
    const char *presence = json_string_value (json_object_get (total, "data_presence"));
    int nranks = (int)num (total, "ranks");
    json_t *entry = NULL;
    char *s = NULL;
    flux_kvs_txn_t *txn = NULL;
    struct timespec ts;

    if (!presence)
        presence = "none";

    /* Memo: annotations.user.* survive the job's end. */
    track (p,
           flux_rpc_pack (p->h, "job-manager.memo", FLUX_NODEID_ANY, 0,
                          "{s:I s:{s:f s:f s:f s:f s:f s:s}}",
                          "id", (json_int_t)p->id,
                          "memo",
                          "energy_j", energy,
                          "power_w", power,
                          "node_energy_j", node_energy,
                          "node_power_w", node_power,
                          "duration_s", duration,
                          "power_presence", presence),
           "set the energy memo");

    /* Exec eventlog: {"timestamp":T,"name":"power","context":{...}} */
    clock_gettime (CLOCK_REALTIME, &ts);
    if (!(entry = json_pack ("{s:f s:s s:{s:f s:f s:f s:f s:f s:f s:f s:f s:f s:s s:i s:i}}",
                             "timestamp", ts.tv_sec + ts.tv_nsec / 1e9,
                             "name", "power",
                             "context",
                               "energy_j", energy,
                               "power_w", power,
                               "node_energy_j", node_energy,
                               "node_power_w", node_power,
                               "duration_s", duration,
                               "cpu_energy_j", num (total, "cpu_energy_j"),
                               "gpu_energy_j", num (total, "gpu_energy_j"),
                               "mem_energy_j", num (total, "mem_energy_j"),
                               "coverage", coverage,
                               "data_presence", presence,
                               "ranks", nranks,
                               "answered", (int)num (total, "answered")))
        || !(s = json_dumps (entry, JSON_COMPACT))
        || !(txn = flux_kvs_txn_create ())) {
        shell_log ("could not build the power event");
        goto out;
    }
    {
        size_t len = strlen (s);
        char *line = malloc (len + 2);
        if (line) {
            memcpy (line, s, len);
            line[len] = '\n';
            line[len + 1] = '\0';
            if (flux_kvs_txn_put (txn, FLUX_KVS_APPEND, "exec.eventlog", line) == 0)
                track (p, flux_kvs_commit (p->h, NULL, 0, txn),
                       "append the power event");
            free (line);
        }
    }
out:
    flux_kvs_txn_destroy (txn);
    free (s);
    json_decref (entry);
}

/* Nested instances (flux batch, flux alloc) with no module loaded: the
 * figures of the nearest enclosing instance that has one. The walk up
 * parent-uri is flux power-query's (internal/nested, tested there;
 * doc/man1/flux-power-query.rst, NESTED INSTANCES): the plugin runs
 * `flux power-query -j ID --json` as a subprocess of this shell and reads
 * its answer. The shell's reactor runs meanwhile, and the subprocess is
 * killed past power.timeout (from when the leader asked). */

#define WALK_MAX_OUTPUT (16 << 20)

struct walk {
    struct power *p;
    flux_watcher_t *timer;
    char *out;              /* its standard output */
    size_t len;
    char err[256];          /* the last line of its standard error */
    int timed_out;
    int done;
};

static void walk_destroy (struct walk *w)
{
    if (w) {
        flux_watcher_destroy (w->timer);
        free (w->out);
        free (w);
    }
}

static void walk_output_cb (flux_subprocess_t *sp, const char *stream)
{
    struct walk *w = flux_subprocess_aux_get (sp, "power::walk");
    const char *buf;
    int len;

    if (!w || (len = flux_subprocess_read (sp, stream, &buf)) <= 0)
        return;
    if (strcmp (stream, "stdout") == 0) {
        char *out;
        if (w->len + len > WALK_MAX_OUTPUT
            || !(out = realloc (w->out, w->len + len + 1)))
            return;
        memcpy (out + w->len, buf, len);
        w->len += len;
        out[w->len] = '\0';
        w->out = out;
    }
    else {
        /* keep the last non-empty line, without flux-power-query's prefix */
        const char *prefix = "flux-power-query: ";
        size_t n = (size_t)len < sizeof (w->err) ? (size_t)len : sizeof (w->err) - 1;
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            n--;
        if (n == 0)
            return;
        if (n > strlen (prefix) && strncmp (buf, prefix, strlen (prefix)) == 0) {
            buf += strlen (prefix);
            n -= strlen (prefix);
        }
        memcpy (w->err, buf, n);
        w->err[n] = '\0';
    }
}

/* The answer of flux power-query (its JSON output): the line saying which
 * instance answered, the figures, and the memo and exec event (no record
 * is written in an instance without the module). */
static void walk_answer (struct walk *w)
{
    struct power *p = w->p;
    json_t *resp, *by;

    if (!w->out || !(resp = json_loads (w->out, 0, NULL))) {
        say (p, "no figures: bad answer from flux power-query");
        return;
    }
    by = json_object_get (resp, "answered_by");
    if (json_is_object (by) && !json_is_true (json_object_get (by, "this_instance"))) {
        const char *uri = json_string_value (json_object_get (by, "uri"));
        const char *job = json_string_value (json_object_get (by, "jobid"));
        const char *ranks = json_string_value (json_object_get (by, "ranks"));
        say (p, "samples from the enclosing instance at %s (level %d; job %s, ranks %s there)",
                   uri ? uri : "?", (int)num (by, "level"), job ? job : "?",
                   ranks ? ranks : "?");
    }
    report (p, resp);
    post_figures (p, resp);
    json_decref (resp);
}

static void walk_finish (flux_subprocess_t *sp, struct walk *w)
{
    struct power *p = w->p;

    if (w->done)
        return;
    w->done = 1;
    flux_watcher_stop (w->timer);
    if (w->timed_out)
        say (p, "no figures: no answer from an enclosing instance within %gs",
                   p->timeout);
    else if (flux_subprocess_state (sp) == FLUX_SUBPROCESS_FAILED)
        say (p, "no figures: cannot run flux power-query: %s",
                   strerror (flux_subprocess_fail_errno (sp)));
    else if (flux_subprocess_exit_code (sp) != 0)
        say (p, "no figures: %s", w->err[0] ? w->err : "flux power-query failed");
    else
        walk_answer (w);
    flux_subprocess_destroy (sp);
    p->pending--;
    say_flush (p);
    release (p);
}

static void walk_completion_cb (flux_subprocess_t *sp)
{
    struct walk *w = flux_subprocess_aux_get (sp, "power::walk");
    if (w)
        walk_finish (sp, w);
}

static void walk_state_cb (flux_subprocess_t *sp, flux_subprocess_state_t state)
{
    struct walk *w = flux_subprocess_aux_get (sp, "power::walk");
    if (w && state == FLUX_SUBPROCESS_FAILED)
        walk_finish (sp, w); /* on_completion is not called then */
}

static void walk_timeout_cb (flux_reactor_t *r, flux_watcher_t *wt, int revents, void *arg)
{
    flux_subprocess_t *sp = arg;
    struct walk *w = flux_subprocess_aux_get (sp, "power::walk");

    if (w && !w->done) {
        w->timed_out = 1;
        flux_future_destroy (flux_subprocess_kill (sp, SIGKILL));
    }
}

/* Start the walk; 0 when started (its end releases p), -1 when not. */
static int walk_up (struct power *p)
{
    flux_subprocess_ops_t ops = {
        .on_completion = walk_completion_cb,
        .on_state_change = walk_state_cb,
        .on_stdout = walk_output_cb,
        .on_stderr = walk_output_cb,
    };
    extern char **environ;
    flux_reactor_t *r = flux_get_reactor (p->h);
    double left = p->timeout - (now () - p->asked);
    flux_cmd_t *cmd = NULL;
    flux_subprocess_t *sp = NULL;
    struct walk *w = NULL;

    if (left < 1.)
        left = 1.;
    if (!(w = calloc (1, sizeof (*w)))
        || !(cmd = flux_cmd_create (0, NULL, environ))
        || flux_cmd_argv_append (cmd, "flux") < 0
        || flux_cmd_argv_append (cmd, "power-query") < 0
        || flux_cmd_argv_appendf (cmd, "--jobid=%ju", (uintmax_t)p->id) < 0
        || flux_cmd_argv_append (cmd, "--json") < 0
        || flux_cmd_argv_appendf (cmd, "--timeout=%g", left / 2) < 0
        || !(sp = flux_local_exec (r, 0, cmd, &ops))) {
        say (p, "no figures: cannot run flux power-query: %s", strerror (errno));
        flux_cmd_destroy (cmd);
        walk_destroy (w);
        return -1;
    }
    flux_cmd_destroy (cmd);
    w->p = p;
    if (flux_subprocess_aux_set (sp, "power::walk", w, (flux_free_f)walk_destroy) < 0
        || !(w->timer = flux_timer_watcher_create (r, left, 0., walk_timeout_cb, sp))) {
        say (p, "no figures: %s", strerror (errno));
        flux_future_destroy (flux_subprocess_kill (sp, SIGKILL));
        if (!flux_subprocess_aux_get (sp, "power::walk"))
            walk_destroy (w);
        flux_subprocess_destroy (sp);
        return -1;
    }
    flux_watcher_start (w->timer);
    p->pending++;
    return 0;
}

static void query_cb (flux_future_t *f, void *arg)
{
    struct power *p = arg;
    const char *s;
    json_t *resp;

    p->pending--;
    if (flux_rpc_get (f, &s) < 0) {
        int e = errno;
        /* no module here: in a nested instance, ask the enclosing ones */
        if (e == ENOSYS && flux_attr_get (p->h, "parent-uri"))
            (void)walk_up (p);
        else if (e == ENOSYS)
            say (p, "no figures: the power-monitor module is not loaded");
        else if (e == ETIMEDOUT)
            say (p, "no figures: power-monitor did not answer within %gs",
                       p->timeout);
        else
            say (p, "no figures: %s", future_strerror (f, e));
    }
    else if (!(resp = json_loads (s, 0, NULL)))
        say (p, "no figures: bad answer from power-monitor");
    else {
        /* the line only: the memo and the power event are the record's
         * (power-record.so, flux-power-record(7)) */
        report (p, resp);
        json_decref (resp);
    }
    flux_future_destroy (f);
    say_flush (p);
    release (p);
}

/* Whether the shell runs as the instance owner (the broker attribute
 * security.owner). */
static int is_owner (struct power *p)
{
    const char *s = flux_attr_get (p->h, "security.owner");
    char *end;
    unsigned long owner;

    if (!s)
        return 0;
    errno = 0;
    owner = strtoul (s, &end, 10);
    return errno == 0 && *end == '\0' && end != s && owner == (unsigned long)getuid ();
}

static int tasks_complete_cb (flux_plugin_t *plugin,
                              const char *topic,
                              flux_plugin_arg_t *args,
                              void *arg)
{
    struct power *p = arg;
    flux_future_t *f;

    /* Each rank has p->timeout / 2 to answer, so that the module answers
     * within our own bound even when a rank is silent.
     * The instance owner (a user's own instance: flux alloc, flux batch, a
     * test instance) gives the job's R and asks this rank's module, which
     * then looks nothing up and answers this rank's part without a hop.
     * A guest's word on R is not taken: it asks rank 0, whose module
     * follows the job-manager's journal and answers about a running job
     * from it, without asking job-list or job-info.
     * Where the module is not loaded, ENOSYS: the nested walk, or the "not
     * loaded" line. */
    p->asked = now ();
    if (is_owner (p)) {
        json_t *R = NULL;
        if (flux_shell_info_unpack (p->shell, "{s:o}", "R", &R) < 0)
            R = NULL;
        f = R ? flux_rpc_pack (p->h, "power-monitor.query", FLUX_NODEID_ANY, 0,
                               "{s:I s:f s:O}",
                               "jobid", (json_int_t)p->id,
                               "timeout", p->timeout / 2,
                               "R", R)
              : NULL;
    }
    else
        f = flux_rpc_pack (p->h, "power-monitor.query", 0, 0,
                           "{s:I s:f}",
                           "jobid", (json_int_t)p->id,
                           "timeout", p->timeout / 2);
    if (!f || flux_future_then (f, p->timeout, query_cb, p) < 0) {
        say (p, "no figures: %s", strerror (errno));
        flux_future_destroy (f);
    }
    else
        p->pending++;
    say_flush (p);
    if (p->pending > 0 && flux_shell_add_completion_ref (p->shell, "power") >= 0)
        p->ref = 1;
    /* Taken before "power-wait" is dropped: dropping the last reference
     * stops the shell's reactor, and the answer would never be read. */
    flux_shell_remove_completion_ref (p->shell, "power-wait");
    return 0;
}

/* Read the "power" shell option: absent (on), 0/"off"/false (off), or an
 * object {enable, ranks, timeout}. */
static int read_options (struct power *p, int *enable)
{
    char *json = NULL;
    json_t *o = NULL;
    int rc = 0;

    *enable = 1;
    if (flux_shell_getopt (p->shell, "power", &json) < 0)
        return -1;
    if (!json)
        return 0;
    if (!(o = json_loads (json, JSON_DECODE_ANY, NULL))) {
        rc = -1;
        goto done;
    }
    if (json_is_false (o) || (json_is_integer (o) && json_integer_value (o) == 0)
        || (json_is_string (o) && (!strcmp (json_string_value (o), "off")
                                   || !strcmp (json_string_value (o), "0")
                                   || !strcmp (json_string_value (o), "no"))))
        *enable = 0;
    else if (json_is_object (o)) {
        json_t *v;
        if ((v = json_object_get (o, "enable")))
            *enable = json_is_true (v) || (json_is_integer (v) && json_integer_value (v));
        if ((v = json_object_get (o, "ranks")))
            p->ranks = json_is_true (v) || (json_is_integer (v) && json_integer_value (v));
        if ((v = json_object_get (o, "timeout")) && json_is_number (v)
            && json_number_value (v) > 0)
            p->timeout = json_number_value (v);
    }
done:
    json_decref (o);
    free (json);
    return rc;
}

/* Tell this rank's module that the job runs here (running = 1) or no longer
 * does (0), so that the samples it publishes carry the jobid. Sent to this
 * broker's rank, not FLUX_NODEID_ANY: where the module is not loaded here the
 * request must not travel upstream to another rank's module. No response. */
static void tell_module (struct power *p, int running)
{
    flux_future_t *f = flux_rpc_pack (p->h, "power-monitor.running", p->rank,
                                      FLUX_RPC_NORESPONSE, "{s:I s:b}",
                                      "jobid", (json_int_t)p->id,
                                      "running", running);
    flux_future_destroy (f);
}

/* shell.finish (the last local task exited) or shell.exit (tasks may
 * never have started), whichever comes first. */
static int local_end_cb (flux_plugin_t *plugin,
                         const char *topic,
                         flux_plugin_arg_t *args,
                         void *arg)
{
    struct power *p = arg;

    if (!p->told_end) {
        p->told_end = 1;
        tell_module (p, 0);
    }
    return 0;
}

static int shell_init_cb (flux_plugin_t *plugin,
                          const char *topic,
                          flux_plugin_arg_t *args,
                          void *arg)
{
    flux_shell_t *shell = flux_plugin_get_shell (plugin);
    struct power *p;
    int shell_rank, enable;
    json_int_t id;

    if (flux_shell_info_unpack (shell, "{s:I s:i}", "jobid", &id, "rank", &shell_rank) < 0)
        return 0;
    if (!(p = calloc (1, sizeof (*p))))
        return 0;
    p->shell = shell;
    p->h = flux_shell_get_flux (shell);
    p->id = (flux_jobid_t)id;
    p->timeout = DEFAULT_TIMEOUT;
    if (read_options (p, &enable) < 0) {
        if (shell_rank == 0)
            shell_log ("ignoring a malformed power option");
        enable = 1;
    }
    if (!enable || !p->h || flux_get_rank (p->h, &p->rank) < 0
        || flux_plugin_aux_set (plugin, "power", p, (flux_free_f)power_destroy) < 0) {
        power_destroy (p);
        return 0;
    }
    /* Every shell: the samples of this rank carry the jobid while the job's
     * tasks run here. */
    if (flux_plugin_add_handler (plugin, "shell.finish", local_end_cb, p) < 0
        || flux_plugin_add_handler (plugin, "shell.exit", local_end_cb, p) < 0)
        return 0;
    tell_module (p, 1);
    if (shell_rank != 0)
        return 0; /* only the leader reports */
    p->to_kvs = log_to_kvs (shell);
    if (flux_plugin_add_handler (plugin, "shell.tasks-complete", tasks_complete_cb, p) < 0) {
        shell_log ("cannot register: %s", strerror (errno));
        return 0;
    }
    /* Keep the leader's reactor running until shell.tasks-complete: when
     * its own last task exits, its last task reference goes and the shell
     * stops its reactor before calling shell.finish, where tasks-complete
     * fires if the other shells have already reported; the query's answer
     * would then never be read. This does not delay the job: until
     * tasks-complete some task of the job is still running (and a lost
     * shell is dropped from the set, so it still fires).
     */
    if (flux_shell_add_completion_ref (shell, "power-wait") < 0)
        shell_log ("cannot hold the shell: %s", strerror (errno));
    return 0;
}

int flux_plugin_init (flux_plugin_t *p)
{
    if (flux_plugin_set_name (p, FLUX_SHELL_PLUGIN_NAME) < 0
        || flux_plugin_add_handler (p, "shell.init", shell_init_cb, NULL) < 0)
        return -1;
    return 0;
}
