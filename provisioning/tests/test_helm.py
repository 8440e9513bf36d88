"""helm: argv builders, -o json parsers, the 0600 values file, stuck-release decisions, and calls against a fake
helm executable (not-found tolerance, one call per sweep, the breaker in front of it)."""

import json
import stat

import pytest
import yaml

from provisioning import breaker, helm
from provisioning.errors import CircuitOpen, ClusterUnreachable, CommandFailed, UnexpectedOutput
from provisioning.helm import Recovery, Revision, Status

SECRET = "db-Pw-7f3a9c1e"

RELEASE_JSON = {
    "name": "store-1",
    "namespace": "store-1",
    "version": 3,
    "info": {"status": "deployed", "description": "Upgrade complete", "last_deployed": "2026-11-25T10:00:00Z"},
    "chart": {"metadata": {"name": "ecommerce-store", "version": "0.1.0", "appVersion": "1.0"}},
    "config": {"mariadb": {"password": SECRET}},
    "manifest": f"kind: Secret\ndata:\n  password: {SECRET}\n",
}


@pytest.fixture(autouse=True)
def _helm_bin(settings):
    settings.HELM_BIN = "/opt/helm/helm"


def test_upgrade_install_argv_waits_passes_values_files_and_never_sets_values():
    argv = helm.upgrade_install_argv(
        "store-1", "/charts/ecommerce-store", "store-1", ["values-local.yaml", "/p/s.yaml"], "5m"
    )
    assert argv == [
        "/opt/helm/helm",
        "upgrade",
        "--install",
        "store-1",
        "/charts/ecommerce-store",
        "--namespace",
        "store-1",
        "--wait",
        "--timeout",
        "300s",
        "--output",
        "json",
        "-f",
        "values-local.yaml",
        "-f",
        "/p/s.yaml",
    ]
    assert "--create-namespace" not in argv
    assert not any(a.startswith("--set") for a in argv)


def test_upgrade_install_argv_without_wait():
    argv = helm.upgrade_install_argv("r", "c", "n", [], "1m", wait=False)
    assert "--wait" not in argv and "--timeout" not in argv


def test_other_argv_builders():
    assert helm.list_argv() == ["/opt/helm/helm", "list", "--all", "--max", "0", "--output", "json", "--all-namespaces"]
    assert helm.list_argv(all_namespaces=False, namespace="n")[-2:] == ["--namespace", "n"]
    assert helm.uninstall_argv("r", "n", "2m") == [
        "/opt/helm/helm",
        "uninstall",
        "r",
        "--namespace",
        "n",
        "--wait",
        "--timeout",
        "120s",
    ]
    assert helm.rollback_argv("r", "n", 2, "5m") == [
        "/opt/helm/helm",
        "rollback",
        "r",
        "2",
        "--namespace",
        "n",
        "--wait",
        "--timeout",
        "300s",
    ]
    assert helm.history_argv("r", "n") == [
        "/opt/helm/helm",
        "history",
        "r",
        "--namespace",
        "n",
        "--max",
        "20",
        "--output",
        "json",
    ]


@pytest.mark.parametrize(
    ("text", "seconds"), [("5m", 300), ("1m30s", 90), ("90s", 90), ("1h", 3600), ("45", 45), (12, 12)]
)
def test_parse_duration(text, seconds):
    assert helm.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "5x", "m", "-5m"])
def test_parse_duration_refuses_garbage(text):
    with pytest.raises(ValueError):
        helm.parse_duration(text)


def test_timeouts_nest_from_helm_to_celery(settings):
    helm_timeout = helm.parse_duration(settings.HELM_TIMEOUT)
    assert helm_timeout < helm.process_timeout(settings.HELM_TIMEOUT)
    assert helm.process_timeout(settings.HELM_TIMEOUT) < settings.PROVISIONING_TASK_SOFT_TIME_LIMIT
    assert settings.PROVISIONING_TASK_SOFT_TIME_LIMIT < settings.PROVISIONING_TASK_TIME_LIMIT
    assert helm.timeout_nesting_problems() == []


def test_a_helm_timeout_beyond_the_task_limit_is_reported(settings):
    settings.HELM_TIMEOUT = "15m"
    assert helm.timeout_nesting_problems() == [
        "HELM_TIMEOUT (900s) + HELM_PROCESS_GRACE_SECONDS must stay below PROVISIONING_TASK_SOFT_TIME_LIMIT (900s)"
    ]


def test_resolve_bin_prefers_the_setting_then_the_venv_then_path(settings, tmp_path, monkeypatch):
    assert helm.helm_bin() == "/opt/helm/helm"
    settings.HELM_BIN = ""
    fake_python = tmp_path / "bin" / "python"
    fake_python.parent.mkdir()
    monkeypatch.setattr("sys.executable", str(fake_python))
    assert helm.helm_bin() == "helm"
    (tmp_path / "bin" / "helm").write_text("#!/bin/sh\n")
    (tmp_path / "bin" / "helm").chmod(0o755)
    assert helm.helm_bin() == str(tmp_path / "bin" / "helm")


def test_parse_release_keeps_status_and_drops_values():
    release = helm.parse_release(json.dumps(RELEASE_JSON))
    assert release == helm.Release(
        name="store-1",
        namespace="store-1",
        revision=3,
        status=Status.DEPLOYED,
        chart="ecommerce-store-0.1.0",
        app_version="1.0",
        updated="2026-11-25T10:00:00Z",
        description="Upgrade complete",
    )
    assert SECRET not in repr(release)


def test_parse_list_and_history():
    listing = [
        {
            "name": "a",
            "namespace": "a",
            "revision": "2",
            "updated": "u",
            "status": "pending-upgrade",
            "chart": "ecommerce-store-0.1.0",
            "app_version": "1.0",
        },
        {"name": "b", "namespace": "b", "revision": "1", "updated": "u", "status": "weird"},
    ]
    releases = helm.parse_list(json.dumps(listing))
    assert [(r.name, r.revision, r.status) for r in releases] == [
        ("a", 2, Status.PENDING_UPGRADE),
        ("b", 1, Status.UNKNOWN),
    ]
    assert helm.parse_list("") == []
    history = [
        {"revision": 2, "status": "deployed", "chart": "c", "updated": "u2", "description": "Upgrade complete"},
        {"revision": 1, "status": "superseded", "chart": "c", "updated": "u1", "description": "Install complete"},
    ]
    assert [(r.revision, r.status) for r in helm.parse_history(json.dumps(history))] == [
        (1, Status.SUPERSEDED),
        (2, Status.DEPLOYED),
    ]


@pytest.mark.parametrize("parse", [helm.parse_release, helm.parse_list, helm.parse_history])
def test_parsers_refuse_output_that_is_not_what_helm_prints(parse):
    with pytest.raises(UnexpectedOutput):
        parse('Release "x" has been upgraded. Happy Helming!')
    with pytest.raises(UnexpectedOutput):
        parse('"a string"')


def test_values_file_is_private_and_removed_afterwards():
    values = {"mariadb": {"password": SECRET}, "engine": "woocommerce"}
    with helm.values_file(values) as path:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert yaml.safe_load(path.read_text()) == values
        directory = path.parent
    assert not path.exists()
    assert not directory.exists()


def test_values_file_is_removed_when_the_block_fails():
    with pytest.raises(RuntimeError), helm.values_file({"a": 1}) as path:
        raise RuntimeError("helm failed")
    assert not path.exists()
    assert not path.parent.exists()


def rev(n, status):
    return Revision(revision=n, status=Status(status))


@pytest.mark.parametrize(
    ("history", "action", "target"),
    [
        ([], Recovery.INSTALL, None),
        ([rev(1, "deployed")], Recovery.NONE, None),
        ([rev(1, "superseded"), rev(2, "deployed")], Recovery.NONE, None),
        # killed mid-upgrade: back to what served
        ([rev(1, "deployed"), rev(2, "pending-upgrade")], Recovery.ROLLBACK, 1),
        ([rev(1, "superseded"), rev(2, "deployed"), rev(3, "failed"), rev(4, "pending-upgrade")], Recovery.ROLLBACK, 2),
        ([rev(1, "superseded"), rev(2, "deployed"), rev(3, "pending-rollback")], Recovery.ROLLBACK, 2),
        # killed mid-install: it never served, removing it loses nothing
        ([rev(1, "pending-install")], Recovery.UNINSTALL, None),
        ([rev(1, "failed"), rev(2, "pending-upgrade")], Recovery.UNINSTALL, None),
        # failed but not locked: upgrade --install runs over it
        ([rev(1, "failed")], Recovery.UPGRADE, None),
        ([rev(1, "deployed"), rev(2, "failed")], Recovery.UPGRADE, None),
    ],
)
def test_stuck_release_decisions(history, action, target):
    decision = helm.decide_recovery(list(reversed(history)))  # order of the input does not matter
    assert decision.action is action
    assert decision.revision == target
    assert decision.reason


def test_a_release_that_ever_served_is_never_uninstalled():
    for history in (
        [rev(1, "deployed"), rev(2, "pending-upgrade")],
        [rev(1, "superseded"), rev(2, "pending-rollback")],
        [rev(1, "deployed"), rev(2, "failed"), rev(3, "pending-upgrade")],
    ):
        assert helm.decide_recovery(history).action is not Recovery.UNINSTALL


# --- against a fake helm executable -------------------------------------------------------------------------

NOT_FOUND = "print('Error: release: not found', file=sys.stderr); sys.exit(1)"


def test_upgrade_install_passes_secrets_in_a_private_file_only(fake_helm, settings, tmp_path):
    seen = tmp_path / "seen.json"
    tool = fake_helm(
        f"""
path = argv[len(argv) - 1 - argv[::-1].index("-f") + 1]
with open({str(seen)!r}, "w") as out:
    json.dump({{"mode": os.stat(path).st_mode & 0o777, "values": open(path).read()}}, out)
print(json.dumps({RELEASE_JSON!r}))
"""
    )
    settings.KUBECONFIG = "/srv/kubeconfig"
    with helm.values_file({"mariadb": {"password": SECRET}}) as secrets_file:
        release = helm.upgrade_install("store-1", "charts/c", "store-1", ["values-local.yaml", secrets_file], "5m")
    assert release.status is Status.DEPLOYED
    assert json.loads(seen.read_text()) == {"mode": 0o600, "values": f"mariadb:\n  password: {SECRET}\n"}
    assert not secrets_file.exists()
    call = tool.calls[0]
    assert call["env"]["KUBECONFIG"] == "/srv/kubeconfig"
    assert SECRET not in json.dumps(call["argv"])
    assert call["argv"][:3] == ["upgrade", "--install", "store-1"]


@pytest.mark.parametrize(
    "stderr", ["Error: release: not found", "Error: uninstall: Release not loaded: store-1: release: not found"]
)
def test_uninstall_tolerates_not_found(fake_helm, stderr):
    tool = fake_helm(f"print({stderr!r}, file=sys.stderr); sys.exit(1)")
    assert helm.uninstall("store-1", "store-1") is False
    assert tool.calls[0]["argv"][:4] == ["uninstall", "store-1", "--namespace", "store-1"]


def test_uninstall_raises_other_failures(fake_helm):
    fake_helm(
        "print('Error: uninstallation completed with 1 error(s): timed out waiting', file=sys.stderr); sys.exit(1)"
    )
    with pytest.raises(CommandFailed):
        helm.uninstall("store-1", "store-1")


def test_uninstall_reports_removal(fake_helm):
    fake_helm("print('release \"store-1\" uninstalled')")
    assert helm.uninstall("store-1", "store-1") is True


def test_history_of_a_missing_release_is_empty(fake_helm):
    fake_helm(NOT_FOUND)
    assert helm.history("store-1", "store-1") == []


def test_list_releases_is_one_call_for_every_namespace(fake_helm):
    listing = [
        {"name": f"store-{i}", "namespace": f"store-{i}", "revision": "1", "status": "deployed"} for i in range(50)
    ]
    tool = fake_helm(f"print(json.dumps({listing!r}))")
    releases = helm.list_releases()
    assert len(releases) == 50
    assert len(tool.calls) == 1
    assert "--all-namespaces" in tool.calls[0]["argv"]


def test_rollback_runs_the_target_revision(fake_helm):
    tool = fake_helm("print('Rollback was a success! Happy Helming!')")
    helm.rollback("store-1", "store-1", 2, "1m")
    assert tool.calls[0]["argv"][:3] == ["rollback", "store-1", "2"]


def test_unreachable_cluster_opens_the_helm_breaker_and_stops_calling_helm(fake_helm, settings):
    settings.CB_FAILURE_THRESHOLD = 2
    tool = fake_helm("print('Error: Kubernetes cluster unreachable: connection refused', file=sys.stderr); sys.exit(1)")
    for _ in range(2):
        with pytest.raises(ClusterUnreachable):
            helm.history("store-1", "store-1")
    with pytest.raises(CircuitOpen):
        helm.history("store-1", "store-1")
    assert len(tool.calls) == 2
    assert breaker.stats("helm")["state"] == "OPEN"


def test_a_chart_refusal_does_not_count_against_the_breaker(fake_helm, settings):
    settings.CB_FAILURE_THRESHOLD = 2
    fake_helm("print('Error: INSTALLATION FAILED: template error', file=sys.stderr); sys.exit(1)")
    for _ in range(3):
        with pytest.raises(CommandFailed):
            helm.upgrade_install("store-1", "c", "store-1", [], "1m")
    assert breaker.stats("helm")["state"] == "CLOSED"
    assert breaker.stats("helm")["failureCount"] == 0
