#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only

test_description='The job shell plugin: every job prints its energy when it
ends, with the figures flux power-query gives: the job'"'"'s own energy, and
what its nodes drew beside it where it shared them. Where this instance'"'"'s
module answers, the line is all the shell writes: no memo and no exec
eventlog event (power-record.so'"'"'s record provides the memo and the main
eventlog'"'"'s power event; with it loaded, flux jobs shows the record'"'"'s
energy); -o power=off silences it; without the module jobs still succeed;
50 jobs in a row complete.'

. "$(dirname "$0")"/sharness.d/power-monitor.sh
test_under_flux 4 -Sconf.shell_pluginpath="$(pm_shell_pluginpath)"
. "$SHARNESS"
pm_skip_without_flux

# The instance's R is this machine's cores on each rank, without GPUs (the
# stand-in libvariorum reads 4 GPUs a rank, which no job can hold). flux run
# -N4 alone holds its nodes whole (-N without -n implies -x); -N4 -n4 holds
# one core of each and shares them where a rank has more. A shared job is
# charged its core fraction of each node, GPUs included (doc/rpc.md), so its
# line has no gpu part.
# LINE: an exclusive job's line; SHARED: a shared job's.
LINE='^\([0-9.]*s: \)\{0,1\}flux-shell\[0\]: power: [0-9.]* k\?J in [0-9.]* s, average [0-9]* W over 4 nodes (cpu [0-9.]* k\?J, gpu [0-9.]* k\?J, mem [0-9.]* k\?J)$'
SHARED='^\([0-9.]*s: \)\{0,1\}flux-shell\[0\]: power: [0-9.]* k\?J in [0-9.]* s, average [0-9]* W over 4 nodes (cpu [0-9.]* k\?J, mem [0-9.]* k\?J; shared nodes drew [0-9.]* k\?J)$'

# Jobs of one core a node (-N4 -n4) share their nodes where a rank has more
# than one core.
test "$(flux resource list -no "{ncores} {nnodes}" | awk "{ print (\$1 > \$2) }")" = 1 &&
	test_set_prereq SHARED_NODES

# line.py ERR-FILE: the power line in ERR-FILE as JSON: energy_j,
# duration_s, power_w, nodes, the parts it gives (cpu_energy_j, gpu_energy_j,
# mem_energy_j, node_energy_j: what shared nodes drew), and for each energy
# its rounding (energy_tol, cpu_tol, ..., node_tol: half its last digit).
cat >line.py <<\EOF
import json, re, sys
scale = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9}
places = {"": 1, "k": 1, "M": 2, "G": 2}
def joules(num, unit):
    return float(num) * scale[unit], 0.5 * 10 ** -places[unit] * scale[unit] * (1 + 1e-9)
text = open(sys.argv[1]).read()
m = re.search(r"power: ([0-9.]+) ([kMG]?)J in ([0-9.]+) s, average ([0-9]+) W over ([0-9]+) nodes?(?: \(([^)]*)\))?", text)
assert m, text
d = {"duration_s": float(m.group(3)), "power_w": int(m.group(4)), "nodes": int(m.group(5))}
d["energy_j"], d["energy_tol"] = joules(m.group(1), m.group(2))
for part in re.split(r"[,;] ", m.group(6) or ""):
    k = re.fullmatch(r"(cpu|gpu|mem) ([0-9.]+) ([kMG]?)J", part)
    n = re.fullmatch(r"shared nodes drew ([0-9.]+) ([kMG]?)J", part)
    if k:
        d[k.group(1) + "_energy_j"], d[k.group(1) + "_tol"] = joules(k.group(2), k.group(3))
    elif n:
        d["node_energy_j"], d["node_tol"] = joules(n.group(1), n.group(2))
    else:
        assert not part, part
print(json.dumps(d))
EOF

# same.jq, on line.py's JSON, with --slurpfile q QUERY (flux power-query -j
# -f json): the line has the query's figures. The plugin asks when the tasks
# are done; power-query reports up to t_cleanup, a few ms later: the mean
# power of each kind of domain is the same, so the line's cpu part (to 0.1
# J) over the query's cpu power is the plugin's window, within a second of
# the query's; over it, the line's duration, its whole watts, its energy
# and its gpu and mem parts are the query's power, each to its rounding. An
# exclusive job: no shared nodes part.
cat >same.jq <<\EOF
$q[0].total as $t | . as $l |
($l.cpu_energy_j / ($t.cpu_energy_j / $t.duration_s)) as $w |
($t.duration_s - $w) > -0.01 and ($t.duration_s - $w) < 1.0 and
($l.duration_s - $w | fabs) <= 0.05 + 1e-3 * $w and
($l.power_w - $t.avg_power_w | fabs) <= 1e-3 * $t.avg_power_w + 0.5 and
($l.energy_j - $t.avg_power_w * $w | fabs) <= $l.energy_tol + 1e-3 * $l.energy_j and
all("gpu", "mem"; . as $k |
	($l[$k + "_energy_j"] - $t[$k + "_energy_j"] / $t.duration_s * $w | fabs)
	<= $l[$k + "_tol"] + 1e-3 * $l[$k + "_energy_j"]) and
($l | has("node_energy_j") | not)
EOF

# charged.py QUERY LINE: the job's figures in its line (line.py's JSON) are
# its share of the nodes, within 1% of the rule's closed form (each rank's
# core fraction of the node, the instance's R holding no GPU), and the
# nodes' whole beside them; prints the core fractions.
cat >charged.py <<\EOF
import json, sys
q = json.load(open(sys.argv[1]))
ln = json.load(open(sys.argv[2]))
shares = [r["share"] for r in q["ranks"]]
assert all(s["node_gpus"] == 0 and s["ngpus"] == 0 for s in shares), shares
assert all(0 < s["core_fraction"] < 1 and not s["exclusive"] for s in shares), shares
assert q["total"]["shared"] is True, q["total"]
# the query: the job's energy is each rank's core fraction of its node
want = sum(r["share"]["core_fraction"] * r["node_energy_j"] for r in q["ranks"])
nodes = sum(r["node_energy_j"] for r in q["ranks"])
assert abs(q["total"]["energy_j"] - want) <= 0.01 * want, (q["total"], want)
assert abs(q["total"]["node_energy_j"] - nodes) <= 1e-6 * nodes, (q["total"], nodes)
# the line (asked a few ms before power-query's t_cleanup): the same share
# of what the nodes drew up to then, to the line's rounding; its mean power
# the same share of the nodes' mean power, to the whole watt
ratio = want / nodes
assert ln["nodes"] == 4, ln
assert abs(ln["energy_j"] - ratio * ln["node_energy_j"]) <= 0.01 * ratio * ln["node_energy_j"] + ln["energy_tol"] + ratio * ln["node_tol"], (ln, ratio)
nw = q["total"]["node_avg_power_w"]
assert abs(ln["power_w"] - ratio * nw) <= 0.01 * ratio * nw + 0.5, (ln, ratio, nw)
assert "gpu_energy_j" not in ln, ln
print(" ".join(str(s["core_fraction"]) for s in shares))
EOF

test_expect_success 'load the module on all ranks' '
	pm_load_all -r 0.1
'
# given_r: the queries that gave a job's R, summed over the ranks (asked
# one rank at a time: flux exec -r all interleaves the ranks' lines)
given_r() {
	for r in 0 1 2 3; do
		flux exec -r $r flux module stats power-monitor | jq .queries_given_r || return 1
	done | jq -s add
}
test_expect_success 'an exclusive job prints one power line when it ends' '
	before=$(given_r) &&
	flux run -N4 -x sleep 1 >out 2>err &&
	cat err &&
	test "$(grep -c "power:" err)" = 1 &&
	grep "$LINE" err &&
	flux job last >jobid &&
	test $(given_r) -eq $((before + 1))
'
test_expect_success 'the line is an RFC 24 log event of the leader shell in the job'"'"'s output eventlog, after the tasks'"'"' end of output' '
	id=$(cat jobid) &&
	flux job wait-event -t 10 $id clean &&
	flux job eventlog -p guest.output -f json $id >output.ev &&
	jq -s -e "map(select(.name == \"log\" and .context.component == \"power\"))
		| length == 1 and .[0].context.rank == 0 and .[0].context.level == 5
		and (.[0].context.message | test(\"^[0-9.]+ k?J in [0-9.]+ s, average [0-9]+ W over 4 nodes\"))" output.ev &&
	jq -s -e "(map(.name) | rindex(\"log\")) > (map(.name == \"data\" and .context.eof == true) | rindex(true))" output.ev &&
	flux job attach $id 2>attach.err &&
	grep "$LINE" attach.err
'
test_expect_success 'with stderr in a file the line goes to the file, not to the output eventlog' '
	flux run -N4 -x --output=file.out --error=file.err true &&
	grep "flux-shell\[0\]: .*power: .* over 4 nodes" file.err &&
	id=$(flux job last) &&
	flux job wait-event -t 10 $id clean &&
	flux job eventlog -p guest.output -f json $id >file.ev &&
	jq -s -e "map(select(.name == \"log\")) | length == 0" file.ev &&
	flux run -N4 -x --output=both.out true &&
	grep "flux-shell\[0\]: .*power: .* over 4 nodes" both.out
'
test_expect_success 'the module answered and power-record.so is not loaded: no exec eventlog event, no memo' '
	id=$(cat jobid) &&
	flux job wait-event -t 10 $id clean &&
	flux job eventlog -p exec -f json $id >exec.ev &&
	jq -s -e "map(select(.name == \"power\")) | length == 0" exec.ev &&
	flux job eventlog -f json $id >main.ev &&
	jq -s -e "map(select(.name == \"power\" or .name == \"memo\")) | length == 0" main.ev &&
	flux jobs -n -o "{annotations.user.energy_j}" $id >memo &&
	test "$(cat memo)" = ""
'
test_expect_success 'the line'"'"'s figures are those of flux power-query (same power; energy to the end seen)' '
	python3 line.py err >line.json &&
	cat line.json &&
	flux power-query -j $(cat jobid) --json >query.json &&
	jq -e --slurpfile q query.json -f same.jq line.json
'
test_expect_success SHARED_NODES 'a job that shares its nodes: its line carries its share, the nodes'"'"' beside; no event, no memo' '
	flux run -N4 -n4 sleep 1 2>shared.err &&
	cat shared.err &&
	test "$(grep -c "power:" shared.err)" = 1 &&
	grep "$SHARED" shared.err &&
	id=$(flux job last) &&
	flux job wait-event -t 10 $id clean &&
	python3 line.py shared.err >shared.line &&
	flux power-query -j $id --json >shared.json &&
	python3 charged.py shared.json shared.line &&
	flux job eventlog -p exec -f json $id >shared.exec &&
	jq -s -e "map(select(.name == \"power\")) | length == 0" shared.exec &&
	test "$(flux jobs -n -o "{annotations.user.energy_j}" $id)" = ""
'
test_expect_success 'with power-record.so loaded the memo is the record'"'"'s, and the exec eventlog still has no power event' '
	flux jobtap load "$PM_BUILDDIR/jobtap/power-record.so" &&
	test_when_finished "flux jobtap remove power-record.so" &&
	flux run -N4 -x sleep 1 2>rec.err &&
	cat rec.err &&
	grep "$LINE" rec.err &&
	id=$(flux job last) &&
	flux job wait-event -t 30 $id clean &&
	flux job eventlog -f json $id >rec.ev &&
	flux job eventlog -p exec -f json $id >rec.exec &&
	flux jobs -n -o "{annotations.user.energy_j}" $id >rec.memo &&
	cat rec.memo &&
	jq -s -e "map(select(.name == \"power\")) | length == 1" rec.ev &&
	jq -s -e "map(select(.name == \"memo\")) | length == 1" rec.ev &&
	jq -s -e --argjson e "$(cat rec.memo)" \
		"map(select(.name == \"power\"))[0].context.energy_j == \$e" rec.ev &&
	jq -s -e "map(select(.name == \"power\")) | length == 0" rec.exec &&
	python3 line.py rec.err >rec.line &&
	jq -s -e --slurpfile l rec.line "map(select(.name == \"power\"))[0].context |
		(\$l[0].power_w - .avg_power_w | fabs) <= 0.01 * .avg_power_w + 0.5" rec.ev
'
test_expect_success SHARED_NODES '-o power.ranks=1 adds a line per rank: a shared rank has the job'"'"'s share, the node'"'"'s beside' '
	flux run -N4 -n4 -o power.ranks=1 true 2>err &&
	cat err &&
	test "$(grep -c "power: rank [0-3] (.*): [0-9.]* k\?J, average [0-9]* W (node [0-9.]* k\?J, [0-9]* W), complete$" err)" = 4 &&
	flux power-query -j $(flux job last) --json >ranks.json &&
	python3 - err ranks.json <<-\EOT
	import json, re, sys
	cf = {r["rank"]: r["share"]["core_fraction"] for r in json.load(open(sys.argv[2]))["ranks"]}
	n = 0
	for m in re.finditer(r"power: rank (\d) \(.*\): .*, average (\d+) W \(node .*, (\d+) W\)", open(sys.argv[1]).read()):
	    rank, w, nw = int(m.group(1)), int(m.group(2)), int(m.group(3))
	    # whole watts: within 1% and the rounding
	    assert abs(w - cf[rank] * nw) <= 0.01 * cf[rank] * nw + 1, (rank, w, nw, cf[rank])
	    n += 1
	assert n == 4, n
	EOT
'
test_expect_success '-o power.ranks=1: an exclusive rank has the node'"'"'s figures, nothing beside' '
	flux run -N4 -x -o power.ranks=1 true 2>err &&
	test "$(grep -c "power: rank [0-3] (.*): [0-9.]* k\?J, average [0-9]* W, complete$" err)" = 4 &&
	! grep "(node " err
'
test_expect_success 'a rank reloaded during the job says how much of it it covers, and why' '
	flux submit -N4 -o power.ranks=1 --output=reload.out --error=reload.err sleep 2 >reload.id &&
	flux job wait-event -t 10 $(cat reload.id) start &&
	sleep 0.5 &&
	flux exec -r 2 flux module reload power-monitor -r 0.1 &&
	flux job wait-event -t 30 $(cat reload.id) clean &&
	cat reload.err &&
	grep "power: rank 2 (.*): .*, average [0-9]* W, partial ([0-9.]*% covered: not yet sampled)" reload.err &&
	test "$(grep -c "power: rank [013] (.*): .*, complete$" reload.err)" = 3 &&
	grep "power: .* over 4 nodes .*; partial data: [0-9.]*% of the job covered$" reload.err
'
test_expect_success '-o power=off prints nothing, sets no memo, posts no event' '
	flux run -N4 -o power=off true 2>err &&
	! grep "power:" err &&
	id=$(flux job last) &&
	flux job wait-event -t 10 $id clean &&
	test "$(flux jobs -n -o "{annotations.user.energy_j}" $id)" = "" &&
	! flux job eventlog -p exec $id | grep "^[0-9.]* power "
'
test_expect_success 'the job exit code is unchanged' '
	test_expect_code 3 flux run -N2 sh -c "exit 3" 2>err &&
	grep "power: " err
'
test_expect_success 'without the module jobs succeed with one notice line' '
	pm_unload_all &&
	flux run -N4 true 2>err &&
	cat err &&
	test "$(grep -c "power" err)" = 1 &&
	grep "power: no figures: the power-monitor module is not loaded" err
'
test_expect_success '50 jobs in a row complete, each with its line' '
	pm_load_all -r 0.1 &&
	for i in $(seq 1 50); do
		timeout 60 flux run -N4 true 2>>err50 || return 1
	done &&
	# a loaded machine may leave a sliver of a 0.2 s job uncovered: the
	# line then says so (partial data: 99.9% ...), which is right too
	test "$(sed "s/; partial data: [0-9.]*% of the job covered\$//" err50 | grep -c "$LINE")" = 50
'
test_expect_success 'unload' '
	pm_unload_all
'
test_done
