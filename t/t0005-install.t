#!/bin/sh

test_description='make install puts the module, the command and the modprobe
files where flux finds them; an instance that enables power-monitor in its
configuration loads it on every rank at start and removes it at shutdown;
the load and unload scripts work.'

. "$(dirname "$0")"/sharness.d/power-monitor.sh
. "$SHARNESS"
pm_skip_without_flux

var() { pkg-config --variable=$1 flux-core; }

test_expect_success 'make install DESTDIR=inst' '
	(unset MAKEFLAGS MFLAGS MAKELEVEL;
	 make -C "$PM_BUILDDIR" install DESTDIR="$PWD/inst" >install.log 2>&1) &&
	moddir=$PWD/inst$(var fluxmoddir) &&
	cmddir=$PWD/inst$(var fluxcmddir) &&
	test -x "$moddir/power-monitor.so" &&
	test -x "$cmddir/flux-power-query" &&
	test -x "$PWD/inst$(var fluxshellpluginpath)/power.so" &&
	test -f "$PWD/inst$(var fluxdatadir)/modprobe/modprobe.d/power-monitor.toml" &&
	test -f "$PWD/inst$(var fluxlibexecdir)/modprobe/rc1.d/power-monitor.py"
'
installed_env() {
	FLUX_MODULE_PATH_PREPEND=$PWD/inst$(var fluxmoddir) \
	FLUX_EXEC_PATH_PREPEND=$PWD/inst$(var fluxcmddir) \
	FLUX_MODPROBE_PATH_APPEND=$PWD/inst$(var fluxdatadir)/modprobe:$PWD/inst$(var fluxlibexecdir)/modprobe \
	"$@"
}
test_expect_success 'with power-monitor.enable the instance loads it on all ranks' '
	mkdir -p conf &&
	printf "[power-monitor]\nenable = true\n" >conf/power-monitor.toml &&
	cat >enabled.sh <<-\EOT &&
	flux exec -r all sh -c "flux module list | grep -q ^power-monitor" &&
	flux run -N2 sleep 0.5 &&
	flux power-query -j $(flux job last) -f json >enabled.json
	EOT
	installed_env flux start --test-size=2 --config-path="$PWD/conf" \
		sh enabled.sh >start.out 2>&1 &&
	test "$(pm_json "len(d[\"ranks\"])" <enabled.json)" = 2 &&
	test "$(pm_json "d[\"total\"][\"data_presence\"]" <enabled.json)" = complete
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
	test "$(pm_json "d[\"period_s\"]" <opts.json)" = 0.25 &&
	test "$(pm_json "d[\"sources\"][\"source\"].startswith(\"variorum\")" <opts.json)" = True &&
	test "$(pm_json "d[\"export\"][\"taken\"] > 0 and d[\"export\"][\"sinks\"] is None" <opts.json)" = True
'
# As for any module modprobe loads in rc1, a failed load fails rc1: the
# log line names the option.
test_expect_success 'a wrong key in the table fails the load with a message naming it' '
	mkdir -p conf-bad &&
	printf "[power-monitor]\nenable = true\nmqtt-qos = 7\n" >conf-bad/power-monitor.toml &&
	test_must_fail installed_env flux start --test-size=1 --config-path="$PWD/conf-bad" true 2>bad.out &&
	grep "power-monitor: option --mqtt-qos: 7 is outside 0 to 2" bad.out
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
	test "$(pm_json "d[\"period_s\"] == 0.2" <stats0.json)" = True
'
test_expect_success 'load_power_monitor.sh rejects a bad option' '
	test_must_fail "$PM_SRCDIR"/scripts/load_power_monitor.sh -q 2>err &&
	grep "unknown option -q" err
'
test_done
