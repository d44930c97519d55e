#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only
# Time the job shell plugin adds to a job: in a `flux start --test-size=N`
# instance with the module on every rank, run REPS jobs `flux run -N N true`
# with the plugin off (-o power=off) and on, alternating, and print the
# median and mean wall time of each and the difference. Run from the build
# tree after make.
#
#   scripts/bench-plugin.sh [N] [REPS]      (default 4 30)
set -e
if test -f Makefile; then top=$(pwd); else top=$(cd "$(dirname "$0")/.." && pwd); fi  # the build tree
n=${1:-4}
reps=${2:-30}
FLUX=${FLUX:-$(sed -n 's/^FLUX = //p' "$top/Makefile" 2>/dev/null)}
FLUX=${FLUX:-$(command -v flux)}
pluginpath="$top/plugin:$(sed -n 's/^fluxshellpluginpath = //p' "$top/Makefile")"
export FLUX_MODULE_PATH_PREPEND="$top" FLUX_EXEC_PATH_PREPEND="$top"
export LD_LIBRARY_PATH="$top/t/variorum-stub${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export REPS=$reps
"$FLUX" start --test-size="$n" -Sconf.shell_pluginpath="$pluginpath" sh -c '
    flux exec -r all flux module load power-monitor -r 0.1 >/dev/null
    flux python - <<-"EOT"
	import os, statistics, subprocess, time
	n = int(subprocess.check_output(["flux", "getattr", "size"]))
	reps = int(os.environ["REPS"])
	times = {"off": [], "on": []}
	def run(opt):
	    t0 = time.perf_counter()
	    subprocess.run(["flux", "run", "-N%d" % n, "-o", "power=" + opt, "true"],
	                   check=True, stderr=subprocess.DEVNULL)
	    return (time.perf_counter() - t0) * 1e3
	run("off"); run("on")  # warm up
	for _ in range(reps):
	    times["off"].append(run("off"))
	    times["on"].append(run("on"))
	print("%-10s %10s %10s %10s" % ("plugin", "median ms", "mean ms", "stdev ms"))
	for k in ("off", "on"):
	    t = times[k]
	    print("%-10s %10.1f %10.1f %10.1f" % (k, statistics.median(t), statistics.mean(t), statistics.stdev(t)))
	d = statistics.median(times["on"]) - statistics.median(times["off"])
	print("added by the plugin: %.1f ms a job (median, %d nodes, %d jobs each)" % (d, n, reps))
	EOT
    flux exec -r all flux module remove power-monitor
'
