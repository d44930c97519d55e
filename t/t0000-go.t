#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only
# The Go tests of every package, as one TAP test file of make check.
# Where flux-core was found, GO_TAGS is "-tags flux" and the packages that
# need libflux are compiled and tested too.
cd "${PM_SRCDIR:-$(dirname "$0")/..}" || exit 1
# the source tree may be read-only (make distcheck): output goes to the build tree
out=${PM_BUILDDIR:-$PWD}/t/go-test.out
GO=${GO:-go}
echo "1..3"
n=0
run() {
    n=$((n + 1))
    desc=$1; shift
    if "$@" >"$out" 2>&1; then
        echo "ok $n - $desc"
    else
        echo "not ok $n - $desc"
    fi
    sed 's/^/# /' "$out"
    rm -f "$out"
}
run "gofmt finds nothing to change" sh -c 'files=$(git ls-files "*.go" 2>/dev/null); test -n "$files" || files=$(find . -name "*.go"); out=$(gofmt -l $files </dev/null); test -z "$out" || { echo "not gofmt-ed: $out"; exit 1; }'
run "go vet $GO_TAGS ./..." $GO vet $GO_TAGS ./...
# Where flux-core is here, the tests run inside a one-broker instance so that
# the libflux binding is tested against a live broker too.
if test -n "$GO_TAGS" && test -n "$FLUX" && test -x "$FLUX"; then
    run "go test $GO_TAGS ./... (inside flux start)" \
        "$FLUX" start --test-size=1 -Slog-stderr-level=1 $GO test $GO_TAGS -count=1 ./...
elif test "$PM_REQUIRE_FLUX" = 1; then
    run "go test -tags flux ./... (inside flux start)" \
        sh -c 'echo "no flux-core (GO_TAGS \"$GO_TAGS\", FLUX \"$FLUX\"): PM_REQUIRE_FLUX=1 forbids testing without it"; exit 1'
else
    run "go test $GO_TAGS ./..." $GO test $GO_TAGS -count=1 ./...
fi
