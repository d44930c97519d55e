#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only

test_description='The job-manager plugin power-record.so writes every job'"'"'s
record into its main eventlog: one power event before clean, with the
module'"'"'s figures, the job'"'"'s user, queue, bank and project, then a memo
that flux jobs shows; the epilog that holds the job starts after its
resources are freed. Without the module, or with a module that does not
answer, the record says why and the job ends promptly; a job that never ran
gets a record that says so; a user'"'"'s memo changes nothing; the record
survives a restart; a bad timeout fails the load; modprobe loads it with
the module.'

. "$(dirname "$0")"/sharness.d/power-monitor.sh
# Two queues, batch the default, so that jobs have attributes.system.queue.
if test -z "$pm_skip_reason" && test -z "$PM_UNDER_FLUX"; then
	PM_RECORD_CONF=${TMPDIR:-/tmp}/pm-record-conf.$$
	export PM_RECORD_CONF
	mkdir -p "$PM_RECORD_CONF" &&
	cat >"$PM_RECORD_CONF/queues.toml" <<-\EOF || exit 1
	[queues.debug]
	[queues.batch]
	[policy.jobspec.defaults.system]
	queue = "batch"
	EOF
fi
test_under_flux 4 --config-path="$PM_RECORD_CONF"
. "$SHARNESS"
pm_skip_without_flux

PM_RECORD=$PM_BUILDDIR/jobtap/power-record.so
test -f "$PM_RECORD" || pm_skip_all "jobtap/power-record.so is not built"
rm -rf "$PM_RECORD_CONF"

# events ID NAME: once job ID is inactive, its main eventlog (one JSON
# object a line) in NAME.ev, and the context of its power event in NAME.rec.
events() {
	flux job wait-event -t 30 $1 clean &&
	flux job eventlog -f json $1 >$2.ev &&
	jq -s ".[] | select(.name == \"power\") | .context" $2.ev >$2.rec &&
	cat $2.rec
}
# since NAME A B: seconds from the first event A to the first event B.
since() {
	jq -s "(map(select(.name == \"$2\"))[0].timestamp) as \$a |
		(map(select(.name == \"$3\"))[0].timestamp) - \$a" $1.ev
}
# ranks ID: the ranks of job ID's R.
ranks() {
	flux job info $1 R | flux R decode --ranks
}
# module_pid: the process of rank 0's module, where it runs in one of its
# own (flux module load --exec).
module_pid() {
	ps -o pid=,args= --ppid $(flux getattr broker.pid) |
		awk '$2 == "module-exec" && $3 ~ /power-monitor/ { print $1 }'
}

test_expect_success 'load the module on all ranks and the plugin (timeout 5 s)' '
	flux queue start --all &&
	pm_load_all -r 0.1 &&
	flux jobtap load "$PM_RECORD" &&
	flux jobtap query power-record.so >query.json &&
	jq -e ".timeout == 5 and .pending == 0" query.json
'
test_expect_success 'a job gets exactly one power event before clean, with its figures' '
	flux submit -N2 -q debug --setattr=system.bank=b1 \
		--setattr=system.project=p1 sleep 1 >job1.id &&
	events $(cat job1.id) job1 &&
	jq -s -e "map(select(.name == \"power\")) | length == 1" job1.ev &&
	jq -e --arg r "$(ranks $(cat job1.id))" --argjson u $(id -u) "
		.version == 1 and .energy_j > 0 and .avg_power_w > 0
		and .node_energy_j >= .energy_j and .data_presence == \"complete\"
		and .coverage > 0.99 and .method != \"none\"
		and .nnodes == 2 and .ranks == \$r and .userid == \$u
		and .queue == \"debug\" and .bank == \"b1\" and .project == \"p1\"
		and (has(\"reason\") | not) and (has(\"missing\") | not)
		and (.duration_s - (.end - .start) | fabs) < 1e-6
		and .duration_s > 0.9 and .duration_s < 5" job1.rec
'
test_expect_success 'its window runs from the alloc event to the finish event' '
	jq -s -e "(map(select(.name == \"alloc\"))[0].timestamp) as \$a |
		(map(select(.name == \"finish\"))[0].timestamp) as \$f |
		(map(select(.name == \"power\"))[0].context) as \$r |
		(\$r.start - \$a | fabs) < 1e-6 and (\$r.end - \$f | fabs) < 1e-6" job1.ev
'
test_expect_success 'the record is asked for at finish and posted with free (right after it, in its commit); only a job whose answer comes after free is held, by an epilog that starts after free' '
	jq -s -e "map(.name) as \$n |
		(\$n | index(\"finish\")) < (\$n | index(\"free\")) and
		(\$n | index(\"free\")) < (\$n | index(\"power\")) and
		(\$n | index(\"power\")) < (\$n | rindex(\"memo\")) and
		(\$n | rindex(\"memo\")) < (\$n | index(\"clean\")) and
		if (\$n | index(\"epilog-start\")) == null
		then (\$n | index(\"power\")) == (\$n | index(\"free\")) + 1 and
			(\$n | index(\"epilog-finish\")) == null
		else (\$n | index(\"free\")) < (\$n | index(\"epilog-start\")) and
			(\$n | index(\"epilog-start\")) < (\$n | index(\"power\")) and
			(\$n | rindex(\"memo\")) < (\$n | index(\"epilog-finish\")) and
			(\$n | index(\"epilog-finish\")) < (\$n | index(\"clean\"))
		end" job1.ev
'
test_expect_success 'the memo has the record'"'"'s figures, and flux jobs shows them' '
	jq -s -e "(map(select(.name == \"power\"))[0].context) as \$r |
		(map(select(.name == \"memo\")) | last | .context) as \$m |
		\$m.energy_j == \$r.energy_j and \$m.power_w == \$r.avg_power_w and
		\$m.node_energy_j == \$r.node_energy_j and
		\$m.node_power_w == \$r.node_avg_power_w and
		\$m.duration_s == \$r.duration_s and
		\$m.power_presence == \$r.data_presence" job1.ev &&
	flux jobs -no "{user.energy_j}" $(cat job1.id) >job1.memo &&
	jq -e --argjson e "$(cat job1.memo)" ".energy_j == \$e" job1.rec
'
test_expect_success 'a job without queue, bank or project: the default queue, no bank or project' '
	flux run -N1 true &&
	events $(flux job last) plain &&
	jq -e ".queue == \"batch\" and (has(\"bank\") | not) and (has(\"project\") | not)
		and .nnodes == 1 and .data_presence == \"complete\"" plain.rec
'
test_expect_success 'a user'"'"'s memo while the job runs does not change the record, and is replaced' '
	id=$(flux submit -N1 sleep 2) &&
	flux job wait-event -t 10 $id start &&
	as_guest $(id -u) flux job memo $id energy_j=1 &&
	test "$(flux jobs -no "{user.energy_j}" $id)" = 1 &&
	events $id memo &&
	jq -e ".energy_j > 1 and .data_presence == \"complete\"" memo.rec &&
	jq -e --argjson e "$(flux jobs -no "{user.energy_j}" $id)" ".energy_j == \$e" memo.rec
'
test_expect_success 'a job cancelled while it runs: the window ends at the exception' '
	id=$(flux submit -N2 sleep 30) &&
	flux job wait-event -t 10 $id start &&
	sleep 0.5 &&
	flux cancel $id &&
	events $id cancelled &&
	jq -e ".nnodes == 2 and .energy_j > 0" cancelled.rec &&
	jq -s -e "(map(select(.name == \"exception\"))[0].timestamp) as \$x |
		(map(select(.name == \"power\"))[0].context.end - \$x | fabs) < 1e-6" cancelled.ev
'
test_expect_success 'a job cancelled while pending gets a record: the job never ran' '
	id=$(flux submit --urgency=hold -N1 true) &&
	flux cancel $id &&
	events $id pending &&
	jq -e --argjson u $(id -u) ".version == 1 and .nnodes == 0 and (has(\"ranks\") | not)
		and .duration_s == 0 and .energy_j == 0 and .data_presence == \"none\"
		and .method == \"none\" and .reason == \"the job never ran\"
		and .userid == \$u and .queue == \"batch\"" pending.rec &&
	jq -s -e "map(select(.name == \"epilog-start\")) | length == 0" pending.ev &&
	jq -s -e "map(select(.name == \"memo\")) | last | .context.power_presence == \"none\"" pending.ev
'
test_expect_success 'a job that started before the plugin was loaded: the window starts at R'"'"'s starttime' '
	flux jobtap remove power-record.so &&
	id=$(flux submit -N1 sleep 2) &&
	flux job wait-event -t 10 $id start &&
	flux jobtap load "$PM_RECORD" &&
	events $id before &&
	flux job info $id R >before.R &&
	jq -e --argjson t "$(jq .execution.starttime before.R)" \
		"(.start - \$t | fabs) < 1e-6 and .data_presence == \"complete\"" before.rec
'
test_expect_success 'without the module on rank 0: the record says so, and the job ends promptly' '
	flux module remove power-monitor &&
	flux run -N2 true &&
	id=$(flux job last) &&
	events $id nomodule &&
	jq -e --arg r "$(ranks $id)" ".energy_j == 0 and .avg_power_w == 0
		and .node_energy_j == 0 and .data_presence == \"none\" and .coverage == 0
		and .method == \"none\" and .shared == false and .nnodes == 2 and .ranks == \$r
		and .reason == \"power-monitor is not loaded on rank 0\"" nomodule.rec &&
	test "$(since nomodule free clean | jq ". < 1")" = true
'
# A module that hangs: rank 0'"'"'s module in its own process (as modprobe
# loads it), stopped. Jobs of all 4 nodes: the second can only run once the
# first'"'"'s resources are free.
test_expect_success 'a module that does not answer: the record says so after the timeout; resources are not held' '
	flux jobtap remove power-record.so &&
	flux jobtap load "$PM_RECORD" timeout=1 &&
	flux jobtap query power-record.so | jq -e ".timeout == 1" &&
	flux module load --exec power-monitor -r 0.1 &&
	pid=$(module_pid) &&
	test -n "$pid" &&
	test_when_finished "kill -CONT $pid" &&
	kill -STOP $pid &&
	idA=$(flux submit -N4 -x true) &&
	flux job wait-event -t 10 $idA free &&
	idB=$(flux submit -N4 -x true) &&
	events $idA hung &&
	events $idB hungB &&
	jq -e ".data_presence == \"none\" and .nnodes == 4 and .energy_j == 0
		and .reason == \"power-monitor did not answer within 1s\"" hung.rec &&
	jq -e ".reason == \"power-monitor did not answer within 1s\"" hungB.rec &&
	jq -s -e "map(.name) as \$n |
		(\$n | index(\"free\")) < (\$n | index(\"epilog-start\")) and
		(\$n | index(\"epilog-start\")) < (\$n | index(\"power\")) and
		(\$n | rindex(\"memo\")) < (\$n | index(\"epilog-finish\")) and
		(\$n | index(\"epilog-finish\")) < (\$n | index(\"clean\"))" hung.ev &&
	jq -s -e "map(select(.name == \"epilog-start\" or .name == \"epilog-finish\")) |
		length == 2 and all(.context.description == \"power-record\")" hung.ev &&
	since hung free clean >hung.wait &&
	cat hung.wait &&
	test "$(jq ". > 1.5 and . < 5" hung.wait)" = true &&
	b_alloc=$(jq -s "map(select(.name == \"alloc\"))[0].timestamp" hungB.ev) &&
	jq -s -e --argjson b "$b_alloc" "map(select(.name == \"clean\"))[0].timestamp > \$b" hung.ev
'
test_expect_success 'the plugin removed while a record is pending: the job goes, with a record that says so' '
	pid=$(module_pid) &&
	test_when_finished "kill -CONT $pid" &&
	kill -STOP $pid &&
	flux jobtap remove power-record.so &&
	flux jobtap load "$PM_RECORD" timeout=30 &&
	id=$(flux submit -N2 true) &&
	flux job wait-event -t 10 $id epilog-start &&
	flux jobtap query power-record.so | jq -e ".pending == 1" &&
	flux jobtap remove power-record.so &&
	events $id removed &&
	jq -e ".data_presence == \"none\" and .nnodes == 2
		and .reason == \"power-record was removed before power-monitor answered\"" removed.rec &&
	test "$(since removed free clean | jq ". < 5")" = true &&
	flux jobtap load "$PM_RECORD" timeout=1
'
test_expect_success 'the module answers again once it runs' '
	kill -CONT $(module_pid) &&
	flux run -N2 sleep 0.5 &&
	events $(flux job last) again &&
	jq -e ".data_presence == \"complete\" and .energy_j > 0" again.rec
'
test_expect_success 'the plugin removed while a record waits for free: the record goes then, with its figures' '
	flux config get >saved.json &&
	test_when_finished "flux config load <saved.json; flux jobtap remove perilog.so" &&
	jq ". + {\"job-manager\": {\"epilog\": {\"command\": [\"sleep\", \"3\"]}}}" saved.json |
		flux config load &&
	flux jobtap load perilog.so &&
	id=$(flux submit -N2 true) &&
	flux job wait-event -t 10 $id epilog-start &&
	until flux jobtap query power-record.so | jq -e ".pending == 0" >/dev/null; do
		sleep 0.1
	done &&
	flux job eventlog $id >kept.before &&
	test_must_fail grep -w power kept.before &&
	flux jobtap remove power-record.so &&
	events $id kept &&
	jq -e ".data_presence == \"complete\" and .energy_j > 0 and .nnodes == 2" kept.rec &&
	jq -s -e "map(.name) as \$n | (\$n | map(select(. == \"power\")) | length) == 1 and
		(\$n | index(\"power\")) < (\$n | index(\"free\"))" kept.ev &&
	flux jobtap load "$PM_RECORD" timeout=1
'
test_expect_success 'a bad timeout, or an unknown key, fails flux jobtap load with a clear message' '
	flux jobtap remove power-record.so &&
	test_must_fail flux jobtap load "$PM_RECORD" timeout=soon 2>bad1.err &&
	cat bad1.err &&
	grep "power-record: timeout=\"soon\": want a positive number of seconds" bad1.err &&
	test_must_fail flux jobtap load "$PM_RECORD" timeout=0 2>bad2.err &&
	grep "power-record: timeout=0: want a positive number of seconds" bad2.err &&
	test_must_fail flux jobtap load "$PM_RECORD" timeout=-1 2>bad3.err &&
	grep "power-record: timeout=-1: want a positive number of seconds" bad3.err &&
	test_must_fail flux jobtap load "$PM_RECORD" timout=2 2>bad4.err &&
	grep "power-record: unknown key .timout." bad4.err &&
	! flux jobtap list | grep power-record &&
	flux dmesg | grep "job-manager.err.*power-record: timeout=\"soon\""
'
test_expect_success 'a numeric string is taken as the timeout' '
	flux jobtap load "$PM_RECORD" "timeout=\"2.5\"" &&
	flux jobtap query power-record.so | jq -e ".timeout == 2.5"
'

# The tests below run their own instances (the test instance'"'"'s
# environment finds the module, the plugin and the stand-in).
test_expect_success '[job-manager] plugins loads it with its conf; a bad value fails the instance with the message' '
	mkdir -p jm-good jm-bad &&
	printf "[job-manager]\nplugins = [{load = \"%s\", conf = {timeout = 2}}]\n" \
		"$PM_RECORD" >jm-good/jm.toml &&
	printf "[job-manager]\nplugins = [{load = \"%s\", conf = {timeout = \"soon\"}}]\n" \
		"$PM_RECORD" >jm-bad/jm.toml &&
	flux start --test-size=1 -Slog-stderr-level=1 --config-path="$PWD/jm-good" \
		flux jobtap query power-record.so >jm-good.json &&
	jq -e ".timeout == 2" jm-good.json &&
	test_must_fail flux start --test-size=1 -Slog-stderr-level=3 \
		--config-path="$PWD/jm-bad" true 2>jm-bad.err &&
	grep "power-record: timeout=\"soon\": want a positive number of seconds" jm-bad.err
'
test_expect_success 'modprobe loads it on rank 0 with the module, with record-timeout; not with record = false' '
	mkdir -p mp/modprobe.d mp/rc1.d mp-on mp-off &&
	cp "$PM_SRCDIR/etc/power-monitor.toml" mp/modprobe.d/ &&
	cp "$PM_SRCDIR/etc/rc1.d/power-monitor.py" mp/rc1.d/ &&
	printf "[power-monitor]\nenable = true\nrecord-timeout = 3\n" >mp-on/pm.toml &&
	printf "[power-monitor]\nenable = true\nrecord = false\n" >mp-off/pm.toml &&
	FLUX_MODPROBE_PATH_APPEND=$PWD/mp flux start --test-size=2 -Slog-stderr-level=1 \
		--config-path="$PWD/mp-on" sh -c "flux jobtap query power-record.so >mp-on.json &&
		flux run -N2 sleep 0.5 && flux job wait-event -t 10 \$(flux job last) clean &&
		flux job eventlog -f json \$(flux job last) >mp-on.ev" &&
	jq -e --arg p "$PM_RECORD" ".timeout == 3 and .path == \$p" mp-on.json &&
	jq -s -e "map(select(.name == \"power\"))[0].context |
		.data_presence == \"complete\" and .nnodes == 2" mp-on.ev &&
	FLUX_MODPROBE_PATH_APPEND=$PWD/mp flux start --test-size=1 -Slog-stderr-level=1 \
		--config-path="$PWD/mp-off" sh -c "flux module list >mp-off.mods &&
		flux jobtap list >mp-off.list" &&
	grep "^power-monitor" mp-off.mods &&
	! grep power-record mp-off.list
'
test_expect_success 'the record survives an instance restart (statedir); flux power-query -j and --report read it there' '
	mkdir -p state &&
	cat >first.sh <<-EOT &&
	flux module load power-monitor -r 0.1 &&
	flux jobtap load "$PM_RECORD" &&
	flux run sleep 0.5 &&
	flux job last >restart.id &&
	flux job wait-event -t 10 \$(cat restart.id) clean &&
	flux job eventlog -f json \$(cat restart.id) >restart1.ev &&
	flux module remove power-monitor
	EOT
	flux start --test-size=1 -Slog-stderr-level=1 -Sstatedir="$PWD/state" sh first.sh &&
	flux start --test-size=1 -Slog-stderr-level=1 -Sstatedir="$PWD/state" \
		sh -c "flux job eventlog -f json \$(cat restart.id) >restart2.ev &&
		flux jobs -no \"{state} {user.energy_j}\" \$(cat restart.id) >restart2.jobs &&
		flux module load power-monitor -r 0.1 &&
		flux power-query -j \$(cat restart.id) >restart2.query &&
		flux power-query --report --json >restart2.report &&
		flux module remove power-monitor" &&
	cat restart2.query &&
	grep "from the job.s record, written when it ended" restart2.query &&
	jq -s -e --slurpfile rep restart2.report "map(select(.name == \"power\"))[0].context.energy_j == \$rep[0].total.energy_j" restart2.ev &&
	jq -s -e "map(select(.name == \"power\")) | length == 1 and .[0].context.energy_j > 0" restart2.ev &&
	test "$(jq -s -c "map(select(.name == \"power\"))" restart1.ev)" = \
		"$(jq -s -c "map(select(.name == \"power\"))" restart2.ev)" &&
	cat restart2.jobs &&
	read state energy <restart2.jobs &&
	test "$state" = INACTIVE &&
	jq -s -e --argjson e "$energy" "map(select(.name == \"power\"))[0].context.energy_j == \$e" restart2.ev
'
test_expect_success 'unload' '
	flux jobtap remove power-record.so &&
	flux exec -r 1-3 flux module remove power-monitor &&
	flux module remove power-monitor
'
test_done
