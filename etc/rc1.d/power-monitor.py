# SPDX-License-Identifier: LGPL-3.0-only
# flux-modprobe(1) rc1 script: load power-monitor on every rank at instance
# start when the Flux configuration says
#
#   [power-monitor]
#   enable = true
#
# (true, not merely set: modprobe's needs-config only tests that a key is
# present, so the value is checked here). The module's entry in
# modprobe.d/power-monitor.toml says how (ranks, args, exec). rc3 removes it
# at shutdown, before the broker exits.
#
# Every other key of the table is a module option of the same name, added
# after the entry's args (so it wins), e.g.
#
#   period = 0.5
#   source = ["rapl", "nvml"]            # a list is joined with commas
#   mqtt-broker = "mqtt.example.org"
#   mqtt-password-file = "/etc/flux/power-monitor/mqtt.pass"
#   prometheus-remote-write = "http://prometheus:9090/api/v1/write"
#
# A wrong key or value fails the module's load with a message in the log
# naming it, as on the command line.


def module_args(table):
    """The module options of the [power-monitor] table, in key order."""
    args = []
    for key in sorted(table):
        if key == "enable":
            continue
        value = table[key]
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        args.append(f"--{key}={value}")
    return args


def setup(context):
    if context.conf_get("power-monitor.enable", False) is not True:
        return
    args = module_args(context.conf_get("power-monitor", {}) or {})
    if args:
        context.setopt("power-monitor", " ".join(args))
    context.load_modules(["power-monitor"])
