#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only

test_description='flux power-query reports a job per rank and per device, with
energies equal to the stand-in Variorum watts times the job duration, in
every output format, for finished and running jobs, and fails clearly.'

. "$(dirname "$0")"/sharness.d/power-monitor.sh
test_under_flux 4
. "$SHARNESS"
pm_skip_without_flux

# The stand-in: 2 sockets of 100 W cpu and 20 W mem, 2 GPUs per socket of
# 50 W: 440 W a node.
NODE_W=440

# check_energy FILE [W]: every rank's node energy is NODE_W x the window and
# the job's energy W x the window (W: NODE_W, the whole node, unless given),
# and the totals are the sums, to a microjoule-per-joule plus a microsecond of
# the power: start and end are Unix seconds in float64, exact to about
# 0.24 us, which on a job of a few tens of ms is more than 1e-6 of its energy.
check_energy() {
	_w=${2:-$NODE_W}
	jq -e "(.end - .start) as \$win |
all(.ranks[]; (.node_energy_j - $NODE_W * \$win | fabs) <= 1e-6 * .node_energy_j + $NODE_W * 1e-6)
and all(.ranks[]; (.energy_j - $_w * \$win | fabs) <= 1e-6 * .energy_j + $_w * 1e-6)
and (.total.node_energy_j - (.ranks | length) * $NODE_W * .total.duration_s | fabs) < 1e-3
and (.total.energy_j - (.ranks | length) * $_w * .total.duration_s | fabs) < 1e-3
and (.total.duration_s - \$win | fabs) < 1e-9
" <"$1"
}

test_expect_success 'load the module on all ranks' '
	pm_load_all -r 0.05
'
# The instance's R is this machine's (2 cores a rank, no GPUs): the jobs
# whose energies are the node's hold their nodes whole (-x).
test_expect_success 'run a 4-node job' '
	flux run -N4 -x sleep 1 &&
	jobid=$(flux job last) &&
	echo $jobid >jobid
'
test_expect_success 'the JSON report has 4 complete ranks' '
	flux power-query -j $(cat jobid) --json >job.json &&
	jq -e "[.ranks[].rank] == [0, 1, 2, 3]" <job.json &&
	jq -e "[.ranks[].data_presence] | unique == [\"complete\"]" <job.json &&
	jq -e ".missing == []" <job.json &&
	jq -e ".running == false" <job.json &&
	jq -e ".state == \"INACTIVE\"" <job.json &&
	jq -e ".total.data_presence == \"complete\"" <job.json
'
test_expect_success 'energies are the stand-in watts times the job duration' '
	check_energy job.json &&
	jq -e "(.ranks[0].node_power_w - 440 | fabs) < 1e-6" <job.json &&
	jq -e "(.total.avg_power_w - 1760 | fabs) < 1e-3" <job.json &&
	jq -e "(.total.node_avg_power_w - 1760 | fabs) < 1e-3" <job.json &&
	jq -e "[.ranks[] | [.share.exclusive, .energy_j == .node_energy_j]] == [[true, true], [true, true], [true, true], [true, true]]" <job.json &&
	jq -e ".total.shared == false" <job.json
'
test_expect_success 'the window is the job run window (t_run to t_cleanup)' '
	flux jobs -n -o "{t_run} {t_cleanup}" $(cat jobid) >times &&
	read t_run t_cleanup <times &&
	jq -e "(.start - $t_run | fabs) < 1e-3 and (.end - $t_cleanup | fabs) < 1e-3" <job.json
'
test_expect_success 'per-device energies and powers are right' '
	jq -e ".ranks[1].detail" <job.json >detail.json &&
	jq -e "[.cpu[].mean_w * 1e6 | round / 1e6] == [100, 100]" <detail.json &&
	jq -e "[.mem[].mean_w * 1e6 | round / 1e6] == [20, 20]" <detail.json &&
	jq -e "[.gpu[].mean_w * 1e6 | round / 1e6] == [50, 50, 50, 50]" <detail.json &&
	jq -e "(.cpu[0].energy_j * 4.4 - .node.energy_j | fabs) < 1e-6" <detail.json &&
	jq -e ".samples >= 15" <detail.json &&
	jq -e ".coverage == 1" <detail.json
'
test_expect_success 'the table has a row per rank, the figures per kind and a total' '
	flux power-query -j $(cat jobid) >table &&
	cat table &&
	grep "^job [ƒf]" table &&
	sed -n 2p table >header &&
	for col in RANK HOSTNAME ENERGY POWER CPU_E GPU_E MEM_E COVER; do
		grep -q "$col" header || return 1
	done &&
	! grep -q NODE_E header &&
	test "$(grep -c " 100%$" table)" = 5 &&
	grep "^total 4/4 ranks" table | grep -q "1.76 kW" &&
	! grep "shared" table &&
	test $(sed -n 2,7p table | awk "{ print length }" | sort -n | tail -1) -le 80
'
cat >fmtcheck.jq <<-\EOF
	# the lines of -o "{rank}|{energy_j:.3f}|{coverage:.2f}", from the JSON
	(.ranks[] | "\(.rank)|\(.energy_j)|\(.coverage)"), "total|\(.total.energy_j)|\(.total.coverage)"
EOF
test_expect_success 'a format string prints the fields, numbers in base units with a numeric spec' '
	flux power-query -j $(cat jobid) --json >fmt.json &&
	flux power-query -j $(cat jobid) -o "{rank}|{energy_j:.3f}|{coverage:.2f}" >fmt.out &&
	cat fmt.out &&
	sed -n 2p fmt.out | grep "^RANK|ENERGY|COVER$" &&
	jq -r -f fmtcheck.jq fmt.json |
		awk -F"|" "{ printf \"%s|%.3f|%.2f\n\", \$1, \$2, \$3 }" >want.out &&
	sed -n 3,7p fmt.out >got.out &&
	test_cmp want.out got.out
'
test_expect_success 'named formats: devices has a column per device, long everything; --no-header' '
	flux power-query -j $(cat jobid) -o devices >devices.out &&
	cat devices.out &&
	head -2 devices.out | tail -1 >dev.header &&
	for col in CPU0_P CPU1_P GPU0_P GPU3_P MEM0_P MEM1_P; do
		grep -q "$col" dev.header || return 1
	done &&
	flux power-query -j $(cat jobid) -o long >long.out &&
	head -2 long.out | tail -1 >long.header &&
	for col in NODE_E NODE_P MIN_P MAX_P SAMPLES FIRST LAST SOURCE PRESENCE GPU3_P; do
		grep -q "$col" long.header || return 1
	done &&
	flux power-query -j $(cat jobid) --no-header >nohead.out &&
	test $(wc -l <nohead.out) = 5 &&
	grep "^    0 " nohead.out && tail -1 nohead.out | grep "^total" &&
	flux power-query -j $(cat jobid) --csv --no-header >nohead.csv &&
	test $(wc -l <nohead.csv) = 4 && ! grep "^hostname," nohead.csv
'
# script(1) gives the command a terminal of the width stty sets
test_expect_success 'on an 80-column terminal the table fits, columns dropped whole and named' '
	id=$(cat jobid) &&
	script -qec "stty cols 80; flux power-query -j $id -o long" /dev/null | tr -d "\r" >tty80.out &&
	cat tty80.out &&
	test $(awk "{ print length }" tty80.out | sort -n | tail -1) -le 80 &&
	grep "^not shown to fit 80 columns: " tty80.out &&
	grep -q "^    0 " tty80.out &&
	script -qec "stty cols 400; flux power-query -j $id -o long" /dev/null | tr -d "\r" >tty400.out &&
	! grep "not shown" tty400.out &&
	test $(awk "{ print length }" long.out | sort -n | tail -1) -gt 80 &&
	! grep "not shown" long.out
'
test_expect_success 'the options of old scripts still work and say what replaces them' '
	flux power-query -j $(cat jobid) -f json >old.json 2>old.err &&
	jq -e ".total.energy_j > 0" old.json &&
	grep "\-f json is deprecated: use --json" old.err &&
	flux power-query -j $(cat jobid) --format=csv >old.csv 2>old2.err &&
	head -1 old.csv | grep "^hostname,node_power" &&
	grep "\-\-format csv is deprecated: use --csv" old2.err &&
	flux power-query -j $(cat jobid) -f json -o old-out.json >old.stdout 2>old3.err &&
	test ! -s old.stdout &&
	jq -e ".total.energy_j > 0" old-out.json &&
	grep "\-o FILE is deprecated: use --output=FILE" old3.err &&
	flux power-query -j $(cat jobid) --json >new.json 2>new.err &&
	test_must_be_empty new.err
'
test_expect_success 'the CSV keeps flux-power-monitor columns first' '
	flux power-query -j $(cat jobid) --csv >job.csv &&
	head -1 job.csv | grep "^hostname,node_power,result_start_time,result_end_time,data_presence,cpu_power_0,cpu_power_1,gpu_power_0,gpu_power_1,gpu_power_2,gpu_power_3,mem_power_0,mem_power_1,rank,node_energy_j" &&
	head -1 job.csv | grep ",job_energy_j,job_power_w,cores,gpus,core_fraction,exclusive$" &&
	test $(wc -l <job.csv) = 5 &&
	cut -d, -f2,5,6 job.csv | sort -u >cols &&
	grep "^440,complete,100$" cols &&
	python3 -c "
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
sys.exit(0 if all(r[\"job_energy_j\"] == r[\"node_energy_j\"] and r[\"job_power_w\"] == r[\"node_power\"] and (r[\"cores\"], r[\"gpus\"], r[\"core_fraction\"], r[\"exclusive\"]) == (\"0-1\", \"\", \"1\", \"true\") for r in rows) else 1)
" job.csv
'
# One task a rank holds 1 of its 2 cores: the job shares each node and is
# charged its core fraction of it, 1/2 x 440 W (the instance holds no GPU,
# so the stand-in'"'"'s 4 GPUs are part of what is split).
test_expect_success 'a job of one core a rank is charged half of each node' '
	flux run -N4 -n4 sleep 0.5 &&
	flux power-query -j $(flux job last) --json >half.json &&
	jq -e "[.ranks[] | [.share.cores, .share.core_fraction, .share.exclusive]] == [[\"0\", 0.5, false], [\"0\", 0.5, false], [\"0\", 0.5, false], [\"0\", 0.5, false]]" <half.json &&
	check_energy half.json 220 &&
	jq -e "all(.ranks[]; (.power_w - 220 | fabs) < 1e-6 and (.node_power_w - 440 | fabs) < 1e-6)" <half.json &&
	jq -e "(.total.avg_power_w - 880 | fabs) < 1e-3 and (.total.node_avg_power_w - 1760 | fabs) < 1e-3 and .total.shared == true" <half.json &&
	flux power-query -j $(flux job last) >half.table &&
	cat half.table &&
	grep "^ranks 0-3: shared: charged its 1 of 2 cores'"'"' part of the node$" half.table &&
	grep "^total" half.table | grep -q " 880 W .* 1.76 kW"
'
test_expect_success '-o FILE writes the report there and nothing to stdout' '
	flux power-query -j $(cat jobid) --json --output=out.json >stdout &&
	test ! -s stdout &&
	check_energy out.json
'
# jq 1.6 reads numbers as doubles: the jobids of this fresh instance are below
# 2^53 and print exactly (a larger one would fail the test, not pass it).
test_expect_success 'every jobid encoding gives the same answer' '
	id=$(cat jobid) &&
	for enc in dec hex dothex words f58 kvs; do
		flux job id --to=$enc $id >enc.$enc &&
		flux power-query -j "$(cat enc.$enc)" --json >q.$enc.json &&
		test "$(jq .id <q.$enc.json)" = "$(flux job id --to=dec $id)" || return 1
	done &&
	f=$(flux job id --to=f58 $id) &&
	ascii=$(echo "$f" | sed "s/^ƒ/f/") &&
	flux power-query -j "$ascii" --json >q.ascii.json &&
	test "$(jq -r .jobid <q.ascii.json)" = "$f"
'
test_expect_success 'a job shorter than one sampling period is complete' '
	pm_unload_all &&
	pm_load_all -r 2 &&
	sleep 2.5 &&
	flux run -N4 -x true &&
	flux power-query -j $(flux job last) --json >short.json &&
	jq -e ".total.duration_s | type == \"number\" and . < 2" <short.json &&
	jq -e ".total.data_presence == \"complete\"" <short.json &&
	check_energy short.json &&
	pm_unload_all &&
	pm_load_all -r 0.05
'
test_expect_success 'a running job is reported up to now and says so' '
	jobid=$(flux submit -N4 -x sleep 300) &&
	flux job wait-event $jobid start &&
	sleep 1 &&
	flux power-query -j $jobid --json >run.json 2>run.err &&
	jq -e ".running == true" <run.json &&
	jq -e ".state == \"RUN\"" <run.json &&
	grep "still running: figures cover up to now" run.err &&
	jq -e "(.end - now | fabs) < 5" <run.json &&
	jq -e ".total.data_presence == \"complete\"" <run.json &&
	check_energy run.json &&
	flux power-query -j $jobid >run.table &&
	grep "still running" run.table &&
	flux cancel $jobid
'
# The module was reloaded two tests ago: wait until the interval (the last
# whole second) lies after its first sample on every rank, even on a loaded
# machine, or its start is rightly reported as not yet sampled.
test_expect_success 'rank 0 answers about a running job from the journal, as job-list and job-info would' '
	jobid=$(flux submit -N2 -n2 sleep 300) &&
	flux job wait-event $jobid start &&
	before=$(flux module stats power-monitor | jq .journal.queries_from_journal) &&
	flux power-query -j $jobid --json >j0.json &&
	test $(flux module stats power-monitor | jq .journal.queries_from_journal) -eq $((before + 1)) &&
	flux exec -r 1 flux power-query -j $jobid --json >j1.json &&
	test $(flux module stats power-monitor | jq .journal.queries_from_journal) -eq $((before + 1)) &&
	jq -e --slurpfile b j1.json "
		.start == \$b[0].start and .userid == \$b[0].userid and .state == \$b[0].state and
		.running and \$b[0].running and .rankset == \$b[0].rankset and
		[.ranks[] | {rank, share}] == [\$b[0].ranks[] | {rank, share}] and
		all(.ranks[]; .share.core_fraction == 0.5) and (has(\"share_error\") | not)" j0.json &&
	flux cancel $jobid
'
test_expect_success 'the instance owner can ask for ranks over an interval' '
	sleep 2 &&
	now=$(date +%s) &&
	flux power-query --ranks=1-2 --start=$((now - 1)) --end=$now --json >ranks.json &&
	jq -e "[.ranks[].rank] == [1, 2]" <ranks.json &&
	jq -e "(.total.energy_j - 880 | fabs) < 1e-6" <ranks.json
'

test_expect_success 'ranks outside the instance are refused' '
	test_must_fail flux power-query --ranks=2-9 --start=$(date +%s) 2>err &&
	test $(wc -l <err) = 1 &&
	grep "ranks 2-9: this instance has ranks 0-3" err
'

# With a jobid, ranks and a window narrow the job (they are no longer
# exclusive of it); the owner asked here, t0011 has a guest.
test_expect_success 'a jobid with ranks and a window asks about part of the job' '
	flux run -N4 -x sleep 1 &&
	flux job last >part.id &&
	flux jobs -n -o "{t_run} {t_cleanup}" $(cat part.id) >times &&
	read t_run t_cleanup <times &&
	t0=$(echo "$t_run + 0.2" | bc) && t1=$(echo "$t_cleanup - 0.2" | bc) &&
	pm_rpc power-monitor.query "{\"jobid\": $(flux job id --to=dec $(cat part.id)), \"ranks\": \"1-2\", \"start\": $t0, \"end\": $t1}" >part.json &&
	jq -e "[.ranks[].rank] == [1, 2] and (.start - $t0 | fabs) < 1e-6 and (.end - $t1 | fabs) < 1e-6" <part.json &&
	jq -e "all(.ranks[]; (.job.energy_j - $NODE_W * ($t1 - $t0) | fabs) <= 0.01 * $NODE_W * ($t1 - $t0))" <part.json
'
test_expect_success 'a jobid with ranks outside the instance is refused' '
	test_must_fail pm_rpc power-monitor.query "{\"jobid\": $(flux job id --to=dec $(cat jobid)), \"ranks\": \"2-9\"}" 2>err &&
	test $(wc -l <err) = 1 &&
	grep "^22: ranks 2-9: this instance has ranks 0-3$" err
'

# Errors: one clear line on stderr, non-zero exit.
test_expect_success 'an invalid jobid says so' '
	test_must_fail flux power-query -j not-a-job 2>err &&
	cat err &&
	test $(wc -l <err) = 1 &&
	grep "invalid jobid \"not-a-job\"" err
'
test_expect_success 'an unknown jobid says so' '
	test_must_fail flux power-query -j f2345678 2>err &&
	test $(wc -l <err) = 1 &&
	grep "unknown job ƒ2345678" err
'
test_expect_success 'a job that never ran says so' '
	jobid=$(flux submit --urgency=hold true) &&
	test_must_fail flux power-query -j $jobid 2>err &&
	test $(wc -l <err) = 1 &&
	grep "has not run (state PRIORITY\|has not run (state SCHED\|has not run (state DEPEND" err &&
	flux cancel $jobid &&
	flux job wait-event $jobid clean &&
	test_must_fail flux power-query -j $jobid 2>err2 &&
	grep "has not run (state INACTIVE)" err2
'
test_expect_success 'missing -j says what to give' '
	test_must_fail flux power-query 2>err &&
	grep "give a job with -j JOBID" err
'
test_expect_success 'a bad format says so' '
	test_must_fail flux power-query -j $(cat jobid) --format=xml 2>err &&
	grep "format \"xml\" names no field" err &&
	test_must_fail flux power-query -j $(cat jobid) -o "{rank} {nope}" 2>err2 &&
	grep "unknown field \"nope\"" err2 &&
	test_must_fail flux power-query -j $(cat jobid) -f xml 2>err3 &&
	grep "\-f takes table, json or csv" err3
'
test_expect_success 'outside an instance it says it cannot connect' '
	(unset FLUX_URI; FLUX_URI=local:///nonexistent/sock; export FLUX_URI;
	 test_must_fail flux power-query -j $(cat jobid) 2>err) &&
	grep "cannot connect to Flux" err
'
test_expect_success 'with the module not loaded it says so' '
	pm_unload_all &&
	test_must_fail flux power-query -j $(cat jobid) 2>err &&
	test $(wc -l <err) = 1 &&
	grep "the power-monitor module is not loaded" err
'

test_done
