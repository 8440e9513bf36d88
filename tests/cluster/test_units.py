"""Fast tests of the cluster tooling's pieces that need no cluster: the provisioner's decisions, the image archives,
the guard rules it would install, and the pinned tools."""

from __future__ import annotations

import json
import tarfile

from scripts.localcluster import guards, localimages, provisioner, tools
from scripts.localcluster.paths import HELM_VERSION, KUBECTL_VERSION, POD_CIDR


class FakeApi:
    """Stands in for the API server: serves lists and records writes."""

    def __init__(self, claims, pvs):
        self.claims, self.pvs, self.writes = claims, pvs, []

    def get(self, path):
        return {"items": self.claims if "persistentvolumeclaims" in path else self.pvs}

    def request(self, method, path, body=None):
        self.writes.append((method, path, body))


def _claim(name, phase="Pending", cls="hostpath", volume=None):
    return {
        "metadata": {"name": name, "namespace": "shop", "uid": f"uid-{name}"},
        "spec": {
            "storageClassName": cls,
            "accessModes": ["ReadWriteOnce"],
            "volumeName": volume,
            "resources": {"requests": {"storage": "2Gi"}},
        },
        "status": {"phase": phase},
    }


def test_provisioner_creates_a_prebound_volume_only_for_pending_hostpath_claims(tmp_path):
    api = FakeApi([_claim("a"), _claim("b", cls="other"), _claim("c", phase="Bound", volume="pvc-uid-c")], [])
    provisioner.reconcile(api, tmp_path)
    assert [(m, p) for m, p, _ in api.writes] == [("POST", "/api/v1/persistentvolumes")]
    pv = api.writes[0][2]
    assert pv["metadata"]["name"] == "pvc-uid-a"
    assert pv["spec"]["claimRef"] == {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "namespace": "shop",
        "name": "a",
        "uid": "uid-a",
    }
    assert pv["spec"]["capacity"] == {"storage": "2Gi"}
    assert pv["spec"]["hostPath"]["path"] == str(tmp_path / "pvc-uid-a")
    assert (tmp_path / "pvc-uid-a").is_dir()
    assert (tmp_path / "pvc-uid-a").stat().st_mode & 0o777 == 0o777
    assert "meta.helm.sh/release-name" not in pv["metadata"]["annotations"]


def test_provisioner_deletes_released_volumes_and_their_directories(tmp_path):
    (tmp_path / "pvc-old").mkdir()
    (tmp_path / "pvc-old" / "ibdata1").write_text("x")
    (tmp_path / "pvc-live").mkdir()
    pvs = [
        {"metadata": {"name": "pvc-old"}, "status": {"phase": "Released"}},
        {"metadata": {"name": "pvc-live"}, "status": {"phase": "Bound"}},
    ]
    api = FakeApi([], pvs)
    provisioner.reconcile(api, tmp_path)
    assert api.writes == [("DELETE", "/api/v1/persistentvolumes/pvc-old", None)]
    assert not (tmp_path / "pvc-old").exists()
    assert (tmp_path / "pvc-live").is_dir()


def test_docker_archive_is_what_ctr_import_reads(tmp_path):
    out = localimages.write_docker_archive(
        "storeplane.local/x:local",
        {"bin": (None, 0o755, None), "bin/tool": (b"#!/bin/sh\n", 0o755, None), "bin/sh": (None, 0o777, "tool")},
        {"Entrypoint": ["/bin/tool"]},
        tmp_path / "x.tar",
    )
    with tarfile.open(out) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
        assert manifest[0]["RepoTags"] == ["storeplane.local/x:local"]
        config = json.load(archive.extractfile(manifest[0]["Config"]))
        with tarfile.open(fileobj=archive.extractfile(manifest[0]["Layers"][0])) as layer:
            assert sorted(layer.getnames()) == ["bin", "bin/sh", "bin/tool"]
            assert layer.getmember("bin/sh").linkname == "tool"
    assert config["config"]["Entrypoint"] == ["/bin/tool"]
    again = localimages.write_docker_archive(
        "storeplane.local/x:local",
        {"bin": (None, 0o755, None), "bin/tool": (b"#!/bin/sh\n", 0o755, None), "bin/sh": (None, 0o777, "tool")},
        {"Entrypoint": ["/bin/tool"]},
        tmp_path / "y.tar",
    )
    assert again.read_bytes() == out.read_bytes()  # same inputs, same bytes: no needless re-import


def test_guard_rules_drop_pod_traffic_to_the_uplink_and_anything_but_the_bridge(monkeypatch):
    monkeypatch.setattr(guards, "uplink", lambda: "eth9")
    specs = guards._rule_specs()
    assert specs[0][:4] == ["-s", POD_CIDR, "-o", "eth9"]
    assert specs[1][:5] == ["-s", POD_CIDR, "!", "-o", "storeplane0"]
    assert all(spec[-2:] == ["-j", "DROP"] and guards.COMMENT in spec for spec in specs)


def test_tools_are_pinned_and_installing_again_keeps_them(tmp_path):
    helm, kubectl = tools.ensure_tools()
    assert tools.helm_version(helm) == HELM_VERSION
    assert tools.kubectl_version(kubectl) == KUBECTL_VERSION
    mtime = helm.stat().st_mtime_ns
    assert tools.ensure_tools() == (helm, kubectl)
    assert helm.stat().st_mtime_ns == mtime  # idempotent: a second run leaves the binary alone
