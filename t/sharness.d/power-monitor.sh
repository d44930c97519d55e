# SPDX-License-Identifier: LGPL-3.0-only
# Test library of the power-monitor sharness tests. Source it first:
#
#   . "$(dirname "$0")"/sharness.d/power-monitor.sh
#   test_under_flux 4          # re-runs this script in a 4-broker instance
#   . "$SHARNESS"
#   pm_skip_without_flux       # skip_all with a clear message where needed
#
# make check sets PM_SRCDIR, PM_BUILDDIR, FLUX and SHARNESS; run by hand,
# they default to the source tree, `command -v flux` and Debian's sharness.

# the test script's own options (-v, -d, -i...), passed on by test_under_flux
pm_test_args="$*"

: "${PM_SRCDIR:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${PM_BUILDDIR:=$PM_SRCDIR}"
: "${SHARNESS:=/usr/share/sharness/sharness.sh}"
if test -z "$FLUX"; then FLUX=$(command -v flux 2>/dev/null); fi
export PM_SRCDIR PM_BUILDDIR SHARNESS FLUX
# trash directories and results go under the build tree's t/
mkdir -p "$PM_BUILDDIR/t"
SHARNESS_TEST_DIRECTORY=$PM_BUILDDIR/t
export SHARNESS_TEST_DIRECTORY

PM_MODULE=$PM_BUILDDIR/power-monitor.so
PM_QUERY=$PM_BUILDDIR/flux-power-query
PM_STUB=$PM_BUILDDIR/t/variorum-stub/libvariorum.so
PM_PLUGIN=$PM_BUILDDIR/plugin/power.so
export PM_MODULE PM_QUERY PM_STUB PM_PLUGIN

# The job shell plugin path with our build tree first (the broker attribute
# conf.shell_pluginpath, for test_under_flux N -Sconf.shell_pluginpath=...).
pm_shell_pluginpath() {
    echo "$PM_BUILDDIR/plugin:$(pkg-config --variable=fluxshellpluginpath flux-core 2>/dev/null)"
}

pm_skip_reason=
if test -z "$FLUX" || ! test -x "$FLUX"; then
    pm_skip_reason="flux-core is not installed (no flux command): build flux-core, put it where pkg-config finds it, and re-run configure"
elif ! test -f "$PM_MODULE" || ! test -x "$PM_QUERY"; then
    pm_skip_reason="power-monitor.so or flux-power-query is not built (configure did not find flux-core?)"
elif ! test -f "$PM_STUB"; then
    pm_skip_reason="the stand-in libvariorum is not built (make check builds it)"
fi

if ! test -f "$SHARNESS"; then
    if test "$PM_REQUIRE_FLUX" = 1; then
        echo "Bail out! sharness.sh not found (install Debian's sharness package)"
        exit 1
    fi
    echo "1..0 # SKIP sharness.sh not found (install Debian's sharness package)"
    exit 0
fi

# Brokers find the module and the command in the build tree, and the
# stand-in libvariorum and libnvidia-ml through the library search path.
if test -n "$FLUX"; then
    PATH=$(dirname "$FLUX"):$PATH
fi
FLUX_MODULE_PATH_PREPEND=$PM_BUILDDIR
FLUX_EXEC_PATH_PREPEND=$PM_BUILDDIR
LD_LIBRARY_PATH=$PM_BUILDDIR/t/variorum-stub:$PM_BUILDDIR/t/nvml-stub${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PATH FLUX_MODULE_PATH_PREPEND FLUX_EXEC_PATH_PREPEND LD_LIBRARY_PATH

# test_under_flux N [FLUX-START-OPTIONS]: run the rest of this script inside
# a fresh instance of N real brokers (flux start --test-size=N). Must come
# before sharness.sh.
test_under_flux() {
    if test -n "$pm_skip_reason" || test -n "$PM_UNDER_FLUX"; then
        return 0
    fi
    _size=$1; shift
    PM_UNDER_FLUX=$_size
    # the stand-in libvariorum re-reads this file at every sample
    VARIORUM_STUB_CONTROL=${TMPDIR:-/tmp}/pm-stub-control.$$
    rm -f "$VARIORUM_STUB_CONTROL"
    export PM_UNDER_FLUX VARIORUM_STUB_CONTROL
    # quiet brokers: only errors reach the test output
    exec "$FLUX" start --test-size="$_size" -Slog-stderr-level=1 "$@" \
        /bin/sh "$0" $pm_test_args
}

# pm_config_R DIR FLUX-R-ENCODE-ARGS...: make DIR a config directory for
# test_under_flux N --config-path=DIR whose resources are the R that
# `flux R encode ARGS...` prints, not verified against this machine's.
# Call it before test_under_flux, outside the instance only (PM_UNDER_FLUX
# unset).
pm_config_R() {
    _dir=$1; shift
    mkdir -p "$_dir" &&
    "$FLUX" R encode "$@" >"$_dir/R.json" &&
    printf '[resource]\npath = "%s/R.json"\nnoverify = true\n' "$_dir" >"$_dir/resource.toml"
}

# pm_skip_all REASON: skip the whole test script, saying why; where
# PM_REQUIRE_FLUX=1 (CI, configure keeps it for make check) fail instead:
# no test may skip there.
pm_skip_all() {
    if test "$PM_REQUIRE_FLUX" = 1; then
        echo "Bail out! $1 (PM_REQUIRE_FLUX=1: a test that would skip fails)"
        exit 1
    fi
    skip_all=$1
    test_done
}

pm_skip_without_flux() {
    if test -n "$pm_skip_reason"; then
        pm_skip_all "$pm_skip_reason"
    fi
}

# Helpers used by the tests.

# as_guest UID CMD...: run CMD with the USER role (not owner) as UID.
as_guest() {
    _uid=$1; shift
    FLUX_HANDLE_ROLEMASK=0x2 FLUX_HANDLE_USERID=$_uid "$@"
}

# pm_rpc TOPIC JSON [NODEID]: print the JSON answer of an RPC, or fail
# printing "errno: message" on stderr.
pm_rpc() {
    flux python -c '
import sys, json, flux
from flux.core.inner import ffi
try:
    r = flux.Flux().rpc(sys.argv[1], json.loads(sys.argv[2]), nodeid=int(sys.argv[3])).get()
    print(json.dumps(r))
except OSError as e:
    print(f"{e.errno}: {e.strerror}", file=sys.stderr)
    sys.exit(1)
' "$1" "$2" "${3:-0}"
}

# pm_load_all [ARGS]: load the module on every rank with the stand-in.
pm_load_all() {
    flux exec -r all flux module load power-monitor "$@"
}

pm_unload_all() {
    flux exec -r all flux module remove -f power-monitor
}

# pm_stub NAME=VALUE...: change the stand-in libvariorum of every broker
# (VARIORUM_STUB_SHAPE, _FAIL, _DELAY_MS, _CPU_WATTS...) from now on.
# pm_stub with no argument goes back to the defaults.
pm_stub() {
    if test $# -eq 0; then
        rm -f "$VARIORUM_STUB_CONTROL"
    else
        printf "%s\n" "$@" >"$VARIORUM_STUB_CONTROL.new" &&
        mv "$VARIORUM_STUB_CONTROL.new" "$VARIORUM_STUB_CONTROL"
    fi
}

# pm_wait_for SECONDS COMMAND...: retry COMMAND every 0.1 s until it works.
pm_wait_for() {
    _n=$(($1 * 10)); shift
    while ! "$@" >/dev/null 2>&1; do
        _n=$((_n - 1))
        test $_n -gt 0 || return 1
        sleep 0.1
    done
}
