"""A TCP relay that lets pods reach the local cluster's API server, which listens on the host's 127.0.0.1 only (and
so has no `kubernetes` Service endpoints): a hostNetwork pod in `storeplane-ingress` listening on the pod bridge's
address 10.244.0.1:16443 and forwarding each connection, TLS untouched, to 127.0.0.1:<apiserver port>, and nowhere
else. The in-cluster platform's kubeconfig names it (charts/storeplane values-local.yaml: kubernetes.apiServer,
checked against the API server's own certificate name kubernetes.default.svc). Production clusters need none of
this: there the in-cluster Service answers. `platformctl up` and the platform tests deploy it (idempotent)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import yaml

from .ingress import BRIDGE_ADDRESS, NAMESPACE, ensure_bridge_address
from .paths import KUBECONFIG, VENV_BIN
from .util import ClusterError, log

NAME = "apiserver-relay"
PORT = 16443
IMAGE = "storeplane.local/platform:local"
LABELS = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "storeplane-local-cluster"}
UID = 10001

# Connects only to 127.0.0.1:TARGET_PORT; binds only the bridge address (retrying until the bridge has it).
RELAY = """
import asyncio, os
listen, port, target = os.environ["LISTEN_HOST"], int(os.environ["LISTEN_PORT"]), int(os.environ["TARGET_PORT"])

async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()

async def handle(client_reader, client_writer):
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", target)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer), return_exceptions=True)

async def main():
    while True:
        try:
            server = await asyncio.start_server(handle, listen, port)
            break
        except OSError:
            await asyncio.sleep(1)
    print(f"relay {listen}:{port} -> 127.0.0.1:{target}", flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
"""


def api_port(kubeconfig: Path = KUBECONFIG) -> int:
    server = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    return int(server.rsplit(":", 1)[1])


def manifest(target_port: int) -> dict:
    container = {
        "name": "relay",
        "image": IMAGE,
        "imagePullPolicy": "Never",
        "args": ["python", "-c", RELAY],
        "env": [
            {"name": "LISTEN_HOST", "value": BRIDGE_ADDRESS},
            {"name": "LISTEN_PORT", "value": str(PORT)},
            {"name": "TARGET_PORT", "value": str(target_port)},
        ],
        "readinessProbe": {"tcpSocket": {"host": BRIDGE_ADDRESS, "port": PORT}, "periodSeconds": 2},
        "livenessProbe": {"tcpSocket": {"host": BRIDGE_ADDRESS, "port": PORT}, "initialDelaySeconds": 10},
        "resources": {"requests": {"cpu": "10m", "memory": "24Mi"}, "limits": {"cpu": "500m", "memory": "96Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "privileged": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": NAME, "namespace": NAMESPACE, "labels": LABELS},
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},  # a host port: the old pod goes first
            "selector": {"matchLabels": LABELS},
            "template": {
                "metadata": {"labels": LABELS},
                "spec": {
                    "hostNetwork": True,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "dnsPolicy": "None",
                    "dnsConfig": {"nameservers": ["127.0.0.1"]},
                    "terminationGracePeriodSeconds": 5,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": UID,
                        "runAsGroup": UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                },
            },
        },
    }


def ensure(env: dict[str, str], timeout: float = 120) -> str:
    """Deploys the relay (a no-op when it is there and unchanged) and waits until it is available; returns its URL."""
    ensure_bridge_address()
    kubectl = [str(VENV_BIN / "kubectl"), "--kubeconfig", str(KUBECONFIG)]
    proc = subprocess.run(
        [*kubectl, "apply", "-f", "-"],
        input=json.dumps(manifest(api_port())),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    if proc.returncode != 0:
        raise ClusterError(f"applying the API server relay failed: {proc.stderr[-1000:]}")
    started = time.monotonic()
    rollout = subprocess.run(
        [*kubectl, "-n", NAMESPACE, "rollout", "status", f"deployment/{NAME}", f"--timeout={int(timeout)}s"],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout + 30,
    )
    if rollout.returncode != 0:
        raise ClusterError(f"the API server relay is not available: {rollout.stderr[-1000:]}")
    url = f"https://{BRIDGE_ADDRESS}:{PORT}"
    log(f"API server relay for pods at {url} ({time.monotonic() - started:.0f}s)")
    return url
