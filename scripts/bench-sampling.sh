#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only
# What sampling costs a broker: CPU per sample and memory, net of a bare
# broker. For each way of loading the module (in a broker thread, and in its
# own process with --exec) and each period, two `flux start --test-size=1`
# instances run side by side on this machine, one bare and one with the
# module (stand-in libvariorum); over ROUNDS rounds of SECONDS each, the
# order in which the two are read alternates, and each round gives
#
#   net CPU = CPU(module's broker [+ its flux module-exec]) - CPU(bare broker)
#
# per sample taken (samples counted by `flux module stats`, the request
# that ends each round's interval, so that a module holding readings back
# stores them inside it; the bare broker answers `flux getattr` there) and
# as a share of one core. CPU is each process's CPU clock (clock_gettime of
# clock_getcpuclockid(pid), in ns, all threads, live or gone), not
# /proc/PID/stat's utime+stime, whose 10 ms ticks are too coarse for 1 s
# periods. The table gives the median over the rounds and the spread (min
# and max). Then, for each buffer size, the resident memory (VmRSS) of the
# module's broker [+ module-exec] over the bare broker's, after the module
# has sampled at period 0.01 for SETTLE seconds, beside the ring's own
# bytes_used (`flux module stats`).
#
# Run from the build tree after make (the stand-in is t/variorum-stub):
#
#   scripts/bench-sampling.sh [ROUNDS] [SECONDS]      (default 5 and 20)
#
# Environment: PERIODS (default "1 0.1 0.01"), SIZES (default
# "100000 1000000 10000000"), MODES (default "thread exec"), SETTLE
# (default 5), PM_MODULE_ARGS (more options for power-monitor).
# PM_BENCH_OTHER="PATH.so ARGS" measures another module the same way, in a
# third instance beside them (for example another implementation of the
# same monitor, with its own period option in ARGS); "{period}" and "{size}"
# in ARGS are replaced by the period and the buffer size. Without sampler
# figures in its `flux module stats NAME` (PM_BENCH_OTHER_NAME, default the
# file name without .so), its samples are counted as seconds / period.
set -e
if test -f Makefile; then top=$(pwd); else top=$(cd "$(dirname "$0")/.." && pwd); fi  # the build tree
FLUX=${FLUX:-$(sed -n 's/^FLUX = //p' "$top/Makefile" 2>/dev/null)}
FLUX=${FLUX:-$(command -v flux)}
test -f "$top/t/variorum-stub/libvariorum.so" || make -C "$top" t/variorum-stub/libvariorum.so >/dev/null
export FLUX_MODULE_PATH_PREPEND="$top" FLUX_EXEC_PATH_PREPEND="$top"
export LD_LIBRARY_PATH="$top/t/variorum-stub${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export FLUX ROUNDS=${1:-5} SECONDS_=${2:-20}
export PERIODS="${PERIODS:-1 0.1 0.01}" SIZES="${SIZES:-100000 1000000 10000000}"
export MODES="${MODES:-thread exec}" SETTLE=${SETTLE:-5}
export PM_MODULE_ARGS="${PM_MODULE_ARGS:-}" PM_BENCH_OTHER="${PM_BENCH_OTHER:-}"
exec "$FLUX" python - <<"EOT"
import json, os, statistics, subprocess, sys, time

FLUX = os.environ["FLUX"]
ROUNDS = int(os.environ["ROUNDS"])
SECS = float(os.environ["SECONDS_"])
SETTLE = float(os.environ["SETTLE"])
OTHER = os.environ["PM_BENCH_OTHER"].split()
OTHER_NAME = os.environ.get("PM_BENCH_OTHER_NAME") or (
    os.path.basename(OTHER[0]).removesuffix(".so") if OTHER else "")


class Instance:
    """A one-broker Flux instance; it ends when its stdin closes."""

    def __init__(self):
        self.p = subprocess.Popen(
            [FLUX, "start", "--test-size=1", "sh", "-c",
             "echo $(flux getattr local-uri) $(flux getattr broker.pid); read x || true"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        uri, pid = self.p.stdout.readline().split()
        self.uri, self.pid = uri, int(pid)
        self.module = None

    def flux(self, *args):
        env = dict(os.environ, FLUX_URI=self.uri)
        return subprocess.run([FLUX, *args], env=env, check=True,
                              stdout=subprocess.PIPE, text=True).stdout

    def load(self, mode, name, path, args):
        self.flux("module", "load", *(["--exec"] if mode == "exec" else []), path, *args)
        self.module = name

    def pids(self):
        """The broker and its flux module-exec children."""
        pids = [self.pid]
        for task in os.listdir(f"/proc/{self.pid}/task"):
            try:
                kids = open(f"/proc/{self.pid}/task/{task}/children").read().split()
            except OSError:
                continue
            for k in kids:
                try:
                    cmd = open(f"/proc/{k}/cmdline").read()
                except OSError:
                    continue
                if "module-exec" in cmd:
                    pids.append(int(k))
        return pids

    def cpu(self):
        """CPU seconds of the broker and its module-exec children."""
        return sum(time.clock_gettime(((~p) << 3) | 2) for p in self.pids())

    def rss(self):
        """Resident kB of the broker and its module-exec children."""
        kb = 0
        for p in self.pids():
            for line in open(f"/proc/{p}/status"):
                if line.startswith("VmRSS:"):
                    kb += int(line.split()[1])
        return kb

    def ping(self):
        """A request the broker answers itself (as cheap as a stats)."""
        self.flux("getattr", "rank")

    def stats(self):
        return json.loads(self.flux("module", "stats", self.module))

    def samples(self, t, period):
        """Samples taken so far (or, without sampler figures, t / period)."""
        st = self.stats()
        if "sampler" in st:
            return st["sampler"]["samples"] + st["sampler"]["errors"]
        return t / period

    def close(self):
        if self.module:
            self.flux("module", "remove", self.module)
        self.p.stdin.close()
        self.p.wait()


def modules():
    yield "power-monitor", "power-monitor", "power-monitor", ["-r", "{period}", "-s", "{size}"] + os.environ["PM_MODULE_ARGS"].split()
    if OTHER:
        yield os.path.basename(OTHER[0]), OTHER_NAME, OTHER[0], OTHER[1:]


def start(mode, period, size):
    """A bare instance and one per module, loaded; the first is the bare."""
    insts = [Instance()]
    for label, name, path, args in modules():
        i = Instance()
        i.label = label
        i.load(mode, name, path, [a.replace("{period}", period).replace("{size}", str(size)) for a in args])
        insts.append(i)
    return insts


def spread(xs, fmt):
    return (fmt % statistics.median(xs)) + " (" + (fmt % min(xs)).strip() + ".." + (fmt % max(xs)).strip() + ")"


modes = os.environ["MODES"].split()
print("CPU per sample, net of a bare broker: median (min..max) of %d rounds of %gs" % (ROUNDS, SECS))
print("%-28s %-6s %6s %8s %24s %24s %10s" % ("module", "mode", "period", "samples", "net CPU us/sample", "net CPU % of a core", "late"))
sys.stdout.flush()
for mode in modes:
    for period in os.environ["PERIODS"].split():
        insts = start(mode, period, 100000)
        bare, mods = insts[0], insts[1:]
        time.sleep(2)  # past the loads and the first samples
        per = {m.label: [] for m in mods}
        share = {m.label: [] for m in mods}
        count = {m.label: 0 for m in mods}
        for r in range(ROUNDS):
            order = insts if r % 2 == 0 else insts[::-1]

            # Each round's interval ends with the stats request that
            # counts its samples, as the next one's begins after it: a
            # module that holds readings back (--batch) stores them when
            # asked, so the work of every sample counted is inside the
            # interval. The bare broker answers a request there too.
            if r == 0:
                s0 = {i: i.samples(time.monotonic(), float(period)) for i in mods}
                bare.ping()
                t0 = time.monotonic()
                c0 = {i: i.cpu() for i in order}
            time.sleep(SECS)
            s1 = {}
            for i in order:
                if i is bare:
                    i.ping()
                else:
                    s1[i] = i.samples(time.monotonic(), float(period))
            t1 = time.monotonic()
            c1 = {i: i.cpu() for i in order}
            bare_cpu = c1[bare] - c0[bare]
            for m in mods:
                net = (c1[m] - c0[m]) - bare_cpu
                n = s1[m] - s0[m]
                count[m.label] += n
                per[m.label].append(net / n * 1e6)
                share[m.label].append(net / (t1 - t0) * 100)
            s0, t0, c0 = s1, t1, c1
        for m in mods:
            st = m.stats().get("sampler", {})
            print("%-28s %-6s %6s %8d %24s %24s %10s" % (m.label, mode, period, count[m.label],
                  spread(per[m.label], "%.0f"), spread(share[m.label], "%.3f"), st.get("late", "-")))
            sys.stdout.flush()
        for i in insts:
            i.close()

print()
print("Resident memory over a bare broker, after %gs at period 0.01 (median of %d reads)" % (SETTLE, ROUNDS))
print("%-28s %-6s %10s %14s %14s %12s" % ("module", "mode", "size", "RSS over MiB", "ring MiB", "ring samples"))
for mode in modes:
    for size in os.environ["SIZES"].split():
        insts = start(mode, "0.01", int(size))
        bare, mods = insts[0], insts[1:]
        time.sleep(SETTLE)
        over = {m.label: [] for m in mods}
        for r in range(ROUNDS):
            b = bare.rss()
            for m in mods:
                over[m.label].append(m.rss() - b)
            time.sleep(0.5)
        for m in mods:
            buf = m.stats().get("buffer", {})
            print("%-28s %-6s %10s %14.1f %14s %12s" % (m.label, mode, size, statistics.median(over[m.label]) / 1024,
                  "%.1f" % (buf["bytes_used"] / 2**20) if "bytes_used" in buf else "-", buf.get("len", "-")))
            sys.stdout.flush()
        for i in insts:
            i.close()
EOT
