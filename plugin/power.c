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
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>
#include <flux/core.h>
#include <flux/idset.h>
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
};

static void power_destroy (struct power *p)
{
    free (p);
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
    shell_log ("%s in %.1f s, average %.0f W over %d node%s%s%s%s%s%s",
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
            shell_log ("rank %d (%s): %s, average %.0f W%s, %s%s",
                       (int)num (r, "rank"), host ? host : "?", e,
                       rw, rnode, pr ? pr : "?", rcov);
        }
        json_array_foreach (missing, i, r) {
            const char *reason = json_string_value (json_object_get (r, "reason"));
            shell_log ("rank %d: no data (%s)", (int)num (r, "rank"),
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

/* Nested instances (flux batch, flux alloc) with no module loaded: ask the
 * nearest enclosing instance that has one, as flux power-query does
 * (internal/nested, doc/man1/flux-power-query.rst, NESTED INSTANCES). The
 * nested instance's R is the enclosing job's R renumbered: nested rank i is
 * the i-th rank (ascending) of the enclosing job, nested core c there its
 * c-th core, GPU ids kept. Synchronous, bounded by power.timeout. */

struct held {
    uint32_t rank;      /* in the numbering of the instance being asked */
    uint32_t inner;     /* in this job's own instance */
    struct idset *cores;
    struct idset *gpus;
};


static void held_free (struct held *h, int n)
{
    for (int i = 0; i < n; i++) {
        idset_destroy (h[i].cores);
        idset_destroy (h[i].gpus);
    }
    free (h);
}

static int cmp_held (const void *a, const void *b)
{
    const struct held *x = a, *y = b;
    return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* Parse R's R_lite into one entry per rank, sorted by rank. */
static struct held *parse_R (json_t *R, int *np)
{
    json_t *lite = json_object_get (json_object_get (R, "execution"), "R_lite");
    struct held *h = NULL;
    int n = 0;
    size_t i;
    json_t *e;

    json_array_foreach (lite, i, e) {
        json_t *ch = json_object_get (e, "children");
        const char *rs = json_string_value (json_object_get (e, "rank"));
        const char *cs = json_string_value (json_object_get (ch, "core"));
        const char *gs = json_string_value (json_object_get (ch, "gpu"));
        struct idset *ranks = rs ? idset_decode (rs) : NULL;
        unsigned int r;
        if (!ranks)
            goto error;
        for (r = idset_first (ranks); r != IDSET_INVALID_ID; r = idset_next (ranks, r)) {
            struct held *nh = realloc (h, (n + 1) * sizeof (*h));
            if (!nh) {
                idset_destroy (ranks);
                goto error;
            }
            h = nh;
            h[n].rank = h[n].inner = r;
            h[n].cores = idset_decode (cs ? cs : "");
            h[n].gpus = idset_decode (gs ? gs : "");
            n++;
            if (!h[n - 1].cores || !h[n - 1].gpus) {
                idset_destroy (ranks);
                goto error;
            }
        }
        idset_destroy (ranks);
    }
    qsort (h, n, sizeof (*h), cmp_held);
    *np = n;
    return h;
error:
    held_free (h, n);
    return NULL;
}

/* Map held (in a nested instance's numbering) onto the enclosing instance
 * through the R of the job the nested instance runs as there. */
static int map_up (struct held *h, int n, struct held *encl, int ne,
                   char *err, size_t errlen)
{
    for (int i = 0; i < n; i++) {
        struct held *e;
        struct idset *cores;
        unsigned int c, g;
        if (h[i].rank >= (uint32_t)ne) {
            snprintf (err, errlen, "nested rank %u has no rank in the enclosing job's R",
                      h[i].rank);
            return -1;
        }
        e = &encl[h[i].rank];
        if (!(cores = idset_create (0, IDSET_FLAG_AUTOGROW)))
            return -1;
        for (c = idset_first (h[i].cores); c != IDSET_INVALID_ID; c = idset_next (h[i].cores, c)) {
            unsigned int k = 0, id = idset_first (e->cores);
            while (id != IDSET_INVALID_ID && k < c) {
                id = idset_next (e->cores, id);
                k++;
            }
            if (id == IDSET_INVALID_ID) {
                snprintf (err, errlen, "nested core %u on rank %u is not the enclosing job's",
                          c, h[i].rank);
                idset_destroy (cores);
                return -1;
            }
            idset_set (cores, id);
        }
        for (g = idset_first (h[i].gpus); g != IDSET_INVALID_ID; g = idset_next (h[i].gpus, g)) {
            if (!idset_test (e->gpus, g)) {
                snprintf (err, errlen, "nested gpu %u on rank %u is not the enclosing job's",
                          g, h[i].rank);
                idset_destroy (cores);
                return -1;
            }
        }
        idset_destroy (h[i].cores);
        h[i].cores = cores;
        h[i].rank = e->rank;
    }
    return 0;
}

/* Wait for f until deadline and return its JSON payload, or NULL. */
static const char *wait_get (flux_future_t *f, double deadline)
{
    const char *s = NULL;
    double left = deadline - now ();
    if (!f || flux_future_wait_for (f, left > 0 ? left : 0) < 0
        || flux_rpc_get (f, &s) < 0)
        return NULL;
    return s ? s : "";
}

static json_t *idset_json (struct idset *ids)
{
    char *s = idset_encode (ids, IDSET_FLAG_RANGE);
    json_t *o = json_string (s ? s : "");
    free (s);
    return o;
}

static void relabel (json_t *list, struct held *h, int n)
{
    size_t i;
    json_t *r;
    json_array_foreach (list, i, r) {
        uint32_t rank = (uint32_t)num (r, "rank");
        for (int k = 0; k < n; k++) {
            if (h[k].rank == rank) {
                json_object_set_new (r, "enclosing_rank", json_integer (rank));
                json_object_set_new (r, "rank", json_integer (h[k].inner));
                break;
            }
        }
    }
}

/* The answer of the nearest enclosing instance with the module, ranks
 * relabelled as in this instance, or NULL after logging why not. by says
 * which instance answered. */
static json_t *walk_up (struct power *p, char *by, size_t bylen)
{
    double deadline = p->asked + p->timeout;
    json_t *R = NULL, *resp = NULL;
    struct held *h = NULL;
    int n = 0, level = 0;
    flux_t *cur = p->h;
    char err[256] = "";
    const char *lvl = flux_attr_get (p->h, "instance-level");
    double start;

    if (lvl)
        level = atoi (lvl);
    if (flux_shell_info_unpack (p->shell, "{s:o}", "R", &R) < 0
        || !(h = parse_R (R, &n)) || n == 0) {
        shell_log ("no figures: cannot read the job's R");
        goto out;
    }
    start = num (json_object_get (R, "execution"), "starttime");
    for (;;) {
        const char *a, *s;
        char *uri = NULL;
        flux_jobid_t pid;
        flux_t *parent;
        flux_future_t *f;
        json_t *o, *share, *req;
        struct held *encl = NULL;
        int ne = 0;
        struct idset *ranks;
        char *rankstr;
        char pidstr[64];

        if (!(a = flux_attr_get (cur, "parent-uri"))) {
            shell_log ("no figures: the power-monitor module is not loaded "
                       "in this instance nor in any enclosing one");
            goto out;
        }
        uri = strdup (a);
        if (!uri || !(a = flux_attr_get (cur, "jobid")) || flux_job_id_parse (a, &pid) < 0) {
            shell_log ("no figures: this instance has no jobid attribute");
            free (uri);
            goto out;
        }
        if (!(parent = flux_open (uri, 0))) {
            shell_log ("no figures: cannot connect to the enclosing instance at %s: %s",
                       uri, strerror (errno));
            free (uri);
            goto out;
        }
        if (cur != p->h)
            flux_close (cur);
        cur = parent;
        level--;
        f = flux_rpc_pack (parent, "job-info.lookup", FLUX_NODEID_ANY, 0,
                           "{s:I s:[s] s:i}", "id", (json_int_t)pid, "keys", "R", "flags", 0);
        if (!(s = wait_get (f, deadline)) || !(o = json_loads (s, 0, NULL))) {
            shell_log ("no figures: cannot read the R of this instance's job in %s: %s",
                       uri, f ? future_strerror (f, errno) : strerror (errno));
            flux_future_destroy (f);
            free (uri);
            goto out;
        }
        {
            json_t *eR = json_loads (json_string_value (json_object_get (o, "R")) ?
                                     json_string_value (json_object_get (o, "R")) : "", 0, NULL);
            encl = eR ? parse_R (eR, &ne) : NULL;
            json_decref (eR);
        }
        json_decref (o);
        flux_future_destroy (f);
        if (!encl || map_up (h, n, encl, ne, err, sizeof (err)) < 0) {
            shell_log ("no figures: mapping onto the enclosing job: %s",
                       err[0] ? err : "its R cannot be read");
            held_free (encl, ne);
            free (uri);
            goto out;
        }
        held_free (encl, ne);
        ranks = idset_create (0, IDSET_FLAG_AUTOGROW);
        share = json_object ();
        for (int i = 0; i < n && ranks && share; i++) {
            char key[16];
            idset_set (ranks, h[i].rank);
            snprintf (key, sizeof (key), "%u", h[i].rank);
            json_object_set_new (share, key, json_pack ("{s:o s:o}",
                                 "cores", idset_json (h[i].cores),
                                 "gpus", idset_json (h[i].gpus)));
        }
        rankstr = ranks ? idset_encode (ranks, IDSET_FLAG_RANGE) : NULL;
        idset_destroy (ranks);
        req = json_pack ("{s:I s:s s:f s:o s:f}",
                         "jobid", (json_int_t)pid,
                         "ranks", rankstr ? rankstr : "",
                         "start", start,
                         "share", share,
                         "timeout", p->timeout / 2);
        s = NULL;
        f = NULL;
        if (req) {
            char *rs = json_dumps (req, JSON_COMPACT);
            f = rs ? flux_rpc (parent, "power-monitor.query", rs, FLUX_NODEID_ANY, 0) : NULL;
            free (rs);
            json_decref (req);
        }
        if (!(s = wait_get (f, deadline))) {
            int e = errno;
            if (e == ENOSYS) {
                flux_future_destroy (f);
                free (rankstr);
                free (uri);
                continue;
            }
            shell_log ("no figures: the enclosing instance at %s: %s", uri,
                       f ? future_strerror (f, e) : strerror (e));
            flux_future_destroy (f);
            free (rankstr);
            free (uri);
            goto out;
        }
        if ((resp = json_loads (s, 0, NULL))) {
            relabel (json_object_get (resp, "ranks"), h, n);
            relabel (json_object_get (resp, "missing"), h, n);
            flux_job_id_encode (pid, "f58", pidstr, sizeof (pidstr));
            snprintf (by, bylen, "samples from the enclosing instance at %s "
                      "(level %d; job %s, ranks %s there)", uri, level, pidstr,
                      rankstr ? rankstr : "?");
        }
        else
            shell_log ("no figures: bad answer from the enclosing instance at %s", uri);
        flux_future_destroy (f);
        free (rankstr);
        free (uri);
        goto out;
    }
out:
    if (cur != p->h)
        flux_close (cur);
    held_free (h, n);
    return resp;
}

static void query_cb (flux_future_t *f, void *arg)
{
    struct power *p = arg;
    const char *s;
    json_t *resp;

    p->pending--;
    if (flux_rpc_get (f, &s) < 0) {
        char by[512] = "";
        int e = errno;
        /* no module here: in a nested instance, ask the enclosing ones */
        if (e == ENOSYS && flux_attr_get (p->h, "parent-uri")) {
            if ((resp = walk_up (p, by, sizeof (by)))) {
                shell_log ("%s", by);
                report (p, resp);
                /* no record in an instance without the module */
                post_figures (p, resp);
                json_decref (resp);
            }
        }
        else if (e == ENOSYS)
            shell_log ("no figures: the power-monitor module is not loaded");
        else if (e == ETIMEDOUT)
            shell_log ("no figures: power-monitor did not answer within %gs",
                       p->timeout);
        else
            shell_log ("no figures: %s", future_strerror (f, e));
    }
    else if (!(resp = json_loads (s, 0, NULL)))
        shell_log ("no figures: bad answer from power-monitor");
    else {
        /* the line only: the memo and the power event are the record's
         * (power-record.so, flux-power-record(7)) */
        report (p, resp);
        json_decref (resp);
    }
    flux_future_destroy (f);
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
        shell_log ("no figures: %s", strerror (errno));
        flux_future_destroy (f);
        flux_shell_remove_completion_ref (p->shell, "power-wait");
        return 0;
    }
    p->pending++;
    if (flux_shell_add_completion_ref (p->shell, "power") >= 0)
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
