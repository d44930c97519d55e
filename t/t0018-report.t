#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only

test_description='flux power-query --report sums the power records that
power-record.so writes into the eventlogs of inactive jobs, exactly, per
user, bank or day, with cost and CO2e, in every format; a guest sees only
its own jobs; and flux power-query -j answers from the record once the
samples are gone.'

. "$(dirname "$0")"/sharness.d/power-monitor.sh
test_under_flux 4
. "$SHARNESS"
pm_skip_without_flux

PM_RECORD=$PM_BUILDDIR/jobtap/power-record.so
if ! test -f "$PM_RECORD"; then
	pm_skip_all "jobtap/power-record.so is not built (make jobtap/power-record.so)"
fi

ME=$(id -u)
G1=$((ME + 4242))
G2=$((ME + 4343))

# name_of UID: the name the report shows for UID (its uid without one)
name_of() {
	getent passwd "$1" | cut -d: -f1 | grep . || echo "$1"
}

# submit_as UID [SUBMIT-OPTIONS]: submit `true` as the user UID and print
# its id, as flux-core's own tests do (t2264): signed with libjob's "none"
# mechanism as UID, which job-ingest takes from the instance owner's
# credentials with the userid UID. It asks for job-exec's test mode, which
# job-exec refuses a guest (as it would a job shell, without flux-imp): the
# job is allocated its node, ends at once with an exec exception, and gets
# its record for that moment, as any job that was allocated.
submit_as() {
	_uid=$1; shift
	flux run --dry-run -N1 --setattr=system.exec.test.run_duration=0.3s "$@" true >spec.$_uid &&
	python3 -c '
import base64, sys
header = b"version\0i1\0userid\0i" + sys.argv[1].encode() + b"\0mechanism\0snone\0"
payload = open(sys.argv[2], "rb").read()
print(base64.b64encode(header).decode() + "." + base64.b64encode(payload).decode() + ".none")
' "$_uid" spec.$_uid >signed.$_uid &&
	FLUX_HANDLE_USERID=$_uid flux job submit --flags=signed signed.$_uid
}

# inactive_count N: job-list lists N inactive jobs (it follows the
# job-manager, a moment behind)
inactive_count() {
	test "$(flux jobs -A -n -c 0 -f inactive -o "{id}" | wc -l)" -eq "$1"
}

# journal KEY: print rank 0's module stats journal.KEY
journal() {
	flux module stats power-monitor | jq -r ".journal.$1"
}

# index_count N: rank 0's records index holds N inactive jobs
index_count() {
	test "$(journal caught_up)" = true && test "$(journal inactive_jobs)" -eq "$1"
}

# records: every inactive job's power record, from `flux job eventlog`, as
# a JSON array of {"id": ID, "record": RECORD} (the report is checked
# against these, computed here with jq)
records() {
	for id in $(flux jobs -A -n -c 0 -f inactive -o "{id.dec}"); do
		flux job eventlog -f json "$id" |
			jq -c --argjson id "$id" 'select(.name == "power") | {id: $id, record: .context}' || return 1
	done | jq -s .
}

test_expect_success 'load the module on all ranks and power-record.so' '
	pm_load_all -r 0.05 &&
	flux jobtap load "$PM_RECORD"
'
test_expect_success 'an old job, then a mark in time' '
	flux run -N1 true &&
	flux job last >old &&
	flux job wait-event -t 30 $(cat old) clean &&
	sleep 1 &&
	date +%s.%N >mark &&
	sleep 1
'
test_expect_success 'jobs of the owner and of two guests, with banks' '
	flux run -N2 -x --setattr=system.bank=physics sleep 0.5 &&
	flux job last >owner2 &&
	flux run -N1 --setattr=system.bank=chem true &&
	submit_as $G1 --setattr=system.bank=physics >g1.a &&
	submit_as $G1 --setattr=system.bank=physics >g1.b &&
	submit_as $G2 >g2.a &&
	for id in $(cat g1.a g1.b g2.a); do
		flux job wait-event -t 30 $id clean || return 1
	done &&
	pm_wait_for 20 inactive_count 6 &&
	records >records.json &&
	jq -e "length == 6" records.json &&
	jq -e "[.[].record.data_presence] | unique == [\"complete\"]" records.json &&
	jq -e "[.[].record.userid] | unique == [$ME, $G1, $G2]" records.json
'
test_expect_success 'the report totals are the sums of the records, in job-id order, to the bit' '
	flux power-query --report --json >all.json &&
	cat all.json &&
	jq -e ".total.jobs == 6 and .total.no_record == 0 and .total.partial == 0 and .total.no_data == 0" all.json &&
	jq -e ".groups == [] and .by == [] and .since == null and .until == null" all.json &&
	jq -e --slurpfile r records.json "
		(\$r[0] | sort_by(.id)) as \$recs |
		.total.energy_j == (\$recs | reduce .[] as \$j (0; . + \$j.record.energy_j)) and
		.total.node_energy_j == (\$recs | reduce .[] as \$j (0; . + \$j.record.node_energy_j)) and
		.total.node_seconds == (\$recs | reduce .[] as \$j (0; . + \$j.record.nnodes * \$j.record.duration_s)) and
		.total.energy_j > 0" all.json &&
	jq -e ".total.energy_kwh == .total.energy_j / 3600000 and .total.node_hours == .total.node_seconds / 3600" all.json
'
test_expect_success 'rank 0 holds every inactive job'"'"'s record as posted, and the report reads them there' '
	pm_wait_for 20 index_count 6 &&
	pm_rpc power-monitor.records "{}" >index.json &&
	jq -e --slurpfile r records.json "[.jobs[] | {id, record}] == (\$r[0] | sort_by(.id))" index.json &&
	jq -e --slurpfile r records.json "[.jobs[].userid] == [\$r[0] | sort_by(.id) | .[].record.userid]" index.json &&
	before=$(journal records_lists) &&
	flux power-query --report --json >again.json &&
	test $(journal records_lists) -eq $((before + 1)) &&
	jq -e --slurpfile a all.json ". == \$a[0]" again.json
'
test_expect_success 'a guest lists its own records only, and is refused another user'"'"'s' '
	as_guest $G1 pm_rpc power-monitor.records "{}" >g1index.json &&
	jq -e "(.jobs | length) == 2 and all(.jobs[]; .userid == $G1)" g1index.json &&
	test_must_fail as_guest $G1 pm_rpc power-monitor.records "{\"userid\": $G2}" 2>err &&
	cat err &&
	grep "only the instance owner may list another user" err &&
	pm_rpc power-monitor.records "{\"userid\": $G2}" | jq -e "(.jobs | length) == 1"
'
test_expect_success 'the table has the figures and a TOTAL line' '
	flux power-query --report >all.table &&
	cat all.table &&
	grep "^jobs that became inactive: 6$" all.table &&
	for col in JOBS NODE-H ENERGY-KWH ENERGY-J; do
		grep -q " $col" all.table || return 1
	done &&
	grep -q "^TOTAL .* 6 " all.table &&
	! grep -q COST all.table &&
	! grep -q NO-RECORD all.table &&
	flux power-query --report -o long >all.long &&
	for col in NO-RECORD PARTIAL NO-DATA NODE-S NODE-ENERGY; do
		grep -q " $col" all.long || return 1
	done &&
	flux power-query --report --no-header -o "{label} {jobs} {energy_j:.1f}" >all.fmt &&
	test "$(cat all.fmt)" = "TOTAL 6 $(printf "%.1f" $(jq .total.energy_j all.json))"
'
test_expect_success '--by=user gives one line per user, each the sum of its records' '
	flux power-query --report --by=user --json >user.json &&
	jq -e "[.groups[].userid] | sort == [$ME, $G1, $G2]" user.json &&
	jq -e "[.groups[].jobs] | add == 6" user.json &&
	jq -e --slurpfile r records.json "
		(\$r[0] | sort_by(.id)) as \$recs |
		all(.groups[]; . as \$g | .energy_j == ([\$recs[] | select(.record.userid == \$g.userid)] | reduce .[] as \$j (0; . + \$j.record.energy_j)))" user.json &&
	flux power-query --report --by=user >user.table &&
	cat user.table &&
	test $(grep -c "^$(name_of $G1) " user.table) = 1 &&
	test $(grep -c "^$(name_of $G2) " user.table) = 1 &&
	test $(grep -c "^$(name_of $ME) " user.table) = 1 &&
	test $(grep -c "TOTAL" user.table) = 1 &&
	grep -q "USER" user.table
'
test_expect_success '--by=bank,user groups by the bank of the records' '
	flux power-query --report --by=bank,user --json >bank.json &&
	jq -e "[.groups[] | [.bank, .userid, .jobs]] | sort == ([[\"-\", $ME, 1], [\"-\", $G2, 1], [\"chem\", $ME, 1], [\"physics\", $ME, 1], [\"physics\", $G1, 2]] | sort)" bank.json
'
test_expect_success '--by=day: the day of t_inactive, local time' '
	flux power-query --report --by=day --json >day.json &&
	jq -e "[.groups[].jobs] | add == 6" day.json &&
	jq -e --arg today "$(date +%Y-%m-%d)" --arg yday "$(date -d yesterday +%Y-%m-%d)" \
		"all(.groups[]; .day == \$today or .day == \$yday)" day.json
'
test_expect_success 'a guest sees only its own jobs' '
	as_guest $G1 flux power-query --report --json >g1.json &&
	jq -e ".total.jobs == 2" g1.json &&
	jq -e --slurpfile r records.json "
		.total.energy_j == ([\$r[0] | sort_by(.id) | .[] | select(.record.userid == $G1)] | reduce .[] as \$j (0; . + \$j.record.energy_j))" g1.json &&
	as_guest $G1 flux power-query --report --user=$G1 --json >g1-self.json &&
	jq -e ".total.jobs == 2" g1-self.json &&
	as_guest $ME flux power-query --report --json >me-guest.json &&
	jq -e ".total.jobs == 3" me-guest.json
'
test_expect_success 'a guest is refused another user, in one line' '
	test_must_fail as_guest $G1 flux power-query --report --user=$G2 2>err &&
	cat err &&
	test $(wc -l <err) = 1 &&
	grep "only the instance owner may report another user" err
'
test_expect_success 'the instance owner may report any user (--user=UID or name)' '
	flux power-query --report --user=$G2 --json >g2.json &&
	jq -e ".total.jobs == 1" g2.json &&
	flux power-query --report --user=$(id -un) --json >me.json &&
	jq -e ".total.jobs == 3" me.json
'
test_expect_success '--since excludes the jobs that became inactive before, --until keeps only them' '
	flux power-query --report --since=$(cat mark) --json >since.json &&
	jq -e ".total.jobs == 5 and .since > 0" since.json &&
	flux power-query --report --until=$(cat mark) --json >until.json &&
	jq -e ".total.jobs == 1" until.json &&
	jq -e --slurpfile r records.json --argjson old "$(flux job id $(cat old))" \
		".total.energy_j == (\$r[0][] | select(.id == \$old) | .record.energy_j)" until.json &&
	flux power-query --report --since=-1h --json >hour.json &&
	jq -e ".total.jobs == 6" hour.json &&
	flux power-query --report --since=today --until=tomorrow --json >today.json &&
	jq -e ".total.jobs >= 0" today.json &&
	flux power-query --report --since=-1h >since.table &&
	grep "^jobs that became inactive since .*: 6$" since.table &&
	flux power-query --report --since=$(cat mark) --until=now >window.table &&
	grep "^jobs that became inactive from .* to .*: 5$" window.table
'
test_expect_success '--price and --carbon: COST = kWh x price, CO2E-KG = kWh x g / 1000' '
	flux power-query --report --by=user --price=0.25 --carbon=400 --json >cost.json &&
	jq -e ".price_per_kwh == 0.25 and .carbon_g_per_kwh == 400" cost.json &&
	jq -e "all(.groups[], .total; .cost == .energy_kwh * 0.25 and .co2e_kg == .energy_kwh * 400 / 1000 and .energy_kwh == .energy_j / 3600000)" cost.json &&
	flux power-query --report --price=0.25 --carbon=400 >cost.table &&
	cat cost.table &&
	grep -q " COST " cost.table &&
	grep -q " CO2E-KG " cost.table &&
	grep "COST = ENERGY-KWH x 0.25; CO2E-KG = ENERGY-KWH x 400 g / 1000" cost.table
'
test_expect_success 'CSV: a header, a line per group, a TOTAL line, numbers as summed' '
	flux power-query --report --by=user --price=1 --csv >user.csv &&
	cat user.csv &&
	test "$(head -1 user.csv)" = "user,userid,jobs,node_hours,energy_kwh,energy_j,cost,no_record,partial,no_data" &&
	test $(wc -l <user.csv) = 5 &&
	grep "^TOTAL,,6," user.csv &&
	total_j=$(grep ^TOTAL user.csv | cut -d, -f6) &&
	jq -e --argjson t "$total_j" ".total.energy_j == \$t" all.json &&
	flux power-query --report --csv --output=total.csv &&
	test "$(head -1 total.csv)" = "jobs,node_hours,energy_kwh,energy_j,no_record,partial,no_data" &&
	test $(wc -l <total.csv) = 2
'
test_expect_success 'bad options fail in one line' '
	for args in "--since=garbage" "--until=-1y" "--by=week" "--by=user,user" "--price=-1" "--carbon=x" "-j 1" "--since=+1h"; do
		test_must_fail flux power-query --report $args 2>err &&
		cat err &&
		test $(wc -l <err) = 1 || return 1
	done &&
	test_must_fail flux power-query --report --since=garbage 2>err &&
	grep "invalid time \"garbage\"" err &&
	test_must_fail flux power-query --report -j 1 2>err &&
	grep "give it without -j" err &&
	test_must_fail flux power-query -j 1 --by=user 2>err &&
	grep "goes with --report" err
'
test_expect_success 'flux power-query -j answers from the module while it has the samples' '
	flux power-query -j $(cat owner2) --json >live.json &&
	jq -e ".total.data_presence == \"complete\" and (has(\"from_record\") | not)" live.json &&
	flux power-query -j $(cat owner2) >live.table &&
	! grep "from the job.s record" live.table
'
test_expect_success 'after the module is reloaded, -j answers from the record and says so' '
	flux exec -r all flux module reload power-monitor -r 0.05 &&
	flux power-query -j $(cat owner2) >rec.table &&
	cat rec.table &&
	grep "^job [ƒf].*: from the job.s record, written when it ended (the power-monitor samples are gone: they cover 0% of the job.s run, the record 100%" rec.table &&
	flux power-query -j $(cat owner2) --json >rec.json 2>rec.err &&
	cat rec.json &&
	grep "from the job.s record" rec.err &&
	id=$(flux job id $(cat owner2)) &&
	jq -e --slurpfile r records.json --argjson id $id \
		".from_record == true and .id == \$id and (.jobid | length) > 0 and .record == (\$r[0][] | select(.id == \$id) | .record)" rec.json &&
	flux power-query -j $(cat owner2) --csv >rec.csv &&
	head -1 rec.csv | grep "^jobid,from_record,why,version,energy_j," &&
	sed -n 2p rec.csv | grep ",true,"
'
test_expect_success 'after the reload, rank 0 has read the records again from the journal' '
	pm_wait_for 20 index_count 6 &&
	pm_rpc power-monitor.records "{}" >index2.json &&
	jq -e --slurpfile i index.json ". == \$i[0]" index2.json
'
test_expect_success 'a guest gets its own job from its record too, and is refused another' '
	as_guest $G1 flux power-query -j $(cat g1.a) --json >g1rec.json &&
	jq -e ".from_record == true and .record.userid == $G1" g1rec.json &&
	test_must_fail as_guest $G2 flux power-query -j $(cat g1.a) 2>err &&
	cat err &&
	test $(wc -l <err) = 1
'
test_expect_success 'a job that never ran has a record without figures: counted in JOBS only' '
	flux submit --urgency=hold true >held &&
	flux cancel $(cat held) &&
	flux job wait-event -t 30 $(cat held) clean &&
	pm_wait_for 20 inactive_count 7 &&
	flux job eventlog -f json $(cat held) >held.eventlog &&
	jq -s -e "map(select(.name == \"power\")) | length == 1 and .[0].context.nnodes == 0 and .[0].context.reason == \"the job never ran\"" held.eventlog &&
	flux power-query --report --json >held.json &&
	jq -e --slurpfile a all.json ".total.jobs == 7 and .total.no_record == 0 and .total.partial == 0 and .total.no_data == 0 and .total.energy_j == \$a[0].total.energy_j" held.json &&
	test_must_fail flux power-query -j $(cat held) 2>err &&
	cat err &&
	grep "has not run" err
'
test_expect_success 'with no module at all, -j answers from the record, and --report still works' '
	pm_unload_all &&
	flux power-query -j $(cat owner2) >gone.table &&
	grep "from the job.s record, written when it ended (the power-monitor samples are gone: the power-monitor module is not loaded" gone.table &&
	flux power-query --report --json >nomod.json &&
	jq -e --slurpfile h held.json ".total == \$h[0].total" nomod.json
'
test_expect_success 'a job without a record is counted in NO-RECORD and said' '
	flux jobtap remove power-record.so &&
	flux run -N1 true &&
	pm_wait_for 20 inactive_count 8 &&
	flux power-query --report --json >norec.json &&
	jq -e --slurpfile a all.json ".total.jobs == 8 and .total.no_record == 1 and .total.energy_j == \$a[0].total.energy_j" norec.json &&
	flux power-query --report >norec.table &&
	cat norec.table &&
	grep "NO-RECORD: 1 of 8 jobs have no power record" norec.table
'
test_expect_success 'a job without a record and no module: -j fails as before' '
	test_must_fail flux power-query -j $(flux job last) 2>err &&
	cat err &&
	test $(wc -l <err) = 1 &&
	grep "not loaded" err
'
test_expect_success 'a job whose samples the ring has overwritten: -j answers from the record and says so' '
	pm_load_all -r 0.05 -s 20 &&
	flux jobtap load "$PM_RECORD" &&
	flux run -N2 sleep 0.5 &&
	id=$(flux job last) &&
	flux job wait-event -t 10 $id clean &&
	flux job eventlog -f json $id | jq -s -e "map(select(.name == \"power\"))[0].context.data_presence == \"complete\"" &&
	sleep 2.5 &&
	flux power-query -j $id >over.table &&
	cat over.table &&
	grep "^job [ƒf].*: from the job.s record, written when it ended (the power-monitor samples are gone: .*overwritten" over.table &&
	flux jobtap remove power-record.so &&
	pm_unload_all
'
test_expect_success 'a purge empties the index as it does the KVS: the report counts what is left' '
	pm_load_all -r 0.05 &&
	n=$(flux jobs -A -n -c 0 -f inactive -o "{id}" | wc -l) &&
	pm_wait_for 20 index_count $n &&
	flux job purge --force --num-limit=3 &&
	pm_wait_for 20 inactive_count 3 &&
	pm_wait_for 20 index_count 3 &&
	records >left.json &&
	flux power-query --report --json >purged.json &&
	cat purged.json &&
	jq -e --slurpfile r left.json "
		(\$r[0] | sort_by(.id)) as \$recs |
		.total.jobs == 3 and .total.energy_j == (\$recs | reduce .[] as \$j (0; . + \$j.record.energy_j))" purged.json &&
	pm_unload_all
'
test_done
