#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only

test_description='rank 0 hears of every job end from the job-manager'"'"'s events
journal: each of 200 short jobs is published in power-monitor.jobs-inactive
and gets a summary; the journal is followed again, without spinning, when
the job-manager goes away and comes back.'

. "$(dirname "$0")"/sharness.d/power-monitor.sh
test_under_flux 2
. "$SHARNESS"
pm_skip_without_flux

if ! command -v curl >/dev/null 2>&1; then
	pm_skip_all "curl is not installed (it reads rank 0's /metrics)"
fi
PROM_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

# seen.py IDS EVENTS METRICS: of the jobs in IDS (one f58 jobid a line),
# print those missing from the jobs-inactive events (the output of flux
# event sub) and those without a summary on /metrics, and the count of
# jobids published twice; nothing but "missing 0 0 twice 0" is success.
cat >seen.py <<\EOF
import sys, json, re
ids = [l.strip() for l in open(sys.argv[1]) if l.strip()]
published = []
for line in open(sys.argv[2]):
    topic, payload = line.split("\t", 1)
    published += json.loads(payload)["jobids"]
def dec(f58):
    # f58 (with "f" or "ƒ"): the alphabet flux uses
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    n = 0
    for c in f58[1:]:
        n = n * 58 + alphabet.index(c)
    return n
summarized = set(re.findall(r'power_monitor_job_energy_joules\{[^}]*jobid="([^"]+)"', open(sys.argv[3]).read()))
no_event = [i for i in ids if dec(i) not in set(published)]
no_summary = [i for i in ids if "f" + i[1:] not in summarized]
print("missing", len(no_event), len(no_summary), "twice", len(published) - len(set(published)))
for i in no_event:
    print("not published:", i)
for i in no_summary:
    print("no summary:", i)
EOF
check_seen() {
	curl -sf http://127.0.0.1:$PROM_PORT/metrics >metrics.out &&
	python3 seen.py "$1" events.out metrics.out >seen.out &&
	test "$(head -1 seen.out)" = "missing 0 0 twice 0"
}

# rank 0 runs the module in its own process (flux module-exec), as the
# installed modprobe entry does; t0008 runs it in the broker's thread
test_expect_success 'load the module: rank 0 (--exec) exporting to /metrics, rank 1 without exports' '
	flux module load --exec power-monitor -r 0.1 --prometheus-listen=127.0.0.1:$PROM_PORT &&
	flux exec -r 1 flux module load power-monitor -r 0.1 &&
	pm_wait_for 10 curl -sf http://127.0.0.1:$PROM_PORT/metrics
'
test_expect_success 'a subscriber takes the power-monitor.jobs-inactive events' '
	flux event sub power-monitor.jobs-inactive >events.out 2>events.err &
	echo $! >sub.pid &&
	pm_wait_for 10 sh -c "flux module stats power-monitor | grep -q job_summaries_sent"
'
test_expect_success '200 short jobs, on one or both ranks, all run to their end' '
	flux submit --cc=1-150 --wait true >ids &&
	flux submit --cc=1-50 -N2 --wait true >>ids &&
	test $(sort -u ids | wc -l) = 200
'
test_expect_success 'every one of the 200 is published as ended, once, and has a summary' '
	pm_wait_for 30 check_seen ids ||
	{ cat seen.out; false; } &&
	flux module stats power-monitor | jq .job_summaries_sent >sent &&
	test "$(cat sent)" = 200
'
test_expect_success 'a job of both ranks: its summary has both, and equals flux power-query' '
	last=$(tail -1 ids | sed "s/^ƒ/f/") &&
	grep "^power_monitor_job_node_energy_joules{.*jobid=\"$last\"" metrics.out >last.metrics &&
	grep "rank=\"0\"" last.metrics && grep "rank=\"1\"" last.metrics &&
	got=$(grep "^power_monitor_job_energy_joules{domain=\"all\",jobid=\"$last\"" metrics.out | cut -d" " -f2) &&
	flux power-query -j $last --json >last.json &&
	want=$(jq .total.energy_j <last.json) &&
	echo "summary $got J, flux power-query $want J" &&
	python3 -c "import sys; sys.exit(abs($got - $want) > 1e-6 * $want)" &&
	# what its nodes drew beside it: -N2 alone holds them whole, the same
	gotn=$(grep "^power_monitor_job_nodes_energy_joules{jobid=\"$last\"" metrics.out | cut -d" " -f2) &&
	wantn=$(jq .total.node_energy_j <last.json) &&
	echo "nodes: summary $gotn J, flux power-query $wantn J" &&
	python3 -c "import sys; sys.exit(abs($gotn - $wantn) > 1e-6 * $wantn or abs($gotn - $got) > 1e-6 * $got)"
'
# flux-core's job-list, job-exec and scheduler do not survive the
# job-manager going away under them: take them out with it.
sched=$(flux module list | awk "\$NF ~ /(^|,)sched(,|$)/ { print \$1 }")
test_expect_success 'the job-manager goes away for 3 s: the module says so and retries, backing off' '
	test -n "$sched" &&
	flux module remove $sched &&
	flux module remove job-list &&
	flux module remove job-exec &&
	flux module remove job-manager &&
	pm_wait_for 10 sh -c "flux dmesg | grep -q \"power-monitor.*job summaries: the job-manager.s events journal stopped: the job-manager ended it\"" &&
	sleep 3 &&
	flux module load job-manager &&
	flux module load job-exec &&
	flux module load job-list &&
	flux module load $sched &&
	pm_wait_for 15 sh -c "flux dmesg | grep -q \"job summaries: following the job-manager.s events journal again\"" &&
	flux dmesg | grep "following the job-manager.s events journal again" >again &&
	cat again &&
	n=$(sed -n "s/.*after \([0-9]*\) failures.*/\1/p" again) &&
	test "$n" -ge 2 && test "$n" -le 4
'
test_expect_success 'jobs after the job-manager came back: every end heard' '
	flux submit --cc=1-20 --wait true >ids2 &&
	pm_wait_for 30 check_seen ids2 ||
	{ cat seen.out; false; }
'
test_expect_success 'unload: the stream is cancelled, nothing left registered' '
	kill $(cat sub.pid) &&
	flux exec -r all flux module remove power-monitor &&
	! flux dmesg | grep "callbacks still registered"
'
test_done
