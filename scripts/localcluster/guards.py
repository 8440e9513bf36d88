"""Traffic guards that keep every pod packet on this machine while the cluster runs (mandatory here):
FORWARD drops from the pod CIDR (to the uplink, and to anything but the pod bridge) and a blackhole route for the
service CIDR. Rules carry a comment so stale ones from a killed cluster can be found and removed."""

from __future__ import annotations

import re

from .paths import BRIDGE, POD_CIDR, SERVICE_CIDR
from .util import ClusterError, run

COMMENT = "storeplane-local-guard"


def uplink() -> str | None:
    """The interface of the default route (the way off the machine), if any."""
    out = run(["ip", "-o", "route", "show", "default"], check=False).stdout
    m = re.search(r"\bdev (\S+)", out)
    return m.group(1) if m else None


def _rule_specs() -> list[list[str]]:
    specs = [["-s", POD_CIDR, "!", "-o", BRIDGE]]
    dev = uplink()
    if dev:
        specs.insert(0, ["-s", POD_CIDR, "-o", dev])
    return [[*spec, "-m", "comment", "--comment", COMMENT, "-j", "DROP"] for spec in specs]


def guard_rules() -> list[str]:
    """Our rules as `iptables -S FORWARD` prints them."""
    out = run(["iptables", "-w", "5", "-S", "FORWARD"]).stdout
    return [line for line in out.splitlines() if COMMENT in line]


def blackhole_present() -> bool:
    out = run(["ip", "route", "show", "type", "blackhole"], check=False).stdout
    return any(line.split()[1:2] == [SERVICE_CIDR] for line in out.splitlines())


def install() -> None:
    """Install the guards (idempotent: stale copies are removed first so each rule is present exactly once)."""
    remove()
    for spec in reversed(_rule_specs()):
        run(["iptables", "-w", "5", "-I", "FORWARD", "1", *spec])
    run(["ip", "route", "replace", "blackhole", SERVICE_CIDR])
    if not guard_rules() or not blackhole_present():
        raise ClusterError("traffic guards did not install; refusing to start the cluster without them")


def remove() -> None:
    """Remove every guard rule (ours by comment) and the blackhole route; safe when none is there."""
    for line in guard_rules():
        spec = line.split()[2:]  # "-A FORWARD <spec>"
        run(["iptables", "-w", "5", "-D", "FORWARD", *_unquote(spec)], check=False)
    while blackhole_present():
        if run(["ip", "route", "del", "blackhole", SERVICE_CIDR], check=False).returncode != 0:
            break


def _unquote(spec: list[str]) -> list[str]:
    return [part.strip('"') for part in spec]


def status() -> str:
    rules = guard_rules()
    hole = blackhole_present()
    if rules and hole:
        return f"installed ({len(rules)} FORWARD drop rules, blackhole {SERVICE_CIDR})"
    if not rules and not hole:
        return "absent"
    return f"PARTIAL ({len(rules)} FORWARD drop rules, blackhole {'present' if hole else 'missing'})"
