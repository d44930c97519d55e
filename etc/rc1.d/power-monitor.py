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
#
# With the module, on rank 0, the job-manager plugin power-record.so
# (flux-power-record(7)) is loaded, which writes every job's record into
# its eventlog, unless the table says `record = false`; its timeout is the
# table's `record-timeout` where set. The job-manager unloads it with
# itself at shutdown.

import os

from flux.modprobe import task


def setup(context):
    if context.conf_get("power-monitor.enable", False) is True:
        context.load_modules(["power-monitor"])


def record_plugin(context):
    """The power-record.so of the same installation as the loaded module:
    beside it in the build tree (jobtap/), or in the layout that make
    install uses ($libdir/flux/modules and $libdir/flux/job-manager/plugins);
    else the bare name, which the job-manager looks up in flux-core's own
    plugin directory."""
    try:
        mods = context.rpc("module.list").get()["mods"]
        path = next(m["path"] for m in mods if m["name"] == "power-monitor")
    except (OSError, KeyError, StopIteration):
        return "power-record.so"
    moddir = os.path.dirname(path)
    libdir = os.path.dirname(moddir)
    for candidate in (
        os.path.join(moddir, "jobtap", "power-record.so"),
        os.path.join(libdir, "job-manager", "plugins", "power-record.so"),
    ):
        if os.path.isfile(candidate):
            return candidate
    return "power-record.so"


@task(
    "power-record",
    ranks="0",
    needs=["job-manager", "power-monitor"],
    after=["job-manager", "power-monitor"],
)
def load_power_record(context):
    if context.conf_get("power-monitor.enable", False) is not True:
        return
    if context.conf_get("power-monitor.record", True) is False:
        return
    req = {"load": record_plugin(context)}
    timeout = context.conf_get("power-monitor.record-timeout")
    if timeout is not None:
        req["conf"] = {"timeout": timeout}
    try:
        context.rpc("job-manager.jobtap", req).get()
    except OSError as e:
        raise RuntimeError(
            f"power-monitor: could not load {req['load']}: {e.strerror}"
            " ([power-monitor] record = false does without it)"
        ) from e
