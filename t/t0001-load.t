#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only

test_description='power-monitor loads on every rank, in a thread and with --exec,
fails a bad option without harm to the broker, reloads, and leaves jobs and
flux exec working.'

. "$(dirname "$0")"/sharness.d/power-monitor.sh
test_under_flux 4
. "$SHARNESS"
pm_skip_without_flux

test_expect_success 'power-monitor.so exports only mod_main and leaves no nvml symbol undefined' '
	nm -D --defined-only "$PM_MODULE" | grep " T " >defined &&
	test "$(awk "{print \$3}" defined)" = mod_main &&
	! nm -D --undefined-only "$PM_MODULE" | grep nvml
'
test_expect_success 'load on all ranks in a broker thread' '
	pm_load_all -r 0.05 &&
	flux exec -r all sh -c "flux module list | grep -q ^power-monitor"
'
test_expect_success 'module stats show the source, buffer and sample cost' '
	sleep 0.3 &&
	flux module stats power-monitor >stats.json &&
	jq -r .source <stats.json | grep "^variorum (" &&
	jq -e ".buffer.cap == 100000" <stats.json &&
	jq -e ".buffer.len > 0" <stats.json &&
	jq -e ".buffer.bytes_per_sample | type == \"number\" and . <= 64" <stats.json &&
	jq -e ".newest_sample > .oldest_sample and .oldest_sample > 0" <stats.json &&
	jq -e ".sampler.sample_cost_mean_us > 0" <stats.json &&
	jq -e ".layout == {\"cpu\": 2, \"mem\": 2, \"gpu\": 4}" <stats.json &&
	jq -e ".last_error == \"\"" <stats.json
'
test_expect_success '20 jobs in a row complete with the module loaded' '
	for i in $(seq 1 20); do
		flux run -N4 --wait-event=clean true || return 1
	done &&
	test "$(flux jobs -a -f completed -n | wc -l)" -ge 20
'
test_expect_success 'flux exec still completes (SIGCHLD reaches the broker)' '
	for i in 1 2 3 4 5; do
		timeout 30 flux exec -r all true || return 1
	done
'
test_expect_success 'a second load on a rank fails, the first keeps running' '
	test_must_fail flux module load power-monitor &&
	flux module stats power-monitor >/dev/null
'
test_expect_success 'remove then load again works (nothing leaks across a reload)' '
	pm_unload_all &&
	flux exec -r all sh -c "! flux module list | grep -q ^power-monitor" &&
	pm_load_all -r 0.05 -s 300 &&
	flux module stats power-monitor >stats2.json &&
	jq -e ".buffer.cap == 300" <stats2.json &&
	jq -e ".queries_answered == 0" <stats2.json &&
	flux dmesg | grep -v "callbacks still registered" >/dev/null &&
	! flux dmesg | grep "callbacks still registered"
'
test_expect_success 'ten reloads in a row, jobs still complete' '
	for i in $(seq 1 10); do
		flux module remove power-monitor &&
		flux module load power-monitor -r 0.02 || return 1
	done &&
	flux run -N4 true
'
test_expect_success 'unload from every rank' '
	pm_unload_all
'
test_expect_success 'sub-second sampling: -r 0.01 takes many samples a second' '
	flux module load power-monitor -r 0.01 &&
	flux module stats power-monitor | jq -e ".period_s == 0.01" &&
	n0=$(flux module stats power-monitor | jq .buffer.total) &&
	sleep 1 &&
	n1=$(flux module stats power-monitor | jq .buffer.total) &&
	echo "$n0 -> $n1 samples in 1 s" &&
	test $((n1 - n0)) -ge 30 &&
	flux module remove power-monitor
'

# Bad options: the load fails with a message naming the option, and the
# broker keeps running.
bad_option() {
	test_must_fail flux module load power-monitor "$@" 2>err &&
	flux dmesg | grep "power-monitor.err" | tail -1 >log &&
	grep "Invalid argument" err &&
	flux getattr rank >/dev/null &&
	! flux module list | grep -q ^power-monitor
}
test_expect_success 'bad option: -r abc' '
	bad_option -r abc &&
	grep "option -r: \"abc\" is not a number of seconds" log
'
test_expect_success 'bad option: --period below the minimum' '
	bad_option --period=0.001 &&
	grep "option --period: 0.001 s is below the minimum of 0.01 s" log
'
test_expect_success 'bad option: -s 0' '
	bad_option -s 0 &&
	grep "option -s: 0 is too small" log
'
test_expect_success 'bad option: --batch below the period' '
	bad_option -r 1 --batch=0.5 &&
	grep "option --batch: 0.5 s is below the period of 1 s (0 hands each sample over at once)" log
'
test_expect_success 'bad option: unknown option' '
	bad_option --frobnicate &&
	grep "unknown option -frobnicate" log
'
test_expect_success 'bad option: stray argument' '
	bad_option -s 10 extra &&
	grep "unexpected argument \"extra\"" log
'
test_expect_success 'the broker is fine after the bad loads: load works' '
	flux module load power-monitor &&
	flux run true &&
	flux module remove power-monitor
'

test_expect_success 'load with --exec (module in its own process) on all ranks' '
	flux exec -r all flux module load --exec power-monitor -r 0.05 &&
	flux exec -r all sh -c "flux module list | grep -q ^power-monitor" &&
	flux run -N4 sleep 0.3 &&
	flux power-query -j $(flux job last) --json >exec.json &&
	jq -e ".ranks | length == 4" <exec.json &&
	jq -e ".total.data_presence == \"complete\"" <exec.json &&
	timeout 30 flux exec -r all true &&
	pm_unload_all
'

test_expect_success 'without libvariorum the module loads, says why, and queries say so' '
	flux module load power-monitor --source=variorum --variorum-lib=/nonexistent/libvariorum.so &&
	flux dmesg | grep "no power source: variorum: cannot load libvariorum: dlopen \"/nonexistent/libvariorum.so\"" &&
	flux module stats power-monitor >nosrc.json &&
	jq -e ".source == \"none\"" <nosrc.json &&
	jq -r .last_error <nosrc.json | grep /nonexistent/libvariorum.so &&
	flux run true &&
	flux power-query -j $(flux job last) --json >nosrc-q.json &&
	jq -r ".ranks[0].reason" <nosrc-q.json | grep "^no power source: " &&
	jq -e ".ranks[0].data_presence == \"none\"" <nosrc-q.json &&
	flux module remove power-monitor
'
test_expect_success 'with auto, a missing libvariorum falls back to the native sensors found' '
	flux module load power-monitor --variorum-lib=/nonexistent/libvariorum.so &&
	flux module stats power-monitor | jq -r .source | grep "^nvml" &&
	flux dmesg | grep "source variorum not used: variorum: cannot load libvariorum" &&
	flux module remove power-monitor
'
test_expect_success 'a failing Variorum is logged once, shown in stats, and recovers' '
	flux module load power-monitor -r 0.05 &&
	pm_stub VARIORUM_STUB_FAIL=1 &&
	pm_wait_for 10 sh -c "flux module stats power-monitor | grep -q \"variorum_get_power_json returned -1\"" &&
	sleep 0.5 &&
	test "$(flux dmesg | grep -c "power-monitor\.err.*: sample failed")" = 1 &&
	pm_stub &&
	pm_wait_for 10 sh -c "flux dmesg | grep -q \"sampling works again\"" &&
	flux module stats power-monitor | jq -e ".sampler.errors > 0" &&
	flux module remove power-monitor
'

# --batch=60 holds every sample of a 1 s job at 0.05 s (20, below the 100
# that make a full batch) back: only the flush before each rank's window
# puts them in the query.
test_expect_success 'with --batch, a query right after a job sees all its samples' '
	pm_load_all -r 0.05 --batch=60 &&
	flux run -N4 sleep 1 &&
	flux power-query -j $(flux job last) --json >batch.json &&
	jq -e ".total.data_presence == \"complete\"" <batch.json &&
	jq -e "[.ranks[].samples >= 15] == [true, true, true, true]" <batch.json &&
	flux module stats power-monitor >batch-stats.json &&
	jq -e ".sampler.samples >= 20" <batch-stats.json &&
	jq -e ".buffer.len == .sampler.samples" <batch-stats.json &&
	pm_unload_all
'

test_done
