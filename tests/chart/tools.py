"""Locate helm and install the chart tests' isolated tools (pinned) into ~/.cache/storeplane on first use.

checkov pins packaging<24 (pytest needs >=24) and kubernetes-validate stopped shipping Kubernetes 1.20 schemas after
1.24.x, so both live outside the project venv: checkov in its own venv, kubernetes-validate 1.24.1 as a --target
directory used by a subprocess. Later runs on the same machine reuse them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "ecommerce-store"
CACHE = Path(os.environ.get("STOREPLANE_CACHE", Path.home() / ".cache" / "storeplane"))

CHECKOV_SPEC = "checkov==3.3.30"
# The last kubernetes-validate release that still ships the Kubernetes 1.20 schemas.
KV_LEGACY_SPEC = "kubernetes-validate==1.24.1"
PIP_TIMEOUT = 900


class ToolMissing(RuntimeError):
    """A tool the chart tests need is absent and could not be installed."""


def helm_bin() -> Path:
    """$HELM_BIN, else the venv's helm (placed there by `make tools`)."""
    candidates = [os.environ.get("HELM_BIN"), str(Path(sys.executable).parent / "helm"), str(REPO / ".venv/bin/helm")]
    for c in candidates:
        if c and Path(c).is_file() and os.access(c, os.X_OK):
            return Path(c)
    raise ToolMissing("helm not found: set HELM_BIN or run `make tools` (it puts helm v3.19.0 in .venv/bin)")


def _pip(*args: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        capture_output=True,
        text=True,
        timeout=PIP_TIMEOUT,
    )
    if proc.returncode != 0:
        raise ToolMissing(f"pip {' '.join(args)} failed ({proc.returncode}): {proc.stderr[-2000:]}")


def _build_once(final: Path, build) -> Path:
    """Build into a temporary sibling, then rename: a crashed install never looks complete."""
    if final.exists():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=final.name + ".", dir=final.parent))
    try:
        build(tmp)
        try:
            tmp.rename(final)
        except OSError:
            if not final.exists():  # another run won the race otherwise
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def checkov_command() -> list[str]:
    """argv prefix running checkov: $CHECKOV_BIN, else a pinned checkov in its own venv under the cache (created on
    first use: 1-3 minutes)."""
    if os.environ.get("CHECKOV_BIN"):
        return [os.environ["CHECKOV_BIN"]]
    name = CHECKOV_SPEC.replace("==", "-")

    def build(tmp: Path) -> None:
        # The venv is created in place under its final name's sibling; scripts' shebangs must point at the final path.
        subprocess.run([sys.executable, "-m", "venv", str(tmp)], check=True, timeout=120)
        proc = subprocess.run(
            [str(tmp / "bin/python"), "-m", "pip", "--disable-pip-version-check", "-q", "install", CHECKOV_SPEC],
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT,
        )
        if proc.returncode != 0:
            raise ToolMissing(f"installing {CHECKOV_SPEC} failed: {proc.stderr[-2000:]}")

    venv = _build_once(CACHE / name, build)
    # Invoke through the venv's python: console-script shebangs still name the temporary build path.
    return [str(venv / "bin" / "python"), "-m", "checkov.main"]


def legacy_kubernetes_validate_path() -> Path:
    """A --target directory holding kubernetes-validate 1.24.1 (schemas up to Kubernetes 1.24, including 1.20)."""
    return _build_once(
        CACHE / KV_LEGACY_SPEC.replace("==", "-"),
        lambda tmp: _pip("install", "--no-deps", "--no-compile", "--target", str(tmp), KV_LEGACY_SPEC),
    )
