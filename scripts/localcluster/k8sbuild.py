"""Builds kube-apiserver, controller-manager, scheduler, kubelet and kube-proxy once from Debian bookworm's
`kubernetes` source package (it keeps upstream's vendor/, so the build is offline) and caches them by version."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from . import debian
from .paths import K8S_CACHE, K8S_COMPONENTS, K8S_VERSION
from .util import ClusterError, log, progress, run

BIN_DIR = K8S_CACHE / "bin"
PAUSE_SOURCE = K8S_CACHE / "pause.c"  # kept for the pause image: the same tree's build/pause/linux/pause.c


def cached() -> bool:
    return all((BIN_DIR / name).is_file() for name in K8S_COMPONENTS) and PAUSE_SOURCE.is_file()


def ensure_built() -> Path:
    """Return the directory with the five binaries, building them first if the cache lacks any (~6 min cold)."""
    if cached():
        return BIN_DIR
    debian.ensure_packages(
        {k: debian.CLUSTER_PACKAGES[k] for k in ("golang-go", "rsync", "build-essential", "dpkg-dev")}
    )
    work = K8S_CACHE / "build"
    started = time.monotonic()
    with progress("downloading the Kubernetes source package"):
        tree = debian.fetch_source("kubernetes", work)
    log(f"building Kubernetes {K8S_VERSION} from {tree.name} (about 6 minutes on 2 cores)")
    shutil.rmtree(tree / "_output", ignore_errors=True)  # a failed make leaves a half-made _output behind
    env = {
        **os.environ,
        "GOFLAGS": "",
        "GOPROXY": "off",
        "GOCACHE": str(K8S_CACHE / "gocache"),
        "GOMAXPROCS": "2",
        "KUBE_BUILD_PLATFORMS": "linux/amd64",
    }
    what = " ".join(f"cmd/{name}" for name in K8S_COMPONENTS)
    logfile = K8S_CACHE / "build.log"
    with logfile.open("w") as out, progress(f"building Kubernetes {K8S_VERSION} (log: {logfile})"):
        proc = run(
            ["make", f"WHAT={what}", "GOLDFLAGS=-s -w"],
            cwd=tree,
            env=env,
            timeout=3600,
            check=False,
            capture=False,
            stdout=out,
            stderr=out,
        )
    if proc.returncode != 0:
        shutil.rmtree(tree / "_output", ignore_errors=True)
        raise ClusterError(f"Kubernetes build failed (exit {proc.returncode}); see {logfile}")
    built = tree / "_output" / "local" / "bin" / "linux" / "amd64"
    BIN_DIR.mkdir(parents=True, exist_ok=True)
    for name in K8S_COMPONENTS:
        shutil.copy2(built / name, BIN_DIR / name)
    shutil.copy2(tree / "build" / "pause" / "linux" / "pause.c", PAUSE_SOURCE)
    (K8S_CACHE / "build-seconds").write_text(f"{time.monotonic() - started:.0f}\n")
    # The tree and the Go cache are 3+ GB and only needed for a rebuild: keep the downloaded source, drop the rest.
    shutil.rmtree(tree, ignore_errors=True)
    shutil.rmtree(K8S_CACHE / "gocache", ignore_errors=True)
    log(f"Kubernetes built in {time.monotonic() - started:.0f}s; binaries cached in {BIN_DIR}")
    return BIN_DIR
