"""helm, as small typed functions: argv builders (pure), `-o json` parsers (pure), calls through the runner and the
`helm` circuit breaker, a 0600 values file for secrets, and the stuck-release recovery decision (after Flux's
helm-controller: roll back to the last good revision, uninstall only what never served)."""

import enum
import json
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from provisioning import breaker, runner
from provisioning.errors import CommandFailed, UnexpectedOutput

BREAKER = "helm"
# How helm 3 says the release does not exist (status, history; uninstall prefixes "Release not loaded").
_NOT_FOUND = re.compile(r"release: not found", re.IGNORECASE)


def helm_bin() -> str:
    return resolve_bin(settings.HELM_BIN, "helm")


def resolve_bin(configured: str, name: str) -> str:
    """The configured path, else the project's own copy next to the interpreter (.venv/bin), else PATH."""
    if configured:
        return configured
    local = Path(sys.executable).parent / name
    return str(local) if os.access(local, os.X_OK) else name


def tool_env() -> dict[str, str]:
    return {"KUBECONFIG": settings.KUBECONFIG} if settings.KUBECONFIG else {}


_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")


def parse_duration(value: str | int | float) -> float:
    """Seconds in a Go duration as helm takes it ("5m", "1m30s", "90s") or a bare number of seconds."""
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    match = _DURATION.fullmatch(text)
    if not text or not match or not any(match.groups()):
        raise ValueError(f"not a duration: {value!r}")
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def format_duration(seconds: float) -> str:
    return f"{int(seconds)}s"


def process_timeout(helm_timeout: str | float) -> float:
    """A helm call that waits gets its own --timeout plus a grace period to report and exit."""
    return parse_duration(helm_timeout) + settings.HELM_PROCESS_GRACE_SECONDS


def timeout_nesting_problems() -> list[str]:
    """Why the configured timeouts do not nest (empty when they do): helm --timeout < helm process timeout <
    Celery soft time limit < hard time limit, and every kubectl call < the soft limit. Meant for a Django system
    check, so a bad .env fails at start-up rather than as a task killed mid-install."""
    helm_timeout = parse_duration(settings.HELM_TIMEOUT)
    soft, hard = settings.PROVISIONING_TASK_SOFT_TIME_LIMIT, settings.PROVISIONING_TASK_TIME_LIMIT
    problems = []
    if settings.HELM_PROCESS_GRACE_SECONDS <= 0:
        problems.append("HELM_PROCESS_GRACE_SECONDS must be positive")
    if process_timeout(settings.HELM_TIMEOUT) >= soft:
        problems.append(
            f"HELM_TIMEOUT ({helm_timeout:g}s) + HELM_PROCESS_GRACE_SECONDS must stay below "
            f"PROVISIONING_TASK_SOFT_TIME_LIMIT ({soft}s)"
        )
    if soft <= settings.KUBECTL_REQUEST_TIMEOUT_SECONDS + 15:
        problems.append("KUBECTL_REQUEST_TIMEOUT_SECONDS + 15 must stay below PROVISIONING_TASK_SOFT_TIME_LIMIT")
    if soft >= hard:
        problems.append("PROVISIONING_TASK_SOFT_TIME_LIMIT must stay below PROVISIONING_TASK_TIME_LIMIT")
    return problems


# --- typed output -------------------------------------------------------------------------------------------


class Status(enum.StrEnum):
    """Helm's release statuses (helm.sh/helm/v3/pkg/release.Status)."""

    UNKNOWN = "unknown"
    DEPLOYED = "deployed"
    UNINSTALLED = "uninstalled"
    SUPERSEDED = "superseded"
    FAILED = "failed"
    UNINSTALLING = "uninstalling"
    PENDING_INSTALL = "pending-install"
    PENDING_UPGRADE = "pending-upgrade"
    PENDING_ROLLBACK = "pending-rollback"

    @classmethod
    def parse(cls, value: Any) -> "Status":
        try:
            return cls(str(value).lower())
        except ValueError:
            return cls.UNKNOWN

    @property
    def is_pending(self) -> bool:
        return self in PENDING


PENDING = frozenset({Status.PENDING_INSTALL, Status.PENDING_UPGRADE, Status.PENDING_ROLLBACK})
# A revision in one of these once went live: the release served traffic with it.
SERVED = frozenset({Status.DEPLOYED, Status.SUPERSEDED})


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    revision: int
    status: Status
    chart: str = ""
    app_version: str = ""
    updated: str = ""
    description: str = ""


@dataclass(frozen=True)
class Revision:
    revision: int
    status: Status
    chart: str = ""
    app_version: str = ""
    updated: str = ""
    description: str = ""


def _load_json(stdout: str, what: str) -> Any:
    try:
        return json.loads(stdout)
    except ValueError:
        raise UnexpectedOutput(f"helm {what} did not print JSON") from None


def parse_release(stdout: str) -> Release:
    """The release object of `helm status|upgrade -o json` (config and manifest, which carry secrets, are
    dropped)."""
    data = _load_json(stdout, "status")
    if not isinstance(data, dict) or "name" not in data:
        raise UnexpectedOutput("helm printed JSON without a release name")
    info = data.get("info") or {}
    chart_meta = (data.get("chart") or {}).get("metadata") or {}
    chart = f"{chart_meta.get('name')}-{chart_meta.get('version')}" if chart_meta.get("name") else ""
    return Release(
        name=data["name"],
        namespace=data.get("namespace", ""),
        revision=int(data.get("version") or 0),
        status=Status.parse(info.get("status")),
        chart=chart,
        app_version=str(chart_meta.get("appVersion") or ""),
        updated=str(info.get("last_deployed") or ""),
        description=str(info.get("description") or ""),
    )


def parse_list(stdout: str) -> list[Release]:
    """`helm list -o json`: revision is a string there."""
    data = _load_json(stdout or "[]", "list")
    if not isinstance(data, list):
        raise UnexpectedOutput("helm list did not print a JSON array")
    return [
        Release(
            name=item["name"],
            namespace=item.get("namespace", ""),
            revision=int(item.get("revision") or 0),
            status=Status.parse(item.get("status")),
            chart=item.get("chart", ""),
            app_version=item.get("app_version", ""),
            updated=item.get("updated", ""),
        )
        for item in data
    ]


def parse_history(stdout: str) -> list[Revision]:
    """`helm history -o json`, oldest first."""
    data = _load_json(stdout or "[]", "history")
    if not isinstance(data, list):
        raise UnexpectedOutput("helm history did not print a JSON array")
    revisions = [
        Revision(
            revision=int(item["revision"]),
            status=Status.parse(item.get("status")),
            chart=item.get("chart", ""),
            app_version=item.get("app_version", ""),
            updated=item.get("updated", ""),
            description=item.get("description", ""),
        )
        for item in data
    ]
    return sorted(revisions, key=lambda r: r.revision)


# --- argv builders ------------------------------------------------------------------------------------------


def upgrade_install_argv(
    release: str,
    chart: str,
    namespace: str,
    values_files: Sequence[str | os.PathLike],
    timeout: str | float,
    wait: bool = True,
) -> list[str]:
    # No --create-namespace: the chain creates the namespace itself, with the store's labels, before installing.
    argv = [helm_bin(), "upgrade", "--install", release, str(chart), "--namespace", namespace]
    if wait:
        argv += ["--wait", "--timeout", format_duration(parse_duration(timeout))]
    argv += ["--output", "json"]
    for path in values_files:
        argv += ["-f", os.fspath(path)]
    return argv


def list_argv(all_namespaces: bool = True, namespace: str | None = None) -> list[str]:
    # --all: every status (a sweep must see pending and failed releases); --max 0: no 256-release page limit.
    argv = [helm_bin(), "list", "--all", "--max", "0", "--output", "json"]
    if all_namespaces:
        argv.append("--all-namespaces")
    elif namespace:
        argv += ["--namespace", namespace]
    return argv


def uninstall_argv(release: str, namespace: str, timeout: str | float, wait: bool = True) -> list[str]:
    argv = [helm_bin(), "uninstall", release, "--namespace", namespace]
    if wait:
        argv += ["--wait", "--timeout", format_duration(parse_duration(timeout))]
    return argv


def rollback_argv(release: str, namespace: str, revision: int, timeout: str | float, wait: bool = True) -> list[str]:
    argv = [helm_bin(), "rollback", release, str(revision), "--namespace", namespace]
    if wait:
        argv += ["--wait", "--timeout", format_duration(parse_duration(timeout))]
    return argv


def history_argv(release: str, namespace: str, max_revisions: int = 20) -> list[str]:
    return [helm_bin(), "history", release, "--namespace", namespace, "--max", str(max_revisions), "--output", "json"]


# --- calls --------------------------------------------------------------------------------------------------


def _run(argv: list[str], timeout: float, secrets: Iterable[str | None] = ()) -> runner.CommandResult:
    with breaker.guard(BREAKER):
        return runner.run(argv, timeout=timeout, env=tool_env(), secrets=secrets)


def _is_not_found(error: CommandFailed) -> bool:
    return bool(_NOT_FOUND.search(error.stderr_tail))


def upgrade_install(
    release: str,
    chart: str,
    namespace: str,
    values_files: Sequence[str | os.PathLike],
    timeout: str | float | None = None,
    wait: bool = True,
    secrets: Iterable[str | None] = (),
) -> Release:
    timeout = timeout or settings.HELM_TIMEOUT
    argv = upgrade_install_argv(release, chart, namespace, values_files, timeout, wait)
    return parse_release(_run(argv, process_timeout(timeout), secrets).stdout)


def list_releases(all_namespaces: bool = True, namespace: str | None = None) -> list[Release]:
    """Every release in one call: what a reconciliation sweep needs, whatever the number of stores."""
    return parse_list(_run(list_argv(all_namespaces, namespace), settings.HELM_QUERY_TIMEOUT_SECONDS).stdout)


def uninstall(release: str, namespace: str, timeout: str | float | None = None, wait: bool = True) -> bool:
    """True when a release was removed, False when there was none (so the deletion chain can be re-run)."""
    timeout = timeout or settings.HELM_TIMEOUT
    try:
        _run(uninstall_argv(release, namespace, timeout, wait), process_timeout(timeout))
    except CommandFailed as error:
        if type(error) is CommandFailed and _is_not_found(error):
            return False
        raise
    return True


def rollback(release: str, namespace: str, revision: int, timeout: str | float | None = None, wait: bool = True):
    timeout = timeout or settings.HELM_TIMEOUT
    _run(rollback_argv(release, namespace, revision, timeout, wait), process_timeout(timeout))


def history(release: str, namespace: str, max_revisions: int = 20) -> list[Revision]:
    """Revisions oldest first; [] when the release does not exist."""
    try:
        result = _run(history_argv(release, namespace, max_revisions), settings.HELM_QUERY_TIMEOUT_SECONDS)
    except CommandFailed as error:
        if type(error) is CommandFailed and _is_not_found(error):
            return []
        raise
    return parse_history(result.stdout)


@contextmanager
def values_file(values: Mapping[str, Any], name: str = "values.yaml") -> Iterator[Path]:
    """Write `values` to a YAML file readable by this user only (0600, in a 0700 private directory) and remove it
    afterwards, whatever happens: how secrets reach helm instead of --set on the command line."""
    directory = tempfile.mkdtemp(prefix="storeplane-values-")
    try:
        path = Path(directory) / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            yaml.safe_dump(dict(values), handle, default_flow_style=False, sort_keys=True)
        yield path
    finally:
        shutil.rmtree(directory, ignore_errors=True)


# --- stuck releases -----------------------------------------------------------------------------------------


class Recovery(enum.StrEnum):
    NONE = "none"  # deployed and healthy: nothing to do
    INSTALL = "install"  # no release: the install can simply (re)run
    UPGRADE = "upgrade"  # failed but not locked: upgrade --install can run over it
    ROLLBACK = "rollback"  # locked in a pending state after serving: return to the last revision that served
    UNINSTALL = "uninstall"  # locked, and no revision ever served: removing it loses nothing


@dataclass(frozen=True)
class RecoveryDecision:
    action: Recovery
    reason: str
    revision: int | None = None  # the rollback target


def decide_recovery(revisions: Sequence[Revision]) -> RecoveryDecision:
    """What to do with a release before (re)installing, given its history (any order).

    Like Flux's helm-controller: a release stuck in pending-* (its operator died mid-operation) is remediated;
    if any earlier revision served (deployed/superseded) we roll back to the latest such one, and a release that
    ever served is never uninstalled; a pending release that never served is safe to uninstall. The caller must
    hold the store lock, so "pending" really means stale rather than another worker's live operation.
    """
    if not revisions:
        return RecoveryDecision(Recovery.INSTALL, "release not installed")
    ordered = sorted(revisions, key=lambda r: r.revision)
    latest = ordered[-1]
    served = [r for r in ordered[:-1] if r.status in SERVED]
    if latest.status is Status.DEPLOYED:
        return RecoveryDecision(Recovery.NONE, f"revision {latest.revision} is deployed")
    if latest.status.is_pending:
        if served:
            target = served[-1]
            return RecoveryDecision(
                Recovery.ROLLBACK,
                f"revision {latest.revision} stuck in {latest.status}; rolling back to revision {target.revision}",
                target.revision,
            )
        return RecoveryDecision(
            Recovery.UNINSTALL, f"revision {latest.revision} stuck in {latest.status} and never deployed"
        )
    # failed, superseded-without-deployed, unknown...: not locked, so an upgrade may run over it; an upgrade
    # never deletes what a previous revision deployed.
    return RecoveryDecision(Recovery.UPGRADE, f"revision {latest.revision} is {latest.status}")
