#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only
# Load the power-monitor module on every rank of the enclosing Flux instance.
#
#   scripts/load_power_monitor.sh [-s BUFFER_SIZE] [-r PERIOD] [-x] [-- MODULE_ARGS...]
#
# -s  samples kept per rank (default 100000)
# -r  sampling period in seconds, a decimal >= 0.01 (default 1)
# -x  run the module in its own process on each rank (flux module load --exec)
# Further arguments go to the module (e.g. --variorum-lib=PATH).
# The module is found on the broker's module path (make install puts it in
# $libdir/flux/modules: see `make flux-env` where that is not flux-core's);
# set PM_MODULE to a path to load a build-tree copy instead.
set -e
usage() {
    sed -n '2,12s/^# \{0,1\}//p' "$0" >&2
    exit 2
}
size=100000
period=1
exec_opt=
while getopts ":s:r:xh" opt; do
    case $opt in
        s) size=$OPTARG ;;
        r) period=$OPTARG ;;
        x) exec_opt=--exec ;;
        h) usage ;;
        :) echo "$0: -$OPTARG needs a value" >&2; usage ;;
        \?) echo "$0: unknown option -$OPTARG" >&2; usage ;;
    esac
done
shift $((OPTIND - 1))
if ! flux getattr size >/dev/null 2>&1; then
    echo "$0: not inside a Flux instance (run it under flux start or flux alloc)" >&2
    exit 1
fi
module=${PM_MODULE:-power-monitor}
echo "loading power-monitor on all $(flux getattr size) ranks: -s $size -r $period $exec_opt $*"
flux exec -r all flux module load $exec_opt "$module" -s "$size" -r "$period" "$@"
