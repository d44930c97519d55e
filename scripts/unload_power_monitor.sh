#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only
# Remove the power-monitor module from every rank where it is loaded.
# (Never use `flux module remove --cancel` on it: see the README.)
set -e
if ! flux getattr size >/dev/null 2>&1; then
    echo "$0: not inside a Flux instance" >&2
    exit 1
fi
flux exec -r all flux module remove -f power-monitor
echo "power-monitor removed from all $(flux getattr size) ranks"
