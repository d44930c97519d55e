#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only

test_description='the module reads the [power-monitor] table of the instance'"'"'s
Flux configuration, module arguments override it, and flux config reload
applies a change live without losing the ring; what cannot be applied, or is
wrong, is refused with one line and changes nothing; enable = false unloads
it; shutdown is clean whatever the configuration has become; no secret
appears on a command line.'

. "$(dirname "$0")"/sharness.d/power-monitor.sh
. "$SHARNESS"
pm_skip_without_flux

# The modprobe files from the source tree, where flux modprobe finds them
# (the module itself is found in the build tree: FLUX_MODULE_PATH_PREPEND).
mkdir -p mp/modprobe.d mp/rc1.d &&
cp "$PM_SRCDIR/etc/power-monitor.toml" mp/modprobe.d/ &&
cp "$PM_SRCDIR/etc/rc1.d/power-monitor.py" mp/rc1.d/ || exit 1
FLUX_MODPROBE_PATH_APPEND=$PWD/mp
export FLUX_MODPROBE_PATH_APPEND

# start N CONFDIR SCRIPT: run SCRIPT (sh) in an instance of N brokers with
# the configuration in CONFDIR; its exit code is the instance's, which is
# not 0 if any broker exits otherwise.
start() {
	_n=$1 _conf=$2; shift 2
	flux start --test-size="$_n" -Slog-stderr-level=1 --config-path="$PWD/$_conf" \
		env CONF="$PWD/$_conf" sh "$@"
}
# stats R: the module stats of rank R, one line of JSON
cat >lib.sh <<-\EOT
	stats() { flux exec -r "$1" flux module stats power-monitor | jq -c .; }
	reload() { flux config reload 2>&1; }
	# wait_for R JQ: wait (5 s at most) until rank R's stats satisfy JQ:
	# followers apply a reload after rank 0 (each broker's config module
	# follows its parent's configuration)
	wait_for() {
		_n=50
		until stats "$1" | jq -e "$2" >/dev/null; do
			_n=$((_n - 1)); test $_n -gt 0 || return 1; sleep 0.1
		done
	}
	# set KEY VALUE: KEY = VALUE in the [power-monitor] table of $CONF/pm.toml
	set_key() {
		grep -v "^$1 = " "$CONF/pm.toml" >"$CONF/pm.toml.new" &&
		echo "$1 = $2" >>"$CONF/pm.toml.new" &&
		mv "$CONF/pm.toml.new" "$CONF/pm.toml"
	}
EOT

test_expect_success 'modprobe loads it with the table'"'"'s settings, passing no argument' '
	mkdir -p c1 &&
	cat >c1/pm.toml <<-EOF &&
	[power-monitor]
	enable = true
	period = 0.2
	buffer-size = 5000
	source = ["variorum"]
	EOF
	cat >s1.sh <<-\EOT &&
	. ./lib.sh
	stats 0 >s1-0.json && stats 1 >s1-1.json &&
	flux exec -r all sh -c "ps -o args= --ppid \$(flux getattr broker.pid)" >children.out
	EOT
	start 2 c1 s1.sh &&
	for r in 0 1; do
		jq -e ".period_s == 0.2 and .buffer.cap == 5000 and (.source | startswith(\"variorum (\"))" s1-$r.json ||
			return 1
	done &&
	test $(grep -c "^module-exec .*power-monitor.so\$" children.out) = 2
'
test_expect_success 'a value with a space in it reaches the module whole' '
	mkdir -p c2 "lib dir" &&
	cp "$PM_STUB" "lib dir/libvariorum.so" &&
	printf "[power-monitor]\nenable = true\nsource = \"variorum\"\nvariorum-lib = \"%s\"\n" \
		"$PWD/lib dir/libvariorum.so" >c2/pm.toml &&
	echo ". ./lib.sh; stats 0 >s2.json" >s2.sh &&
	start 1 c2 s2.sh &&
	jq -e --arg p "$PWD/lib dir/libvariorum.so" ".sources.source | contains(\$p)" s2.json
'
test_expect_success 'module arguments override the table, and the log says so' '
	mkdir -p c3 &&
	printf "[power-monitor]\nperiod = 0.5\nbuffer-size = 400\n" >c3/pm.toml &&
	cat >s3.sh <<-\EOT &&
	. ./lib.sh
	flux module load power-monitor -r 0.3 &&
	stats 0 >s3.json &&
	flux dmesg >dmesg3.out &&
	flux module remove power-monitor
	EOT
	start 1 c3 s3.sh &&
	jq -e ".period_s == 0.3 and .buffer.cap == 400" s3.json &&
	grep "power-monitor.warn.*\[power-monitor\] period is overridden by the module argument --period" dmesg3.out
'
test_expect_success 'a bad key or value in the table fails the load, naming it; the broker lives' '
	mkdir -p c4 &&
	printf "[power-monitor]\nperid = 0.5\n" >c4/pm.toml &&
	cat >s4.sh <<-\EOT &&
	. ./lib.sh
	! flux module load power-monitor 2>load4.err &&
	printf "[power-monitor]\nperiod = \"fast\"\n" >"$CONF/pm.toml" &&
	flux config reload &&
	! flux module load power-monitor 2>>load4.err &&
	flux dmesg >dmesg4.out &&
	flux run true
	EOT
	start 1 c4 s4.sh &&
	grep "power-monitor.err.*\[power-monitor\] perid: unknown key (the keys: flux-power-monitor(7))" dmesg4.out &&
	grep "power-monitor.err.*\[power-monitor\] period: \"fast\" is not a number of seconds" dmesg4.out
'

# One instance for the live changes: modprobe loads the module with exec.
mkdir -p c5
cat >c5/pm.toml <<-EOF
[power-monitor]
enable = true
period = 0.1
buffer-size = 5000
source = "variorum"
EOF
test_expect_success 'flux config reload applies period, source and exports live, keeping the ring' '
	cat >s5.sh <<-\EOT &&
	. ./lib.sh
	flux run -N2 sleep 0.5 && job=$(flux job last) &&
	stats 1 >s5-before.json &&
	# the period
	set_key period 0.25 && reload &&
	wait_for 1 ".period_s == 0.25" && stats 1 >s5-period.json &&
	# the source: the estimate from CPU use, of another layout
	set_key source "\"estimate\"" && reload &&
	wait_for 1 ".source | startswith(\"estimate\")" &&
	sleep 0.6 && stats 1 >s5-source.json &&
	flux exec -r 1 flux dmesg >dmesg5-1.out &&
	flux power-query -j $job --json >s5-query.json &&
	# an export: /metrics on rank 0
	set_key prometheus-listen "\"127.0.0.1:0\"" && reload &&
	sleep 0.5 &&
	url=$(flux dmesg | sed -n "s|.*publishing to prometheus /metrics on \(http://[^ ]*\).*|\1|p" | tail -n 1) &&
	curl -sf "$url" >metrics.out &&
	stats 0 >s5-export.json &&
	flux dmesg >dmesg5.out
	EOT
	start 2 c5 s5.sh &&
	jq -e ".period_s == 0.1" s5-before.json &&
	jq -e ".period_s == 0.25 and .buffer.cap == 5000" s5-period.json &&
	jq -e --slurpfile b s5-before.json \
		".buffer.total > \$b[0].buffer.total and .buffer.oldest == \$b[0].buffer.oldest" s5-period.json &&
	jq -e --slurpfile b s5-before.json \
		"(.source | startswith(\"estimate\")) and .buffer.layout_mismatch == 0 and
		 .buffer.len > \$b[0].buffer.len and .buffer.oldest == \$b[0].buffer.oldest" s5-source.json &&
	jq -e ".total.data_presence == \"complete\" and (.ranks | length) == 2" s5-query.json &&
	grep "^power_monitor_" metrics.out &&
	jq -e ".export != null" s5-export.json &&
	grep "power-monitor.info\[0\]: configuration reloaded: period 0.1 -> 0.25" dmesg5.out &&
	grep "power-monitor.info\[1\]: configuration reloaded: source variorum -> estimate" dmesg5-1.out
'
test_expect_success 'a change that cannot be applied live is refused with one line; nothing changes' '
	cat >s6.sh <<-\EOT &&
	. ./lib.sh
	stats 0 >s6-before.json &&
	set_key period 0.5 && set_key buffer-size 100 &&
	! reload >reload6.out &&
	stats 0 >s6-after.json
	EOT
	sed -i "s/^period = .*/period = 0.1/" c5/pm.toml &&
	start 1 c5 s6.sh &&
	cat reload6.out &&
	test $(wc -l <reload6.out) = 1 &&
	grep "error updating power-monitor: buffer-size 5000 -> 100 needs a reload of the module, which empties the ring" reload6.out &&
	jq -e ".period_s == 0.1 and .buffer.cap == 5000" s6-after.json
'
test_expect_success 'a bad key or value on reload is refused naming it; old settings kept, broker runs' '
	sed -i "/^buffer-size/s/.*/buffer-size = 5000/; s/^period = .*/period = 0.1/; /^prometheus-listen/d" c5/pm.toml &&
	cat >s7.sh <<-\EOT &&
	. ./lib.sh
	set_key mqtt-qos 7 && ! reload >reload7a.out &&
	sed -i "/^mqtt-qos/d" "$CONF/pm.toml" &&
	set_key sampling-period 2 && ! reload >reload7b.out &&
	stats 1 >s7.json &&
	flux run -N2 true
	EOT
	start 2 c5 s7.sh &&
	grep "error updating power-monitor: \[power-monitor\] mqtt-qos: 7 is outside 0 to 2" reload7a.out &&
	grep "error updating power-monitor: \[power-monitor\] sampling-period: unknown key" reload7b.out &&
	jq -e ".period_s == 0.1 and .export == null" s7.json
'
test_expect_success 'enable = false on reload unloads it on every rank; the instance exits 0' '
	sed -i "/^sampling-period/d" c5/pm.toml &&
	cat >s8.sh <<-\EOT &&
	. ./lib.sh
	set_key enable false && reload &&
	_n=50 &&
	until flux exec -r all sh -c "! flux module list | grep -q ^power-monitor"; do
		_n=$((_n - 1)); test $_n -gt 0 || exit 1; sleep 0.1
	done &&
	flux dmesg >dmesg8.out
	EOT
	start 2 c5 s8.sh &&
	grep "power-monitor.notice\[0\]: \[power-monitor\] enable is no longer true: unloading" dmesg8.out &&
	! grep "runtime failure\|not properly shut down" dmesg8.out
'
test_expect_success 'the table dropped (flux config load </dev/null): every rank exits 0' '
	sed -i "s/^enable = .*/enable = true/" c5/pm.toml &&
	cat >s9.sh <<-\EOT &&
	flux module list | grep -q ^power-monitor &&
	flux config load </dev/null
	EOT
	start 2 c5 s9.sh 2>s9.err &&
	! grep "runtime failure\|not properly shut down" s9.err
'
test_expect_success 'loaded by hand, a reload without the table keeps it; rc3 removes it at shutdown' '
	mkdir -p c10 &&
	printf "[resource]\nnoverify = true\n" >c10/other.toml &&
	cat >s10.sh <<-\EOT &&
	flux exec -r all flux module load power-monitor -r 0.2 &&
	flux config reload &&
	flux config load </dev/null &&
	flux exec -r all sh -c "flux module list | grep -q ^power-monitor"
	EOT
	start 2 c10 s10.sh 2>s10.err &&
	! grep "runtime failure\|not properly shut down" s10.err
'

# Secrets: a password file, only its owner may read it.
printf "s3cret-in-a-file\n" >mqtt.pass && chmod 600 mqtt.pass
printf "s3cret-open\n" >open.pass && chmod 644 open.pass
test_expect_success 'with exec = true and a password file, no secret is on any command line' '
	mkdir -p c11 &&
	cat >c11/pm.toml <<-EOF &&
	[power-monitor]
	enable = true
	mqtt-broker = "127.0.0.1"
	mqtt-port = 1
	mqtt-username = "flux"
	mqtt-password-file = "$PWD/mqtt.pass"
	EOF
	cat >s11.sh <<-\EOT &&
	. ./lib.sh
	flux exec -r all sh -c "ps -o args= --ppid \$(flux getattr broker.pid)" >children11.out &&
	ps -eo args >ps11.out &&
	stats 0 >s11.json
	EOT
	start 2 c11 s11.sh &&
	test $(grep -c "^module-exec .*power-monitor.so\$" children11.out) = 2 &&
	! grep s3cret ps11.out &&
	jq -e ".export.sinks | length == 1" s11.json
'
test_expect_success 'a password file others may read is refused, naming it' '
	mkdir -p c12 &&
	printf "[power-monitor]\nmqtt-broker = \"h\"\nmqtt-password-file = \"%s\"\n" "$PWD/open.pass" >c12/pm.toml &&
	cat >s12.sh <<-\EOT &&
	! flux module load power-monitor &&
	flux dmesg >dmesg12.out
	EOT
	start 1 c12 s12.sh &&
	grep "power-monitor.err.*\[power-monitor\] mqtt-password-file: $PWD/open.pass: readable by group or others (mode 0644)" dmesg12.out
'
test_expect_success 'a password given as an argument works, with a warning that ps shows it' '
	cat >s13.sh <<-\EOT &&
	flux module load power-monitor --mqtt-broker=127.0.0.1 --mqtt-port=1 --mqtt-password=s3cret-arg &&
	flux dmesg >dmesg13.out &&
	flux module remove power-monitor
	EOT
	start 1 c10 s13.sh &&
	grep "power-monitor.warn.*mqtt-password is given as an argument, which every user of the node can read (ps)" dmesg13.out
'
test_done
