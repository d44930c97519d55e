#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-3.0-only
"""A powercap sysfs tree whose RAPL counters advance by a known amount.

    powercap-fixture.py ROOT GATE [--sockets N] [--package-w W] [--dram-w W]
                                  [--max-uj N] [--interval S]

Lays out ROOT/class/powercap/intel-rapl:N -> ../../devices/virtual/powercap/
intel-rapl/intel-rapl:N (zone package-N with a dram sub-zone intel-rapl:N:0),
as the kernel does. Every counter starts 1 J below max_energy_range_uj and
stays there until the file GATE/go appears; from then on it is rewritten
every --interval seconds with (start + floor(W * 1e6 * (now - t_go))) modulo
(max_energy_range_uj + 1), so it wraps; when GATE/stop appears the counters
take their final value and freeze. The script then writes GATE/totals.json:
the exact microjoules each zone advanced ({"package-0": N, "dram-0": N, ...})
and exits. A job that creates go and stop well inside its run therefore has
an exactly known energy, wraps included.
"""
import argparse
import json
import os
import sys
import time


def write(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("gate")
    p.add_argument("--sockets", type=int, default=2)
    p.add_argument("--package-w", type=float, default=100.0)
    p.add_argument("--dram-w", type=float, default=10.0)
    p.add_argument("--max-uj", type=int, default=262143328850)
    p.add_argument("--interval", type=float, default=0.001)
    a = p.parse_args()

    dev = os.path.join(a.root, "devices/virtual/powercap/intel-rapl")
    cls = os.path.join(a.root, "class/powercap")
    os.makedirs(cls, exist_ok=True)
    if not os.path.islink(os.path.join(cls, "intel-rapl")):
        os.symlink("../../devices/virtual/powercap/intel-rapl", os.path.join(cls, "intel-rapl"))
    start = a.max_uj - 1_000_000
    zones = []  # (label, energy_uj path, watts)
    for n in range(a.sockets):
        z = os.path.join(dev, f"intel-rapl:{n}")
        d = os.path.join(z, f"intel-rapl:{n}:0")
        os.makedirs(d, exist_ok=True)
        for path, name, label, w in ((z, f"package-{n}", f"package-{n}", a.package_w),
                                     (d, "dram", f"dram-{n}", a.dram_w)):
            write(os.path.join(path, "name"), name + "\n")
            write(os.path.join(path, "max_energy_range_uj"), f"{a.max_uj}\n")
            write(os.path.join(path, "enabled"), "1\n")
            write(os.path.join(path, "energy_uj"), f"{start}\n")
            zones.append((label, os.path.join(path, "energy_uj"), w))
        for link, target in ((f"intel-rapl:{n}", f"../../devices/virtual/powercap/intel-rapl/intel-rapl:{n}"),
                             (f"intel-rapl:{n}:0", f"../../devices/virtual/powercap/intel-rapl/intel-rapl:{n}/intel-rapl:{n}:0")):
            lp = os.path.join(cls, link)
            if not os.path.islink(lp):
                os.symlink(target, lp)
    print("ready", flush=True)

    go, stop = os.path.join(a.gate, "go"), os.path.join(a.gate, "stop")
    while not os.path.exists(go):
        time.sleep(a.interval)
    t_go = time.time()
    while True:
        done = os.path.exists(stop)
        now = time.time()
        adv = {label: int(w * 1e6 * (now - t_go)) for label, _, w in zones}
        for label, path, _ in zones:
            write(path, f"{(start + adv[label]) % (a.max_uj + 1)}\n")
        if done:
            break
        time.sleep(a.interval)
    write(os.path.join(a.gate, "totals.json"), json.dumps(adv) + "\n")


if __name__ == "__main__":
    sys.exit(main())
