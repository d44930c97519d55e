#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only

test_description='make install puts the module, the commands, the shell plugin,
the modprobe files and the man pages under its own --prefix; with what
configure (make flux-env) says to set, flux finds them: an instance that
enables power-monitor in its configuration loads it on every rank, each in
its own process, at start and removes it at shutdown; the load and unload
scripts work.'

. "$(dirname "$0")"/sharness.d/power-monitor.sh
. "$SHARNESS"
pm_skip_without_flux

# An installation under a prefix of its own, not flux-core's, as
# ./configure --prefix=DIR would make (prefix given to make instead, so that
# the tree already built is installed).
pm_make() {
	(unset MAKEFLAGS MFLAGS MAKELEVEL; ${MAKE:-make} -C "$PM_BUILDDIR" "$@")
}
test_expect_success 'make install prefix=DIR puts everything under DIR' '
	pm_make install prefix="$PWD/inst" >install.log 2>&1 &&
	test -x inst/lib/flux/modules/power-monitor.so &&
	test -x inst/libexec/flux/cmd/flux-power-query &&
	test -x inst/lib/flux/shell/plugins/power.so &&
	test -x inst/lib/flux/job-manager/plugins/power-record.so &&
	test -f inst/share/flux/modprobe/modprobe.d/power-monitor.toml &&
	test -f inst/libexec/flux/modprobe/rc1.d/power-monitor.py &&
	test -x inst/bin/power-monitor &&
	flux_prefix=$(pkg-config --variable=prefix flux-core) &&
	! grep "$flux_prefix/\(lib/flux\|libexec/flux\|share/flux\|share/man\|bin/power\)" install.log
'
# configure found rst2man where the build tree has man pages.
test -f "$PM_BUILDDIR/doc/man1/flux-power-query.1" && command -v man >/dev/null &&
	test_set_prereq MAN
test_expect_success MAN 'and the man pages in DIR/share/man, which man renders' '
	for page in man1/flux-power-query.1 man1/power-monitor.1 \
		man7/flux-power-monitor.7 man7/flux-shell-power.7; do
		LC_ALL=C.UTF-8 MANWIDTH=80 man -l inst/share/man/$page \
			>$(basename $page).out 2>>man.err || return 1
	done &&
	test_must_be_empty man.err &&
	grep "^NAME" flux-power-query.1.out &&
	tr -s " " <flux-power-query.1.out |
		grep "flux-power-query - report the power and energy" &&
	grep "^OPTIONS" power-monitor.1.out
'
test_expect_success 'make flux-env says what makes flux find them' '
	pm_make -s flux-env prefix="$PWD/inst" >flux-env.out &&
	cat flux-env.out &&
	(. ./flux-env.out &&
	 test "$FLUX_MODULE_PATH_PREPEND" = "$PWD/inst/lib/flux/modules" &&
	 test "$FLUX_EXEC_PATH_PREPEND" = "$PWD/inst/libexec/flux/cmd" &&
	 test "$FLUX_MODPROBE_PATH_APPEND" = \
		"$PWD/inst/share/flux/modprobe:$PWD/inst/libexec/flux/modprobe") &&
	eval "opt=$(sed -n "s/^#   flux start //p" flux-env.out)" &&
	printf "%s\n" "$opt" >start-opt &&
	test "${opt%%:*}" = "-Sconf.shell_pluginpath=$PWD/inst/lib/flux/shell/plugins" &&
	eval "rec=$(sed -n "s/^#   flux jobtap load //p" flux-env.out)" &&
	test "$rec" = "$PWD/inst/lib/flux/job-manager/plugins/power-record.so"
'
# installed_env CMD...: run CMD as make flux-env says (its exports replace
# the build tree's FLUX_MODULE_PATH_PREPEND and FLUX_EXEC_PATH_PREPEND).
installed_env() {
	(. ./flux-env.out && "$@")
}
# installed_start ARGS...: flux start with the broker attribute it gives.
installed_start() {
	installed_env flux start "$(cat start-opt)" "$@"
}
test_expect_success 'the installed module, command and shell plugin work' '
	cat >installed.sh <<-\EOT &&
	flux exec -r all flux module load power-monitor -r 0.1 &&
	flux power-query --sources --json >sources.json &&
	flux run -N2 sleep 0.3 >run.out 2>&1 &&
	flux exec -r all flux module remove power-monitor &&
	cat /proc/$(flux getattr broker.pid)/maps >maps.out
	EOT
	installed_start --test-size=2 sh installed.sh &&
	grep "$PWD/inst/lib/flux/modules/power-monitor.so" maps.out &&
	jq -e ".ranks | length == 2" <sources.json &&
	grep "flux-shell\[0\]: power: .* over 2 nodes" run.out
'
# The children of each rank's broker that run power-monitor.so (flux
# module-exec), one line per rank.
cat >exec-children.sh <<-\EOT
flux exec -r all sh -c "ps -o args= --ppid \$(flux getattr broker.pid)" |
	grep "module-exec .*/power-monitor.so\$" || true
EOT
test_expect_success 'with power-monitor.enable the instance loads it on all ranks, each in its own process' '
	mkdir -p conf &&
	printf "[power-monitor]\nenable = true\n" >conf/power-monitor.toml &&
	cat >enabled.sh <<-\EOT &&
	flux exec -r all sh -c "flux module list | grep -q ^power-monitor" &&
	sh exec-children.sh >children.out &&
	flux run -N2 sleep 0.5 &&
	flux power-query -j $(flux job last) --json >enabled.json &&
	flux job wait-event -t 10 $(flux job last) clean &&
	flux job eventlog -f json $(flux job last) >enabled.ev &&
	flux jobtap list >jobtap.out
	EOT
	installed_env flux start --test-size=2 --config-path="$PWD/conf" \
		sh enabled.sh >start.out 2>&1 &&
	cat children.out &&
	test $(grep -c "^module-exec $PWD/inst/lib/flux/modules/power-monitor.so\$" children.out) = 2 &&
	jq -e ".ranks | length == 2" <enabled.json &&
	jq -e ".total.data_presence == \"complete\"" <enabled.json &&
	grep "^power-record" jobtap.out &&
	jq -s -e "map(select(.name == \"power\")) | length == 1 and .[0].context.data_presence == \"complete\"" enabled.ev
'
test_expect_success 'modules.power-monitor.exec = false loads it in a broker thread instead' '
	mkdir -p conf-thread &&
	printf "[power-monitor]\nenable = true\n[modules]\npower-monitor.exec = false\n" \
		>conf-thread/power-monitor.toml &&
	cat >thread.sh <<-\EOT &&
	flux exec -r all sh -c "flux module list | grep -q ^power-monitor" &&
	sh exec-children.sh >children-thread.out &&
	grep power-monitor.so /proc/$(flux getattr broker.pid)/maps >maps-thread.out
	EOT
	installed_env flux start --test-size=2 --config-path="$PWD/conf-thread" sh thread.sh &&
	test_must_be_empty children-thread.out &&
	grep "$PWD/inst/lib/flux/modules/power-monitor.so" maps-thread.out
'
test_expect_success 'and removes it at shutdown (no cancelled module)' '
	! grep "not properly shut down" start.out
'
test_expect_success 'the [power-monitor] table gives module options, export ones too' '
	mkdir -p conf-opts &&
	cat >conf-opts/power-monitor.toml <<-EOF &&
	[power-monitor]
	enable = true
	period = 0.25
	source = ["variorum"]
	prometheus-listen = "127.0.0.1:0"
	spool-max = "1M"
	EOF
	installed_env flux start --test-size=1 --config-path="$PWD/conf-opts" \
		flux module stats power-monitor >opts.json &&
	jq -e ".period_s == 0.25" <opts.json &&
	jq -e ".sources.source | startswith(\"variorum\")" <opts.json &&
	jq -e ".export | .taken > 0 and has(\"sinks\") and .sinks == null" <opts.json
'
# As for any module modprobe loads in rc1, a failed load fails rc1: the
# log line names the option.
test_expect_success 'a wrong key in the table fails the load with a message naming it' '
	mkdir -p conf-bad &&
	printf "[power-monitor]\nenable = true\nmqtt-qos = 7\n" >conf-bad/power-monitor.toml &&
	test_must_fail installed_env flux start --test-size=1 --config-path="$PWD/conf-bad" true 2>bad.out &&
	grep "power-monitor.err\[0\]: \[power-monitor\] mqtt-qos: 7 is outside 0 to 2" bad.out
'
test_expect_success 'without the setting the module is not loaded' '
	installed_env flux start --test-size=1 \
		sh -c "! flux module list | grep -q ^power-monitor"
'
test_expect_success 'with enable = false the module is not loaded' '
	mkdir -p conf-off &&
	printf "[power-monitor]\nenable = false\n" >conf-off/power-monitor.toml &&
	installed_env flux start --test-size=1 --config-path="$PWD/conf-off" \
		sh -c "! flux module list | grep -q ^power-monitor"
'
test_expect_success 'scripts/load_power_monitor.sh and unload_power_monitor.sh' '
	cat >scripts.sh <<-\EOT &&
	"$PM_SRCDIR"/scripts/load_power_monitor.sh -s 500 -r 0.2 &&
	flux exec -r all flux module stats power-monitor >stats.out &&
	flux module stats power-monitor >stats0.json &&
	"$PM_SRCDIR"/scripts/unload_power_monitor.sh &&
	! flux module list | grep -q ^power-monitor
	EOT
	flux start --test-size=2 sh scripts.sh &&
	test "$(grep -c "\"cap\": 500" stats.out)" = 2 &&
	jq -e ".period_s == 0.2" <stats0.json
'
test_expect_success 'load_power_monitor.sh rejects a bad option' '
	test_must_fail "$PM_SRCDIR"/scripts/load_power_monitor.sh -q 2>err &&
	grep "unknown option -q" err
'
test_done
