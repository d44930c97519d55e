#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only

test_description='Jobs inside a user'"'"'s own Flux instance (flux batch, flux
alloc) with no module loaded there: flux power-query and the job shell plugin
ask the enclosing instance that has the module, through parent-uri and jobid,
for the enclosing job'"'"'s ranks over the inner job'"'"'s window with the inner
job'"'"'s cores and GPUs (nested rank i is the i-th rank of the enclosing job,
nested core c there its c-th core, GPU ids kept); each inner job is charged
its share of the node, side by side they never sum above it; the plugin
then writes the inner job'"'"'s memo and exec eventlog power event itself (no
record there); two levels of nesting; a module loaded in the nested
instance answers itself and says so, and the plugin writes neither.'

. "$(dirname "$0")"/sharness.d/power-monitor.sh
# Two ranks of 8 cores and 4 GPUs, whatever this machine has.
if test -z "$pm_skip_reason" && test -z "$PM_UNDER_FLUX"; then
	PM_NESTED_CONF=${TMPDIR:-/tmp}/pm-nested-conf.$$
	export PM_NESTED_CONF
	pm_config_R "$PM_NESTED_CONF" -r 0-1 -c 0-7 -g 0-3 -H "$(hostname),$(hostname)" || exit 1
fi
test_under_flux 2 --config-path="$PM_NESTED_CONF" -Sconf.shell_pluginpath="$(pm_shell_pluginpath)"
. "$SHARNESS"
pm_skip_without_flux

# Jobs are not bound to this machine's cores and GPUs (R names more than it
# has); nested instances get the plugin path too.
NOBIND="-o cpu-affinity=off -o gpu-affinity=off"
BROKER="--broker-opts=-Sconf.shell_pluginpath=$(pm_shell_pluginpath)"
# the scripts below (flux batch runs a copy of its script)
TDIR=$(pwd)
export NOBIND BROKER TDIR

# The stand-in: 2 sockets of 100 W cpu and 20 W mem, 4 GPUs of 50 W: 440 W a
# node, 240 W without its GPUs. A job is charged its GPUs whole and its
# cores / 8 of 240 W on each rank; a job with every core and GPU of a node,
# the node.
NODE_W=440
GPU_W=50

# inner.sh DIR: run in a nested instance: three jobs at once, two sharing
# nested rank 0 (-c2 -g1 and -c1) and one on both ranks (-n2 -c1); then
# flux power-query -j of each into DIR/NAME.json and its table into
# DIR/NAME.table, the plugin's lines into DIR/NAME.err, each job's nested R
# into DIR/NAME.R, its exec and main eventlogs (one JSON object a line) into
# DIR/NAME.exec and DIR/NAME.ev, and its memo's energy_j as flux jobs shows
# it into DIR/NAME.memo.
cat >inner.sh <<\EOF
#!/bin/sh
dir="$1"
run() {
	_n=$1; shift
	flux submit $NOBIND --error="$dir/$_n.err" "$@" >"$dir/$_n.id"
}
run a -N1 -n1 -c2 -g1 --requires=rank:0 sleep 2 &&
run b -N1 -n1 -c1 --requires=rank:0 sleep 2 &&
run c -N2 -n2 -c1 sleep 2 &&
for j in a b c; do
	flux job wait-event -t 60 $(cat "$dir/$j.id") clean || exit 1
	flux job info $(cat "$dir/$j.id") R >"$dir/$j.R"
	flux job eventlog -p exec -f json $(cat "$dir/$j.id") >"$dir/$j.exec" || exit 1
	flux job eventlog -f json $(cat "$dir/$j.id") >"$dir/$j.ev" || exit 1
	flux jobs -n -o "{annotations.user.energy_j}" $(cat "$dir/$j.id") >"$dir/$j.memo" || exit 1
	flux power-query -j $(cat "$dir/$j.id") --json >"$dir/$j.json" 2>"$dir/$j.qerr" || exit 1
	flux power-query -j $(cat "$dir/$j.id") >"$dir/$j.table" || exit 1
done
flux getattr instance-level >"$dir/level"
EOF
chmod +x inner.sh

# check.py DIR LEVEL [THIS]: the answers in DIR: each job charged the closed
# form within 1%, answered by the instance at LEVEL (this one with THIS),
# ranks numbered as in the nested instance, the enclosing ones beside.
cat >check.py <<\EOF
import json, sys
d, level = sys.argv[1], int(sys.argv[2])
this = len(sys.argv) > 3
node_w, gpu_w = 440.0, 50.0
bad = []
def near(got, want, what):
    if abs(got - want) > 0.01 * want:
        bad.append("%s: %g, want %g" % (what, got, want))
# per job: nested rank -> (cores, gpus) it holds, from its R
want_w = {"a": {0: 2 / 8 * 240 + 50}, "b": {0: 1 / 8 * 240}, "c": {0: 30.0, 1: 30.0}}
docs = {}
for j in "abc":
    q = json.load(open("%s/%s.json" % (d, j)))
    docs[j] = q
    a = q.get("answered_by")
    if not a or a["this_instance"] != this or a["level"] != level:
        bad.append("%s: answered_by %s, want this_instance %s level %d" % (j, a, this, level))
    if not this and not a.get("uri"):
        bad.append("%s: answered_by has no uri" % j)
    dur = q["end"] - q["start"]
    if dur < 1.5:
        bad.append("%s: window %g s" % (j, dur))
    got = {r["rank"]: r for r in q["ranks"]}
    if sorted(got) != sorted(want_w[j]):
        bad.append("%s: ranks %s, want %s" % (j, sorted(got), sorted(want_w[j])))
        continue
    for rank, w in want_w[j].items():
        r = got[rank]
        near(r["power_w"], w, "%s rank %d power_w" % (j, rank))
        near(r["energy_j"], w * dur, "%s rank %d energy_j" % (j, rank))
        near(r["node_power_w"], node_w, "%s rank %d node_power_w" % (j, rank))
        if not this and "enclosing_rank" not in r:
            bad.append("%s rank %d: no enclosing_rank" % (j, rank))
    near(q["total"]["energy_j"], sum(want_w[j].values()) * dur, "%s total energy_j" % j)
# side by side on nested rank 0: never above the node
s = sum(docs[j]["ranks"][0]["power_w"] for j in "abc")
if s > node_w:
    bad.append("jobs on rank 0 sum to %g W, above the node" % s)
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
EOF

test_expect_success 'load the module on all ranks' '
	pm_load_all -r 0.05
'
test_expect_success 'flux batch -N2: its jobs are charged their share, from the enclosing instance' '
	mkdir batch &&
	flux batch $NOBIND "$BROKER" -N2 --output=batch.out --error=batch.out \
		./inner.sh "$(pwd)/batch" >batch.id &&
	flux job wait-event -t 120 $(cat batch.id) clean &&
	flux job status $(cat batch.id) &&
	test "$(cat batch/level)" = 1 &&
	python3 check.py batch 0
'
test_expect_success 'the answer names the enclosing instance, its job and ranks' '
	jq -e ".answered_by.jobid == \"$(flux job id -t f58 $(cat batch.id))\"" <batch/a.json &&
	grep "^samples from the enclosing instance at .* (level 0; job .*, ranks 0 there)" batch/a.table &&
	jq -e "[.ranks[] | [.rank, .enclosing_rank]] == [[0, 0], [1, 1]]" <batch/c.json
'
test_expect_success 'the shares the enclosing instance charged are the inner jobs'"'"' own cores and GPUs' '
	jq -e "[.ranks[0].share.ncores, .ranks[0].share.gpus] == [2, \"0\"]" <batch/a.json &&
	jq -e "[.ranks[0].share.ncores, .ranks[0].share.gpus] == [1, \"\"]" <batch/b.json
'
test_expect_success 'the plugin reports each inner job from the enclosing instance' '
	for j in a b c; do
		grep "power: samples from the enclosing instance at " batch/$j.err &&
		grep "power: [0-9.]* k\?J in [0-9.]* s, average [0-9]* W over [12] nodes\\?" batch/$j.err || return 1
	done &&
	grep "average 110 W over 1 node" batch/a.err &&
	grep "average 30 W over 1 node" batch/b.err &&
	grep "average 60 W over 2 nodes" batch/c.err
'
# No power-record.so in the nested instance (no module there): the plugin
# writes the memo and the exec eventlog event itself.
test_expect_success 'the plugin writes each inner job'"'"'s memo and exec eventlog power event, from the enclosing instance'"'"'s figures' '
	for j in a b c; do
		cat batch/$j.memo &&
		jq -s -e "map(select(.name == \"power\")) | length == 1" batch/$j.exec &&
		jq -s -e --argjson e "$(cat batch/$j.memo)" "map(select(.name == \"power\"))[0].context |
			.energy_j > 0 and (.energy_j - \$e | fabs) <= 1e-6 * .energy_j
			and .data_presence == \"complete\"" batch/$j.exec &&
		jq -s -e "map(select(.name == \"memo\")) | length == 1 and
			(.[0].context | .power_presence == \"complete\" and .energy_j > 0)" batch/$j.ev || return 1
	done &&
	jq -s -e "map(select(.name == \"power\"))[0].context |
		(.power_w - 110 | fabs) < 1.1 and .ranks == 1 and .answered == 1" batch/a.exec &&
	jq -s -e "map(select(.name == \"power\"))[0].context |
		(.power_w - 30 | fabs) < 0.3 and .ranks == 1 and .answered == 1" batch/b.exec &&
	jq -s -e "map(select(.name == \"power\"))[0].context |
		(.power_w - 60 | fabs) < 0.6 and .ranks == 2 and .answered == 2" batch/c.exec
'
# A job holding cores 0-1 and GPU 0 of rank 0 first: the alloc's R there is
# cores 2-5 and GPUs 1-2, renumbered 0-3 in the nested instance, GPU ids
# kept; the inner job on nested cores 0-1 is charged the enclosing cores 2-3.
test_expect_success 'flux alloc -N2 beside another job: nested cores map to the enclosing ones' '
	flux submit $NOBIND -N1 -n1 -c2 -g1 --requires=rank:0 sleep 60 >blocker.id &&
	flux job wait-event -t 30 $(cat blocker.id) start &&
	mkdir alloc &&
	flux alloc $NOBIND "$BROKER" -N2 -n2 -c4 -g2 ./inner.sh "$(pwd)/alloc" </dev/null &&
	flux cancel $(cat blocker.id) &&
	test "$(cat alloc/level)" = 1 &&
	python3 check.py alloc 0 &&
	jq -e "[.ranks[0].share.cores, .ranks[0].share.gpus] == [\"2-3\", \"1\"]" <alloc/a.json
'
# level2.sh DIR: in a nested instance, a job first (cores 0-1 and GPU 0 of
# nested rank 0), then flux batch of inner.sh beside it: two levels.
cat >level2.sh <<\EOF
#!/bin/sh
dir="$1"
id=$(flux submit $NOBIND -N1 -n1 -c2 -g1 --requires=rank:0 sleep 60) &&
flux job wait-event -t 30 $id start &&
jid=$(flux batch $NOBIND "$BROKER" -N2 -n2 -c4 -g2 --output="$dir/inner.out" --error="$dir/inner.out" "$TDIR/inner.sh" "$dir") &&
flux job wait-event -t 120 $jid clean &&
flux cancel $id
EOF
chmod +x level2.sh
test_expect_success 'two levels: flux batch inside flux alloc' '
	mkdir two &&
	flux alloc $NOBIND "$BROKER" -N2 ./level2.sh "$(pwd)/two" </dev/null &&
	test "$(cat two/level)" = 2 &&
	python3 check.py two 0 &&
	jq -e "[.ranks[0].share.cores, .ranks[0].share.gpus] == [\"2-3\", \"1\"]" <two/a.json &&
	grep "power: samples from the enclosing instance at " two/a.err &&
	jq -s -e "map(select(.name == \"power\")) | length == 1" two/a.exec &&
	test -n "$(cat two/a.memo)"
'
# with the module in the nested instance: inner.sh loads it first
cat >own.sh <<\EOF
#!/bin/sh
flux exec -r all flux module load power-monitor -r 0.05 &&
"$TDIR/inner.sh" "$@" &&
flux exec -r all flux module remove power-monitor
EOF
chmod +x own.sh
test_expect_success 'a module loaded in the nested instance answers, and says so' '
	mkdir own &&
	flux batch $NOBIND "$BROKER" -N2 --output=own.out --error=own.out ./own.sh "$(pwd)/own" >own.id &&
	flux job wait-event -t 120 $(cat own.id) clean &&
	flux job status $(cat own.id) &&
	python3 check.py own 1 this &&
	grep "^samples from this instance$" own/a.table &&
	! grep "enclosing instance" own/a.err
'
test_expect_success 'where the nested instance'"'"'s module answers, the plugin writes no memo and no exec eventlog event' '
	for j in a b c; do
		grep "power: [0-9.]* k\?J in [0-9.]* s, average [0-9]* W over [12] nodes\?" own/$j.err &&
		jq -s -e "map(select(.name == \"power\")) | length == 0" own/$j.exec &&
		jq -s -e "map(select(.name == \"power\" or .name == \"memo\")) | length == 0" own/$j.ev &&
		test "$(cat own/$j.memo)" = "" || return 1
	done
'
test_expect_success 'unload the module' '
	pm_unload_all
'
# With the module nowhere, the walk (flux power-query, run by the leader
# shell of the inner job) fails at once: the inner job gets one line that
# says why, its exit status is its own, and nothing holds it.
cat >nowhere.sh <<\EOF
#!/bin/sh
flux run -o power.timeout=20 sh -c "exit 3" 2>"$1/nowhere.err"
echo $? >"$1/nowhere.rc"
EOF
chmod +x nowhere.sh
test_expect_success 'in a nested instance with the module nowhere, the plugin says why, fast' '
	mkdir nowhere &&
	flux batch $NOBIND "$BROKER" -N1 --output=nowhere.out --error=nowhere.out ./nowhere.sh "$(pwd)/nowhere" >nowhere.id &&
	flux job wait-event -t 120 $(cat nowhere.id) clean &&
	cat nowhere/nowhere.err &&
	test "$(cat nowhere/nowhere.rc)" = 3 &&
	grep "power: no figures: " nowhere/nowhere.err &&
	test $(grep -c "power:" nowhere/nowhere.err) = 1 &&
	test $(flux jobs -n -o "{runtime:.0f}" $(cat nowhere.id)) -lt 20
'
test_expect_success 'remove the configuration' '
	rm -rf "$PM_NESTED_CONF"
'
test_done
