"""A small hostPath provisioner for StorageClass `hostpath`: creates a PV (outside any helm release) for every pending
claim of that class, and deletes Released PVs with their directories, so stores can come and go in one test run.

Run by `up` as `python -m scripts.localcluster.provisioner SERVER TOKEN_FILE VOLUMES_DIR`; polls once a second."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

from .kubeapi import ApiError, KubeApi

STORAGE_CLASS = "hostpath"
PROVISIONER = "storeplane.local/hostpath"
LABEL = "storeplane.local/provisioner"


def storage_class_manifest() -> dict:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def _claim_class(pvc: dict) -> str | None:
    spec_class = pvc["spec"].get("storageClassName")
    annotation = pvc["metadata"].get("annotations", {}).get("volume.beta.kubernetes.io/storage-class")
    return spec_class or annotation


def pv_for_claim(pvc: dict, volumes_dir: Path) -> dict:
    meta = pvc["metadata"]
    name = f"pvc-{meta['uid']}"
    size = pvc["spec"].get("resources", {}).get("requests", {}).get("storage", "1Gi")
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {
            "name": name,
            "labels": {LABEL: "true"},
            "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
        },
        "spec": {
            "capacity": {"storage": size},
            "accessModes": pvc["spec"].get("accessModes") or ["ReadWriteOnce"],
            # Retain: the controller would try (and fail) to delete a hostPath volume itself; we delete it below.
            "persistentVolumeReclaimPolicy": "Retain",
            "storageClassName": STORAGE_CLASS,
            "volumeMode": pvc["spec"].get("volumeMode", "Filesystem"),
            "hostPath": {"path": str(volumes_dir / name), "type": "DirectoryOrCreate"},
            "claimRef": {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "namespace": meta["namespace"],
                "name": meta["name"],
                "uid": meta["uid"],
            },
        },
    }


def reconcile(api: KubeApi, volumes_dir: Path) -> None:
    """One pass: provision pending claims of our class, delete released volumes and orphaned directories."""
    claims = api.get("/api/v1/persistentvolumeclaims")["items"]
    pvs = api.get(f"/api/v1/persistentvolumes?labelSelector={LABEL}%3Dtrue")["items"]
    existing = {pv["metadata"]["name"] for pv in pvs}
    for pvc in claims:
        if pvc.get("status", {}).get("phase") != "Pending" or pvc["spec"].get("volumeName"):
            continue
        if _claim_class(pvc) != STORAGE_CLASS:
            continue
        pv = pv_for_claim(pvc, volumes_dir)
        if pv["metadata"]["name"] in existing:
            continue
        path = Path(pv["spec"]["hostPath"]["path"])
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o777)  # the images run as different non-root uids (999, 33, 1000); each claim is one store's
        try:
            api.request("POST", "/api/v1/persistentvolumes", pv)
        except ApiError as exc:
            if exc.status != 409:
                raise
    for pv in pvs:
        if pv.get("status", {}).get("phase") in ("Released", "Failed"):
            name = pv["metadata"]["name"]
            try:
                api.request("DELETE", f"/api/v1/persistentvolumes/{name}")
            except ApiError as exc:
                if exc.status != 404:
                    raise
            shutil.rmtree(volumes_dir / name, ignore_errors=True)
            existing.discard(name)
    if volumes_dir.is_dir():
        for child in volumes_dir.iterdir():
            if child.name.startswith("pvc-") and child.name not in existing and _older_than(child, 30):
                shutil.rmtree(child, ignore_errors=True)


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


def main(argv: list[str]) -> int:
    server, token_file, volumes = argv
    api = KubeApi(server, Path(token_file))
    volumes_dir = Path(volumes)
    volumes_dir.mkdir(parents=True, exist_ok=True)
    while True:
        try:
            reconcile(api, volumes_dir)
        except Exception as exc:  # noqa: BLE001 - a provisioner must outlive API hiccups; the log says what happened
            print(f"provisioner: {exc}", file=sys.stderr, flush=True)
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
