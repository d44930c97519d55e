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
# Prints each batch's jobs per second, a table of medians, and the median
# of the rounds' ratios to the first setup. Run from the build tree after
# make.
#
# The test instance's R gives each broker this machine's cores: on a small
# machine the jobs then wait for a free core, and each job's time on its
# core counts as much as its CPU. CORES=C gives each broker C cores instead
# (flux R encode, [resource] noverify; jobs are not bound), so that the
# instance is limited by its CPU, as one of a cluster's nodes is.
#
#   [SETUPS="bare monitored"] [CORES=C] scripts/bench-throughput.sh [JOBS] [ROUNDS] [N]   (default 1000 3 4)
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
        t0=\$(date +%s.%N)
        flux submit --quiet --cc=1-$jobs $opt $bind true
        flux queue drain
        t1=\$(date +%s.%N)
        if test $record = 1; then
            flux job eventlog \$(flux job last) | grep -q ' power ' || { echo 'the last job has no record' >&2; exit 1; }
        fi
        if test $module = 1; then flux exec -r all flux module remove power-monitor; fi
        python3 -c \"print('%.1f' % ($jobs / (\$t1 - \$t0)))\"
    "
}

echo "$jobs jobs \`true\` a batch, $n brokers${CORES:+ of $CORES cores}, a fresh instance per batch, setups alternating"
for r in $(seq "$rounds"); do
    for s in $setups; do
        rate=$(batch "$s")
        echo "round $r: $s $rate jobs/s"
        echo "$r $s $rate" >>"$out"
    done
done
python3 - "$out" $setups <<'EOT'
import statistics, sys
rates, byround = {}, {}
for line in open(sys.argv[1]):
    r, k, v = line.split()
    rates.setdefault(k, []).append(float(v))
    byround.setdefault(r, {})[k] = float(v)
names = sys.argv[2:]
base = statistics.median(rates[names[0]])
print("| setup | median jobs/s | min | max | of %s (medians) | of %s (median of the rounds' ratios) |" % (names[0], names[0]))
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for k in names:
    m = statistics.median(rates[k])
    ratios = [v[k] / v[names[0]] for v in byround.values() if k in v and names[0] in v]
    print("| %s | %.1f | %.1f | %.1f | %.1f%% | %.1f%% |" % (k, m, min(rates[k]), max(rates[k]), 100 * m / base, 100 * statistics.median(ratios)))
EOT
