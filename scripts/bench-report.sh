#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only
#
# How long `flux power-query --report` takes over many jobs' records.
#
#   scripts/bench-report.sh [N [RUNS]]      (default: 10000 jobs, 5 runs)
#
# Run from the top of a build tree (power-monitor.so, flux-power-query and
# jobtap/power-record.so built: make power-monitor.so flux-power-query
# jobtap/power-record.so). It starts a 4-broker test instance with the module
# on every rank and power-record.so in the job-manager, runs N jobs through
# job-exec's test mode (no job shell: a job costs the job-manager, the
# scheduler and its record, not a process tree), waits until every job is
# inactive in job-list, then times each command RUNS times (wall clock, one
# after the other) and prints a table of median and min: the report as the
# instance owner and as a guest of the same uid (both take the records from
# rank 0's index, power-monitor.records, and read the eventlogs only of
# jobs it lacks), and flux jobs listing the same jobs for scale. The first
# report runs after 12 s idle, when the KVS module's cache has expired, as
# it has for any report not run right after another (it mattered when the
# report read each job's eventlog).
set -e

if test -z "$BENCH_UNDER_FLUX"; then
    top=$(pwd)
    for f in power-monitor.so flux-power-query jobtap/power-record.so t/variorum-stub/libvariorum.so; do
        if ! test -e "$top/$f"; then
            echo "bench-report: $top/$f is missing: run it from the top of a build tree (make power-monitor.so flux-power-query jobtap/power-record.so t/variorum-stub/libvariorum.so)" >&2
            exit 1
        fi
    done
    BENCH_UNDER_FLUX=1 BENCH_TOP=$top
    FLUX_MODULE_PATH_PREPEND=$top FLUX_EXEC_PATH_PREPEND=$top
    LD_LIBRARY_PATH=$top/t/variorum-stub${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    export BENCH_UNDER_FLUX BENCH_TOP FLUX_MODULE_PATH_PREPEND FLUX_EXEC_PATH_PREPEND LD_LIBRARY_PATH
    exec flux start --test-size=4 -Slog-stderr-level=1 /bin/sh "$0" "$@"
fi

N=${1:-10000}
RUNS=${2:-5}
now() { date +%s.%N; }

flux exec -r all flux module load power-monitor
flux jobtap load "$BENCH_TOP/jobtap/power-record.so"

t0=$(now)
flux submit --cc=1-"$N" --quiet --setattr=system.exec.test.run_duration=0.001s true
flux queue drain
# job-list follows the job-manager's journal: wait until it lists them all
while test "$(flux jobs -n -c 0 -f inactive -o '{id}' | wc -l)" -lt "$N"; do
    sleep 1
done
t1=$(now)
records=$(flux power-query --report --json | jq '.total.jobs - .total.no_record')
echo "$N jobs run and inactive in $(echo "$t1 - $t0" | bc) s; $records have a record"

# time CMD...: RUNS wall-clock times of CMD, in seconds, one a line
time_runs() {
    i=0
    while test $i -lt "$RUNS"; do
        a=$(now)
        "$@" >/dev/null
        b=$(now)
        echo "$b - $a" | bc
        i=$((i + 1))
    done
}

# A report more than 10 s after the last one finds the KVS module's cache
# expired (kvs.c: max_lastuse_age): an eventlog read then fetches its blobs
# again from the broker's content cache. Time that case once, first.
sleep 12
a=$(now); flux power-query --report >/dev/null; b=$(now)
cold=$(echo "$b - $a" | bc)

printf '%-62s %5s %9s %9s\n' "command ($N jobs, $(nproc) cores)" runs median_s min_s
printf '%-62s %5d %9.3f %9.3f\n' "flux power-query --report (first, KVS cache expired)" 1 "$cold" "$cold"
guest="FLUX_HANDLE_ROLEMASK=0x2 FLUX_HANDLE_USERID=$(id -u)"
for cmd in "flux power-query --report" \
           "flux power-query --report --by=user,day" \
           "flux power-query --report --by=user,day --json" \
           "$guest flux power-query --report" \
           "flux jobs -n -c 0 -f inactive -o {id}"; do
    # shellcheck disable=SC2086
    time_runs env $cmd | sort -n | awk -v cmd="$cmd" -v runs="$RUNS" '
        { t[NR] = $1 }
        END {
            med = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
            sub(/^FLUX_HANDLE_ROLEMASK=0x2 FLUX_HANDLE_USERID=[0-9]+ /, "(as a guest) ", cmd)
            printf "%-62s %5d %9.3f %9.3f\n", cmd, runs, med, t[1]
        }'
done
flux exec -r all flux module remove -f power-monitor
