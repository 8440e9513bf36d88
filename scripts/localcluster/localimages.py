"""Images the cluster itself needs, and the glue that imports every local image into containerd's k8s.io namespace.

The `pause` sandbox image is ours (gcc -static of the k8s tree's build/pause/linux/pause.c). When the store images
are skipped (STOREPLANE_SKIP_IMAGES=1), a busybox-static `toolbox` is made here so the cluster can be tested. Both are
written as docker-archive tarballs directly from Python (no podman needed for a one-file image)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

from . import k8sbuild
from .paths import CACHE_DIR, MACHINE_STATE
from .util import ClusterError, log, progress, run

PAUSE_REF = "storeplane.local/pause:local"
TOOLBOX_REF = "storeplane.local/toolbox:local"
IMAGES_CACHE = CACHE_DIR / "cluster-images"  # ours (pause, fallback toolbox)
STORE_IMAGES_CACHE = CACHE_DIR / "images"  # the images package's cache
IMPORTED_FILE = MACHINE_STATE / "imported-images.json"  # ref -> sha256 of the tarball last imported
BUSYBOX_APPLETS = (
    "sh",
    "wget",
    "nc",
    "sleep",
    "cat",
    "echo",
    "ls",
    "env",
    "true",
    "false",
    "id",
    "test",
    "[",
    "mkdir",
    "rm",
    "grep",
    "head",
    "tail",
    "date",
    "hostname",
    "printf",
    "tr",
    "wc",
    "seq",
    "sed",
)
# Fixed mtime so the same inputs give the same tarball bytes (and thus the same digest: no needless re-import).
EPOCH = 1_600_000_000


def write_docker_archive(
    ref: str, files: dict[str, tuple[bytes | None, int, str | None]], config: dict, out: Path
) -> Path:
    """Write a one-layer docker-archive. files: path -> (content or None for a dir, mode, symlink target or None)."""
    layer_buf = io.BytesIO()
    with tarfile.open(fileobj=layer_buf, mode="w", format=tarfile.GNU_FORMAT) as layer:
        for path, (content, mode, link) in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.mtime = EPOCH
            info.mode = mode
            if link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                layer.addfile(info)
            elif content is None:
                info.type = tarfile.DIRTYPE
                layer.addfile(info)
            else:
                info.size = len(content)
                layer.addfile(info, io.BytesIO(content))
    layer_bytes = layer_buf.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    image_config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2020-09-13T12:26:40Z",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "2020-09-13T12:26:40Z", "created_by": "storeplane localcluster"}],
    }
    config_bytes = json.dumps(image_config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id.split(":")[1] + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": [layer_name]}]
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".partial")
    with tarfile.open(partial, mode="w") as archive:
        for name, data in (
            (config_name, config_bytes),
            (layer_name, layer_bytes),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), EPOCH, 0o644
            archive.addfile(info, io.BytesIO(data))
    partial.replace(out)
    return out


def build_pause() -> Path:
    out = IMAGES_CACHE / "pause.tar"
    source = k8sbuild.PAUSE_SOURCE
    key = hashlib.sha256(source.read_bytes()).hexdigest()[:16]
    stamp = IMAGES_CACHE / "pause.key"
    if out.is_file() and stamp.is_file() and stamp.read_text() == key:
        return out
    with tempfile.TemporaryDirectory() as tmp:
        binary = Path(tmp) / "pause"
        run(["gcc", "-Os", "-static", "-Wall", "-o", binary, source], timeout=120)
        run(["strip", binary], timeout=60)
        files = {"pause": (binary.read_bytes(), 0o755, None)}
    write_docker_archive(PAUSE_REF, files, {"Entrypoint": ["/pause"], "User": "65535:65535"}, out)
    stamp.write_text(key)
    return out


def build_toolbox() -> Path:
    """busybox-static with the applets init containers and test pods use; runs as nobody (uid 65534)."""
    out = IMAGES_CACHE / "toolbox-fallback.tar"
    busybox = Path("/bin/busybox")
    if not busybox.is_file():
        raise ClusterError("busybox-static is not installed (/bin/busybox missing)")
    data = busybox.read_bytes()
    key = hashlib.sha256(data).hexdigest()[:16]
    stamp = IMAGES_CACHE / "toolbox-fallback.key"
    if out.is_file() and stamp.is_file() and stamp.read_text() == key:
        return out
    files: dict[str, tuple[bytes | None, int, str | None]] = {
        "bin": (None, 0o755, None),
        "bin/busybox": (data, 0o755, None),
        "tmp": (None, 0o1777, None),
        "etc": (None, 0o755, None),
        "etc/passwd": (b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/tmp:/bin/sh\n", 0o644, None),
        "etc/group": (b"root:x:0:\nnogroup:x:65534:\n", 0o644, None),
    }
    for applet in BUSYBOX_APPLETS:
        files[f"bin/{applet}"] = (None, 0o777, "busybox")
    config = {"Cmd": ["/bin/sh"], "User": "65534:65534", "Env": ["PATH=/bin"], "WorkingDir": "/tmp"}  # noqa: S108 - in the image
    write_docker_archive(TOOLBOX_REF, files, config, out)
    stamp.write_text(key)
    return out


# Built and imported on demand (scripts.localcluster.platformctl), not by `up`: kept, never pruned, by `up`.
ON_DEMAND_REFS = {"storeplane.local/platform:local"}


def wanted_images() -> dict[str, Path]:
    """ref -> docker-archive tarball for every image the cluster should hold."""
    IMAGES_CACHE.mkdir(parents=True, exist_ok=True)
    images = {PAUSE_REF: build_pause()}
    from .images.build import IMAGES, build_images

    if not skip_store_images():
        started = time.monotonic()
        # The platform's own image is not a store image: scripts.localcluster.platformctl stages its sources and
        # builds it when the platform chart is installed (built here it would be an unstaged image refusing to start).
        names = [name for name in IMAGES if name != "platform"]
        try:
            images.update({result.ref: result.archive for result in build_images(STORE_IMAGES_CACHE, names)})
        except Exception as exc:  # noqa: BLE001 - any failure of the image build must name itself to the caller
            raise ClusterError(f"building the local store images failed: {exc}") from exc
        log(f"images package: {len(images) - 1} images ready in {time.monotonic() - started:.0f}s")
    if TOOLBOX_REF not in images and not skip_store_images():
        images[TOOLBOX_REF] = build_toolbox()
    from .ingress import IMAGE_REF, build_image  # the ingress controller is part of the cluster, like pause

    images[IMAGE_REF] = build_image(IMAGES_CACHE)
    return images


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _ctr(address: Path, *args: str, timeout: float = 600):
    return run(["ctr", "--address", str(address), "-n", "k8s.io", *args], timeout=timeout)


def list_refs(address: Path) -> dict[str, str]:
    """ref -> manifest digest of every image in containerd's k8s.io namespace."""
    out = _ctr(address, "images", "ls").stdout.splitlines()[1:]
    refs = {}
    for line in out:
        parts = line.split()
        if len(parts) >= 3:
            refs[parts[0]] = parts[2]
    return refs


def skip_store_images() -> bool:
    """STOREPLANE_SKIP_IMAGES=1: keep whatever store images containerd holds (no build, no prune); for iterating on
    the cluster tooling while the images are being rebuilt elsewhere."""
    return os.environ.get("STOREPLANE_SKIP_IMAGES") == "1"


def import_images(address: Path, images: dict[str, Path]) -> list[str]:
    """Import the tarballs whose content changed since the last import (or whose ref is missing); prune our stale
    refs. Returns the refs imported."""
    try:
        recorded = json.loads(IMPORTED_FILE.read_text())
    except (OSError, ValueError):
        recorded = {}
    present = list_refs(address)
    imported = []
    for ref, tarball in images.items():
        digest = _sha256_file(tarball)
        if ref in present and recorded.get(ref) == digest:
            continue
        started = time.monotonic()
        with progress(f"importing {ref} ({tarball.stat().st_size >> 20} MiB) into containerd"):
            _ctr(address, "images", "import", str(tarball))
        recorded[ref] = digest
        IMPORTED_FILE.write_text(json.dumps(recorded, indent=1))
        imported.append(ref)
        log(f"imported {ref} ({tarball.stat().st_size >> 20} MiB) in {time.monotonic() - started:.1f}s")
    if not skip_store_images():
        prune(address, set(images) | ON_DEMAND_REFS)
    return imported


def prune(address: Path, keep: set[str]) -> None:
    """Remove storeplane.local refs no longer wanted and digest-only refs of replaced images (each costs full size)."""
    refs = list_refs(address)
    kept_digests = {digest for ref, digest in refs.items() if ref in keep}
    stale = [ref for ref in refs if ref.startswith("storeplane.local/") and ref not in keep]
    stale += [
        ref for ref, digest in refs.items() if re.fullmatch(r"sha256:[0-9a-f]{64}", ref) and digest not in kept_digests
    ]
    if stale:
        _ctr(address, "images", "rm", *stale)
        log(f"pruned {len(stale)} stale image refs")


def remove_cache() -> None:
    shutil.rmtree(IMAGES_CACHE, ignore_errors=True)
