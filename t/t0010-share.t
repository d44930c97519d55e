#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only

test_description='Each rank of a job has its share of the rank, as the R of
the job and the R of the instance say: the cores and GPUs, their counts, the
core fraction and whether the job is exclusive there; and each job is charged
its own energy by the rule (its GPUs whole, its core fraction of the rest).
Jobs with different cores and GPUs running at the same time on one rank, an
exclusive job, and a job with a different share on each of its two ranks, in
an instance whose resources are configured (two ranks of 8 cores and 4 GPUs).'

. "$(dirname "$0")"/sharness.d/power-monitor.sh
# The instance's R, whatever this machine has: the stand-in libvariorum reads
# 4 GPUs a rank, as R says.
if test -z "$pm_skip_reason" && test -z "$PM_UNDER_FLUX"; then
	PM_SHARE_CONF=${TMPDIR:-/tmp}/pm-share-conf.$$
	export PM_SHARE_CONF
	pm_config_R "$PM_SHARE_CONF" -r 0-1 -c 0-7 -g 0-3 -H "$(hostname),$(hostname)" || exit 1
fi
test_under_flux 2 --config-path="$PM_SHARE_CONF"
. "$SHARNESS"
pm_skip_without_flux

# submit NAME ARGS...: submit a job, not bound to this machine's cores and
# GPUs (R names more than it has); its jobid goes to NAME.id.
submit() {
	_name=$1; shift
	flux submit -o cpu-affinity=off -o gpu-affinity=off "$@" >$_name.id
}

# query NAME: the job's R as flux job info prints it (NAME.R) and its JSON
# report (NAME.json), once it ended.
query() {
	flux job wait-event -t 30 $(cat $1.id) clean &&
	flux job info $(cat $1.id) R >$1.R &&
	flux power-query -j $(cat $1.id) --json >$1.json
}

# check_share NAME: every rank of the report has the share that the job's R
# and the instance's (decoded by libflux, through flux python) give, and
# there is no share_error.
check_share() {
	flux python -c '
import json, sys
from flux.idset import IDset
def by_rank(R):
    out = {}
    for e in R["execution"]["R_lite"]:
        for r in IDset(e["rank"]):
            out[r] = e["children"]
    return out
job = by_rank(json.load(open(sys.argv[1])))
inst = by_rank(json.load(open(sys.argv[2])))
doc = json.load(open(sys.argv[3]))
bad = []
if sorted(r["rank"] for r in doc["ranks"]) != sorted(job):
    bad.append("ranks %s, the R has %s" % ([r["rank"] for r in doc["ranks"]], sorted(job)))
if "share_error" in doc:
    bad.append("share_error: " + doc["share_error"])
for r in doc["ranks"]:
    c, n = job[r["rank"]], inst[r["rank"]]
    jc, jg = IDset(c.get("core", "")), IDset(c.get("gpu", ""))
    nc, ng = IDset(n.get("core", "")), IDset(n.get("gpu", ""))
    want = {"cores": c.get("core", ""), "gpus": c.get("gpu", ""),
            "ncores": jc.count(), "ngpus": jg.count(),
            "node_cores": nc.count(), "node_gpus": ng.count(), "node_gpu_ids": n.get("gpu", ""),
            "core_fraction": jc.count() / nc.count(),
            "exclusive": jc.count() == nc.count() and jg.count() == ng.count()}
    if r.get("share") != want:
        bad.append("rank %d: share %s, want %s" % (r["rank"], r.get("share"), want))
for b in bad:
    print(b, file=sys.stderr)
sys.exit(1 if bad else 0)
' $1.R "$PM_SHARE_CONF/R.json" $1.json
}

# The stand-in: 2 sockets of 100 W cpu and 20 W mem, 4 GPUs of 50 W (gpu k
# is R's gpu k): 440 W a node, 240 W without its GPUs.
NODE_W=440
GPU_W=50

# check_energy NAME: each rank of NAME.json is charged the rule's closed form
# on the stand-in, within 1%: exclusive, the node (440 W); otherwise its GPUs
# whole (50 W each) and its core fraction of the node without the instance's
# GPUs (440 W - 4 x 50 W), times the window. power_w is that power, the
# node's figures are beside, and the total is the sum of the ranks. It prints
# the job's power (W).
check_energy() {
	python3 -c '
import json, sys
node_w, gpu_w = float(sys.argv[2]), float(sys.argv[3])
d = json.load(open(sys.argv[1]))
dur = d["end"] - d["start"]
bad, total_w = [], 0.0
def near(got, want, what):
    if abs(got - want) > 0.01 * want:
        bad.append("%s: %g, want %g" % (what, got, want))
for r in d["ranks"]:
    s = r["share"]
    w = node_w if s["exclusive"] else gpu_w * s["ngpus"] + s["core_fraction"] * (node_w - gpu_w * s["node_gpus"])
    total_w += w
    near(r["energy_j"], w * dur, "rank %d energy_j" % r["rank"])
    near(r["power_w"], w, "rank %d power_w" % r["rank"])
    near(r["job"]["energy_j"], w * dur, "rank %d job.energy_j" % r["rank"])
    near(r["node_energy_j"], node_w * dur, "rank %d node_energy_j" % r["rank"])
    near(r["node_power_w"], node_w, "rank %d node_power_w" % r["rank"])
t = d["total"]
near(t["energy_j"], total_w * dur, "total energy_j")
near(t["node_energy_j"], len(d["ranks"]) * node_w * dur, "total node_energy_j")
if abs(t["energy_j"] - sum(r["energy_j"] for r in d["ranks"])) > 1e-6 * t["energy_j"]:
    bad.append("total energy_j %g is not the sum of the ranks" % t["energy_j"])
if t["shared"] != any(not r["share"]["exclusive"] for r in d["ranks"]):
    bad.append("total shared %s" % t["shared"])
for b in bad:
    print(b, file=sys.stderr)
print(total_w)
sys.exit(1 if bad else 0)
' $1.json $NODE_W $GPU_W
}

# share NAME RANK: the share of RANK in NAME.json (JSON), or fail.
share() {
	jq -e "[.ranks[] | select(.rank == $2) | .share][0]" <$1.json
}

test_expect_success 'the instance has the configured resources' '
	flux resource list -no "{nnodes} {ncores} {ngpus}" -s all >resources &&
	test "$(cat resources)" = "2 16 8"
'
test_expect_success 'load the module on all ranks' '
	pm_load_all -r 0.05
'
test_expect_success 'three jobs share rank 0 at the same time, an exclusive job holds rank 1' '
	submit a --requires=rank:0 -N1 -n1 -c4 -g1 sleep 2 &&
	submit b --requires=rank:0 -N1 -n1 -c2 -g2 sleep 2 &&
	submit c --requires=rank:0 -N1 -n1 -c1 sleep 2 &&
	submit x --requires=rank:1 -N1 -n1 -c8 -g4 sleep 2 &&
	for j in a b c x; do
		flux job wait-event -t 30 $(cat $j.id) start || return 1
	done &&
	flux resource list -no "{ncores} {ngpus}" -s allocated >allocated &&
	test "$(cat allocated)" = "15 7"
'
test_expect_success 'each job on rank 0 has its share as its R says' '
	for j in a b c; do
		query $j && check_share $j || return 1
	done
'
test_expect_success 'the shares on rank 0: cores and GPUs, counts, core fraction' '
	share a 0 | jq -e "[.ncores, .ngpus, .node_cores, .node_gpus, .core_fraction, .exclusive] == [4, 1, 8, 4, 0.5, false]" &&
	share b 0 | jq -e "[.ncores, .ngpus, .core_fraction, .exclusive] == [2, 2, 0.25, false]" &&
	share c 0 | jq -e "[.ncores, .gpus, .ngpus, .core_fraction, .exclusive] == [1, \"\", 0, 0.125, false]"
'
test_expect_success 'the jobs on rank 0 hold no core and no GPU twice' '
	for j in a b c; do
		share $j 0 | jq -r ".cores + \" \" + .gpus" || return 1
	done >held &&
	cat held &&
	flux python -c "
import sys
from flux.idset import IDset
cores, gpus = [], []
for line in open(sys.argv[1]):
    f = line.split()
    cores += list(IDset(f[0]))
    gpus += list(IDset(f[1] if len(f) > 1 else \"\"))
sys.exit(0 if len(cores) == len(set(cores)) == 7 and len(gpus) == len(set(gpus)) == 3 else 1)
" held
'
test_expect_success 'the exclusive job holds all of rank 1' '
	query x && check_share x &&
	share x 1 | jq -e "[.cores, .gpus, .core_fraction, .exclusive] == [\"0-7\", \"0-3\", 1, true]"
'
# a: 50 + 4/8 x 240 = 170 W; b: 2 x 50 + 2/8 x 240 = 160 W; c: 1/8 x 240 = 30 W
test_expect_success 'each job on rank 0 is charged its GPUs and its core fraction of the rest' '
	for j in a b c; do
		check_energy $j >$j.w || return 1
	done &&
	test "$(cat a.w b.w c.w)" = "$(printf "170.0\n160.0\n30.0")" &&
	for j in a b c; do
		jq .total.shared <$j.json || return 1
	done >shared &&
	test "$(sort -u shared)" = true
'
# They ran at the same time, each over its own window: the same window is
# their power. 360 W, the node less its free core (30 W) and GPU (50 W).
test_expect_success 'the jobs on rank 0 sum to no more than the node' '
	python3 -c "
import json, sys
ds = [json.load(open(f)) for f in sys.argv[1:]]
jobs = sum(d[\"ranks\"][0][\"power_w\"] for d in ds)
node = min(d[\"ranks\"][0][\"node_power_w\"] for d in ds)
print(jobs, node)
sys.exit(0 if jobs <= node and abs(jobs - 360) <= 0.01 * 360 else 1)
" a.json b.json c.json
'
test_expect_success 'the exclusive job is charged the node' '
	check_energy x &&
	jq -e ".ranks[0].energy_j == .ranks[0].node_energy_j and .total.energy_j == .total.node_energy_j and .total.shared == false" <x.json
'
# three slots of 4 cores and a GPU: two on one rank, one on the other
test_expect_success 'a job over both ranks has a different share on each' '
	submit ab -n3 -c4 -g1 sleep 1 &&
	query ab && check_share ab &&
	share ab 0 >ab.0 && share ab 1 >ab.1 &&
	test "$(jq .ncores <ab.0)" != "$(jq .ncores <ab.1)" &&
	test $(($(jq .ncores <ab.0) + $(jq .ncores <ab.1))) = 12 &&
	test $(($(jq .ngpus <ab.0) + $(jq .ngpus <ab.1))) = 3
'
# 8 cores and 2 GPUs on one rank: 2 x 50 + 240 = 340 W; 4 cores and a GPU on
# the other: 50 + 4/8 x 240 = 170 W
test_expect_success 'the job over both ranks is charged its share of each' '
	check_energy ab >ab.w &&
	test "$(cat ab.w)" = 510.0 &&
	jq -c "[.ranks[].power_w | round] | sort" <ab.json >ab.p &&
	test "$(cat ab.p)" = "[170,340]"
'
test_expect_success 'a running job has its share too' '
	submit run --requires=rank:1 -N1 -n1 -c3 -g2 sleep 30 &&
	flux job wait-event -t 30 $(cat run.id) start &&
	flux job info $(cat run.id) R >run.R &&
	flux power-query -j $(cat run.id) --json >run.json &&
	jq -e ".running == true" <run.json &&
	check_share run &&
	flux cancel $(cat run.id)
'
test_expect_success 'a query by ranks and time (no job) has no share and no share_error' '
	flux power-query --ranks=0-1 --start=$(($(date +%s) - 2)) --json >ranks.json &&
	jq -e "[.ranks[] | has(\"share\")] == [false, false] and (has(\"share_error\") | not)" <ranks.json
'
test_expect_success 'without job-info the answer says why there is no share' '
	flux module remove job-info &&
	test_when_finished "flux module load job-info" &&
	flux power-query -j $(cat a.id) --json >nojobinfo.json &&
	jq -er .share_error <nojobinfo.json >reason &&
	cat reason &&
	grep "reading the job.s R: job-info.lookup" reason &&
	jq -e "[.ranks[] | has(\"share\")] == [false]" <nojobinfo.json &&
	jq -e ".total.energy_j == .total.node_energy_j and .total.shared == false" <nojobinfo.json
'
test_expect_success 'job-info back, the share is back' '
	query a && check_share a
'
test_expect_success 'unload, remove the configuration' '
	pm_unload_all &&
	rm -rf "$PM_SHARE_CONF"
'
test_done
