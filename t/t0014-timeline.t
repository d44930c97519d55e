#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only

test_description='flux power-query --timeline draws a job'"'"'s power over time in
the terminal, prints the series as CSV (whose buckets'"'"' energies add up to the
query'"'"'s energy) and JSON, writes PNG and SVG pictures of the asked size,
shows the nodes'"'"' own series beside a job'"'"'s on request (above it for a job
that shares its node, the same for one that holds it whole), follows a
running job, and refuses what it cannot do.'

. "$(dirname "$0")"/sharness.d/power-monitor.sh
test_under_flux 2
. "$SHARNESS"
pm_skip_without_flux

# The stand-in: 440 W a node (2 sockets of 100 W cpu and 20 W mem, 4 GPUs of
# 50 W).
NODE_W=440

# csv_check FILE EXPR: evaluate a Python expression on the CSV records of
# FILE (dicts by the header, bound to rows); print the result.
csv_check() {
	python3 -c '
import sys, csv
rows = list(csv.DictReader(open(sys.argv[1])))
print(eval(sys.argv[2]))
' "$1" "$2"
}

# png_size FILE: "WIDTHxHEIGHT" from a PNG'"'"'s signature and IHDR chunk, or
# an error.
png_size() {
	python3 -c '
import sys, struct
b = open(sys.argv[1], "rb").read()
assert b[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
assert b[12:16] == b"IHDR", "no IHDR first"
w, h = struct.unpack(">II", b[16:24])
print(f"{w}x{h}")
' "$1"
}

test_expect_success 'load the module on all ranks' '
	pm_load_all -r 0.05
'
test_expect_success 'run a 2-node job' '
	flux run -N2 -x sleep 2 &&
	flux job last >jobid &&
	flux power-query -j $(cat jobid) --json >job.json
'
test_expect_success '--timeline draws a chart of the job in 80x24' '
	COLUMNS=80 LINES=24 flux power-query -j $(cat jobid) --timeline >chart &&
	cat chart &&
	test $(wc -l <chart) -eq 23 &&
	test "$(python3 -c "print(max(len(l.rstrip(chr(10))) for l in open(\"chart\", encoding=\"utf-8\")))")" -le 80 &&
	head -1 chart | grep "^job .*: power over time" &&
	grep "# node" chart &&
	grep "0 s" chart &&
	test $(tr -cd "#" <chart | wc -c) -ge 3
'
test_expect_success '--timeline=20 --csv: 20 buckets a line, the node buckets sum to the energy' '
	flux power-query -j $(cat jobid) --timeline=20 --csv >series.csv &&
	head -1 series.csv >header &&
	echo "start,end,rank,domain,mean_w,min_w,max_w,coverage,series" >header.expected &&
	test_cmp header.expected header &&
	test "$(csv_check series.csv "sorted(set((r[\"rank\"], r[\"domain\"]) for r in rows))")" = \
		"[('"'"'total'"'"', '"'"'cpu'"'"'), ('"'"'total'"'"', '"'"'gpu'"'"'), ('"'"'total'"'"', '"'"'mem'"'"'), ('"'"'total'"'"', '"'"'node'"'"')]" &&
	test "$(csv_check series.csv "len([r for r in rows if r[\"domain\"] == \"node\"])")" = 20 &&
	energy=$(jq .total.energy_j <job.json) &&
	csv_check series.csv "sum(float(r[\"mean_w\"] or 0) * (float(r[\"end\"]) - float(r[\"start\"])) for r in rows if r[\"domain\"] == \"node\")" >sum &&
	echo "csv $(cat sum) J, query $energy J" &&
	test "$(python3 -c "print(abs($(cat sum) - $energy) <= 1e-6 * $energy + 1e-6)")" = True &&
	test "$(csv_check series.csv "all(abs(float(r[\"mean_w\"]) - 2 * $NODE_W) < 1e-3 for r in rows if r[\"domain\"] == \"node\" and float(r[\"coverage\"]) == 1)")" = True
'
test_expect_success '--json gives the same series' '
	flux power-query -j $(cat jobid) --timeline=20 --json >series.json &&
	jq -e "[.lines[] | [.rank, .domain, (.buckets | length)]] ==
		[[\"total\", \"node\", 20], [\"total\", \"cpu\", 20], [\"total\", \"mem\", 20], [\"total\", \"gpu\", 20]]" <series.json
'
test_expect_success '--per-rank gives each rank its lines' '
	flux power-query -j $(cat jobid) --timeline=10 --per-rank --csv >ranks.csv &&
	test "$(csv_check ranks.csv "sorted(set(r[\"rank\"] for r in rows))")" = "['"'"'0'"'"', '"'"'1'"'"']"
'
test_expect_success '--plot out.png writes a 960x480 PNG' '
	flux power-query -j $(cat jobid) --plot out.png >out &&
	test_must_be_empty out &&
	test "$(png_size out.png)" = 960x480
'
test_expect_success '--plot out.svg writes an SVG, with the chart when asked' '
	flux power-query -j $(cat jobid) --timeline --plot out.svg >chart2 &&
	head -c 5 out.svg | grep "<?xml" &&
	grep "<svg width=\"720pt\" height=\"360pt\"" out.svg &&
	grep "# node" chart2
'
test_expect_success 'run a job on one core: it shares its node' '
	flux run -n1 sleep 2 &&
	flux job last >shared &&
	flux power-query -j $(cat shared) --json >shared.json &&
	jq -e ".ranks[0].share.exclusive == false" <shared.json
'
test_expect_success '--node-series: the nodes'"'"' series is above a shared job'"'"'s, each sums to its energy' '
	flux power-query -j $(cat shared) --timeline=10 --node-series --csv >shared.csv &&
	test "$(csv_check shared.csv "sorted(set((r[\"series\"], r[\"domain\"]) for r in rows if r[\"domain\"] == \"node\"))")" = \
		"[('"'"'job'"'"', '"'"'node'"'"'), ('"'"'node'"'"', '"'"'node'"'"')]" &&
	cf=$(jq ".ranks[0].share.core_fraction" <shared.json) &&
	echo "core fraction $cf" &&
	test "$(python3 -c "print(0 < $cf < 1)")" = True &&
	csv_check shared.csv "[(float(j[\"mean_w\"]), float(n[\"mean_w\"])) for j, n in zip([r for r in rows if r[\"domain\"] == \"node\" and r[\"series\"] == \"job\"], [r for r in rows if r[\"domain\"] == \"node\" and r[\"series\"] == \"node\"]) if float(j[\"coverage\"]) == 1]" &&
	test "$(csv_check shared.csv "all(abs(float(r[\"mean_w\"]) - ($cf * $NODE_W if r[\"series\"] == \"job\" else $NODE_W)) < 1e-3 for r in rows if r[\"domain\"] == \"node\" and float(r[\"coverage\"]) == 1)")" = True &&
	test "$(csv_check shared.csv "len([r for r in rows if r[\"domain\"] == \"node\" and float(r[\"coverage\"]) == 1]) >= 10")" = True &&
	for of_total in job:energy_j node:node_energy_j; do
		of=${of_total%:*} &&
		total=$(jq ".total.${of_total#*:}" <shared.json) &&
		test "$(csv_check shared.csv "abs(sum(float(r[\"mean_w\"] or 0) * (float(r[\"end\"]) - float(r[\"start\"])) for r in rows if r[\"domain\"] == \"node\" and r[\"series\"] == \"$of\") - $total) <= 1e-6 * $total")" = True || return 1
	done
'
test_expect_success '--node-series: the same series for a job that holds its nodes whole' '
	flux power-query -j $(cat jobid) --timeline=10 --node-series --csv >whole.csv &&
	test "$(csv_check whole.csv "len([r for r in rows if r[\"series\"] == \"node\"])")" = 40 &&
	test "$(csv_check whole.csv "[{k: v for k, v in r.items() if k != \"series\"} for r in rows if r[\"series\"] == \"job\"] == [{k: v for k, v in r.items() if k != \"series\"} for r in rows if r[\"series\"] == \"node\"]")" = True
'
test_expect_success '--node-series in the chart (capitals), the JSON and the picture (dashed)' '
	COLUMNS=80 LINES=24 flux power-query -j $(cat shared) --timeline --node-series >shared.chart &&
	cat shared.chart &&
	grep "# node.*N whole node" shared.chart &&
	test $(tr -cd "N" <shared.chart | wc -c) -ge 10 &&
	sed -n "2,/└/p" shared.chart | grep "[N#*cmgCMG]" | head -1 >top-row &&
	test "$(tr -cd "N" <top-row | wc -c)" -ge 10 &&
	flux power-query -j $(cat shared) --timeline=5 --node-series --per-rank --json >shared-series.json &&
	jq -e "[.lines[] | select(.domain == \"node\") | [.rank, .series, .domain]] ==
		[[\"$(jq ".ranks[0].rank" <shared.json)\", \"job\", \"node\"], [\"$(jq ".ranks[0].rank" <shared.json)\", \"node\", \"node\"]]" <shared-series.json &&
	flux power-query -j $(cat shared) --node-series --plot shared.svg &&
	grep "whole node" shared.svg &&
	grep "stroke-dasharray" shared.svg
'
test_expect_success '--node-series is refused without a series or a job' '
	test_must_fail flux power-query -j $(cat shared) --node-series 2>err &&
	grep "goes with --timeline or --plot" err &&
	test_must_fail flux power-query --ranks=0 --start=$(date +%s) --timeline --node-series 2>err &&
	grep "give -j JOBID" err
'
test_expect_success '--plot with an unknown kind fails before asking' '
	test_must_fail flux power-query -j $(cat jobid) --plot out.gif 2>err &&
	grep "name it .png, .svg or .pdf" err
'
test_expect_success 'a running job'"'"'s series grows' '
	flux submit -N1 sleep 30 >running &&
	flux job wait-event -t 10 $(cat running) start &&
	sleep 0.5 &&
	flux power-query -j $(cat running) --timeline=5 --csv >run1.csv 2>err1 &&
	grep "still running" err1 &&
	sleep 1 &&
	flux power-query -j $(cat running) --timeline=5 --csv >run2.csv &&
	test "$(python3 -c "
import csv
e = lambda f: max(float(r[\"end\"]) for r in csv.DictReader(open(f)))
print(e(\"run2.csv\") > e(\"run1.csv\") + 0.5)")" = True &&
	test "$(python3 -c "
import csv
j = lambda f: sum(float(r[\"mean_w\"] or 0) * (float(r[\"end\"]) - float(r[\"start\"])) for r in csv.DictReader(open(f)) if r[\"domain\"] == \"node\")
print(j(\"run2.csv\") > j(\"run1.csv\") + 0.5 * $NODE_W)")" = True &&
	flux cancel $(cat running)
'
test_expect_success '--watch redraws until the job ends' '
	flux submit -N1 sleep 5 >watched &&
	flux job wait-event -t 10 $(cat watched) start &&
	timeout 60 flux power-query -j $(cat watched) --timeline --watch >watch.out &&
	test $(grep -c "power over time" watch.out) -ge 2 &&
	grep "power over time.*still running" watch.out &&
	grep "power over time" watch.out | tail -1 >last &&
	test_must_fail grep "still running" last
'
test_expect_success 'unload the module' '
	pm_unload_all
'

test_done
