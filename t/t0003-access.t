#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only

test_description='Only the instance owner and the job owner may query a job:
a guest is refused another user'"'"'s job and served its own, and guests cannot
use the owner-only RPCs.'

. "$(dirname "$0")"/sharness.d/power-monitor.sh
test_under_flux 2
. "$SHARNESS"
pm_skip_without_flux

OTHER=$(($(id -u) + 4242))

test_expect_success 'load the module and run a job as the instance owner' '
	pm_load_all -r 0.05 &&
	flux run -N2 sleep 0.5 &&
	flux job last >jobid
'
test_expect_success 'a guest with another uid is refused the job' '
	test_must_fail as_guest $OTHER flux power-query -j $(cat jobid) 2>err &&
	cat err &&
	test $(wc -l <err) = 1 &&
	grep "belongs to another user: only its owner or the instance owner may query it" err
'
test_expect_success 'a guest with the job owner'"'"'s uid is served its own job' '
	as_guest $(id -u) flux power-query -j $(cat jobid) --json >own.json &&
	jq -e ".ranks | length == 2" <own.json &&
	jq -e ".userid == $(id -u)" <own.json &&
	jq -e ".total.data_presence == \"complete\"" <own.json
'
test_expect_success 'a guest may not query ranks by time interval' '
	now=$(date +%s) &&
	test_must_fail as_guest $(id -u) flux power-query --ranks=0 --start=$((now - 1)) 2>err &&
	grep "only the instance owner may query ranks by time interval" err
'
test_expect_success 'a guest is refused the per-rank window RPC' '
	now=$(date +%s) &&
	test_must_fail as_guest $(id -u) flux python -c "
import flux, sys
try:
    flux.Flux().rpc(\"power-monitor.window\", {\"start\": $now - 1, \"end\": $now}, nodeid=0).get()
except OSError as e:
    print(e.errno, file=sys.stderr); sys.exit(1)
" 2>err &&
	grep "^1$" err
'
test_expect_success 'a guest is refused module stats' '
	test_must_fail as_guest $(id -u) flux module stats power-monitor
'
test_expect_success 'a guest'"'"'s word on a job'"'"'s R is not taken, the owner'"'"'s is' '
	id=$(flux job id $(cat jobid)) &&
	flux job info $(cat jobid) R >R.json &&
	test_must_fail as_guest $(id -u) pm_rpc power-monitor.query "{\"jobid\": $id, \"R\": $(cat R.json)}" 2>err &&
	cat err &&
	grep "^1: only the instance owner may give a job.s R" err &&
	test_must_fail pm_rpc power-monitor.query "{\"jobid\": $id, \"R\": {\"version\": 1, \"execution\": {\"R_lite\": []}}}" 2>err &&
	cat err &&
	grep "^22: R: no rank in R_lite" err &&
	end=$(flux jobs -n -o "{t_cleanup}" $(cat jobid)) &&
	pm_rpc power-monitor.query "{\"jobid\": $id, \"R\": $(cat R.json), \"end\": $end}" >givenR.json &&
	jq -e --argjson s "$(jq .execution.starttime R.json)" ".start == \$s and .rankset == \"0-1\" and .userid == $(id -u) and .total.data_presence == \"complete\"" givenR.json
'
test_expect_success 'the instance owner may query any job' '
	flux power-query -j $(cat jobid) >/dev/null
'
test_expect_success 'unload' '
	pm_unload_all
'
test_done
