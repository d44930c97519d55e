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


def setup(context):
    if context.conf_get("power-monitor.enable", False) is True:
        context.load_modules(["power-monitor"])
