"""kubectl, as small typed functions: argv builders (pure), `-o json` parsers (pure), calls through the runner and
the `kubernetes` circuit breaker, and the health check. Values reach containers by stdin or environment, never
inside a shell string built from them."""

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from provisioning import breaker, runner
from provisioning.errors import CommandFailed, ProvisioningError, UnexpectedOutput
from provisioning.helm import resolve_bin, tool_env

BREAKER = "kubernetes"
# Beyond kubectl's own --request-timeout, the process gets this long to report and exit.
PROCESS_GRACE_SECONDS = 15
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Constant: exports each KEY=VALUE line read from stdin up to a `--` line, then execs the command (the rest of
# stdin is the command's). Values are never parsed by the shell, only assigned.
_ENV_FROM_STDIN = 'while IFS= read -r line; do [ "$line" = "--" ] && break; export "$line"; done; exec "$@"'


def kubectl_bin() -> str:
    return resolve_bin(settings.KUBECTL_BIN, "kubectl")


def _base(namespace: str | None = None, streaming: bool = False) -> list[str]:
    # --request-timeout would also cut a watch or an exec stream short; those are bounded by their own timeout.
    argv = [kubectl_bin()]
    if not streaming:
        argv.append(f"--request-timeout={settings.KUBECTL_REQUEST_TIMEOUT_SECONDS}s")
    if namespace:
        argv += ["--namespace", namespace]
    return argv


def _query_timeout() -> float:
    return settings.KUBECTL_REQUEST_TIMEOUT_SECONDS + PROCESS_GRACE_SECONDS


def _load_json(stdout: str, what: str) -> Any:
    try:
        return json.loads(stdout)
    except ValueError:
        raise UnexpectedOutput(f"kubectl {what} did not print JSON") from None


def _items(stdout: str, what: str) -> list[dict]:
    data = _load_json(stdout or '{"items": []}', what)
    if not isinstance(data, dict) or not isinstance(data.get("items", []), list):
        raise UnexpectedOutput(f"kubectl {what} did not print a list")
    return data.get("items", [])


def _run(
    argv: list[str],
    timeout: float | None = None,
    *,
    stdin: bytes | None = None,
    secrets: Iterable[str | None] = (),
) -> runner.CommandResult:
    with breaker.guard(BREAKER):
        return runner.run(argv, timeout=timeout or _query_timeout(), stdin=stdin, env=tool_env(), secrets=secrets)


# --- typed output -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Namespace:
    name: str
    labels: dict[str, str] = field(default_factory=dict)
    phase: str = ""  # Active or Terminating


@dataclass(frozen=True)
class Pod:
    name: str
    phase: str
    ready: bool
    labels: dict[str, str] = field(default_factory=dict)
    containers: tuple[str, ...] = ()


def parse_namespaces(stdout: str) -> list[Namespace]:
    return [
        Namespace(
            name=item["metadata"]["name"],
            labels=item["metadata"].get("labels") or {},
            phase=(item.get("status") or {}).get("phase", ""),
        )
        for item in _items(stdout, "get namespaces")
    ]


def _pod_ready(item: dict) -> bool:
    conditions = (item.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def parse_pods(stdout: str) -> list[Pod]:
    return [
        Pod(
            name=item["metadata"]["name"],
            phase=(item.get("status") or {}).get("phase", ""),
            ready=_pod_ready(item),
            labels=item["metadata"].get("labels") or {},
            containers=tuple(c["name"] for c in (item.get("spec") or {}).get("containers", [])),
        )
        for item in _items(stdout, "get pods")
    ]


@dataclass(frozen=True)
class IngressState:
    """An Ingress's hosts, and the addresses its controller published (status.loadBalancer) once it took it."""

    name: str
    hosts: tuple[str, ...]
    addresses: tuple[str, ...]


def parse_ingresses(stdout: str) -> list[IngressState]:
    states = []
    for item in _items(stdout, "get ingress"):
        rules = (item.get("spec") or {}).get("rules") or []
        balancer = ((item.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
        states.append(
            IngressState(
                name=(item.get("metadata") or {}).get("name", ""),
                hosts=tuple(dict.fromkeys(r["host"] for r in rules if r.get("host"))),
                addresses=tuple(a.get("ip") or a.get("hostname") for a in balancer if a.get("ip") or a.get("hostname")),
            )
        )
    return states


def parse_workloads(stdout: str) -> list[str]:
    """`kind/name` of each Deployment and StatefulSet, the form `rollout status` takes."""
    return [f"{item['kind'].lower()}/{item['metadata']['name']}" for item in _items(stdout, "get workloads")]


def parse_server_version(stdout: str) -> str:
    data = _load_json(stdout, "version")
    version = (data.get("serverVersion") or {}).get("gitVersion") if isinstance(data, dict) else None
    if not version:
        raise UnexpectedOutput("kubectl version printed no server version")
    return version


# --- argv builders ------------------------------------------------------------------------------------------


def namespace_manifest(name: str, labels: Mapping[str, str]) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels)}}


def apply_stdin_argv() -> list[str]:
    return [*_base(), "apply", "-f", "-", "--output", "json"]


def delete_namespace_argv(name: str, wait: bool = False) -> list[str]:
    return [*_base(), "delete", "namespace", name, "--ignore-not-found", f"--wait={'true' if wait else 'false'}"]


def wait_deleted_argv(name: str, timeout: float) -> list[str]:
    return [*_base(streaming=True), "wait", "--for=delete", f"namespace/{name}", f"--timeout={int(timeout)}s"]


def list_namespaces_argv(label_selector: str | None = None) -> list[str]:
    argv = [*_base(), "get", "namespaces", "--output", "json"]
    if label_selector:
        argv += ["--selector", label_selector]
    return argv


def rollout_status_argv(namespace: str, resource: str, timeout: float) -> list[str]:
    return [*_base(namespace, streaming=True), "rollout", "status", resource, "--watch", f"--timeout={int(timeout)}s"]


def get_pods_argv(namespace: str, selector: str | None = None, field_selector: str | None = None) -> list[str]:
    argv = [*_base(namespace), "get", "pods", "--output", "json"]
    if selector:
        argv += ["--selector", selector]
    if field_selector:
        argv += ["--field-selector", field_selector]
    return argv


def get_workloads_argv(namespace: str) -> list[str]:
    return [*_base(namespace), "get", "deployments,statefulsets", "--output", "json"]


def get_ingress_argv(namespace: str) -> list[str]:
    return [*_base(namespace), "get", "ingress", "--output", "json"]


def exec_argv(
    namespace: str, pod: str, container: str, argv: Sequence[str], *, stdin: bool = False, with_env: bool = False
) -> list[str]:
    if isinstance(argv, str):
        raise TypeError("exec takes an argv list, not a command string")
    command = list(argv)
    if with_env:
        command = ["sh", "-c", _ENV_FROM_STDIN, "sh", *command]
    return [
        *_base(namespace, streaming=True),
        "exec",
        *(["-i"] if stdin or with_env else []),
        pod,
        "-c",
        container,
        "--",
        *command,
    ]


def server_version_argv(request_timeout: float = 5) -> list[str]:
    return [kubectl_bin(), f"--request-timeout={int(request_timeout)}s", "version", "--output", "json"]


# --- calls --------------------------------------------------------------------------------------------------


def create_namespace(name: str, labels: Mapping[str, str]) -> Namespace:
    """Create the namespace with its labels, or bring an existing one's labels up to date (apply is idempotent,
    so a retried step never fails on AlreadyExists)."""
    manifest = json.dumps(namespace_manifest(name, labels)).encode()
    result = _run(apply_stdin_argv(), stdin=manifest)
    data = _load_json(result.stdout, "apply")
    return Namespace(name=name, labels=data.get("metadata", {}).get("labels") or {}, phase="")


def delete_namespace(name: str, wait: bool = False, timeout: float | None = None) -> bool:
    """Ask for deletion; True if a namespace was there. NotFound is success, so the step can be re-run."""
    process_timeout = (timeout or settings.KUBECTL_REQUEST_TIMEOUT_SECONDS) + PROCESS_GRACE_SECONDS
    result = _run(delete_namespace_argv(name, wait), process_timeout)
    return "deleted" in result.stdout


def wait_namespace_deleted(name: str, timeout: float) -> bool:
    """Wait (bounded) until the namespace is gone: True once it is (or never was), False if it is still there
    after `timeout` seconds, so the deletion chain can fail the store instead of calling it deleted."""
    try:
        _run(wait_deleted_argv(name, timeout), timeout + PROCESS_GRACE_SECONDS)
    except CommandFailed as error:
        if type(error) is not CommandFailed:  # the cluster is unreachable: not an answer about the namespace
            raise
        if "timed out" in error.stderr_tail:
            return False
        if re.search(r"NotFound|not found", error.stderr_tail):  # older kubectl: gone before the wait began
            return True
        raise
    return True


def list_namespaces(label_selector: str | None = None) -> list[Namespace]:
    """Every matching namespace in one call (for a reconciliation sweep)."""
    return parse_namespaces(_run(list_namespaces_argv(label_selector)).stdout)


def rollout_status(namespace: str, resource: str, timeout: float) -> None:
    """Wait until `resource` (deployment/x, statefulset/y) has rolled out; CommandFailed when it does not in time."""
    _run(rollout_status_argv(namespace, resource, timeout), timeout + PROCESS_GRACE_SECONDS)


def list_workloads(namespace: str) -> list[str]:
    return parse_workloads(_run(get_workloads_argv(namespace)).stdout)


def get_pods(namespace: str, selector: str | None = None, field_selector: str | None = None) -> list[Pod]:
    return parse_pods(_run(get_pods_argv(namespace, selector, field_selector)).stdout)


def exec_in_pod(
    namespace: str,
    pod: str,
    container: str,
    argv: Sequence[str],
    *,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float,
    secrets: Iterable[str | None] = (),
) -> runner.CommandResult:
    """Run argv in a container. `env` values travel on stdin (never in argv, where `ps` and logs would show them)
    and are registered as secrets; `stdin` follows them as the command's own input."""
    payload = stdin
    if env:
        lines = []
        for key, value in env.items():
            if not _ENV_NAME.match(key) or "\n" in value or value == "--":
                raise ValueError(f"cannot pass environment variable {key!r} this way")
            lines.append(f"{key}={value}\n")
        payload = ("".join(lines) + "--\n").encode() + (stdin or b"")
        secrets = [*secrets, *env.values()]
    argv_full = exec_argv(namespace, pod, container, argv, stdin=stdin is not None, with_env=bool(env))
    return _run(argv_full, timeout, stdin=payload, secrets=secrets)


# The name the chain reads naturally: kubectl.exec(namespace, pod, container, argv, ...).
exec = exec_in_pod


def get_ingresses(namespace: str) -> list[IngressState]:
    return parse_ingresses(_run(get_ingress_argv(namespace)).stdout)


def server_version(request_timeout: float = 5) -> str:
    """The API server's version; raises when it cannot be reached. Not behind the breaker: health must see the
    real state, and an OPEN breaker would hide recovery."""
    result = runner.run(
        server_version_argv(request_timeout), timeout=request_timeout + PROCESS_GRACE_SECONDS, env=tool_env()
    )
    return parse_server_version(result.stdout)


def health_check() -> dict[str, Any]:
    """The `kubernetes` block of /api/v1/health (config.health adds latencyMs). Unknown when no kubeconfig is
    configured, so a machine without a cluster is never probed."""
    if not settings.KUBECONFIG:
        return {"status": "unknown", "message": "Kubernetes not configured (KUBECONFIG is empty)"}
    try:
        version = server_version()
    except ProvisioningError:
        return {"status": "unhealthy", "message": "Cannot connect to Kubernetes cluster"}
    return {"status": "healthy", "server": version}


# --- lifecycle (provisioning.lifecycle: suspend, resume, upgrade health) -------------------------------------


def get_workloads_json(namespace: str) -> list[dict]:
    """The namespace's Deployments and StatefulSets as kubectl prints them (spec and status: replica counts)."""
    return _items(_run(get_workloads_argv(namespace)).stdout, "get workloads")


def get_pods_json(namespace: str, selector: str | None = None) -> list[dict]:
    """The namespace's pods as kubectl prints them (container statuses: why a container is waiting)."""
    return _items(_run(get_pods_argv(namespace, selector)).stdout, "get pods")


def delete_pods_argv(namespace: str, names: Sequence[str]) -> list[str]:
    return [*_base(namespace), "delete", "pod", *names, "--ignore-not-found", "--wait=false"]


def delete_pods(namespace: str, names: Sequence[str]) -> None:
    """Delete the named pods (their controller makes new ones from its current template); missing ones are fine."""
    if names:
        _run(delete_pods_argv(namespace, names))
