#!/usr/bin/env bash
# SPDX-License-Identifier: LGPL-3.0-only
#
# Install flux-core, which no package registry serves, from its source:
#
#   scripts/install-flux-core.sh [--prefix DIR] [--tarball FILE] [--sha256 HEX]
#                                [--no-deps] [--jobs N]
#
# --prefix DIR     where it goes (default /opt/flux); then
#                  export PKG_CONFIG_PATH=DIR/lib/pkgconfig for configure
# --tarball FILE   a flux-core-VERSION.tar.gz with configure generated (a
#                  release tarball, or one made with autogen.sh); its sha256 is
#                  checked against --sha256, else against a SHA256SUMS file
#                  beside it, else against the pinned release's; none of them
#                  matching (or none to check) refuses it
# (no --tarball)   downloads the pinned release (FLUX_CORE_VERSION below) from
#                  GitHub and checks it against the pinned sha256
# --no-deps        do not install the Debian build dependencies (checks only)
# --jobs N         make -jN (default: the number of CPUs)
#
# Idempotent: the Debian packages already there are not reinstalled, and a
# prefix whose flux already reports the version asked for is left as it is
# (it says so and exits 0). Installing the packages needs root (or sudo).
set -euo pipefail

# The pinned release: what .ci/run and the tests are run against.
FLUX_CORE_VERSION=0.88.0
FLUX_CORE_URL=https://github.com/flux-framework/flux-core/releases/download/v$FLUX_CORE_VERSION/flux-core-$FLUX_CORE_VERSION.tar.gz
# sha256 of the release asset at FLUX_CORE_URL. Empty: not yet pinned (it
# was not readable where this was written, without a network), so a
# download is refused unless --sha256 gives it. Pin it here once read from
# the release page.
FLUX_CORE_SHA256=

# flux-core's build dependencies on Debian 12 (its README and
# scripts/install-deps-deb.sh), less the test-only ones.
DEB_PACKAGES=(autoconf automake libtool make pkg-config gcc g++ curl ca-certificates
    libzmq3-dev uuid-dev libjansson-dev liblz4-dev libarchive-dev libhwloc-dev
    libsqlite3-dev lua5.1 liblua5.1-0-dev lua-posix python3 python3-dev python3-cffi
    python3-ply python3-setuptools python3-yaml libsodium-dev libmunge-dev
    libpam0g-dev libncurses-dev jq)

prog=${0##*/}
die() { echo "$prog: $*" >&2; exit 1; }
say() { echo "$prog: $*"; }

prefix=/opt/flux tarball= sha256= deps=yes jobs=$(nproc 2>/dev/null || echo 2)
while (($#)); do
    case $1 in
    --prefix) prefix=${2:?--prefix needs a directory}; shift 2 ;;
    --prefix=*) prefix=${1#*=}; shift ;;
    --tarball) tarball=${2:?--tarball needs a file}; shift 2 ;;
    --tarball=*) tarball=${1#*=}; shift ;;
    --sha256) sha256=${2:?--sha256 needs a checksum}; shift 2 ;;
    --sha256=*) sha256=${1#*=}; shift ;;
    --no-deps) deps=no; shift ;;
    --jobs | -j) jobs=${2:?--jobs needs a number}; shift 2 ;;
    --jobs=*) jobs=${1#*=}; shift ;;
    -h | --help) sed -n '3,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
done
case $prefix in /*) ;; *) prefix=$(pwd)/$prefix ;; esac

# The version a tarball's name says, or the pinned one.
version=$FLUX_CORE_VERSION
if test -n "$tarball"; then
    test -f "$tarball" || die "$tarball: no such file"
    tarball=$(cd "$(dirname "$tarball")" && pwd)/$(basename "$tarball")
    case ${tarball##*/} in
    flux-core-*.tar.gz) version=${tarball##*/flux-core-}; version=${version%.tar.gz} ;;
    *) die "$tarball: expected a file named flux-core-VERSION.tar.gz" ;;
    esac
fi

# Already there?
if test -x "$prefix/bin/flux" && test -f "$prefix/lib/pkgconfig/flux-core.pc"; then
    have=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --modversion flux-core 2>/dev/null || true)
    if test "$have" = "$version"; then
        say "flux-core $version is already installed in $prefix: nothing to do"
        exit 0
    fi
    say "$prefix holds flux-core ${have:-of unknown version}; installing $version over it"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/flux-core-build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# The tarball, downloaded where none is given; its checksum, checked.
if test -z "$tarball"; then
    test -n "${sha256:-$FLUX_CORE_SHA256}" ||
        die "no sha256 is pinned for the flux-core $version release: give it with --sha256, or give --tarball"
    tarball=$work/flux-core-$version.tar.gz
    command -v curl >/dev/null || die "downloading needs curl (apt-get install curl)"
    say "downloading $FLUX_CORE_URL"
    curl -fsSL --retry 3 -o "$tarball" "$FLUX_CORE_URL" || die "download of $FLUX_CORE_URL failed"
    : "${sha256:=$FLUX_CORE_SHA256}"
fi
# listed NAME SUMS: the sha256 that a SHA256SUMS file lists for NAME
# ("HASH  NAME", "HASH *NAME" or "HASH  ./NAME"; CRLF line ends too).
listed() {
    awk -v f="$1" '{ sub(/\r$/, ""); n = $2; sub(/^\*/, "", n); sub(/^\.\//, "", n)
                    if (n == f) { print tolower($1); exit } }' "$2"
}
sums=$(dirname "$tarball")/SHA256SUMS
actual=$(sha256sum "$tarball" | cut -d' ' -f1)
if test -n "$sha256"; then
    want=$(echo "$sha256" | tr 'A-F' 'a-f') from="the one given (--sha256)"
elif test -f "$sums" && test -n "$(listed "${tarball##*/}" "$sums")"; then
    want=$(listed "${tarball##*/}" "$sums") from=$sums
elif test -n "$FLUX_CORE_SHA256" && test "$version" = "$FLUX_CORE_VERSION"; then
    want=$FLUX_CORE_SHA256 from="the pinned release's"
else
    die "$tarball: nothing to check its sha256 ($actual) against: give --sha256, or a SHA256SUMS file beside it that lists ${tarball##*/}"
fi
test "$actual" = "$want" || die "$tarball: sha256 is $actual, not $want ($from)"
say "$tarball: sha256 matches $from"

# The Debian build dependencies, only those missing.
missing=()
for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    test $deps = yes || die "missing Debian packages (--no-deps given): ${missing[*]}"
    sudo=
    if test "$(id -u)" -ne 0; then
        command -v sudo >/dev/null || die "installing ${missing[*]} needs root"
        sudo=sudo
    fi
    say "installing Debian packages: ${missing[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

mkdir -p "$prefix" 2>/dev/null && test -w "$prefix" ||
    die "cannot write to $prefix: run as its owner (or root), or give --prefix"

start=$(date +%s)
tar -xzf "$tarball" -C "$work"
src=$work/flux-core-$version
test -x "$src/configure" || die "$tarball has no flux-core-$version/configure (run autogen.sh before packing it)"
# Debian's python3 has the ply, cffi and yaml just installed; another python
# first on PATH (pyenv, a venv) may not.
py=()
test -x /usr/bin/python3 && py=(PYTHON=/usr/bin/python3)
say "building flux-core $version into $prefix (make -j$jobs)"
(
    cd "$src"
    ./configure --prefix="$prefix" --disable-docs "${py[@]}" >"$work/configure.log" 2>&1 ||
        { tail -n 30 "$work/configure.log" >&2; exit 1; }
    make -j"$jobs" >"$work/make.log" 2>&1 || { tail -n 40 "$work/make.log" >&2; exit 1; }
    make install >"$work/install.log" 2>&1 || { tail -n 20 "$work/install.log" >&2; exit 1; }
) || die "building flux-core $version failed (the log's end is above)"
"$prefix/bin/flux" version >/dev/null || die "$prefix/bin/flux does not run"
say "flux-core $version installed in $prefix in $(($(date +%s) - start)) s"
say "for configure: export PKG_CONFIG_PATH=$prefix/lib/pkgconfig"
