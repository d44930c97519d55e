#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only

test_description='Native sources: the module reads a powercap tree laid out
like the kernel'"'"'s, whose RAPL counters advance by a known amount (wrapping)
during a job, and flux power-query reports exactly that energy, from the
counters, naming source and method; --sources says what each rank found.'

. "$(dirname "$0")"/sharness.d/power-monitor.sh
test_under_flux 4
. "$SHARNESS"
pm_skip_without_flux

# Module arguments are split at spaces, and the trash directory has one: the
# fixture tree lives in a temporary directory.
SYSFS=$(mktemp -d "${TMPDIR:-/tmp}/pm-sysfs.XXXXXX")

test_expect_success 'start the powercap fixture (counters wrap at 150 J)' '
	mkdir -p gate &&
	python3 "$PM_SRCDIR"/t/powercap-fixture.py "$SYSFS" "$PWD/gate" \
		--max-uj 150000000 >fixture.out 2>&1 &
	echo $! >fixture.pid &&
	pm_wait_for 10 grep -q ready fixture.out
'
test_expect_success 'load the module with --source=rapl on every rank' '
	pm_load_all --source=rapl --sysfs=$SYSFS -r 0.1 &&
	# the layout is known from the first sample on, which a loaded
	# machine may take a moment to take
	pm_wait_for 5 sh -c "flux module stats power-monitor | grep -q layout" &&
	flux module stats power-monitor >stats.json &&
	jq -r .source <stats.json | grep "^rapl" &&
	jq -e ".layout == {\"cpu\": 2, \"mem\": 2, \"gpu\": 0}" <stats.json
'
test_expect_success '--sources lists what each rank found and why the rest is missing' '
	flux power-query --sources >sources.out &&
	cat sources.out &&
	grep "0-3 *│ rapl *│ used" sources.out &&
	grep "0-3 *│ nvml *│ found, not used *│ works, not listed in --source" sources.out &&
	grep "0-3 *│ hwmon *│ missing" sources.out &&
	grep "0-3 *│ variorum *│ found, not used *│ works, not listed in --source" sources.out &&
	flux power-query --sources --json >sources.json &&
	jq -e "[.ranks[].provenance.cpu] == [\"rapl\", \"rapl\", \"rapl\", \"rapl\"]" <sources.json
'
test_expect_success 'a job during which the counters advance (and wrap)' '
	flux run -N4 -n4 sh -c "
		test \$FLUX_TASK_RANK -eq 0 || { sleep 3.5; exit 0; }
		sleep 0.7; touch gate/go; sleep 2; touch gate/stop; sleep 0.8" &&
	flux job last >jobid &&
	pm_wait_for 10 test -s gate/totals.json &&
	# every rank samples past the job end: no edge is extrapolated
	sleep 0.5 &&
	cat gate/totals.json
'
test_expect_success 'the node energy is exactly the counters'"'"' advance, per device; the job of one core a rank is charged half' '
	flux power-query -j $(cat jobid) --json >job.json &&
	python3 - gate/totals.json job.json <<-\EOT
	import json, sys
	tot = json.load(open(sys.argv[1]))
	d = json.load(open(sys.argv[2]))
	assert len(d["ranks"]) == 4, d["missing"]
	assert tot["package-0"] > 150e6, "no wrap happened"
	for r in d["ranks"]:
	    det = r["detail"]
	    want = [tot["package-0"] / 1e6, tot["package-1"] / 1e6]
	    got = [c["energy_j"] for c in det["cpu"]]
	    assert all(abs(g - w) <= 1e-6 * det["samples"] for g, w in zip(got, want)), (got, want)
	    want = [tot["dram-0"] / 1e6, tot["dram-1"] / 1e6]
	    got = [m["energy_j"] for m in det["mem"]]
	    assert all(abs(g - w) <= 1e-6 * det["samples"] for g, w in zip(got, want)), (got, want)
	    assert abs(r["node_energy_j"] - sum(tot.values()) / 1e6) <= 1e-5 * det["samples"], r["node_energy_j"]
	    # one task a rank holds 1 of its 2 cores: half of the node (no GPUs)
	    s = r["share"]
	    assert (s["ncores"], s["node_cores"], s["core_fraction"], s["exclusive"]) == (1, 2, 0.5, False), s
	    assert abs(r["energy_j"] - 0.5 * r["node_energy_j"]) <= 1e-9 * r["node_energy_j"], (r["energy_j"], r["node_energy_j"])
	    for dom in det["cpu"] + det["mem"]:
	        assert dom["method"] == "counter" and dom["source"] == "rapl", dom
	    assert det["node"]["source"] == "sum of rapl", det["node"]
	    assert r["data_presence"] == "complete", r
	print("exact:", [r["node_energy_j"] for r in d["ranks"]], "want", sum(tot.values()) / 1e6)
	EOT
'
test_expect_success 'the table names source and method' '
	flux power-query -j $(cat jobid) >table &&
	cat table &&
	grep "ranks 0-3: energy from node: sum of rapl, counter; cpu: rapl, counter; mem: rapl, counter" table
'
# The stand-in's NVML index order is not its PCI order: NVML device 0, the
# H100, is at 0000:3b:00.0 and device 1, the P100, at 0000:17:00.0. flux-core
# numbers GPUs in PCI order, so gpu 0 must be the P100 and gpu 1 the H100.
test_expect_success 'rapl and nvml (go-nvml, stand-in H100 + P100) merge into one reading' '
	pm_unload_all &&
	pm_load_all --source=rapl,nvml --sysfs=$SYSFS -r 0.1 &&
	flux run -N4 sleep 1 &&
	sleep 0.5 &&
	flux power-query -j $(flux job last) --json >gpu.json &&
	python3 - gpu.json <<-\EOT
	import json, sys
	d = json.load(open(sys.argv[1]))
	for r in d["ranks"]:
	    g = r["detail"]["gpu"]
	    assert len(g) == 2, g
	    # gpu 0, the P100 (0000:17:00.0, NVML device 1): no counter, power
	    # usage 180.5 W: energy integrated
	    assert g[0]["method"] == "power" and abs(g[0]["mean_w"] - 180.5) < 1e-3, g[0]
	    assert abs(g[0]["energy_j"] - 180.5 * (d["end"] - d["start"])) < 1e-3, g[0]
	    # gpu 1, the H100 (0000:3b:00.0, NVML device 0):
	    # NVML_FI_DEV_POWER_INSTANT 612.345 W; energy from its counter,
	    # which the stand-in advances 1 J at every read: about one joule
	    # per sample in the window, whatever the sampled power
	    n = r["detail"]["samples"]
	    assert g[1]["method"] == "counter" and g[1]["source"] == "nvml", g[1]
	    assert n - 1.5 <= g[1]["energy_j"] <= n + 1.5, (n, g[1])
	    assert abs(g[1]["max_w"] - 612.345) < 1e-3, g[1]
	    assert r["detail"]["cpu"][0]["source"] == "rapl", r["detail"]["cpu"]
	    assert r["detail"]["node"]["source"] == "sum of rapl+nvml", r["detail"]["node"]
	print("ok", [round(r["energy_j"], 3) for r in d["ranks"]])
	EOT
'
test_expect_success 'stats and --sources give each GPU'"'"'s bus id, gpu 0 first' '
	flux module stats power-monitor >nvml-stats.json &&
	jq -r .source <nvml-stats.json >nvml-source &&
	grep "nvml (2 GPUs; .*; gpu0=0000:17:00.0 gpu1=0000:3b:00.0)\$" nvml-source &&
	flux power-query --sources >nvml-sources.out &&
	grep "gpu0=0000:17:00.0 gpu1=0000:3b:00.0" nvml-sources.out
'
test_expect_success 'a source that cannot work is reported, not fatal' '
	pm_unload_all &&
	flux module load power-monitor --source=hwmon --sysfs=$SYSFS &&
	flux module stats power-monitor >bad.json &&
	jq -e ".source == \"none\"" <bad.json &&
	jq -r .last_error <bad.json | grep "hwmon: no power or energy sensors" &&
	flux run true &&
	flux power-query -j $(flux job last) --json >bad-q.json &&
	jq -r ".ranks[0].reason" <bad-q.json | grep "^no power source: hwmon" &&
	flux module remove power-monitor
'
test_expect_success 'replay:FILE plays a recorded RAPL trace (WattAMeter) into the module' '
	cp "$PM_SRCDIR"/internal/read/source/testdata/replay-rapl_wattameter.log $SYSFS/rapl.log &&
	flux module load power-monitor --source=replay:$SYSFS/rapl.log -r 0.1 &&
	flux module stats power-monitor | jq -r .source | grep "^replay" &&
	flux run sleep 1.5 &&
	sleep 0.3 &&
	flux power-query -j $(flux job last) --json >replay.json &&
	python3 - replay.json <<-\EOT
	import json, sys
	d = json.load(open(sys.argv[1]))
	cpu = d["ranks"][0]["detail"]["cpu"]
	assert len(cpu) == 2, cpu
	for c in cpu:
	    # the trace: package counters in uJ, 54 to 143 W
	    assert c["source"] == "replay" and c["method"] == "counter", c
	    assert 50 < c["mean_w"] < 145, c
	print("replayed", [(round(c["energy_j"], 3), round(c["mean_w"], 1)) for c in cpu])
	EOT
	flux module remove power-monitor
'
test_expect_success 'stop the fixture' '
	kill $(cat fixture.pid) 2>/dev/null
	rm -rf "$SYSFS"
'
test_done
