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
	jq -e ".series.buckets | length == 10" <s.json &&
	jq -e "[.series.start, .series.end] == [.start, .end]" <s.json &&
	e=$(jq .total.energy_j <plain.json) &&
	jq -e "(([.series.buckets[].domains.node.energy_j] | add) - $e | fabs) <= 1e-6 * $e" <s.json &&
	jq -e "(([.series.buckets[].domains.node.energy_j] | add) - .total.energy_j | fabs) <= 1e-6 * $e" <s.json
'
test_expect_success 'the buckets tile the window, edges as the RFC says' '
	jq -e "[.series.buckets[].end][:-1] == [.series.buckets[].start][1:]" <s.json &&
	jq -e ".series.buckets[-1].end == .series.end" <s.json &&
	jq -e "(.end - .start) as \$len | [.series.buckets[] | (.end - .start) - \$len / 10 | fabs] | length > 0 and max < 1e-6" <s.json
'
test_expect_success 'every bucket'"'"'s means are the stand-in'"'"'s watts on 4 nodes, covered' '
	for kind_w in node:1760 cpu:800 mem:160 gpu:800; do
		kind=${kind_w%:*} w=${kind_w#*:} &&
		jq -e "all(.series.buckets[]; (.domains.$kind.mean_w - $w | fabs) < 1e-6 * $w)" <s.json &&
		jq -e "all(.series.buckets[].domains.$kind | .min_w, .max_w; (. - $w | fabs) < 1e-3)" <s.json &&
		jq -e "all(.series.buckets[]; .domains.$kind.coverage == 1)" <s.json || return 1
	done
'
test_expect_success 'only the sum travels unless each rank'"'"'s series is asked' '
	jq -e ".series | has(\"ranks\") or has(\"node\") | not" <s.json &&
	series $(cat jobid) "{\"buckets\": 5, \"per_rank\": true}" >r.json &&
	jq -e "[.series.ranks[].rank] == [0, 1, 2, 3]" <r.json &&
	jq -e "all(.series.ranks[]; (.buckets | length) == 5 and all(.buckets[]; (.domains.node.mean_w - $NODE_W | fabs) < 1e-6 * $NODE_W))" <r.json &&
	jq -e "all(.series.ranks[]; .hostname != \"\")" <r.json
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
	cf=$(jq ".ranks[0].share.core_fraction" <sh.json) &&
	jq -e ".ranks[0].share.exclusive == false" <sh.json &&
	jq -e "all(.series.buckets[]; (.domains.node.mean_w - $cf * $NODE_W | fabs) < 1e-6 * $NODE_W)" <sh.json &&
	jq -e "all(.series.node[]; (.domains.node.mean_w - $NODE_W | fabs) < 1e-6 * $NODE_W)" <sh.json &&
	jq -e "all(.series.ranks[0].node[]; (.domains.node.mean_w - $NODE_W | fabs) < 1e-6 * $NODE_W)" <sh.json &&
	jq -e "(([.series.buckets[].domains.node.energy_j] | add) - .total.energy_j | fabs) <= 1e-6 * .total.energy_j" <sh.json
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
	jq -c "[.series.buckets[] | [((.start - $at) * 1e3 | round / 1e3), (.domains.node.mean_w * 10 | round / 10)]]" <step.json &&
	before=".series.buckets[] | select(.end < $at - 0.06)" &&
	after=".series.buckets[] | select(.start > $at + 0.3)" &&
	jq -e "([$before] | length) >= 5 and ([$after] | length) >= 5" <step.json &&
	for kind_w in node:1760:3360 cpu:800:2400 gpu:800:800 mem:160:160; do
		kind=${kind_w%%:*} w0=${kind_w#*:} w0=${w0%:*} w1=${kind_w##*:} &&
		jq -e "all($before; (.domains.$kind.mean_w - $w0 | fabs) <= 0.01 * $w0)" <step.json &&
		jq -e "all($after; (.domains.$kind.mean_w - $w1 | fabs) <= 0.01 * $w1)" <step.json &&
		jq -e "all(.series.buckets[].domains.$kind.mean_w; $w0 * 0.99 <= . and . <= $w1 * 1.01)" <step.json || return 1
	done &&
	jq -e "(([.series.buckets[].domains.node.energy_j] | add) - .total.energy_j | fabs) <= 1e-6 * .total.energy_j" <step.json
'
test_expect_success 'a running job'"'"'s series goes up to now and grows' '
	flux submit -N2 -x sleep 60 >running.id &&
	flux job wait-event -t 30 $(cat running.id) start &&
	sleep 0.5 &&
	series $(cat running.id) "{\"buckets\": 8}" >run1.json &&
	sleep 1 &&
	series $(cat running.id) "{\"buckets\": 8}" >run2.json &&
	jq -e ".running == true" <run1.json &&
	jq -e ".series.buckets | length == 8" <run2.json &&
	e1=$(jq .series.end <run1.json) &&
	j1=$(jq "[.series.buckets[].domains.node.energy_j] | add" <run1.json) &&
	jq -e ".series.end >= $e1 + 0.9" <run2.json &&
	jq -e "([.series.buckets[].domains.node.energy_j] | add) > $j1 + 0.9 * 2 * $NODE_W" <run2.json &&
	jq -e "(([.series.buckets[].domains.node.energy_j] | add) - .total.energy_j | fabs) <= 1e-6 * .total.energy_j" <run2.json &&
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
