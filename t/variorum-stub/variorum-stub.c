/* SPDX-License-Identifier: LGPL-3.0-only */
// variorum-stub.c: a stand-in libvariorum for tests.
//
// It exports Variorum's power JSON entry points and prints the JSON shapes the
// real library prints (see variorum/testdata/README.md), with constant values
// taken from environment variables read at every call, so a test can predict
// each reading and the energy over a run (watts x seconds).
//
//   cc -shared -fPIC -o libvariorum.so variorum-stub.c
//
// Exports, as Variorum v0.8 (plus the v0.6/v0.7 name, for convenience):
//   int variorum_get_power_json(char **s);       v0.8; default shape "nested"
//   int variorum_get_node_power_json(char **s);  v0.6, v0.7; default shape "flat"
//   char *variorum_get_current_version(void);    "0.5.0", as every real release says
// -DVARIORUM_STUB_API=7 leaves out variorum_get_power_json (a v0.6/v0.7
// library); -DVARIORUM_STUB_API=5 exports only variorum_get_node_power_json
// with v0.5's jansson json_t* argument, which aborts if called.
//
// Environment (read at each call):
//   VARIORUM_STUB_SHAPE       nested | nested-gpu-number | gpu-only | flat
//   VARIORUM_STUB_SOCKETS     sockets (default 2)
//   VARIORUM_STUB_GPUS        GPUs per socket (default 2)
//   VARIORUM_STUB_CPU_WATTS   per socket (default 100)
//   VARIORUM_STUB_MEM_WATTS   per socket (default 20)
//   VARIORUM_STUB_GPU_WATTS   per GPU (default 50)
//   VARIORUM_STUB_NODE_WATTS  default: the sum of the measured others;
//                             -1 (any negative) is written as given, "none"
//                             leaves power_node_watts out
//   VARIORUM_STUB_FAIL        1: return -1, no string; 2: return -1 with a
//                             string (as v0.6's ARM code does); 3: return 0
//                             with no string
//   VARIORUM_STUB_DELAY_MS    sleep this long before answering
//   VARIORUM_STUB_CONTROL     a file of NAME=VALUE lines, re-read at every
//                             call, whose values override the environment:
//                             tests change a running broker's stub with it
// A negative CPU, memory or GPU value is written as is (Variorum's -1 for
// "cannot measure") and left out of the default node sum.
//
// Shapes:
//   nested             v0.8 Intel (+ NVIDIA): {host: {timestamp, socket_N:
//                      {power_cpu_watts, power_mem_watts, power_gpu_watts:
//                      {GPU_k: W}}, power_node_watts, num_gpus_per_socket}};
//                      k counts across the node; with 0 GPUs no GPU keys
//   nested-gpu-number  v0.8 ARM Juno style: power_gpu_watts is one number per
//                      socket (the socket's GPUs summed; -1.0 with 0 GPUs),
//                      num_gpus_per_socket -1
//   gpu-only           v0.8 NVIDIA-only build: no CPU, memory, and no
//                      power_node_watts unless VARIORUM_STUB_NODE_WATTS is set
//   flat               v0.6/v0.7: {"host", "timestamp",
//                      power_{cpu,mem,gpu}_watts_socket_N (the GPU value is
//                      the socket's GPUs summed, -1.0 with 0 GPUs),
//                      power_node_watts}, on one line

#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))

#ifndef VARIORUM_STUB_API
#define VARIORUM_STUB_API 8
#endif

#define MAX_SOCKETS 4096
#define MAX_GPUS 4096

struct buf
{
    char *p;
    size_t len, cap;
    int oom;
};

static void put(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->oom)
    {
        return;
    }
    for (;;)
    {
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0)
        {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len)
        {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (p == NULL)
        {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

// real writes v as jansson's json_dumps does: "%.17g", ".0" added when the
// result would read as an integer, and no '+' or leading zeros in exponents.
static void real(struct buf *b, double v)
{
    char s[64], out[64];
    size_t i, j = 0;
    snprintf(s, sizeof s, "%.17g", v);
    if (strchr(s, '.') == NULL && strchr(s, 'e') == NULL)
    {
        strcat(s, ".0");
    }
    for (i = 0; s[i] != '\0'; i++)
    {
        out[j++] = s[i];
        if (s[i] == 'e')
        {
            i++;
            if (s[i] == '-')
            {
                out[j++] = '-';
                i++;
            }
            else if (s[i] == '+')
            {
                i++;
            }
            while (s[i] == '0' && s[i + 1] != '\0')
            {
                i++;
            }
            i--;
        }
    }
    out[j] = '\0';
    put(b, "%s", out);
}

// str writes s as a JSON string.
static void str(struct buf *b, const char *s)
{
    put(b, "\"");
    for (; *s != '\0'; s++)
    {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
        {
            put(b, "\\%c", c);
        }
        else if (c < 0x20)
        {
            put(b, "\\u%04x", c);
        }
        else
        {
            put(b, "%c", c);
        }
    }
    put(b, "\"");
}

// The control file's contents, loaded at the start of each call; lookups
// return pointers into it, valid until the next call on this thread.
static __thread char control[4096];

static void load_control(void)
{
    const char *path = getenv("VARIORUM_STUB_CONTROL");
    FILE *f;
    size_t n = 0;

    control[0] = '\0';
    if (path == NULL || *path == '\0' || (f = fopen(path, "r")) == NULL)
    {
        return;
    }
    n = fread(control, 1, sizeof(control) - 2, f);
    fclose(f);
    control[n] = '\0';
    for (size_t i = 0; i < n; i++)
    {
        if (control[i] == '\n')
        {
            control[i] = '\0';
        }
    }
    control[n + 1] = '\0'; // lines end with an empty string
}

static const char *stub_getenv(const char *name)
{
    size_t len = strlen(name);
    for (const char *p = control; *p != '\0'; p += strlen(p) + 1)
    {
        if (strncmp(p, name, len) == 0 && p[len] == '=')
        {
            return p + len + 1;
        }
    }
    return getenv(name);
}

static double env_double(const char *name, double def)
{
    const char *s = stub_getenv(name);
    char *end;
    double v;
    if (s == NULL || *s == '\0')
    {
        return def;
    }
    v = strtod(s, &end);
    if (end == s || *end != '\0')
    {
        fprintf(stderr, "variorum-stub: %s=%s is not a number, using %g\n", name, s, def);
        return def;
    }
    return v;
}

static long env_long(const char *name, long def, long max)
{
    const char *s = stub_getenv(name);
    char *end;
    long v;
    if (s == NULL || *s == '\0')
    {
        return def;
    }
    v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < 0 || v > max)
    {
        fprintf(stderr, "variorum-stub: %s=%s is not a count from 0 to %ld, using %ld\n",
                name, s, max, def);
        return def;
    }
    return v;
}

// socket_gpus is the one GPU number of a socket in the number-form shapes:
// its GPUs summed, -1.0 without GPUs, a negative per-GPU value as given.
static double socket_gpus(long ngpus, double gpu)
{
    if (ngpus == 0)
    {
        return -1.0;
    }
    return gpu < 0 ? gpu : gpu * (double)ngpus;
}

static void delay(void)
{
    long ms = env_long("VARIORUM_STUB_DELAY_MS", 0, 3600L * 1000);
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    // The Go runtime interrupts threads with signals: sleep the rest.
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    {
    }
}

__attribute__((unused)) static int power_json(char **out, const char *default_shape)
{
    load_control();
    const char *shape = stub_getenv("VARIORUM_STUB_SHAPE");
    const char *fail = stub_getenv("VARIORUM_STUB_FAIL");
    const char *node_env = stub_getenv("VARIORUM_STUB_NODE_WATTS");
    long nsockets = env_long("VARIORUM_STUB_SOCKETS", 2, MAX_SOCKETS);
    long ngpus = env_long("VARIORUM_STUB_GPUS", 2, MAX_GPUS);
    double cpu = env_double("VARIORUM_STUB_CPU_WATTS", 100);
    double mem = env_double("VARIORUM_STUB_MEM_WATTS", 20);
    double gpu = env_double("VARIORUM_STUB_GPU_WATTS", 50);
    double node = 0.0;
    int has_node = 1;
    int nested, gpu_number = 0, gpu_only = 0;
    char hostname[1024];
    struct timeval tv;
    uint64_t ts;
    struct buf b = {0};
    long s, g;

    delay();

    if (fail != NULL && strcmp(fail, "1") == 0)
    {
        return -1;
    }
    if (shape == NULL || *shape == '\0')
    {
        shape = default_shape;
    }
    if (strcmp(shape, "nested") == 0)
    {
        nested = 1;
    }
    else if (strcmp(shape, "nested-gpu-number") == 0)
    {
        nested = 1;
        gpu_number = 1;
    }
    else if (strcmp(shape, "gpu-only") == 0)
    {
        nested = 1;
        gpu_only = 1;
    }
    else if (strcmp(shape, "flat") == 0)
    {
        nested = 0;
    }
    else
    {
        fprintf(stderr, "variorum-stub: unknown VARIORUM_STUB_SHAPE=%s "
                "(nested, nested-gpu-number, gpu-only, flat)\n", shape);
        return -1;
    }

    // The default node power: the sum of what is measured.
    for (s = 0; s < nsockets; s++)
    {
        if (!gpu_only && cpu >= 0)
        {
            node += cpu;
        }
        if (!gpu_only && mem >= 0)
        {
            node += mem;
        }
        if (gpu >= 0)
        {
            node += gpu * (double)ngpus;
        }
    }
    if (node_env != NULL && strcmp(node_env, "none") == 0)
    {
        has_node = 0;
    }
    else if (node_env != NULL && *node_env != '\0')
    {
        node = env_double("VARIORUM_STUB_NODE_WATTS", node);
    }
    else if (gpu_only)
    {
        has_node = 0; // GPU-only builds of Variorum write no node power
    }

    // As Variorum: gethostname and gettimeofday, in microseconds.
    gethostname(hostname, sizeof hostname);
    hostname[sizeof hostname - 1] = '\0';
    gettimeofday(&tv, NULL);
    ts = tv.tv_sec * (uint64_t)1000000 + tv.tv_usec;

    if (!nested)
    {
        // json_dumps(obj, 0) of v0.6/v0.7's Intel json_get_power_data.
        put(&b, "{\"host\": ");
        str(&b, hostname);
        put(&b, ", \"timestamp\": %llu", (unsigned long long)ts);
        for (s = 0; s < nsockets; s++)
        {
            put(&b, ", \"power_cpu_watts_socket_%ld\": ", s);
            real(&b, cpu);
            put(&b, ", \"power_mem_watts_socket_%ld\": ", s);
            real(&b, mem);
            put(&b, ", \"power_gpu_watts_socket_%ld\": ", s);
            real(&b, socket_gpus(ngpus, gpu));
        }
        if (has_node)
        {
            put(&b, ", \"power_node_watts\": ");
            real(&b, node);
        }
        put(&b, "}");
    }
    else
    {
        // json_dumps(obj, JSON_INDENT(4)) of v0.8's variorum_get_power_json.
        const char *sep = "";
        put(&b, "{\n    ");
        str(&b, hostname);
        put(&b, ": {\n        \"timestamp\": %llu", (unsigned long long)ts);
        if (gpu_only && ngpus > 0)
        {
            // NVIDIA's code sets it before making the socket objects.
            put(&b, ",\n        \"num_gpus_per_socket\": %ld", ngpus);
        }
        for (s = 0; s < nsockets; s++)
        {
            int any = 0;
            put(&b, ",\n        \"socket_%ld\": {", s);
            sep = "\n            ";
            if (!gpu_only)
            {
                put(&b, "%s\"power_cpu_watts\": ", sep);
                real(&b, cpu);
                put(&b, ",\n            \"power_mem_watts\": ");
                real(&b, mem);
                sep = ",\n            ";
                any = 1;
            }
            if (gpu_number)
            {
                put(&b, "%s\"power_gpu_watts\": ", sep);
                real(&b, socket_gpus(ngpus, gpu));
                any = 1;
            }
            else if (ngpus > 0)
            {
                put(&b, "%s\"power_gpu_watts\": {", sep);
                for (g = 0; g < ngpus; g++)
                {
                    put(&b, "%s\n                \"GPU_%ld\": ", g ? "," : "", s * ngpus + g);
                    real(&b, gpu);
                }
                put(&b, "\n            }");
                any = 1;
            }
            put(&b, any ? "\n        }" : "}");
        }
        if (has_node)
        {
            put(&b, ",\n        \"power_node_watts\": ");
            real(&b, node);
        }
        if (gpu_number)
        {
            put(&b, ",\n        \"num_gpus_per_socket\": -1");
        }
        else if (!gpu_only && ngpus > 0)
        {
            put(&b, ",\n        \"num_gpus_per_socket\": %ld", ngpus);
        }
        put(&b, "\n    }\n}");
    }

    if (b.oom)
    {
        free(b.p);
        return -1;
    }
    if (fail != NULL && strcmp(fail, "3") == 0)
    {
        free(b.p);
        *out = NULL;
        return 0;
    }
    *out = b.p;
    if (fail != NULL && strcmp(fail, "2") == 0)
    {
        return -1;
    }
    return 0;
}

#if VARIORUM_STUB_API >= 6

EXPORT char *variorum_get_current_version(void)
{
    return "0.5.0";
}

EXPORT int variorum_get_node_power_json(char **get_power_obj_str)
{
    return power_json(get_power_obj_str, "flat");
}

#else

// Variorum v0.5.0: int variorum_get_node_power_json(json_t *get_power_obj).
EXPORT int variorum_get_node_power_json(void *get_power_obj)
{
    (void)get_power_obj;
    fprintf(stderr, "variorum-stub: v0.5 variorum_get_node_power_json called with a char**\n");
    abort();
}

#endif

#if VARIORUM_STUB_API >= 8

EXPORT int variorum_get_power_json(char **get_power_obj_str)
{
    return power_json(get_power_obj_str, "nested");
}

#endif
