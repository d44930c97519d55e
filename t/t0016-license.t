#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only
# The project's licence travels with it: LICENSE and NOTICE are in the tree
# (in make distcheck, the tarball's), and every source file names its
# licence in an SPDX-License-Identifier line. Needs no flux-core.
cd "${PM_SRCDIR:-$(dirname "$0")/..}" || exit 1
echo "1..3"
n=0
check() {
    n=$((n + 1))
    desc=$1; shift
    if msg=$("$@" 2>&1); then
        echo "ok $n - $desc"
    else
        echo "not ok $n - $desc"
        printf '%s\n' "$msg" | sed 's/^/# /'
    fi
}

check "LICENSE is the GNU LGPL version 3" \
    grep -q 'GNU LESSER GENERAL PUBLIC LICENSE' LICENSE
check "NOTICE names what came from elsewhere" \
    sh -c 'for f in internal/read/nvmlshim/third_party/nvml/nvml.h replay-wattameter-LICENSE variorum/testdata; do
               grep -q "$f" NOTICE || { echo "NOTICE does not name $f"; exit 1; }; done'

# The source files: from git where this is the top of a checkout, else
# the tarball's MANIFEST (as make dist decides; an unpacked tarball may sit
# inside another checkout, as make distcheck's does). Third-party files
# (NOTICE) keep their own notice.
sources() {
    if test "$(git rev-parse --show-toplevel 2>/dev/null)" = "$(pwd -P)"; then
        git ls-files
    else
        cat MANIFEST
    fi | grep -E '\.(go|c|h|sh|py|t|am|ac|toml|yml|map)$|(^|/)Makefile$|^\.ci/run$' |
        grep -v -e '^internal/read/nvmlshim/third_party/' -e '/testdata/.*\.(sh|py|toml|yml)$'
}
no_spdx() {
    missing=$(sources | while IFS= read -r f; do
        head -n 3 "$f" | grep -q 'SPDX-License-Identifier: LGPL-3.0-only' || echo "$f"
    done)
    test -z "$missing" || { echo "no SPDX-License-Identifier line:"; echo "$missing"; return 1; }
    test "$(sources | wc -l)" -gt 100 || { echo "found only $(sources | wc -l) source files"; return 1; }
}
check "every source file has an SPDX-License-Identifier line" no_spdx
