"""Debian package helpers: install what the cluster needs only when missing, and fetch a source package through a
private deb-src configuration (the machine's apt config has no deb-src and must not be changed)."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from .util import log, progress, run

# Package -> a file it installs; the file's presence means the package need not be installed again (fast path).
CLUSTER_PACKAGES = {
    "etcd-server": "/usr/bin/etcd",
    "containerd": "/usr/bin/containerd",
    "runc": "/usr/sbin/runc",
    "containernetworking-plugins": "/usr/lib/cni/bridge",
    "iptables": "/usr/sbin/iptables",
    "iproute2": "/usr/sbin/ip",
    "rsync": "/usr/bin/rsync",
    "golang-go": "/usr/bin/go",
    "build-essential": "/usr/bin/make",
    "dpkg-dev": "/usr/bin/dpkg-source",
    "openssl": "/usr/bin/openssl",
    "podman": "/usr/bin/podman",
    "debootstrap": "/usr/sbin/debootstrap",
    "busybox-static": "/bin/busybox",
    "libc6-dev": "/usr/lib/x86_64-linux-gnu/libc.a",
}

APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
# Other engineers' tools may hold the dpkg lock briefly; wait instead of failing.
APT_LOCK = ["-o", "DPkg::Lock::Timeout=600"]


def ensure_packages(packages: dict[str, str] | None = None) -> list[str]:
    """Install the missing packages with apt-get; returns the names installed (empty when all were present)."""
    wanted = packages or CLUSTER_PACKAGES
    missing = [name for name, marker in wanted.items() if not Path(marker).exists()]
    if not missing:
        return []
    log(f"installing Debian packages: {' '.join(missing)}")
    base = ["apt-get", "-q", *APT_LOCK]
    install = [*base, "install", "-y", "--no-install-recommends", *missing]
    with progress(f"apt-get install {' '.join(missing)}"):
        if subprocess.run(install, env=APT_ENV, capture_output=True, text=True).returncode != 0:
            # The package lists may be missing or stale on a fresh machine: update once, then retry.
            run([*base, "update"], env=APT_ENV, timeout=900)
            run(install, env=APT_ENV, timeout=1800)
    return missing


def _bookworm_mirror() -> str:
    """The Debian mirror the machine already uses for bookworm, read from its apt configuration."""
    sources: list[str] = []
    for path in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        if path.is_file() and path.suffix in (".list", ".sources", ""):
            sources.append(path.read_text(errors="replace"))
    text = "\n".join(sources)
    for stanza in re.split(r"\n\s*\n", text):  # deb822 format
        uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
        suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
        if uris and suites and "bookworm" in suites.group(1).split() and "security" not in uris.group(1):
            return uris.group(1)
    for m in re.finditer(r"^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s", text, re.M):
        return m.group(1)
    raise RuntimeError("no bookworm Debian mirror configured in /etc/apt; cannot fetch the kubernetes source package")


def fetch_source(package: str, workdir: Path) -> Path:
    """Download and unpack a bookworm source package into workdir; returns the unpacked tree."""
    workdir.mkdir(parents=True, exist_ok=True)
    aptdir = workdir / "apt"
    (aptdir / "sources").mkdir(parents=True, exist_ok=True)
    (aptdir / "lists" / "partial").mkdir(parents=True, exist_ok=True)
    (aptdir / "sources" / "src.list").write_text(f"deb-src {_bookworm_mirror()} bookworm main\n")
    opts = [
        "-o", "Dir::Etc::SourceList=/dev/null",
        "-o", f"Dir::Etc::SourceParts={aptdir / 'sources'}",
        "-o", f"Dir::State::Lists={aptdir / 'lists'}",
    ]  # fmt: skip
    run(["apt-get", "-q", *opts, "update"], env=APT_ENV, timeout=600)
    srcdir = workdir / "src"
    srcdir.mkdir(exist_ok=True)
    if not list(srcdir.glob(f"{package}_*.dsc")):
        run(["apt-get", "-q", *opts, "source", "--download-only", package], cwd=srcdir, env=APT_ENV, timeout=1800)
    trees = [p for p in srcdir.iterdir() if p.is_dir() and p.name.startswith(f"{package}-")]
    if not trees:
        dsc = next(srcdir.glob(f"{package}_*.dsc"))
        run(["dpkg-source", "--no-check", "-x", dsc.name], cwd=srcdir, timeout=900)
        trees = [p for p in srcdir.iterdir() if p.is_dir() and p.name.startswith(f"{package}-")]
    return trees[0]
