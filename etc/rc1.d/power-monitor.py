# flux-modprobe(1) rc1 script: load power-monitor on every rank at instance
# start, after the modules it talks to. The module's entry in
# modprobe.d/power-monitor.toml says how (args, exec) and makes it effective
# only where the Flux configuration sets power-monitor.enable = true.
# rc3 removes it at shutdown, before the broker exits.


def setup(context):
    context.load_modules(["power-monitor"])
