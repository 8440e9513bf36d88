"""charts/storeplane on the real local cluster, from the project's own image: the release installs, its migrations
run, `helm test` passes, the ServiceAccount may do exactly what the chain needs, and the in-cluster platform (two
workers sharing the Redis semaphore) provisions a WooCommerce store to ready, served through the ingress, while a
web pod and the worker running the chain are killed, then deletes it. One namespace and one release for the module.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time

import pytest
import yaml

from scripts.localcluster import apirelay, platformctl

from .platform_helpers import CHART

pytestmark = pytest.mark.k8s

RELEASE = "sp"
FULLNAME = "sp-storeplane"
SA = FULLNAME
# Recovery within seconds instead of minutes, so a killed worker's store is picked up inside the test's budget.
FAST_RECOVERY = {
    "RECOVERY_GRACE_SECONDS": "20",
    "RECOVERY_INTERVAL_SECONDS": "10",
    "PROVISIONING_LEASE_SECONDS": "10",
    "STORE_LOCK_TTL_SECONDS": "20",
}
PASSWORD = "Platform-test-pw-9"  # noqa: S105 - a throwaway tenant of this test


def _kubectl(cluster, *args, check=True, stdin=None, timeout=120):
    proc = subprocess.run(
        [str(cluster.kubectl), *args], capture_output=True, text=True, env=cluster.env, input=stdin, timeout=timeout
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args[:4])} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return proc


def _helm(cluster, *args, check=True, timeout=600):
    proc = subprocess.run([str(cluster.helm), *args], capture_output=True, text=True, env=cluster.env, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {args[0]} failed ({proc.returncode}): {proc.stdout[-1500:]}{proc.stderr[-2000:]}")
    return proc


def _pods(cluster, ns, component):
    out = _kubectl(cluster, "-n", ns, "get", "pods", "-l", f"app.kubernetes.io/component={component}", "-o", "json")
    return [p for p in json.loads(out.stdout)["items"] if not p["metadata"].get("deletionTimestamp")]


def _ready(pod) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def _wait(predicate, timeout, what, interval=2.0):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# The API as a tenant sees it, called from inside a web pod (the host cannot reach Service addresses here). The
# request, token included, travels on stdin, never in argv.
_CLIENT = """
import json, sys, urllib.error, urllib.request
req = json.load(sys.stdin)
headers = {"Content-Type": "application/json"}
if req.get("token"):
    headers["Authorization"] = "Bearer " + req["token"]
data = json.dumps(req["body"]).encode() if req.get("body") is not None else None
r = urllib.request.Request("http://127.0.0.1:8000" + req["path"], data=data, method=req["method"], headers=headers)
try:
    with urllib.request.urlopen(r, timeout=30) as resp:
        status, body = resp.status, resp.read()
except urllib.error.HTTPError as exc:
    status, body = exc.code, exc.read()
print(json.dumps({"status": status, "body": json.loads(body or b"null")}))
"""


class Api:
    def __init__(self, cluster, ns):
        self.cluster, self.ns, self.token = cluster, ns, None

    def call(self, method, path, body=None):
        pod = next(p["metadata"]["name"] for p in _pods(self.cluster, self.ns, "web") if _ready(p))
        request = json.dumps({"method": method, "path": path, "body": body, "token": self.token})
        out = _kubectl(
            self.cluster, "-n", self.ns, "exec", "-i", pod, "-c", "web", "--", "python", "-c", _CLIENT, stdin=request
        )
        answer = json.loads(out.stdout.strip().splitlines()[-1])
        return answer["status"], answer["body"]

    def store(self, store_id):
        status, body = self.call("GET", f"/api/v1/stores/{store_id}")
        assert status == 200, body
        return body.get("store", body)


@pytest.fixture(scope="module")
def platform(k8s_cluster, tmp_path_factory):
    """The release in a namespace of its own, from an image built (or reused) from this checkout."""
    cluster = k8s_cluster
    ns = f"sp-platform-{secrets.token_hex(3)}"
    started = time.monotonic()
    platformctl.import_into_cluster(platformctl.build())
    image_seconds = time.monotonic() - started
    apirelay.ensure(cluster.env)  # the local API server as pods reach it (values-local.yaml: kubernetes.apiServer)
    values = tmp_path_factory.mktemp("platform") / "values.yaml"
    values.touch(mode=0o600)
    values.write_text(
        yaml.safe_dump(
            {
                "secrets": {
                    "values": {
                        "djangoSecretKey": secrets.token_urlsafe(48),
                        "credentialsEncryptionKey": __import__("base64")
                        .urlsafe_b64encode(secrets.token_bytes(32))
                        .decode(),
                    }
                },
                "config": {"extraEnv": FAST_RECOVERY},
                "worker": {"replicas": 2},
            }
        )
    )
    info = {"ns": ns, "image_seconds": image_seconds}
    try:
        install_started = time.monotonic()
        _helm(
            cluster,
            "install",
            RELEASE,
            str(CHART),
            "--namespace",
            ns,
            "--create-namespace",
            "-f",
            str(CHART / "values-local.yaml"),
            "-f",
            str(values),
            "--wait",
            "--timeout",
            "6m",
            timeout=420,
        )
        info["install_seconds"] = time.monotonic() - install_started
        yield info
    finally:
        # Quick and complete: pods go without their grace periods, the release's cluster-scoped RBAC with helm,
        # the namespace (and the bundled database's volume) in the background.
        _kubectl(cluster, "-n", ns, "delete", "pods", "--all", "--grace-period=0", "--force", check=False)
        _helm(cluster, "uninstall", RELEASE, "--namespace", ns, "--timeout", "2m", check=False, timeout=180)
        _kubectl(cluster, "delete", "namespace", ns, "--ignore-not-found", "--wait=false", check=False)
        for store_ns in info.get("store_namespaces", []):
            _kubectl(cluster, "delete", "namespace", store_ns, "--ignore-not-found", "--wait=false", check=False)


def test_install_runs_migrations_and_helm_test_passes(k8s_cluster, platform, record_property):
    ns = platform["ns"]
    record_property("image_seconds", round(platform["image_seconds"], 1))
    record_property("install_seconds", round(platform["install_seconds"], 1))
    job = json.loads(_kubectl(k8s_cluster, "-n", ns, "get", "job", f"{FULLNAME}-migrate", "-o", "json").stdout)
    assert job["status"].get("succeeded") == 1, job["status"]
    log = _kubectl(k8s_cluster, "-n", ns, "logs", f"job/{FULLNAME}-migrate").stdout
    assert "Applying stores." in log or "No migrations to apply" in log, log[-2000:]
    for component, want in (("web", 2), ("worker", 2), ("beat", 1)):
        pods = _pods(k8s_cluster, ns, component)
        assert len(pods) == want and all(_ready(p) for p in pods), component
        assert {c["image"] for p in pods for c in p["spec"]["containers"]} == {"storeplane.local/platform:local"}
    proc = _helm(k8s_cluster, "test", RELEASE, "--namespace", ns, "--logs", "--timeout", "3m", timeout=240)
    assert "Phase:          Succeeded" in proc.stdout, proc.stdout[-3000:]
    assert "migrations: all applied" in proc.stdout


# (verb, resource, namespaced): what the chain does, then what it must not be able to do.
ALLOWED = [
    ("create", "namespaces", False),
    ("delete", "namespaces", False),
    ("watch", "namespaces", False),
    ("list", "secrets", True),  # helm list --all-namespaces reads release Secrets everywhere
    ("create", "secrets", True),
    ("create", "statefulsets.apps", True),
    ("patch", "deployments.apps", True),
    ("create", "ingresses.networking.k8s.io", True),
    ("delete", "networkpolicies.networking.k8s.io", True),
    ("create", "resourcequotas", True),
    ("create", "limitranges", True),
    ("create", "persistentvolumeclaims", True),
    ("create", "serviceaccounts", True),
    ("create", "pods", True),  # helm test
    ("create", "pods --subresource=exec", True),
    ("get", "pods --subresource=log", True),
    ("list", "replicasets.apps", True),
]
DENIED = [
    ("get", "nodes", False),
    ("create", "clusterrolebindings.rbac.authorization.k8s.io", False),
    ("create", "roles.rbac.authorization.k8s.io", True),
    ("create", "daemonsets.apps", True),
    ("get", "configmaps", True),
    ("delete", "persistentvolumes", False),
    ("update", "pods", True),
    ("create", "pods --subresource=portforward", True),
]


def test_service_account_may_do_what_the_chain_needs_and_nothing_more(k8s_cluster, platform):
    who = f"--as=system:serviceaccount:{platform['ns']}:{SA}"

    def can(verb, resource, namespaced):
        scope = ["--all-namespaces"] if namespaced else []
        proc = _kubectl(k8s_cluster, "auth", "can-i", verb, *resource.split(), who, *scope, check=False)
        return proc.stdout.strip()

    assert [(v, r, can(v, r, n)) for v, r, n in ALLOWED] == [(v, r, "yes") for v, r, _ in ALLOWED]
    assert [(v, r, can(v, r, n)) for v, r, n in DENIED] == [(v, r, "no") for v, r, _ in DENIED]


def _holder(cluster, ns) -> str | None:
    """The worker pod running a helm or kubectl process for the chain right now, if any."""
    script = (
        "import os\n"
        "for p in os.listdir('/proc'):\n"
        "    try:\n"
        "        argv = open(f'/proc/{p}/cmdline', 'rb').read().split(b'\\0')\n"
        "    except OSError:\n"
        "        continue\n"
        "    if argv and argv[0].endswith((b'/helm', b'/kubectl')):\n"
        "        print('busy')\n"
        "        break\n"
    )
    for pod in _pods(cluster, ns, "worker"):
        out = _kubectl(cluster, "-n", ns, "exec", pod["metadata"]["name"], "--", "python", "-c", script, check=False)
        if "busy" in out.stdout:
            return pod["metadata"]["name"]
    return None


def test_in_cluster_platform_provisions_and_deletes_a_store_across_pod_kills(k8s_cluster, platform, record_property):
    ns = platform["ns"]
    api = Api(k8s_cluster, ns)
    name = f"plat{secrets.token_hex(3)}"
    status, body = api.call(
        "POST",
        "/api/v1/auth/register",
        {"email": f"{name}@platform.example.com", "username": name, "password": PASSWORD},
    )
    assert status == 201, body
    api.token = body["token"]
    started = time.monotonic()
    status, body = api.call("POST", "/api/v1/stores", {"name": f"{name}-shop", "engine": "woocommerce"})
    assert status == 202, body
    store_id = (body.get("store") or body)["id"]
    platform.setdefault("store_namespaces", []).append(api.store(store_id).get("namespace") or store_id)

    # Both workers answer the broker; the chain holds a slot of the one Redis semaphore they share.
    worker = _pods(k8s_cluster, ns, "worker")[0]["metadata"]["name"]
    pings = _kubectl(
        k8s_cluster,
        "-n",
        ns,
        "exec",
        worker,
        "--",
        "celery",
        "-A",
        "config",
        "inspect",
        "ping",
        "--timeout",
        "10",
        timeout=90,
    ).stdout
    assert pings.count("pong") == 2, pings
    holder = _wait(lambda: _holder(k8s_cluster, ns), 120, "a worker to run helm or kubectl for the store", interval=1)
    status, health = api.call("GET", "/api/v1/health")
    report = health.get("data", health)
    assert report["concurrency"].get("active", report["concurrency"].get("running")) == 1, report["concurrency"]

    # Mid-provisioning: a web pod and the worker running the chain die without a chance to finish.
    web = _pods(k8s_cluster, ns, "web")[0]["metadata"]["name"]
    _kubectl(k8s_cluster, "-n", ns, "delete", "pod", holder, web, "--grace-period=0", "--force", "--wait=false")
    killed_at = time.monotonic() - started

    def settled():
        store = api.store(store_id)
        return store if store["status"] in ("ready", "failed") else None

    store = _wait(settled, 360, f"store {store_id} to be ready or failed", interval=5)
    if store["status"] == "failed":
        # Failed and retryable is an allowed end; the retry must then bring it to ready.
        status, body = api.call("POST", f"/api/v1/stores/{store_id}/retry")
        assert status == 202, body
        store = _wait(
            lambda: api.store(store_id)["status"] == "ready" and api.store(store_id), 300, "the retried store"
        )
    ready_seconds = time.monotonic() - started
    record_property("killed_at_seconds", round(killed_at, 1))
    record_property("create_to_ready_seconds", round(ready_seconds, 1))
    assert store["status"] == "ready"
    print(f"platform: killed web {web} and worker {holder} at {killed_at:.0f}s; ready at {ready_seconds:.0f}s")
    # Served through the ingress, as a shopper's browser reaches it from this host.
    host = store["urls"]["storefront"].split("://", 1)[1].split("/", 1)[0]
    answer = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", f"Host: {host}", "http://127.0.0.1:8080/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.stdout == "200", answer

    status, body = api.call("DELETE", f"/api/v1/stores/{store_id}")
    assert status in (200, 202), body
    _wait(lambda: api.store(store_id)["status"] == "deleted", 240, "the store to be deleted", interval=3)
    store_ns = platform["store_namespaces"][-1]
    gone = _kubectl(k8s_cluster, "get", "namespace", store_ns, "--ignore-not-found", "-o", "name").stdout.strip()
    assert gone == ""
