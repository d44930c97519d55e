#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only
# Job throughput with and without power monitoring. Each round starts a
# fresh `flux start --test-size=N` instance per setup (the setups
# alternate), submits JOBS jobs `true` at once and times them until the
# queue is drained (every job inactive):
#   bare       no module, no power-record.so, jobs with -o power=off
#   module     the module on every rank, jobs with -o power=off
#   shell      the module and the job shell plugin
#   record     the module and power-record.so, jobs with -o power=off
#   monitored  all three
# A fresh instance per batch: in one instance, a batch after a purge runs
# slower whatever the setup (the KVS is still busy removing the last one).
# Prints each batch's jobs per second and CPU a job, a table of medians,
# and the median of the rounds' ratios to the first setup. Run from the
# build tree after make.
#
# CPU a job: the CPU time of the instance's brokers and of everything they
# ran and reaped (the job shells and their tasks: utime, stime, cutime and
# cstime in /proc/PID/stat) over the batch, divided by the jobs. Where the
# instance is limited by its CPU, its rate goes as the inverse of this, and
# this moves much less than the rate with the machine's other load.
#
# The test instance's R gives each broker this machine's cores: on a small
# machine the jobs then wait for a free core, and each job's time on its
# core counts as much as its CPU. CORES=C gives each broker C cores instead
# (flux R encode, [resource] noverify; jobs are not bound), so that the
# instance is limited by its CPU, as one of a cluster's nodes is.
#
# PAIRED=1 runs the setups of a round at once instead, each instance pinned
# to a CPU of its own (taskset), the CPUs passed round the setups from one
# round to the next: the machine's changes of speed, which move a batch's
# rate by a third on a shared machine, then hit the setups alike, and the
# rounds' ratios say more than the rates. It needs a CPU a setup.
#
#   [SETUPS="bare monitored"] [CORES=C] [PAIRED=1] scripts/bench-throughput.sh [JOBS] [ROUNDS] [N]   (default 1000 3 4)
set -e
if test -f Makefile; then top=$(pwd); else top=$(cd "$(dirname "$0")/.." && pwd); fi  # the build tree
jobs=${1:-1000} rounds=${2:-3} n=${3:-4}
setups=${SETUPS:-bare monitored}
FLUX=${FLUX:-$(sed -n 's/^FLUX = //p' "$top/Makefile" 2>/dev/null)}
FLUX=${FLUX:-$(command -v flux)}
pluginpath="$top/plugin:$(sed -n 's/^fluxshellpluginpath = //p' "$top/Makefile")"
export FLUX_MODULE_PATH_PREPEND="$top" FLUX_EXEC_PATH_PREPEND="$top"
export LD_LIBRARY_PATH="$top/t/variorum-stub${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
out=$(mktemp)
conf=$(mktemp -d)
trap 'rm -rf "$out" "$conf"' EXIT
confopt="" bind=""
if test -n "$CORES"; then
    "$FLUX" R encode -r 0-$((n - 1)) -c 0-$((CORES - 1)) -H "$(printf "$(hostname)%.0s," $(seq $n) | sed 's/,$//')" >"$conf/R.json"
    printf '[resource]\npath = "%s/R.json"\nnoverify = true\n' "$conf" >"$conf/resource.toml"
    confopt="--config-path=$conf" bind="-o cpu-affinity=off"
fi

# batch SETUP: one instance, one batch; prints the jobs per second
batch() {
    case $1 in
    bare)      module=0 shell=0 record=0 ;;
    module)    module=1 shell=0 record=0 ;;
    shell)     module=1 shell=1 record=0 ;;
    record)    module=1 shell=0 record=1 ;;
    monitored) module=1 shell=1 record=1 ;;
    *) echo "unknown setup $1" >&2; exit 1 ;;
    esac
    opt="-o power=off"; test $shell = 0 || opt=""
    "$FLUX" start --test-size="$n" $confopt -Sconf.shell_pluginpath="$pluginpath" sh -c "
        set -e
        if test $module = 1; then flux exec -r all flux module load power-monitor; fi
        if test $record = 1; then flux jobtap load $top/jobtap/power-record.so >/dev/null; fi
        pids=\$(flux exec -r all flux getattr broker.pid)
        cpu() { for p in \$pids; do cut -d' ' -f14-17 /proc/\$p/stat; done | tr ' ' '+' | paste -sd+ | bc; }
        c0=\$(cpu)
        t0=\$(date +%s.%N)
        flux submit --quiet --cc=1-$jobs $opt $bind true
        flux queue drain
        t1=\$(date +%s.%N)
        c1=\$(cpu)
        if test $record = 1; then
            flux job eventlog \$(flux job last) | grep -q ' power ' || { echo 'the last job has no record' >&2; exit 1; }
        fi
        if test $module = 1; then flux exec -r all flux module remove power-monitor; fi
        python3 -c \"print('%.1f %.2f' % ($jobs / (\$t1 - \$t0), (\$c1 - \$c0) * 1000.0 / $(getconf CLK_TCK) / $jobs))\"
    "
}

# (PAIRED: each setup's batch is this script again, pinned, with BATCH_ONLY)
if test -n "$BATCH_ONLY"; then
    batch "$BATCH_ONLY"
    exit
fi
ncpu=$(getconf _NPROCESSORS_ONLN)
nsetups=$(echo $setups | wc -w)
if test -n "$PAIRED" && test "$nsetups" -gt "$ncpu"; then
    echo "$0: PAIRED: $nsetups setups, $ncpu CPUs" >&2
    exit 2
fi
echo "$jobs jobs \`true\` a batch, $n brokers${CORES:+ of $CORES cores}, a fresh instance per batch, setups $(if test -n "$PAIRED"; then echo "at once, a CPU each"; else echo alternating; fi)"
for r in $(seq "$rounds"); do
    i=0
    for s in $setups; do
        if test -n "$PAIRED"; then
            cpu=$(((i + r) % ncpu))
            BATCH_ONLY=$s taskset -c $cpu "$0" "$jobs" 1 "$n" >"$conf/$s.out" &
        else
            batch "$s" >"$conf/$s.out"
        fi
        i=$((i + 1))
    done
    wait
    for s in $setups; do
        set -- $(cat "$conf/$s.out")
        test $# = 2 || { echo "$0: round $r: $s: no figures" >&2; exit 1; }
        echo "round $r: $s $1 jobs/s, $2 ms CPU a job"
        echo "$r $s $1 $2" >>"$out"
    done
done
python3 - "$out" $setups <<'EOT'
import statistics, sys
rates, cpus, byround = {}, {}, {}
for line in open(sys.argv[1]):
    r, k, v, c = line.split()
    rates.setdefault(k, []).append(float(v))
    cpus.setdefault(k, []).append(float(c))
    byround.setdefault(r, {})[k] = float(v)
names = sys.argv[2:]
b = names[0]
base, cbase = statistics.median(rates[b]), statistics.median(cpus[b])
print("| setup | median jobs/s | min | max | of %s (medians) | of %s (median of the rounds' ratios) | CPU ms a job, median (min..max) | %s's CPU over this (medians) |" % (b, b, b))
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for k in names:
    m, c = statistics.median(rates[k]), statistics.median(cpus[k])
    ratios = [v[k] / v[b] for v in byround.values() if k in v and b in v]
    print("| %s | %.1f | %.1f | %.1f | %.1f%% | %.1f%% | %.2f (%.2f..%.2f) | %.1f%% |" % (
        k, m, min(rates[k]), max(rates[k]), 100 * m / base, 100 * statistics.median(ratios),
        c, min(cpus[k]), max(cpus[k]), 100 * cbase / c))
EOT
