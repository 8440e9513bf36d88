"""The local cluster's ingress controller (Traefik 3.0.4, scripts/localcluster/ingress.py): what it serves, checked
the way a shopper's browser reaches a store (a request to 127.0.0.1:<STORE_INGRESS_PORT> with the store's Host
header), and how it is deployed (loopback only, least RBAC, no way out), checked by inspection.

The first tests need no cluster (the manifest builder, the port setting, the health check); the rest are
`@pytest.mark.k8s` and each works in its own namespace."""

from __future__ import annotations

import http.client
import http.server
import ipaddress
import json
import re
import secrets
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest

from scripts.localcluster import cluster, ingress
from scripts.localcluster.paths import BRIDGE, POD_CIDR
from scripts.localcluster.pytest_plugin import delete_namespace
from scripts.localcluster.util import ClusterError, free_port

TRAEFIK_404 = b"404 page not found"  # Traefik's own answer for a host or path no Ingress names


# ---------------------------------------------------------------------------------------------------- no cluster


def _by_kind(objects):
    return {o["kind"]: o for o in objects}


def test_manifests_grant_exactly_the_reads_and_the_status_update_the_controller_needs():
    objects = _by_kind(ingress.manifests(api_port=6443, port=8080, ping_port=9100))
    rules = objects["ClusterRole"]["rules"]
    granted = {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    reads = {
        (g, r, v)
        for g, r in (
            ("", "services"),
            ("", "endpoints"),
            ("", "secrets"),
            ("networking.k8s.io", "ingresses"),
            ("networking.k8s.io", "ingressclasses"),
        )
        for v in ("get", "list", "watch")
    }
    assert granted == reads | {("networking.k8s.io", "ingresses/status", "update")}
    binding = objects["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == objects["ClusterRole"]["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "traefik", "namespace": "storeplane-ingress"}]
    assert objects["IngressClass"]["metadata"]["name"] == "traefik"
    assert objects["IngressClass"]["spec"] == {"controller": "traefik.io/ingress-controller"}
    assert objects["Namespace"]["metadata"]["labels"]["storeplane.io/ingress-controller"] == "true"
    assert objects["Namespace"]["metadata"]["labels"]["kubernetes.io/metadata.name"] == "storeplane-ingress"


def test_controller_listens_on_loopback_only_and_calls_nothing_outside():
    args = ingress.traefik_args(api_port=6443, port=8123, ping_port=9100)
    addresses = [a.split("=", 1)[1] for a in args if re.match(r"--entrypoints\.\w+\.address=", a)]
    # Loopback for the host, the pod bridge's address for pods; ping on loopback only.
    assert addresses == ["127.0.0.1:8123", "10.244.0.1:8123", "127.0.0.1:9100"]
    assert "--global.checknewversion=false" in args
    assert "--global.sendanonymoususage=false" in args
    assert "--providers.kubernetesingress.endpoint=https://127.0.0.1:6443" in args
    assert "--providers.kubernetesingress.ingressendpoint.ip=127.0.0.1" in args
    assert "--providers.kubernetesingress.ingressclass=traefik" in args
    # The Kubernetes Ingress provider and nothing else; no dashboard or API; logs only to stdout.
    providers = {a.split("=")[0].split(".")[1] for a in args if a.startswith("--providers.")}
    assert providers == {"kubernetesingress"}
    assert not [a for a in args if a.startswith(("--api", "--metrics", "--tracing", "--experimental", "--hub"))]
    assert not [a for a in args if "filepath" in a.lower()]
    assert "--ping.entrypoint=ping" in args


def test_controller_pod_is_host_network_non_root_read_only_and_never_pulls():
    deployment = _by_kind(ingress.manifests(api_port=6443, port=8080, ping_port=9100, image_key="abc"))["Deployment"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    template = deployment["spec"]["template"]
    assert template["metadata"]["labels"]["app.kubernetes.io/name"] == "traefik"
    assert template["metadata"]["annotations"] == {"storeplane.io/image-key": "abc"}
    pod = template["spec"]
    assert pod["hostNetwork"] is True
    assert pod["dnsPolicy"] == "None" and pod["dnsConfig"] == {"nameservers": ["127.0.0.1"]}
    assert pod["serviceAccountName"] == "traefik"
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    [container] = pod["containers"]
    assert container["image"] == "storeplane.local/traefik:local" and container["imagePullPolicy"] == "Never"
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert {p["name"]: (p["hostIP"], p["containerPort"]) for p in container["ports"]} == {
        "web": ("127.0.0.1", 8080),
        "ping": ("127.0.0.1", 9100),
    }
    assert container["readinessProbe"]["httpGet"] == {"host": "127.0.0.1", "port": 9100, "path": "/ping"}
    # The token Secret is mounted where client-go's in-cluster config reads the token and the CA.
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["token"] == "/var/run/secrets/kubernetes.io/serviceaccount"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["token"]["secret"]["secretName"] == "traefik-token"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"}


def test_every_object_has_an_api_path_and_the_order_creates_dependencies_first():
    objects = ingress.manifests(api_port=6443, port=8080, ping_port=9100)
    kinds = [o["kind"] for o in objects]
    assert kinds.index("Namespace") == 0
    assert kinds.index("ServiceAccount") < kinds.index("Secret") < kinds.index("Deployment")
    paths = [ingress.object_path(o) for o in objects]
    assert paths[0] == "/api/v1/namespaces/storeplane-ingress"
    assert "/apis/apps/v1/namespaces/storeplane-ingress/deployments/traefik" in paths
    assert "/apis/networking.k8s.io/v1/ingressclasses/traefik" in paths


def test_port_comes_from_the_environment_then_dotenv_then_8080(tmp_path):
    dotenv = tmp_path / ".env"
    assert ingress.wanted_port({}, dotenv) == 8080
    dotenv.write_text("# local\nSTORE_INGRESS_PORT=9181\n")
    assert ingress.wanted_port({}, dotenv) == 9181
    assert ingress.wanted_port({"STORE_INGRESS_PORT": "9182"}, dotenv) == 9182
    for bad in ("http", "0", "70000", "80"):
        with pytest.raises(ClusterError, match="STORE_INGRESS_PORT"):
            ingress.wanted_port({"STORE_INGRESS_PORT": bad}, dotenv)


def test_image_holds_the_binary_and_runs_it_as_a_non_root_user(tmp_path, monkeypatch):
    fake = tmp_path / "traefik"
    fake.write_bytes(b"\x7fELF fake traefik")
    monkeypatch.setattr(ingress, "ensure_binary", lambda: fake)
    out = ingress.build_image(tmp_path / "images")
    with tarfile.open(out) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
        config = json.load(archive.extractfile(manifest[0]["Config"]))
        with tarfile.open(fileobj=archive.extractfile(manifest[0]["Layers"][0])) as layer:
            files = {m.name: m for m in layer.getmembers()}
            binary = layer.extractfile("traefik").read()
    assert manifest[0]["RepoTags"] == ["storeplane.local/traefik:local"]
    assert config["config"]["Entrypoint"] == ["/traefik"] and config["config"]["User"] == "65532:65532"
    assert binary == fake.read_bytes() and files["traefik"].mode == 0o755
    assert set(files) == {"traefik", "etc", "etc/passwd", "etc/group", "tmp"}
    mtime = out.stat().st_mtime_ns
    assert ingress.build_image(tmp_path / "images") == out and out.stat().st_mtime_ns == mtime  # cached
    fake.write_bytes(b"\x7fELF another traefik")
    ingress.build_image(tmp_path / "images")
    with tarfile.open(out) as archive:
        manifest = json.load(archive.extractfile("manifest.json"))
        with tarfile.open(fileobj=archive.extractfile(manifest[0]["Layers"][0])) as layer:
            assert layer.extractfile("traefik").read() == b"\x7fELF another traefik"


class _NoController:
    """The API server of a cluster without the controller yet: every read is 404; writes are recorded."""

    def __init__(self):
        self.writes = []

    def get(self, path):
        from scripts.localcluster.kubeapi import ApiError

        raise ApiError(404, f"{path} not found")

    def request(self, method, path, body=None, timeout=10):
        self.writes.append((method, path))


def test_a_busy_port_stops_the_deploy_before_anything_is_created_and_names_the_port():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        api = _NoController()
        with pytest.raises(
            ClusterError, match=rf"127\.0\.0\.1:{port}, the ingress controller's port \(STORE_INGRESS_PORT\)"
        ):
            ingress.deploy(api, api_port=6443, port=port)
    assert api.writes == []


class _Server:
    """A loopback HTTP server answering every GET with a fixed status and body."""

    def __init__(self, status: int, body: bytes, address: str = "127.0.0.1", port: int = 0):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - the stdlib's name
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((address, port), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_health_needs_the_ping_endpoint_and_an_answering_web_port(monkeypatch):
    ping_server, web_server = _Server(200, b"OK"), _Server(404, TRAEFIK_404)
    # The pods' entrypoint stands in on another loopback address with the same port.
    monkeypatch.setattr(ingress, "BRIDGE_ADDRESS", "127.0.0.2")
    bridge_server = _Server(404, TRAEFIK_404, "127.0.0.2", web_server.port)
    try:
        record = {"ingress": {"port": web_server.port, "ping_port": ping_server.port}}
        assert ingress.health(record).ok
        bridge_server.close()
        assert ingress.health(record).problems == [
            f"nothing answers HTTP on 127.0.0.2:{web_server.port} (where pods reach it)"
        ]
        assert not ingress.health({"ingress": {"port": free_port(), "ping_port": ping_server.port}}).ok
        problems = ingress.health({"ingress": {"port": web_server.port, "ping_port": web_server.port}}).problems
        assert problems == [f"its ping endpoint 127.0.0.1:{web_server.port}/ping does not answer 200"]
        assert ingress.health({}).problems == ["the ingress controller was not deployed by `up`"]
    finally:
        ping_server.close()
        web_server.close()


# ---------------------------------------------------------------------------------------------------- on the cluster


def _owner_and_api():
    owner = cluster.read_owner()
    return owner, cluster.api_for(owner)


@pytest.fixture
def controller(k8s_cluster) -> ingress.Health:
    """The controller `up` deployed, serving (the session fixture ran `up`)."""
    owner, api = _owner_and_api()
    found = ingress.health(owner, api)
    assert found.ok, found.problems
    return found


@pytest.fixture
def other_namespace(k8s_cluster):
    """A second namespace for a test that needs two stores (deleted afterwards, bounded)."""
    name = f"t-ingress-other-{secrets.token_hex(3)}"
    k8s_cluster.kubectl_run("create", "namespace", name)
    yield name
    delete_namespace(k8s_cluster, name)


# A CGI script (no single quote in it: it is written with printf '%s' '...').
CGI_ADDR = '#!/bin/sh\necho Content-Type: text/plain\necho\necho "$REMOTE_ADDR"\n'


def _backend(k8s, namespace: str, name: str, files: dict[str, str]) -> None:
    """A busybox httpd Deployment + Service `name` serving `files` (path -> body) and /cgi-bin/addr (the peer's
    address), from the toolbox image."""
    script = ["mkdir -p /tmp/www/cgi-bin"]
    for path, body in files.items():
        script.append(f"mkdir -p \"$(dirname /tmp/www/{path})\" && printf '%s' '{body}' > /tmp/www/{path}")
    script.append(f"printf '%s' '{CGI_ADDR}' > /tmp/www/cgi-bin/addr && chmod 755 /tmp/www/cgi-bin/addr")
    script.append("exec /bin/busybox httpd -f -v -p 8080 -h /tmp/www")
    manifest = {
        "apiVersion": "v1",
        "kind": "List",
        "items": [
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": name},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {
                            "dnsPolicy": "None",
                            "dnsConfig": {"nameservers": ["127.0.0.1"]},
                            "terminationGracePeriodSeconds": 1,
                            "containers": [
                                {
                                    "name": "httpd",
                                    "image": "storeplane.local/toolbox:local",
                                    "imagePullPolicy": "Never",
                                    "command": ["/bin/sh", "-c", " && ".join(script)],
                                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                                }
                            ],
                        },
                    },
                },
            },
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": name},
                "spec": {
                    "selector": {"app": name},
                    "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
                },
            },
        ],
    }
    k8s.kubectl_run("-n", namespace, "apply", "-f", "-", input=json.dumps(manifest))


def _ingress(k8s, namespace: str, name: str, host: str, paths: list[tuple[str, str]]) -> None:
    """An Ingress of class traefik: host, [(Prefix path, service)], like the store chart's local values."""
    manifest = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name},
        "spec": {
            "ingressClassName": "traefik",
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            {
                                "path": path,
                                "pathType": "Prefix",
                                "backend": {"service": {"name": service, "port": {"number": 80}}},
                            }
                            for path, service in paths
                        ]
                    },
                }
            ],
        },
    }
    k8s.kubectl_run("-n", namespace, "apply", "-f", "-", input=json.dumps(manifest))


def _wait_available(k8s, namespace: str, timeout: int = 120) -> None:
    proc = k8s.kubectl_run(
        "-n", namespace, "wait", "--for=condition=Available", "deployment", "--all", f"--timeout={timeout}s",
        check=False, timeout=timeout + 30,
    )  # fmt: skip
    if proc.returncode != 0:
        pods = k8s.kubectl_run("-n", namespace, "get", "pods", "-o", "wide", check=False).stdout
        pytest.fail(f"backends in {namespace} not Available in {timeout}s:\n{pods}\n{proc.stderr}")


def _get(port: int, host: str, path: str = "/") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _wait_answer(port: int, host: str, path: str, want: tuple[int, bytes], timeout: float = 60) -> float:
    """Poll until GET path with the Host header answers `want` (status, body stripped); returns the seconds it took."""
    started = time.monotonic()
    last: object = None
    while time.monotonic() - started < timeout:
        try:
            status, body = _get(port, host, path)
            last = (status, body[:200])
            if (status, body.strip()) == want:
                return time.monotonic() - started
        except (OSError, http.client.HTTPException) as exc:
            last = exc
        time.sleep(0.5)
    pytest.fail(f"GET http://{host}{path} via 127.0.0.1:{port} never answered {want} in {timeout}s; last {last!r}")


def _ingress_status(k8s, namespace: str, name: str) -> list:
    out = k8s.kubectl_run("-n", namespace, "get", "ingress", name, "-o", "json").stdout
    return json.loads(out).get("status", {}).get("loadBalancer", {}).get("ingress") or []


@pytest.mark.k8s
def test_two_stores_are_routed_by_host_and_an_unknown_host_gets_404(
    k8s_cluster, controller, k8s_namespace, other_namespace
):
    host_a, host_b = f"a-{secrets.token_hex(3)}.localhost", f"b-{secrets.token_hex(3)}.localhost"
    _backend(k8s_cluster, k8s_namespace, "web", {"index.html": f"store A {k8s_namespace}"})
    _backend(k8s_cluster, other_namespace, "web", {"index.html": f"store B {other_namespace}"})
    _ingress(k8s_cluster, k8s_namespace, "store", host_a, [("/", "web")])
    _ingress(k8s_cluster, other_namespace, "store", host_b, [("/", "web")])
    _wait_available(k8s_cluster, k8s_namespace)
    _wait_available(k8s_cluster, other_namespace)
    port = controller.port
    _wait_answer(port, host_a, "/", (200, f"store A {k8s_namespace}".encode()))
    _wait_answer(port, host_b, "/", (200, f"store B {other_namespace}".encode()))
    # A browser sends the port in the Host header (http://<store>.localhost:8080): the same store answers.
    assert _get(port, f"{host_a}:{port}") == (200, f"store A {k8s_namespace}".encode())
    assert _get(port, f"{host_b}:{port}") == (200, f"store B {other_namespace}".encode())
    status, body = _get(port, f"c-{secrets.token_hex(3)}.localhost")
    assert (status, body.strip()) == (404, TRAEFIK_404)


@pytest.mark.k8s
def test_store_paths_go_to_medusa_and_everything_else_to_the_storefront(k8s_cluster, controller, k8s_namespace):
    host = f"shop-{secrets.token_hex(3)}.localhost"
    _backend(
        k8s_cluster,
        k8s_namespace,
        "medusa",
        {"store/products": "medusa products", "app/index.html": "medusa", "storefoo": "medusa storefoo"},
    )
    _backend(
        k8s_cluster,
        k8s_namespace,
        "storefront",
        {"index.html": "storefront home", "storefoo": "storefront storefoo", "store/products": "storefront wrong"},
    )
    _ingress(k8s_cluster, k8s_namespace, "store", host, [("/store", "medusa"), ("/", "storefront")])
    _wait_available(k8s_cluster, k8s_namespace)
    port = controller.port
    # Each backend is routed once Traefik has seen its endpoints (they may become ready one after the other).
    _wait_answer(port, host, "/store/products", (200, b"medusa products"))
    _wait_answer(port, host, "/", (200, b"storefront home"))
    assert _get(port, host, "/products/shirt")[0] == 404  # the storefront's own 404 (busybox), not Traefik's
    assert TRAEFIK_404 not in _get(port, host, "/products/shirt")[1]
    # Traefik 3.0 turns pathType Prefix into PathPrefix, a string prefix, not the whole path elements Kubernetes
    # specifies: /storefoo goes to the /store backend. Storefront routes must not begin with "/store".
    assert _get(port, host, "/storefoo") == (200, b"medusa storefoo")
    assert _get(port, host, "/app/index.html")[0] == 404  # not routed to medusa: the storefront has no such file


@pytest.mark.k8s
def test_status_is_published_and_a_deleted_ingress_host_answers_404(k8s_cluster, controller, k8s_namespace):
    host = f"gone-{secrets.token_hex(3)}.localhost"
    _backend(k8s_cluster, k8s_namespace, "web", {"index.html": "soon gone"})
    _ingress(k8s_cluster, k8s_namespace, "store", host, [("/", "web")])
    _wait_available(k8s_cluster, k8s_namespace)
    _wait_answer(controller.port, host, "/", (200, b"soon gone"))
    deadline = time.monotonic() + 30
    while not _ingress_status(k8s_cluster, k8s_namespace, "store") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _ingress_status(k8s_cluster, k8s_namespace, "store") == [{"ip": "127.0.0.1"}]

    k8s_cluster.kubectl_run("-n", k8s_namespace, "delete", "ingress", "store")
    _wait_answer(controller.port, host, "/", (404, TRAEFIK_404), timeout=30)
    # The backend is still running: only the route is gone.
    pods = json.loads(k8s_cluster.kubectl_run("-n", k8s_namespace, "get", "pods", "-o", "json").stdout)["items"]
    assert [p["status"]["phase"] for p in pods] == ["Running"]


def _controller_pods(k8s) -> list[dict]:
    out = k8s.kubectl_run("-n", ingress.NAMESPACE, "get", "pods", "-l", "app.kubernetes.io/name=traefik", "-o", "json")
    return [p for p in json.loads(out.stdout)["items"] if not p["metadata"].get("deletionTimestamp")]


@pytest.mark.k8s
def test_controller_comes_back_and_serves_after_its_pod_is_deleted(k8s_cluster, controller, k8s_namespace):
    host = f"again-{secrets.token_hex(3)}.localhost"
    _backend(k8s_cluster, k8s_namespace, "web", {"index.html": "still here"})
    _ingress(k8s_cluster, k8s_namespace, "store", host, [("/", "web")])
    _wait_available(k8s_cluster, k8s_namespace)
    _wait_answer(controller.port, host, "/", (200, b"still here"))
    [before] = _controller_pods(k8s_cluster)
    pid_before = _traefik_pid()

    started = time.monotonic()
    old = f"pod/{before['metadata']['name']}"
    k8s_cluster.kubectl_run("-n", ingress.NAMESPACE, "delete", old, "--wait=false")
    # The old pod serves until it has stopped; only then can its replacement take the host ports.
    k8s_cluster.kubectl_run("-n", ingress.NAMESPACE, "wait", "--for=delete", old, "--timeout=60s", timeout=90)
    _wait_answer(controller.port, host, "/", (200, b"still here"), timeout=120)
    seconds = time.monotonic() - started
    [after] = _controller_pods(k8s_cluster)
    assert after["metadata"]["name"] != before["metadata"]["name"]
    assert _traefik_pid() != pid_before
    owner, api = _owner_and_api()
    deadline = time.monotonic() + 30
    while not ingress.health(owner, api).ok and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ingress.health(owner, api).ok, ingress.health(owner, api).problems
    print(f"controller pod replaced and serving again in {seconds:.1f}s")


@pytest.mark.k8s
def test_traffic_from_the_controller_reaches_pods_from_the_bridge_address(k8s_cluster, controller, k8s_namespace):
    """What a NetworkPolicy must admit for the ingress path: the controller runs in the host's network namespace,
    so its connections to pods come from the pod bridge's own address."""
    host = f"addr-{secrets.token_hex(3)}.localhost"
    _backend(k8s_cluster, k8s_namespace, "web", {"index.html": "addr"})
    _ingress(k8s_cluster, k8s_namespace, "store", host, [("/", "web")])
    _wait_available(k8s_cluster, k8s_namespace)
    _wait_answer(controller.port, host, "/", (200, b"addr"))
    bridge = subprocess.run(["ip", "-4", "-o", "addr", "show", BRIDGE], capture_output=True, text=True).stdout
    bridge_ip = re.search(r"inet (\S+)/", bridge).group(1)
    assert ipaddress.ip_address(bridge_ip) in ipaddress.ip_network(POD_CIDR)
    status, body = _get(controller.port, host, "/cgi-bin/addr")
    assert status == 200
    peer = ipaddress.ip_address(body.decode().strip().strip("[]"))  # busybox httpd listens on IPv6: ::ffff:a.b.c.d
    assert str(getattr(peer, "ipv4_mapped", None) or peer) == bridge_ip


def _traefik_pid() -> int:
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    pids = {int(p) for p in re.findall(r'"traefik",pid=(\d+)', out)}
    assert len(pids) == 1, out
    return pids.pop()


@pytest.mark.k8s
def test_controller_sockets_are_loopback_and_its_connections_stay_on_the_machine(k8s_cluster, controller):
    pid = _traefik_pid()
    listening = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True, check=True).stdout
    ours = sorted(line.split()[3] for line in listening.splitlines() if f"pid={pid}," in line)
    want = [f"127.0.0.1:{controller.port}", f"{ingress.BRIDGE_ADDRESS}:{controller.port}"]
    assert ours == sorted([*want, f"127.0.0.1:{controller.ping_port}"])
    # Every connection it holds (API server watches, backends) is to loopback or the pod range.
    connected = subprocess.run(["ss", "-Htnp", "state", "established"], capture_output=True, text=True).stdout
    peers = [line.split()[3] for line in connected.splitlines() if f"pid={pid}," in line]
    assert peers, "the controller holds its watch connections to the API server"
    for peer in peers:
        ip = ipaddress.ip_address(peer.rsplit(":", 1)[0].strip("[]"))
        assert ip.is_loopback or ip in ipaddress.ip_network(POD_CIDR), peer
    # The process runs as the image's unprivileged user with no capabilities at all.
    status = Path(f"/proc/{pid}/status").read_text()
    assert re.search(r"^Uid:\s+65532\s", status, re.M), status
    assert re.search(r"^CapEff:\s+0+$", status, re.M), status


RBAC_ALLOWED = [
    ("list", "services", True),
    ("watch", "endpoints", True),
    ("get", "secrets", True),
    ("list", "ingresses.networking.k8s.io", True),
    ("watch", "ingressclasses.networking.k8s.io", True),
    ("update", "ingresses.networking.k8s.io --subresource=status", True),
]
RBAC_DENIED = [
    ("create", "pods", True),
    ("get", "configmaps", True),
    ("update", "ingresses.networking.k8s.io", True),
    ("update", "services --subresource=status", True),
    ("delete", "secrets", True),
    ("create", "ingresses.networking.k8s.io", True),
    ("list", "nodes", False),
    ("update", "services", True),
]


@pytest.mark.k8s
def test_controller_service_account_may_do_what_it_needs_and_nothing_more(k8s_cluster, controller):
    who = f"--as=system:serviceaccount:{ingress.NAMESPACE}:{ingress.NAME}"

    def can(verb, resource, all_namespaces):
        scope = ["--all-namespaces"] if all_namespaces else []
        proc = k8s_cluster.kubectl_run("auth", "can-i", verb, *resource.split(), who, *scope, check=False)
        assert proc.stdout.strip() in ("yes", "no"), proc.stderr
        return proc.stdout.strip() == "yes"

    assert [r for r in RBAC_ALLOWED if not can(*r)] == []
    assert [r for r in RBAC_DENIED if can(*r)] == []


@pytest.mark.k8s
def test_cluster_status_has_a_line_for_the_controller(k8s_cluster, controller):
    lines = cluster.status_lines()
    [line] = [line for line in lines if line.startswith("ingress (traefik)")]
    assert f"serving  http://127.0.0.1:{controller.port}" in line


@pytest.mark.k8s
def test_controller_is_running_with_the_deployed_security_context(k8s_cluster, controller):
    [pod] = _controller_pods(k8s_cluster)
    spec = pod["spec"]
    assert spec["hostNetwork"] is True and spec["dnsPolicy"] == "None"
    assert pod["metadata"]["namespace"] == "storeplane-ingress"
    ns = json.loads(k8s_cluster.kubectl_run("get", "namespace", ingress.NAMESPACE, "-o", "json").stdout)
    assert ns["metadata"]["labels"]["storeplane.io/ingress-controller"] == "true"
    assert ns["metadata"]["labels"]["kubernetes.io/metadata.name"] == "storeplane-ingress"
    logs = k8s_cluster.kubectl_run("-n", ingress.NAMESPACE, "logs", pod["metadata"]["name"]).stdout
    assert "Creating in-cluster Provider client" in logs, logs[-2000:]
    # What a failed `up` would print about it: the pod, its phase, its log.
    report = ingress.diagnose(cluster.api_for(cluster.read_owner()))
    assert f"pod {pod['metadata']['name']}: phase Running" in report
    assert f"last log lines of {pod['metadata']['name']}:" in report


@pytest.mark.k8s
def test_up_redeploys_a_removed_controller_without_restarting_the_cluster(k8s_cluster, controller):
    import sys

    from scripts.localcluster.paths import REPO_ROOT

    before = cluster.read_owner()
    k8s_cluster.kubectl_run("-n", ingress.NAMESPACE, "delete", "deployment", ingress.NAME, "--wait=true", timeout=90)
    assert not cluster.healthy(before) and cluster.core_healthy(before)
    proc = subprocess.run(
        [sys.executable, "-m", "scripts.localcluster", "up"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "reusing the running cluster" in proc.stderr
    # (Another checkout's `up` may take the machine lock first and redeploy it: either way `up` is what repaired it.)
    after = cluster.read_owner()
    assert after["procs"] == before["procs"]  # nothing of the core restarted
    assert after["ingress"]["port"] == before["ingress"]["port"]
    assert cluster.healthy(after)
