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
#
# EXPORTS (default "none") lists the export cases to measure side by side,
# one power-monitor instance each, in the same rounds: "none" (no export,
# row "power-monitor"), "mqtt" (to a Mosquitto that is up), "mqtt-down" (to
# a free port where nothing listens: records pile up in the spool), "rw"
# (Prometheus remote-write to a Prometheus that is up) and "both" (mqtt and
# rw at once, both up); rows "power-monitor (CASE)". PM_MODULE_ARGS applies
# to every case. For the cases that need them, the script starts Mosquitto
# (mosquitto, anonymous, on a free loopback port) and Prometheus
# (prometheus --web.enable-remote-write-receiver, on a free loopback port)
# in a temporary directory, and at exit, error or signal stops them and
# removes it. Each case with an export has its own topic prefix
# (bench-CASE), spool (--spool-dir in that directory, emptied before each
# load) and fake host name (flux start --test-hosts=bench-CASE: the host
# label that tells the cases' remote-write series apart). After the CPU
# table, a table gives for each case with an export, over the rounds, the
# spool's write calls and bytes per sample counted (`flux module stats`:
# export.sinks[].spool_writes and spool_written, summed over the case's
# sinks), records taken, and each sink's delivered and pending records at
# the end. Then a latency table: for mqtt and both, a mosquitto_sub on
# bench-CASE/+/data gives, for each message received during the rounds,
# its receipt time (%U) less the sample's timestamp[ns]; for rw and both,
# Prometheus is asked every 0.2 s for time() - max(timestamp(
# power_monitor_power_watts{domain="node",host="bench-CASE"})), the age of
# the newest sample stored, an upper bound on the latency (it includes the
# time since that sample was taken). Each gives the count, median, p99
# (nearest rank) and max, in seconds. The memory table has a row per case
# too. The mqtt-down instance's broker logs its failed connect on stderr.
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
export EXPORTS="${EXPORTS:-none}" PM_BENCH_TMP= MQTT_PORT= PROM_PORT= DOWN_PORT=

# The export cases' servers, in a temporary directory gone at exit.
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || :; done
	for p in $pids; do wait "$p" 2>/dev/null || :; done
	test -z "$PM_BENCH_TMP" || rm -rf "$PM_BENCH_TMP" 2>/dev/null ||
		{ sleep 1; rm -rf "$PM_BENCH_TMP" || :; }
}
trap 'st=$?; trap - EXIT; cleanup; exit $st' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
mqtt= prom= seen=
for c in $EXPORTS; do
	case $c in
	none|mqtt-down) ;;
	mqtt) mqtt=1 ;;
	rw) prom=1 ;;
	both) mqtt=1 prom=1 ;;
	*) echo "$0: EXPORTS: unknown case $c (none mqtt mqtt-down rw both)" >&2; exit 2 ;;
	esac
	case " $seen " in *" $c "*) echo "$0: EXPORTS: $c twice" >&2; exit 2 ;; esac
	seen="$seen $c"
	test "$c" = none || test -n "$PM_BENCH_TMP" ||
		PM_BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/bench-sampling.XXXXXX")
done
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# wait_for SECONDS PID LOG CMD...: until CMD succeeds, while PID lives
wait_for() {
	_n=$(($1 * 10)) _pid=$2 _log=$3; shift 3
	until "$@" >/dev/null 2>&1; do
		_n=$((_n - 1))
		if test $_n -le 0 || ! kill -0 "$_pid" 2>/dev/null; then
			echo "$0: $_log: the server did not come up:" >&2; tail -20 "$_log" >&2; exit 1
		fi
		sleep 0.1
	done
}
if test -n "$mqtt"; then
	MQTT_PORT=$(free_port)
	printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$MQTT_PORT" >"$PM_BENCH_TMP/mosquitto.conf"
	if test "$(id -u)" = 0; then echo "user root" >>"$PM_BENCH_TMP/mosquitto.conf"; fi
	"$(command -v mosquitto || echo /usr/sbin/mosquitto)" -c "$PM_BENCH_TMP/mosquitto.conf" \
		>"$PM_BENCH_TMP/mosquitto.log" 2>&1 &
	pids="$pids $!"
	wait_for 10 $! "$PM_BENCH_TMP/mosquitto.log" \
		python3 -c "import socket; socket.create_connection(('127.0.0.1', $MQTT_PORT)).close()"
fi
if test -n "$prom"; then
	PROM_PORT=$(free_port)
	printf 'global:\n  scrape_interval: 15s\n' >"$PM_BENCH_TMP/prometheus.yml"
	prometheus --config.file="$PM_BENCH_TMP/prometheus.yml" --storage.tsdb.path="$PM_BENCH_TMP/prom-data" \
		--web.listen-address=127.0.0.1:$PROM_PORT --web.enable-remote-write-receiver \
		>"$PM_BENCH_TMP/prometheus.log" 2>&1 &
	pids="$pids $!"
	wait_for 60 $! "$PM_BENCH_TMP/prometheus.log" curl -sf http://127.0.0.1:$PROM_PORT/-/ready
fi
# mqtt-down's port: free once the servers hold theirs
case "$seen " in *" mqtt-down "*) DOWN_PORT=$(free_port) ;; esac
run=exec  # without servers or spools, as before
test -z "$PM_BENCH_TMP" || run=
$run "$FLUX" python - <<"EOT"
import atexit, json, math, os, shutil, signal, statistics, subprocess, sys, threading, time
import urllib.parse, urllib.request

FLUX = os.environ["FLUX"]
ROUNDS = int(os.environ["ROUNDS"])
SECS = float(os.environ["SECONDS_"])
SETTLE = float(os.environ["SETTLE"])
OTHER = os.environ["PM_BENCH_OTHER"].split()
OTHER_NAME = os.environ.get("PM_BENCH_OTHER_NAME") or (
    os.path.basename(OTHER[0]).removesuffix(".so") if OTHER else "")
EXPORTS = os.environ["EXPORTS"].split()
TMP = os.environ["PM_BENCH_TMP"]
MQTT_PORT, PROM_PORT, DOWN_PORT = os.environ["MQTT_PORT"], os.environ["PROM_PORT"], os.environ["DOWN_PORT"]
PROM = "http://127.0.0.1:%s" % PROM_PORT
live = set()  # instances and subscribers to end at exit, before the script removes TMP


@atexit.register
def end_live():
    for x in list(live):
        if isinstance(x, Instance):
            x.p.stdin.close()
        elif x.p.poll() is None:
            x.p.terminate()
    for x in list(live):
        try:
            x.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            x.p.kill()
    for x in list(live):  # a broker may outlive its flux start on a signal
        for _ in range(600):
            if not isinstance(x, Instance) or not os.path.exists(f"/proc/{x.pid}"):
                break
            time.sleep(0.1)


if TMP:  # the atexit handler runs on a signal too
    signal.signal(signal.SIGTERM, lambda sig, frame: sys.exit(128 + sig))
    signal.signal(signal.SIGHUP, lambda sig, frame: sys.exit(128 + sig))


class Instance:
    """A one-broker Flux instance; it ends when its stdin closes."""

    def __init__(self, hosts=None):
        self.p = subprocess.Popen(
            [FLUX, "start", "--test-size=1", *(["--test-hosts=" + hosts] if hosts else []), "sh", "-c",
             "echo $(flux getattr local-uri) $(flux getattr broker.pid); read x || true"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        uri, pid = self.p.stdout.readline().split()
        self.uri, self.pid = uri, int(pid)
        self.module = None
        self.last = {}  # the latest stats
        if TMP:
            live.add(self)

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
        st = self.last = self.stats()
        if "sampler" in st:
            return st["sampler"]["samples"] + st["sampler"]["errors"]
        return t / period

    def close(self):
        if self.module:
            self.flux("module", "remove", self.module)
        self.p.stdin.close()
        self.p.wait()
        live.discard(self)


def export_args(case):
    """The export case's module options."""
    args = []
    if case in ("mqtt", "mqtt-down", "both"):
        args += ["--mqtt-broker=127.0.0.1", "--mqtt-port=" + (DOWN_PORT if case == "mqtt-down" else MQTT_PORT),
                 "--mqtt-topic-prefix=bench-" + case]
    if case in ("rw", "both"):
        args += ["--prometheus-remote-write=%s/api/v1/write" % PROM]
    if case != "none":
        args += ["--spool-dir=%s/spool-%s" % (TMP, case)]
    return args


def modules():
    """(label, name, path, args, export case or None) of each instance's module."""
    for case in EXPORTS:
        yield ("power-monitor" + ("" if case == "none" else " (%s)" % case), "power-monitor", "power-monitor",
               ["-r", "{period}", "-s", "{size}"] + export_args(case) + os.environ["PM_MODULE_ARGS"].split(), case)
    if OTHER:
        yield os.path.basename(OTHER[0]), OTHER_NAME, OTHER[0], OTHER[1:], None


def start(mode, period, size):
    """A bare instance and one per module, loaded; the first is the bare."""
    insts = [Instance()]
    for label, name, path, args, case in modules():
        if case and case != "none":
            shutil.rmtree("%s/spool-%s" % (TMP, case), ignore_errors=True)  # no records from before
        i = Instance("bench-" + case if case and case != "none" else None)
        i.label, i.case = label, case
        i.load(mode, name, path, [a.replace("{period}", period).replace("{size}", str(size)) for a in args])
        insts.append(i)
    return insts


def export_figures(st):
    """Spool write calls and bytes, summed over the sinks; the sinks."""
    sinks = (st.get("export") or {}).get("sinks") or []
    return sum(k["spool_writes"] for k in sinks), sum(k["spool_written"] for k in sinks), sinks


class Subscriber:
    """mosquitto_sub on a case's data topics: receipt time less sample time."""

    def __init__(self, case):
        self.out = "%s/sub-%s.out" % (TMP, case)
        self.p = subprocess.Popen(["mosquitto_sub", "-h", "127.0.0.1", "-p", MQTT_PORT, "-t", "bench-%s/+/data" % case,
                                   "-F", "%U %p"], stdout=open(self.out, "w"), stderr=subprocess.STDOUT)
        live.add(self)

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
        self.p.wait()
        live.discard(self)

    def latencies(self, w0, w1):
        """Of the messages received from w0 to w1 (unix seconds)."""
        lat = []
        for line in open(self.out):
            at, _, payload = line.partition(" ")
            try:
                at, ts = float(at), json.loads(payload)["timestamp[ns]"]
            except (ValueError, KeyError):
                continue
            if w0 <= at <= w1:
                lat.append(at - ts / 1e9)
        return lat


class Poller(threading.Thread):
    """Asks Prometheus every 0.2 s for the age of the case's newest sample."""

    def __init__(self, case):
        super().__init__(daemon=True)
        self.query = 'time() - max(timestamp(power_monitor_power_watts{domain="node",host="bench-%s"}))' % case
        self.ages, self.halt = [], threading.Event()
        self.start()

    def run(self):
        url = PROM + "/api/v1/query?" + urllib.parse.urlencode({"query": self.query})
        while not self.halt.wait(0.2):
            try:
                res = json.load(urllib.request.urlopen(url, timeout=5))["data"]["result"]
            except (OSError, ValueError, KeyError):
                continue
            if res:
                self.ages.append((time.time(), float(res[0]["value"][1])))

    def stop(self):
        self.halt.set()
        self.join()

    def latencies(self, w0, w1):
        return [a for t, a in self.ages if w0 <= t <= w1]


def p99(xs):
    """Nearest rank."""
    return sorted(xs)[max(0, math.ceil(0.99 * len(xs)) - 1)]


def spread(xs, fmt):
    return (fmt % statistics.median(xs)) + " (" + (fmt % min(xs)).strip() + ".." + (fmt % max(xs)).strip() + ")"


modes = os.environ["MODES"].split()
export_rows, latency_rows = [], []
print("CPU per sample, net of a bare broker: median (min..max) of %d rounds of %gs" % (ROUNDS, SECS))
print("%-28s %-6s %6s %8s %24s %24s %10s" % ("module", "mode", "period", "samples", "net CPU us/sample", "net CPU % of a core", "late"))
sys.stdout.flush()
for mode in modes:
    for period in os.environ["PERIODS"].split():
        insts = start(mode, period, 100000)
        bare, mods = insts[0], insts[1:]
        watch = []  # (instance, sink, Subscriber or Poller)
        for m in mods:
            if m.case in ("mqtt", "both"):
                watch.append((m, "mqtt", Subscriber(m.case)))
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
                e0 = {i: export_figures(i.last) for i in mods}
                bare.ping()
                for m in mods:
                    if m.case in ("rw", "both"):
                        watch.append((m, "prometheus (age)", Poller(m.case)))
                w0 = time.time()
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
        w1 = time.time()
        e1 = {i: export_figures(i.last) for i in mods}
        for m, sink, w in watch:
            w.stop()
        for m in mods:
            full = m.stats()
            st = full.get("sampler", {})
            print("%-28s %-6s %6s %8d %24s %24s %10s" % (m.label, mode, period, count[m.label],
                  spread(per[m.label], "%.0f"), spread(share[m.label], "%.3f"), st.get("late", "-")))
            sys.stdout.flush()
            if m.case and m.case != "none":
                n = count[m.label]
                sinks = export_figures(full)[2]
                export_rows.append((m.label, mode, period, n,
                                    (e1[m][0] - e0[m][0]) / n if n else float("nan"),
                                    (e1[m][1] - e0[m][1]) / n if n else float("nan"),
                                    "/".join(k["id"] for k in sinks), (full.get("export") or {}).get("taken", "-"),
                                    "/".join(str(k["delivered"]) for k in sinks),
                                    "/".join(str(k["pending"]) for k in sinks)))
        for m, sink, w in watch:
            lat = w.latencies(w0, w1)
            latency_rows.append((m.label, mode, period, sink, len(lat)) +
                                ((statistics.median(lat), p99(lat), max(lat)) if lat else (float("nan"),) * 3))
        for i in insts:
            i.close()

if export_rows:
    print()
    print("Export: spool write calls and bytes per sample over the rounds, summed over the sinks;")
    print("at the end, records taken and each sink's delivered and pending")
    print("%-28s %-6s %6s %8s %14s %14s %16s %8s %16s %12s" % ("module", "mode", "period", "samples", "writes/sample",
          "bytes/sample", "sinks", "taken", "delivered", "pending"))
    for row in export_rows:
        print("%-28s %-6s %6s %8d %14.3f %14.1f %16s %8s %16s %12s" % row)
if latency_rows:
    print()
    print("Latency from sample to sink during the rounds, in seconds: mqtt, receipt less the sample's time;")
    print("prometheus (age), now less the newest sample's time, polled every 0.2 s (an upper bound)")
    print("%-28s %-6s %6s %-17s %8s %10s %10s %10s" % ("module", "mode", "period", "sink", "count", "median", "p99", "max"))
    for row in latency_rows:
        print("%-28s %-6s %6s %-17s %8d %10.3f %10.3f %10.3f" % row)
sys.stdout.flush()

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
