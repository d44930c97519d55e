# SPDX-License-Identifier: LGPL-3.0-only
# flux-modprobe(1) rc1 script: load power-monitor on every rank at instance
# start when the Flux configuration says
#
#   [power-monitor]
#   enable = true
#
# (true, not merely set). The module's entry in modprobe.d/power-monitor.toml
# says how (ranks, exec); modprobe's rc3 removes it at shutdown, before the
# broker exits, whatever the configuration has become by then.
#
# The module reads the rest of the table itself (period, buffer-size,
# source, the export settings...: flux-power-monitor(7)) and takes
# `flux config reload`, so nothing is passed here as arguments: no value is
# split at spaces, and no secret appears on a command line.


def setup(context):
    if context.conf_get("power-monitor.enable", False) is True:
        context.load_modules(["power-monitor"])
