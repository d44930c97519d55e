#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only
# Query latency over 1 to 16 ranks, each rank a real broker of a
# `flux start --test-size=N` instance on this machine, with the stand-in
# libvariorum. For each size: load the module on all ranks (period 0.1 s),
# run an N-node job of 2 s, then time the power-monitor.query RPC for that
# job (REPS times, from one client, so the module's lookup, fan-out to N
# ranks, aggregation and answer) and the whole `flux power-query` command;
# then read each rank's sampler figures (mean cost of a sample, late ticks).
# Prints a table. Run from the build tree after make.
#
#   scripts/bench-query.sh [SIZES] [REPS]      (default "1 2 4 8 16" 50)
#
# PM_MODULE_ARGS adds module options, for example the exports, to time the
# queries while every rank publishes its samples:
#
#   PM_MODULE_ARGS="--mqtt-broker=127.0.0.1 --prometheus-remote-write=URL" \
#       scripts/bench-query.sh 4
set -e
if test -f Makefile; then top=$(pwd); else top=$(cd "$(dirname "$0")/.." && pwd); fi  # the build tree
sizes=${1:-1 2 4 8 16}
reps=${2:-50}
FLUX=${FLUX:-$(sed -n 's/^FLUX = //p' "$top/Makefile" 2>/dev/null)}
FLUX=${FLUX:-$(command -v flux)}
export FLUX_MODULE_PATH_PREPEND="$top" FLUX_EXEC_PATH_PREPEND="$top"
export LD_LIBRARY_PATH="$top/t/variorum-stub${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export REPS=$reps PM_MODULE_ARGS="${PM_MODULE_ARGS:-}"

printf "%-6s %12s %12s %12s %14s %15s %16s %6s\n" ranks "rpc p50 ms" "rpc p90 ms" "rpc max ms" "command p50 ms" "timeline p50 ms" "sample mean us" late
for n in $sizes; do
    "$FLUX" start --test-size="$n" sh -c '
        flux exec -r all flux module load power-monitor -r 0.1 $PM_MODULE_ARGS >/dev/null
        flux run -N$(flux getattr size) sleep 2
        id=$(flux job last)
        flux python - "$id" <<-"EOT"
	import sys, time, os, statistics, subprocess, flux
	from flux.job import JobID
	h = flux.Flux()
	jobid = int(JobID(sys.argv[1]))
	reps = int(os.environ["REPS"])
	h.rpc("power-monitor.query", {"jobid": jobid}).get()  # warm up
	t = []
	for _ in range(reps):
	    t0 = time.perf_counter()
	    r = h.rpc("power-monitor.query", {"jobid": jobid}).get()
	    t.append((time.perf_counter() - t0) * 1e3)
	    assert len(r["ranks"]) == int(h.attr_get("size")), r["missing"]
	c = []
	for _ in range(max(5, reps // 5)):
	    t0 = time.perf_counter()
	    subprocess.run(["flux", "power-query", "-j", sys.argv[1], "--json"], check=True, stdout=subprocess.DEVNULL)
	    c.append((time.perf_counter() - t0) * 1e3)
	# the whole --timeline command: the series of the job in 100 buckets,
	# summed over its ranks, drawn in 80x24
	tl = []
	env = dict(os.environ, COLUMNS="80", LINES="24")
	for _ in range(max(5, reps // 5)):
	    t0 = time.perf_counter()
	    subprocess.run(["flux", "power-query", "-j", sys.argv[1], "--timeline=100"], check=True, stdout=subprocess.DEVNULL, env=env)
	    tl.append((time.perf_counter() - t0) * 1e3)
	t.sort()
	# the figures of the sampler on every rank: mean cost of a sample (read,
	# parse, store, hand to the exporter) and ticks skipped as late
	st = [h.rpc("power-monitor.stats-get", nodeid=r).get()["sampler"]
	      for r in range(int(h.attr_get("size")))]
	print("%-6s %12.2f %12.2f %12.2f %14.2f %15.2f %16.1f %6d" % (h.attr_get("size"), statistics.median(t),
	      t[int(0.9 * (len(t) - 1))], t[-1], statistics.median(c), statistics.median(tl),
	      statistics.mean(x["sample_cost_mean_us"] for x in st), sum(x["late"] for x in st)))
	EOT
        flux exec -r all flux module remove power-monitor
    '
done
