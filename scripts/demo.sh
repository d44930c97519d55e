#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only
# Demo: start a 4-broker Flux instance on this machine, load power-monitor on
# every rank with the stand-in libvariorum (440 W a node: 2 x 100 W CPU,
# 2 x 20 W memory, 4 x 50 W GPU), run a 4-node job (whose shell plugin prints
# its energy when it ends), and print its report.
#
#   scripts/demo.sh [JOB COMMAND...]      (default: sleep 2)
#   scripts/demo.sh --timeline FILE.png   a 9 s job whose CPUs, then GPUs,
#                                         are turned up (the stand-in's control
#                                         file): its chart, and its picture
#                                         in FILE.png (the README's)
#
# Run it from the build tree after `make check` (or `make`): it uses
# ./power-monitor.so, ./flux-power-query and t/variorum-stub/libvariorum.so
# (the source tree's, when the current directory has no Makefile).
set -e
if test -f Makefile; then top=$(pwd); else top=$(cd "$(dirname "$0")/.." && pwd); fi
for f in power-monitor.so flux-power-query plugin/power.so t/variorum-stub/libvariorum.so; do
    if ! test -e "$top/$f"; then
        echo "$0: $top/$f is missing: build first (./autogen.sh && ./configure && make check)" >&2
        exit 1
    fi
done
FLUX=${FLUX:-$(sed -n 's/^FLUX = //p' "$top/Makefile" 2>/dev/null)}
FLUX=${FLUX:-$(command -v flux || true)}
if test -z "$FLUX"; then
    echo "$0: no flux command: build flux-core and re-run configure" >&2
    exit 1
fi
export FLUX_MODULE_PATH_PREPEND="$top" FLUX_EXEC_PATH_PREPEND="$top"
export LD_LIBRARY_PATH="$top/t/variorum-stub${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# the job shell plugin from the build tree first, then flux-core's plugins
pluginpath="$top/plugin:$(sed -n 's/^fluxshellpluginpath = //p' "$top/Makefile")"
if test "$1" = --timeline; then
    picture=$(cd "$(dirname "${2:?--timeline needs FILE.png}")" && pwd)/$(basename "$2")
    ctl=$(mktemp)
    export VARIORUM_STUB_CONTROL="$ctl"
    exec "$FLUX" start --test-size=4 sh -c '
        set -e
        ctl=$1 picture=$2
        phase() { printf "VARIORUM_STUB_CPU_WATTS=%s\nVARIORUM_STUB_GPU_WATTS=%s\n" $1 $2 >$ctl.new && mv $ctl.new $ctl; }
        flux exec -r all flux module load power-monitor --period=0.1
        phase 150 30
        id=$(flux submit -N4 -x sleep 9)
        flux job wait-event -t 10 $id start
        sleep 3; phase 190 25
        sleep 3; phase 60 240
        flux job wait-event -t 20 $id clean
        echo "\$ flux power-query -j $id --timeline"
        COLUMNS=76 LINES=22 flux power-query -j $id --timeline
        echo "\$ flux power-query -j $id --plot $(basename $picture)"
        flux power-query -j $id --plot $picture
        flux exec -r all flux module remove power-monitor
        rm -f $ctl
    ' demo "$ctl" "$picture"
fi
if test $# -eq 0; then set -- sleep 2; fi
exec "$FLUX" start --test-size=4 -Sconf.shell_pluginpath="$pluginpath" sh -c '
    set -e
    flux exec -r all flux module load power-monitor --period=0.1
    echo "\$ flux run -N4 $*"
    flux run -N4 "$@"
    echo "\$ flux power-query -j $(flux job last)"
    flux power-query -j $(flux job last)
    flux exec -r all flux module remove power-monitor
' demo "$@"
