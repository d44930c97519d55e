#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only

test_description='A guest may ask power-monitor.query about a sub-window and
some ranks of a job it owns, charged the share of an inner job (cores and GPUs
of the job'"'"'s R) over the instance'"'"'s R, as a nested instance asks its
enclosing one, and about nothing else: a window outside the job, a rank
outside it, a core or GPU that is not the job'"'"'s, another user'"'"'s job are
refused with EPERM and a message that says why. The instance owner may ask
anything. Two ranks of 8 cores and 4 GPUs, configured.'

. "$(dirname "$0")"/sharness.d/power-monitor.sh
if test -z "$pm_skip_reason" && test -z "$PM_UNDER_FLUX"; then
	PM_SUBWIN_CONF=${TMPDIR:-/tmp}/pm-subwin-conf.$$
	export PM_SUBWIN_CONF
	pm_config_R "$PM_SUBWIN_CONF" -r 0-1 -c 0-7 -g 0-3 -H "$(hostname),$(hostname)" || exit 1
fi
test_under_flux 2 --config-path="$PM_SUBWIN_CONF"
. "$SHARNESS"
pm_skip_without_flux

OTHER=$(($(id -u) + 4242))

# The stand-in: 440 W a node, 4 GPUs of 50 W, 240 W without its GPUs.
NODE_W=440
GPU_W=50

# submit NAME ARGS...: submit a job, not bound to this machine's cores and
# GPUs; its jobid goes to NAME.id.
submit() {
	_name=$1; shift
	flux submit -o cpu-affinity=off -o gpu-affinity=off "$@" >$_name.id
}

# ask NAME JSON-FIELDS: as a guest with the owner's uid, power-monitor.query
# about job NAME with the fields given besides its jobid; the answer to
# NAME.out, or "errno: message" to NAME.err.
ask() {
	as_guest $(id -u) pm_rpc power-monitor.query "{\"jobid\": $(flux job id --to=dec $(cat $1.id))${2:+, $2}}" >$1.out 2>$1.err
}

# jid NAME: the jobid of job NAME as the module names it (f58 with its ƒ,
# whatever the locale made flux submit print).
jid() {
	echo "ƒ$(cut -c2- $1.id)"
}

# held NAME RANK KIND: the ids of KIND (core, gpu) that job NAME holds on
# RANK, as its R says.
held() {
	flux job info $(cat $1.id) R | flux python -c '
import json, sys
from flux.idset import IDset
ids = IDset()
for e in json.load(sys.stdin)["execution"]["R_lite"]:
    if int(sys.argv[1]) in IDset(e["rank"]):
        ids.add(IDset(e["children"].get(sys.argv[2], "")))
print(ids)
' $2 $3
}

# check_charge FILE RANK NCORES NGPUS: in the answer FILE, RANK is charged
# the rule's closed form for NCORES of 8 cores and NGPUS GPUs (NGPUS x 50 W +
# NCORES/8 x 240 W) over the window, within 1%, its node 440 W, and the
# total is the sum of the ranks.
check_charge() {
	python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
rank, nc, ng = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
node_w, gpu_w = float(sys.argv[5]), float(sys.argv[6])
dur = d["end"] - d["start"]
w = node_w if (nc, ng) == (8, 4) else ng * gpu_w + nc / 8 * (node_w - 4 * gpu_w)
r = [r for r in d["ranks"] if r["rank"] == rank][0]
bad = []
def near(got, want, what):
    if abs(got - want) > 0.01 * want:
        bad.append("%s: %g, want %g" % (what, got, want))
near(r["job"]["energy_j"], w * dur, "rank %d job energy_j" % rank)
near(r["node"]["energy_j"], node_w * dur, "rank %d node energy_j" % rank)
if abs(d["total"]["energy_j"] - sum(x["job"]["energy_j"] for x in d["ranks"])) > 1e-6 * d["total"]["energy_j"]:
    bad.append("total energy_j is not the sum of the ranks")
for b in bad:
    print(b, file=sys.stderr)
print(w)
sys.exit(1 if bad else 0)
' $1 $2 $3 $4 $NODE_W $GPU_W
}

test_expect_success 'the instance has the configured resources' '
	flux resource list -no "{nnodes} {ncores} {ngpus}" -s all >resources &&
	test "$(cat resources)" = "2 16 8"
'
test_expect_success 'load the module on all ranks' '
	pm_load_all -r 0.05
'
test_expect_success 'run a job of 4 cores and 2 GPUs on each rank, and one on rank 0 only' '
	submit j -N2 -n2 -c4 -g2 sleep 3 &&
	submit k --requires=rank:0 -N1 -n1 -c2 sleep 1 &&
	flux job wait-event -t 30 $(cat j.id) clean &&
	flux job wait-event -t 30 $(cat k.id) clean &&
	flux jobs -n -o "{t_run} {t_cleanup}" $(cat j.id) >j.times &&
	read t_run t_cleanup <j.times &&
	echo "$t_run + 0.5" | bc >t0 && echo "$t_cleanup - 0.5" | bc >t1 &&
	held j 1 core >j.cores && held j 1 gpu >j.gpus &&
	test "$(flux python -c "from flux.idset import IDset; import sys; print(IDset(sys.argv[1]).count(), IDset(sys.argv[2]).count())" $(cat j.cores) $(cat j.gpus))" = "4 2"
'
test_expect_success 'a guest is answered about a sub-window and a rank of its job' '
	ask j "\"ranks\": \"1\", \"start\": $(cat t0), \"end\": $(cat t1)" &&
	jq -e "[.ranks[].rank] == [1] and .rankset == \"1\" and .running == false and .missing == []" <j.out &&
	jq -e "(.start - $(cat t0) | fabs) < 1e-6 and (.end - $(cat t1) | fabs) < 1e-6" <j.out &&
	test "$(jq -r ".ranks[0].share.cores" <j.out)" = "$(cat j.cores)" &&
	test "$(jq -r ".ranks[0].share.gpus" <j.out)" = "$(cat j.gpus)" &&
	check_charge j.out 1 4 2 >w &&
	test "$(cat w)" = 220.0
'
# an inner job of 2 of the job's cores and 1 of its GPUs on rank 1:
# 50 + 2/8 x 240 = 110 W; rank 0, without a share, is charged as the job
test_expect_success 'a guest is answered with an inner job'"'"'s share of its job, over the node' '
	core2=$(flux python -c "from flux.idset import IDset; import sys; print(\",\".join(str(i) for i in list(IDset(sys.argv[1]))[:2]))" $(cat j.cores)) &&
	gpu1=$(flux python -c "from flux.idset import IDset; import sys; print(list(IDset(sys.argv[1]))[1])" $(cat j.gpus)) &&
	ask j "\"ranks\": \"0-1\", \"start\": $(cat t0), \"end\": $(cat t1), \"share\": {\"1\": {\"cores\": \"$core2\", \"gpus\": \"$gpu1\"}}" &&
	jq -e "[.ranks[] | [.rank, .share.ncores, .share.ngpus, .share.node_cores, .share.core_fraction]] == [[0,4,2,8,0.5],[1,2,1,8,0.25]]" <j.out &&
	test "$(jq -r "[.ranks[] | select(.rank == 1) | .share.gpus][0]" <j.out)" = "$gpu1" &&
	check_charge j.out 1 2 1 >w1 && test "$(cat w1)" = 110.0 &&
	check_charge j.out 0 4 2 >w0 && test "$(cat w0)" = 220.0
'
test_expect_success 'a window outside the job is refused' '
	test_must_fail ask j "\"start\": $(echo "$(cat t0) - 5" | bc)" &&
	cat j.err &&
	test $(wc -l <j.err) = 1 &&
	grep "^1: window \[.*\] is outside job ƒ.*'"'"'s run \[.*\]$" j.err &&
	test_must_fail ask j "\"end\": $(echo "$(cat t1) + 5" | bc)" &&
	grep "^1: window \[.*\] is outside job" j.err
'
test_expect_success 'a rank outside the job is refused' '
	test_must_fail ask k "\"ranks\": \"1\"" &&
	cat k.err &&
	grep "^1: rank 1 is not one of job $(jid k)'"'"'s ranks (0)$" k.err &&
	test_must_fail ask j "\"ranks\": \"0-5\"" &&
	grep "^1: rank 2 is not one of job $(jid j)'"'"'s ranks (0-1)$" j.err &&
	test_must_fail ask k "\"share\": {\"1\": {\"cores\": \"0\"}}" &&
	grep "^1: rank 1 is not one of job $(jid k)'"'"'s ranks (0)$" k.err
'
test_expect_success 'a core or GPU of the share outside the job is refused' '
	out=$(flux python -c "from flux.idset import IDset; import sys; print(min(set(range(8)) - set(IDset(sys.argv[1]))))" $(cat j.cores)) &&
	test_must_fail ask j "\"share\": {\"1\": {\"cores\": \"$out\"}}" &&
	cat j.err &&
	grep "^1: core $out on rank 1 is not job $(jid j)'"'"'s ($(cat j.cores))$" j.err &&
	gout=$(flux python -c "from flux.idset import IDset; import sys; print(min(set(range(4)) - set(IDset(sys.argv[1]))))" $(cat j.gpus)) &&
	test_must_fail ask j "\"share\": {\"1\": {\"cores\": \"$(cat j.cores)\", \"gpus\": \"$gout\"}}" &&
	grep "^1: gpu $gout on rank 1 is not job $(jid j)'"'"'s ($(cat j.gpus))$" j.err
'
test_expect_success 'another user'"'"'s job is refused, sub-window or not' '
	test_must_fail as_guest $OTHER pm_rpc power-monitor.query "{\"jobid\": $(flux job id --to=dec $(cat j.id)), \"ranks\": \"1\", \"start\": $(cat t0), \"end\": $(cat t1)}" 2>err &&
	cat err &&
	grep "^1: job .* belongs to another user: only its owner or the instance owner may query it$" err
'
test_expect_success 'a share without a jobid, or on a rank not asked, is invalid' '
	test_must_fail pm_rpc power-monitor.query "{\"ranks\": \"0\", \"start\": $(cat t0), \"share\": {\"0\": {\"cores\": \"0\"}}}" 2>err &&
	grep "^22: a share is only for a query about a job: give its jobid$" err &&
	test_must_fail ask j "\"ranks\": \"0\", \"share\": {\"1\": {\"cores\": \"$(cat j.cores)\"}}" &&
	grep "^22: share names rank 1, which the request does not ask about (ranks 0)$" j.err
'
test_expect_success 'the instance owner may ask anything: a wider window, a rank outside the job' '
	pm_rpc power-monitor.query "{\"jobid\": $(flux job id --to=dec $(cat k.id)), \"ranks\": \"0-1\", \"start\": $(echo "$(cat t0) - 5" | bc), \"end\": $(cat t1)}" >owner.json &&
	jq -e "[.ranks[].rank] == [0, 1]" <owner.json &&
	jq -er .share_error <owner.json >owner.reason &&
	grep "rank 1 is not one of job $(jid k)'"'"'s ranks: it has no share" owner.reason
'
test_expect_success 'a running job: a guest may ask up to now, not past it' '
	submit run -N1 -n1 -c2 -g1 sleep 30 &&
	flux job wait-event -t 30 $(cat run.id) start &&
	sleep 1 &&
	t_run=$(flux jobs -n -o "{t_run}" $(cat run.id)) &&
	ask run "\"start\": $(echo "$t_run + 0.2" | bc)" &&
	jq -e ".running == true" <run.out &&
	test_must_fail ask run "\"end\": $(($(date +%s) + 60))" &&
	grep "^1: window \[.*\] is outside job" run.err &&
	flux cancel $(cat run.id)
'
test_expect_success 'unload, remove the configuration' '
	pm_unload_all &&
	rm -rf "$PM_SUBWIN_CONF"
'
test_done
