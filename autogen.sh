#!/bin/sh
# SPDX-License-Identifier: LGPL-3.0-only
# Generate configure and Makefile.in (autoconf, automake and libtool from
# your distribution).
set -e
cd "$(dirname "$0")"
mkdir -p config
autoreconf --force --verbose --install
