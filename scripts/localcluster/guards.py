"""Traffic guards that keep every pod packet on this machine while the cluster runs (mandatory here):
FORWARD drops from the pod CIDR (to the uplink, and to anything but the pod bridge) and a blackhole route for the
service CIDR. Rules carry a comment so stale ones from a killed cluster can be found and removed.

The drops are in both the mangle and the filter FORWARD chains: kube-proxy inserts ACCEPT jumps at the top of filter
FORWARD when it starts, and mangle FORWARD is traversed before filter whatever kube-proxy does. `up` re-asserts the
filter rules at the top once kube-proxy runs."""

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


TABLES = ("mangle", "filter")


def guard_rules(table: str | None = None) -> list[str]:
    """Our rules as `iptables -t TABLE -S FORWARD` prints them (both tables when table is None)."""
    lines = []
    for t in (table,) if table else TABLES:
        out = run(["iptables", "-w", "5", "-t", t, "-S", "FORWARD"]).stdout
        lines += [line for line in out.splitlines() if COMMENT in line]
    return lines


def blackhole_present() -> bool:
    out = run(["ip", "route", "show", "type", "blackhole"], check=False).stdout
    return any(line.split()[1:2] == [SERVICE_CIDR] for line in out.splitlines())


def install() -> None:
    """Install the guards (idempotent: stale copies are removed first so each rule is present exactly once)."""
    remove()
    for table in TABLES:
        _insert_first(table)
    run(["ip", "route", "replace", "blackhole", SERVICE_CIDR])
    if len(guard_rules()) != 2 * len(_rule_specs()) or not blackhole_present():
        raise ClusterError("traffic guards did not install; refusing to start the cluster without them")


def _insert_first(table: str) -> None:
    for spec in reversed(_rule_specs()):
        run(["iptables", "-w", "5", "-t", table, "-I", "FORWARD", "1", *spec])


def reassert_first() -> None:
    """Move our filter FORWARD rules back above the jumps kube-proxy inserted at the top."""
    _delete_rules("filter")
    _insert_first("filter")


def remove() -> None:
    """Remove every guard rule (ours by comment) and the blackhole route; safe when none is there."""
    for table in TABLES:
        _delete_rules(table)
    while blackhole_present():
        if run(["ip", "route", "del", "blackhole", SERVICE_CIDR], check=False).returncode != 0:
            break


def _delete_rules(table: str) -> None:
    for line in guard_rules(table):
        spec = line.split()[2:]  # "-A FORWARD <spec>"
        run(["iptables", "-w", "5", "-t", table, "-D", "FORWARD", *_unquote(spec)], check=False)


def first_forward_rules(table: str) -> list[str]:
    """The first FORWARD rules of a table, in order (tests check ours come before anything else)."""
    out = run(["iptables", "-w", "5", "-t", table, "-S", "FORWARD"]).stdout
    return [line for line in out.splitlines() if line.startswith("-A FORWARD")]


def _unquote(spec: list[str]) -> list[str]:
    return [part.strip('"') for part in spec]


def status() -> str:
    rules = guard_rules()
    hole = blackhole_present()
    if rules and hole:
        return f"installed ({len(rules)} FORWARD drop rules in mangle+filter, blackhole {SERVICE_CIDR})"
    if not rules and not hole:
        return "absent"
    return f"PARTIAL ({len(rules)} FORWARD drop rules, blackhole {'present' if hole else 'missing'})"
