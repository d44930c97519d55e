#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only

test_description='A rank without the module or a frozen rank shows as missing
without a hang; a slow sample never stalls RPC handling; windows the buffer
no longer holds, or that precede the module, are partial with the reason.'

. "$(dirname "$0")"/sharness.d/power-monitor.sh
test_under_flux 4
. "$SHARNESS"
pm_skip_without_flux

test_expect_success 'load on ranks 0-2 only, run a 4-node job' '
	flux exec -r 0-2 flux module load power-monitor -r 0.05 &&
	flux run -N4 sleep 0.5 &&
	flux job last >jobid
'
test_expect_success 'the rank without the module is missing, the query still answers' '
	timeout 20 flux power-query -j $(cat jobid) --json >q.json 2>err &&
	jq -e "[.ranks[].rank] == [0, 1, 2]" <q.json &&
	jq -e "[.missing[] | [.rank, .reason]] == [[3, \"module not loaded on rank\"]]" <q.json &&
	jq -e ".total.data_presence == \"partial\"" <q.json &&
	jq -e "[.total.answered, .total.ranks] == [3, 4]" <q.json &&
	jq -e "(.total.coverage - 0.75 | fabs) < 1e-6" <q.json &&
	grep "1 of 4 ranks gave no data: 3 (module not loaded on rank)" err
'
test_expect_success 'the table shows the missing rank' '
	flux power-query -j $(cat jobid) >table 2>/dev/null &&
	test_debug "cat table" &&
	grep "^    3 .* -  *-  *-" table &&
	grep "^rank 3: missing: module not loaded on rank" table &&
	grep "3/4 ranks" table &&
	flux power-query -j $(cat jobid) -o long 2>/dev/null | grep "missing (module not loaded on rank)"
'
test_expect_success 'load on rank 3 too' '
	flux exec -r 3 flux module load power-monitor -r 0.05
'
test_expect_success 'a frozen rank is missing after the timeout, not a hang' '
	flux run -N4 sleep 0.3 &&
	id=$(flux job last) &&
	pid=$(flux exec -r 3 flux getattr broker.pid) &&
	kill -STOP $pid &&
	test_when_finished "kill -CONT $pid" &&
	timeout 30 flux power-query -j $id -t 2 --json >frozen.json 2>err;
	rc=$?;
	kill -CONT $pid &&
	test $rc = 0 &&
	jq -e "[.missing[] | [.rank, .reason, .error]] == [[3, \"rank did not answer\", \"no answer within 2s\"]]" <frozen.json &&
	jq -e ".ranks | length == 3" <frozen.json
'
test_expect_success 'the rank answers again once it thaws' '
	pm_wait_for 20 flux exec -r 3 true &&
	flux power-query -j $(flux job last) --json >thawed.json &&
	jq -e ".ranks | length == 4" <thawed.json
'
test_expect_success 'a slow sample (3 s) does not stall stats or queries' '
	pm_stub VARIORUM_STUB_DELAY_MS=3000 &&
	sleep 0.5 &&
	timeout 2 flux module stats power-monitor >/dev/null &&
	timeout 2 flux exec -r all flux module stats power-monitor >/dev/null &&
	timeout 2 flux power-query -j $(cat jobid) >/dev/null &&
	pm_stub &&
	sleep 3.5 &&
	flux module stats power-monitor | jq -e ".sampler.sample_cost_max_us > 2.5e6"
'
test_expect_success 'reload with a 10-sample buffer: a longer job is partial, overwritten' '
	pm_unload_all &&
	pm_load_all -r 0.05 -s 10 &&
	flux run -N4 sleep 1.5 &&
	flux power-query -j $(flux job last) --json >ow.json &&
	jq -e "[.ranks[].data_presence] | unique == [\"partial\"]" <ow.json &&
	jq -e "[.ranks[].reason] | unique == [\"overwritten\"]" <ow.json &&
	jq -e "all(.ranks[]; .coverage > 0.1 and .coverage < 0.9)" <ow.json &&
	flux module stats power-monitor | jq -e ".buffer.overwritten > 0"
'
test_expect_success 'a job that started before the module is partial, not yet sampled' '
	pm_unload_all &&
	id=$(flux submit -N4 sleep 3) &&
	flux job wait-event $id start &&
	sleep 1 &&
	pm_load_all -r 0.05 &&
	flux job wait-event $id clean &&
	flux power-query -j $id --json >late.json &&
	jq -e "[.ranks[].reason] | unique == [\"not yet sampled\"]" <late.json &&
	jq -e "all(.ranks[]; .coverage > 0.3 and .coverage < 0.9)" <late.json
'
test_expect_success 'jobs and flux exec still complete' '
	flux run -N4 true &&
	timeout 30 flux exec -r all true &&
	pm_unload_all
'
test_done
