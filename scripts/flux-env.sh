#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only
# Say how flux finds what `make install` put in directories flux-core does
# not search (configure runs this, and `make flux-env` for the Makefile's
# directories, e.g. `make flux-env prefix=/other`):
#
#   scripts/flux-env.sh MODDIR CMDDIR SHELLPLUGINDIR MODPROBEDATADIR MODPROBEEXECDIR [JOBTAPDIR]
#
# flux-core's own directories are read with pkg-config ($PKG_CONFIG). It
# prints nothing where flux-core already searches every one. The export
# lines can be sourced; the broker attribute is given as a comment.
set -e
if test $# -ne 5 && test $# -ne 6; then
    echo "usage: $0 MODDIR CMDDIR SHELLPLUGINDIR MODPROBEDATADIR MODPROBEEXECDIR [JOBTAPDIR]" >&2
    exit 2
fi
moddir=$1 cmddir=$2 plugindir=$3 modprobedatadir=$4 modprobeexecdir=$5 jobtapdir=$6
var() {
    ${PKG_CONFIG:-pkg-config} --variable="$1" flux-core ||
        { echo "$0: pkg-config does not find flux-core's $1" >&2; exit 1; }
}
flux_prefix=$(var prefix)
flux_moddir=$(var fluxmoddir)
flux_cmddir=$(var fluxcmddir)
flux_pluginpath=$(var fluxshellpluginpath)
flux_datadir=$(var fluxdatadir)
flux_libexecdir=$(var fluxlibexecdir)
flux_libdir=$(var fluxlibdir)

# quote VALUE: VALUE as the shell reads it back (in single quotes where needed)
quote() {
    case $1 in
    '' | *[!A-Za-z0-9_./:,+=@%-]*) printf "'%s'" "$(printf %s "$1" | sed "s/'/'\\\\''/g")" ;;
    *) printf %s "$1" ;;
    esac
}
exports=
add() { exports="$exports
export $1=$(quote "$2")"; }
test "$moddir" = "$flux_moddir" || add FLUX_MODULE_PATH_PREPEND "$moddir"
test "$cmddir" = "$flux_cmddir" || add FLUX_EXEC_PATH_PREPEND "$cmddir"
# flux modprobe reads modprobe.d/*.toml and rc1.d/*.py under each directory
# of its search path, to which FLUX_MODPROBE_PATH_APPEND adds.
append=
test "$modprobedatadir" = "$flux_datadir/modprobe" || append=$modprobedatadir
test "$modprobeexecdir" = "$flux_libexecdir/modprobe" ||
    append=${append:+$append:}$modprobeexecdir
test -z "$append" || add FLUX_MODPROBE_PATH_APPEND "$append"

if test -n "$exports"; then
    cat <<EOF
# flux-core ($flux_prefix) does not search where power-monitor is installed.
# Set these in the environment of the brokers and of the users: before
# flux start for a test instance; for the system instance, in flux.service
# (a drop-in with Environment=) and in the users' login environment.$exports
EOF
fi
if test "$plugindir" != "$flux_pluginpath"; then
    cat <<EOF
# The job shell finds the power.so plugin where the broker attribute
# conf.shell_pluginpath lists its directory (flux broker -S... in flux.service):
#   flux start $(quote "-Sconf.shell_pluginpath=$plugindir:$flux_pluginpath")
EOF
fi
if test -n "$jobtapdir" && test "$jobtapdir" != "$flux_libdir/job-manager/plugins"; then
    cat <<EOF
# The job-manager finds power-record.so by name only in flux-core's own
# plugin directory; modprobe's rc1 loads it from beside the module. By hand:
#   flux jobtap load $(quote "$jobtapdir/power-record.so")
EOF
fi
