#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only

test_description='power-monitor.query with a series: the job'"'"'s power over
time in buckets that add up to the query'"'"'s energy, at the stand-in'"'"'s
watts (within 1% on either side of a step in its power), per rank and
for the nodes on request, a shared job charged its part, a running job'"'"'s
series growing, and the per-rank RPC owner-only.'

. "$(dirname "$0")"/sharness.d/power-monitor.sh
test_under_flux 4
. "$SHARNESS"
pm_skip_without_flux

# The stand-in: 2 sockets of 100 W cpu and 20 W mem, 2 GPUs per socket of
# 50 W: 440 W a node.
NODE_W=440

# series ID SPEC: the raw query of job ID (any encoding) with the series SPEC.
series() {
	pm_rpc power-monitor.query "{\"jobid\": $(flux job id --to=dec $1), \"series\": $2}"
}

test_expect_success 'load the module on all ranks' '
	pm_load_all -r 0.05
'
test_expect_success 'run a 4-node job' '
	flux run -N4 -x sleep 1 &&
	flux job last >jobid
'
test_expect_success 'the buckets of a finished job sum to the query'"'"'s energy' '
	pm_rpc power-monitor.query "{\"jobid\": $(flux job id --to=dec $(cat jobid))}" >plain.json &&
	series $(cat jobid) "{\"buckets\": 10}" >s.json &&
	test "$(pm_json "len(d[\"series\"][\"buckets\"])" <s.json)" = 10 &&
	test "$(pm_json "(d[\"series\"][\"start\"], d[\"series\"][\"end\"]) == (d[\"start\"], d[\"end\"])" <s.json)" = True &&
	e=$(pm_json "d[\"total\"][\"energy_j\"]" <plain.json) &&
	test "$(pm_json "abs(sum(b[\"domains\"][\"node\"][\"energy_j\"] for b in d[\"series\"][\"buckets\"]) - $e) <= 1e-6 * $e" <s.json)" = True &&
	test "$(pm_json "abs(sum(b[\"domains\"][\"node\"][\"energy_j\"] for b in d[\"series\"][\"buckets\"]) - d[\"total\"][\"energy_j\"]) <= 1e-6 * $e" <s.json)" = True
'
test_expect_success 'the buckets tile the window, edges as the RFC says' '
	test "$(pm_json "all(a[\"end\"] == b[\"start\"] for a, b in zip(d[\"series\"][\"buckets\"], d[\"series\"][\"buckets\"][1:]))" <s.json)" = True &&
	test "$(pm_json "d[\"series\"][\"buckets\"][-1][\"end\"] == d[\"series\"][\"end\"]" <s.json)" = True &&
	test "$(pm_json "max(abs((b[\"end\"] - b[\"start\"]) - (d[\"end\"] - d[\"start\"]) / 10) for b in d[\"series\"][\"buckets\"]) < 1e-6" <s.json)" = True
'
test_expect_success 'every bucket'"'"'s means are the stand-in'"'"'s watts on 4 nodes, covered' '
	for kind_w in node:1760 cpu:800 mem:160 gpu:800; do
		kind=${kind_w%:*} w=${kind_w#*:} &&
		test "$(pm_json "all(abs(b[\"domains\"][\"$kind\"][\"mean_w\"] - $w) < 1e-6 * $w for b in d[\"series\"][\"buckets\"])" <s.json)" = True &&
		test "$(pm_json "all(abs(b[\"domains\"][\"$kind\"][x] - $w) < 1e-3 for b in d[\"series\"][\"buckets\"] for x in (\"min_w\", \"max_w\"))" <s.json)" = True &&
		test "$(pm_json "all(b[\"domains\"][\"$kind\"][\"coverage\"] == 1 for b in d[\"series\"][\"buckets\"])" <s.json)" = True || return 1
	done
'
test_expect_success 'only the sum travels unless each rank'"'"'s series is asked' '
	test "$(pm_json "\"ranks\" in d[\"series\"] or \"node\" in d[\"series\"]" <s.json)" = False &&
	series $(cat jobid) "{\"buckets\": 5, \"per_rank\": true}" >r.json &&
	test "$(pm_json "[r[\"rank\"] for r in d[\"series\"][\"ranks\"]]" <r.json)" = "[0, 1, 2, 3]" &&
	test "$(pm_json "all(len(r[\"buckets\"]) == 5 and all(abs(b[\"domains\"][\"node\"][\"mean_w\"] - $NODE_W) < 1e-6 * $NODE_W for b in r[\"buckets\"]) for r in d[\"series\"][\"ranks\"])" <r.json)" = True &&
	test "$(pm_json "all(r[\"hostname\"] != \"\" for r in d[\"series\"][\"ranks\"])" <r.json)" = True
'
test_expect_success 'a bucket count out of range is refused, naming the range' '
	test_must_fail series $(cat jobid) "{\"buckets\": 10001}" 2>err &&
	grep "10001 buckets: a series has 1 to 10000" err &&
	test_must_fail series $(cat jobid) "{\"buckets\": -1}" 2>err &&
	grep "^22: " err
'
test_expect_success 'a shared job'"'"'s series is its part; the nodes'"'"' on request' '
	flux run -n1 sleep 1 &&
	flux job last >shared.id &&
	series $(cat shared.id) "{\"buckets\": 4, \"node\": true, \"per_rank\": true}" >sh.json &&
	cf=$(pm_json "d[\"ranks\"][0][\"share\"][\"core_fraction\"]" <sh.json) &&
	test "$(pm_json "d[\"ranks\"][0][\"share\"][\"exclusive\"]" <sh.json)" = False &&
	test "$(pm_json "all(abs(b[\"domains\"][\"node\"][\"mean_w\"] - $cf * $NODE_W) < 1e-6 * $NODE_W for b in d[\"series\"][\"buckets\"])" <sh.json)" = True &&
	test "$(pm_json "all(abs(b[\"domains\"][\"node\"][\"mean_w\"] - $NODE_W) < 1e-6 * $NODE_W for b in d[\"series\"][\"node\"])" <sh.json)" = True &&
	test "$(pm_json "all(abs(b[\"domains\"][\"node\"][\"mean_w\"] - $NODE_W) < 1e-6 * $NODE_W for b in d[\"series\"][\"ranks\"][0][\"node\"])" <sh.json)" = True &&
	test "$(pm_json "abs(sum(b[\"domains\"][\"node\"][\"energy_j\"] for b in d[\"series\"][\"buckets\"]) - d[\"total\"][\"energy_j\"]) <= 1e-6 * d[\"total\"][\"energy_j\"]" <sh.json)" = True
'
test_expect_success 'a stand-in whose power steps: each bucket'"'"'s mean within 1% of the exact one' '
	flux submit -N4 -x sleep 3 >step.id &&
	flux job wait-event -t 30 $(cat step.id) start &&
	sleep 1.2 &&
	date +%s.%N >step.at &&
	test_when_finished pm_stub &&
	pm_stub VARIORUM_STUB_CPU_WATTS=300 &&
	flux job wait-event -t 30 $(cat step.id) clean &&
	series $(cat step.id) "{\"buckets\": 30}" >step.json &&
	at=$(cat step.at) &&
	# 4 nodes of 440 W before the step; after it each socket'"'"'s cpu draws
	# 200 W more: 4 x 840 W. The integrator draws the step as a ramp from
	# the last sample before it to the first after it (one period, 50 ms):
	# a bucket that ends a period before the step, or starts well after the
	# first sample past it, has a known exact mean; one across it lies
	# between the two.
	pm_json "[(round(b[\"start\"] - $at, 3), round(b[\"domains\"][\"node\"][\"mean_w\"], 1)) for b in d[\"series\"][\"buckets\"]]" <step.json &&
	before="[b for b in d[\"series\"][\"buckets\"] if b[\"end\"] < $at - 0.06]" &&
	after="[b for b in d[\"series\"][\"buckets\"] if b[\"start\"] > $at + 0.3]" &&
	test "$(pm_json "len($before) >= 5 and len($after) >= 5" <step.json)" = True &&
	for kind_w in node:1760:3360 cpu:800:2400 gpu:800:800 mem:160:160; do
		kind=${kind_w%%:*} w0=${kind_w#*:} w0=${w0%:*} w1=${kind_w##*:} &&
		test "$(pm_json "all(abs(b[\"domains\"][\"$kind\"][\"mean_w\"] - $w0) <= 0.01 * $w0 for b in $before)" <step.json)" = True &&
		test "$(pm_json "all(abs(b[\"domains\"][\"$kind\"][\"mean_w\"] - $w1) <= 0.01 * $w1 for b in $after)" <step.json)" = True &&
		test "$(pm_json "all($w0 * 0.99 <= b[\"domains\"][\"$kind\"][\"mean_w\"] <= $w1 * 1.01 for b in d[\"series\"][\"buckets\"])" <step.json)" = True || return 1
	done &&
	test "$(pm_json "abs(sum(b[\"domains\"][\"node\"][\"energy_j\"] for b in d[\"series\"][\"buckets\"]) - d[\"total\"][\"energy_j\"]) <= 1e-6 * d[\"total\"][\"energy_j\"]" <step.json)" = True
'
test_expect_success 'a running job'"'"'s series goes up to now and grows' '
	flux submit -N2 -x sleep 60 >running.id &&
	flux job wait-event -t 30 $(cat running.id) start &&
	sleep 0.5 &&
	series $(cat running.id) "{\"buckets\": 8}" >run1.json &&
	sleep 1 &&
	series $(cat running.id) "{\"buckets\": 8}" >run2.json &&
	test "$(pm_json "d[\"running\"]" <run1.json)" = True &&
	test "$(pm_json "len(d[\"series\"][\"buckets\"])" <run2.json)" = 8 &&
	e1=$(pm_json "d[\"series\"][\"end\"]" <run1.json) &&
	j1=$(pm_json "sum(b[\"domains\"][\"node\"][\"energy_j\"] for b in d[\"series\"][\"buckets\"])" <run1.json) &&
	test "$(pm_json "d[\"series\"][\"end\"] >= $e1 + 0.9" <run2.json)" = True &&
	test "$(pm_json "sum(b[\"domains\"][\"node\"][\"energy_j\"] for b in d[\"series\"][\"buckets\"]) > $j1 + 0.9 * 2 * $NODE_W" <run2.json)" = True &&
	test "$(pm_json "abs(sum(b[\"domains\"][\"node\"][\"energy_j\"] for b in d[\"series\"][\"buckets\"]) - d[\"total\"][\"energy_j\"]) <= 1e-6 * d[\"total\"][\"energy_j\"]" <run2.json)" = True &&
	flux cancel $(cat running.id)
'
test_expect_success 'a guest is served its own job'"'"'s series, refused another'"'"'s' '
	as_guest $(id -u) flux python -c "
import flux, json
r = flux.Flux().rpc(\"power-monitor.query\", {\"jobid\": $(flux job id --to=dec $(cat jobid)), \"series\": {\"buckets\": 3}}).get()
print(len(r[\"series\"][\"buckets\"]))
" >guest.out &&
	test "$(cat guest.out)" = 3 &&
	test_must_fail as_guest $(($(id -u) + 4242)) flux python -c "
import flux, sys
try:
    flux.Flux().rpc(\"power-monitor.query\", {\"jobid\": $(flux job id --to=dec $(cat jobid)), \"series\": {}}).get()
except OSError as e:
    print(e.errno, file=sys.stderr); sys.exit(1)
" 2>err &&
	grep "^1$" err
'
test_expect_success 'a guest is refused the per-rank series RPC' '
	now=$(date +%s) &&
	test_must_fail as_guest $(id -u) flux python -c "
import flux, sys
try:
    flux.Flux().rpc(\"power-monitor.series-window\", {\"start\": $now - 1, \"end\": $now, \"buckets\": 2}, nodeid=0).get()
except OSError as e:
    print(e.errno, file=sys.stderr); sys.exit(1)
" 2>err &&
	grep "^1$" err
'
test_expect_success 'unload' '
	flux job wait-event -t 30 $(cat running.id) clean &&
	pm_unload_all
'
test_done
