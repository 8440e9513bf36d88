"""The runner against real processes: results, typed errors, the killed process group, stdin, the child's
environment, and no secret in errors, results or log records."""

import logging
import os
import sys
import time
from pathlib import Path

import pytest

from provisioning import runner
from provisioning.errors import BinaryMissing, ClusterUnreachable, CommandFailed, CommandTimedOut

SECRET = "Sup3r-S3cret-Pw!"


def alive(pid: int) -> bool:
    """Running and not a zombie (a killed orphan may wait for init to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in {"Z", "X"}


def test_success_returns_a_typed_result(fake_tool):
    tool = fake_tool("tool", "print('out'); print('warn', file=sys.stderr)")
    result = runner.run([tool.path, "a", "b"], timeout=30)
    assert result.returncode == 0
    assert result.stdout == "out\n"
    assert result.stderr == "warn\n"
    assert result.argv == [str(tool.path), "a", "b"]
    assert result.duration > 0
    assert tool.calls[0]["argv"] == ["a", "b"]


def test_non_zero_exit_raises_command_failed_with_the_stderr_tail(fake_tool):
    tool = fake_tool(
        "tool", "print('x' * 10000, file=sys.stderr); print('Error: chart says no', file=sys.stderr)\nsys.exit(3)"
    )
    with pytest.raises(CommandFailed) as caught:
        runner.run([tool.path, "install"], timeout=30)
    error = caught.value
    assert type(error) is CommandFailed
    assert error.returncode == 3
    assert error.retryable is False
    assert error.stderr_tail.endswith("Error: chart says no\n")
    assert len(error.stderr_tail) <= runner.STDERR_TAIL_CHARS + 1
    assert "exited with code 3: Error: chart says no" in str(error)
    assert error.duration > 0


def test_non_zero_exit_without_check_returns_the_result(fake_tool):
    tool = fake_tool("tool", "sys.exit(2)")
    assert runner.run([tool.path], timeout=30, check=False).returncode == 2


def test_timeout_kills_the_whole_process_group(fake_tool, tmp_path):
    pids = tmp_path / "pids"
    tool = fake_tool(
        "tool",
        f"""
import subprocess, time
child = subprocess.Popen(["sleep", "60"])
open({str(pids)!r}, "w").write(f"{{os.getpid()}} {{child.pid}}")
time.sleep(60)
""",
    )
    with pytest.raises(CommandTimedOut) as caught:
        runner.run([tool.path], timeout=1)
    assert caught.value.retryable is True
    assert "timed out after 1s" in str(caught.value)
    assert caught.value.duration >= 1
    tool_pid, child_pid = map(int, pids.read_text().split())
    # SIGKILL is delivered at once, but give the kernel a moment to tear the processes down.
    deadline = time.monotonic() + 10
    while (alive(tool_pid) or alive(child_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(tool_pid)
    assert not alive(child_pid)


def test_missing_binary(tmp_path):
    with pytest.raises(BinaryMissing) as caught:
        runner.run([tmp_path / "helm"], timeout=5)
    assert caught.value.retryable is False
    assert "executable not found" in str(caught.value)


def test_binary_without_execute_permission(tmp_path):
    path = tmp_path / "helm"
    path.write_text("#!/bin/sh\n")
    with pytest.raises(BinaryMissing):
        runner.run([path], timeout=5)


@pytest.mark.parametrize(
    "stderr",
    [
        'Error: Kubernetes cluster unreachable: Get "https://127.0.0.1:6443/version": dial tcp 127.0.0.1:6443: '
        "connect: connection refused",
        "The connection to the server 127.0.0.1:6443 was refused - did you specify the right host or port?\n"
        "Unable to connect to the server: dial tcp 127.0.0.1:6443: i/o timeout",
        "Unable to connect to the server: net/http: TLS handshake timeout",
        "dial tcp 10.0.0.1:6443: connect: no route to host",
    ],
)
def test_cluster_unreachable_is_recognised_and_retryable(fake_tool, stderr):
    tool = fake_tool("kubectl", f"print({stderr!r}, file=sys.stderr); sys.exit(1)")
    with pytest.raises(ClusterUnreachable) as caught:
        runner.run([tool.path, "get", "ns"], timeout=30)
    assert caught.value.retryable is True
    assert caught.value.code == "CLUSTER_UNREACHABLE"


def test_a_refusal_is_not_mistaken_for_an_unreachable_cluster(fake_tool):
    tool = fake_tool(
        "kubectl", "print('Error from server (NotFound): pods \"x\" not found', file=sys.stderr); sys.exit(1)"
    )
    with pytest.raises(CommandFailed) as caught:
        runner.run([tool.path], timeout=30)
    assert type(caught.value) is CommandFailed


def test_stdin_bytes_reach_the_process(fake_tool):
    tool = fake_tool("tool", "print(stdin[::-1], end='')")
    assert runner.run([tool.path], timeout=30, stdin=b"abc\x00def").stdout == "fed\x00cba"


def test_child_gets_the_overlay_but_not_the_platform_environment(fake_tool, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgres://user:pw@db/x")
    monkeypatch.setenv("DJANGO_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("HELM_CACHE_HOME", "/srv/helm-cache")
    tool = fake_tool("tool")
    runner.run([tool.path], timeout=30, env={"KUBECONFIG": "/srv/kubeconfig"})
    env = tool.calls[0]["env"]
    assert env["KUBECONFIG"] == "/srv/kubeconfig"
    assert env["HELM_CACHE_HOME"] == "/srv/helm-cache"
    assert "PATH" in env
    assert "DATABASE_URL" not in env
    assert "DJANGO_SECRET_KEY" not in env


def test_argv_is_never_a_shell_string():
    with pytest.raises(TypeError):
        runner.run("echo hi", timeout=5)
    # Shell syntax in an argument stays a literal argument.
    assert runner.run([sys.executable, "-c", "import sys; print(sys.argv[1])", "$(id) ; ls"], timeout=30).stdout == (
        "$(id) ; ls\n"
    )


def test_every_call_needs_a_timeout():
    with pytest.raises(ValueError):
        runner.run(["true"], timeout=0)


def _everything_logged(caplog) -> str:
    return "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)


def test_secrets_appear_in_no_error_result_or_log_record(fake_tool, caplog):
    body = "print(' '.join(argv)); print('failed with ' + os.environ.get('DB_PASSWORD', ''), file=sys.stderr)\n"
    tool = fake_tool("tool", body + "sys.exit(1)")
    caplog.set_level(logging.DEBUG)
    argv = [tool.path, "--set", f"mariadb.password={SECRET}", "--password", SECRET, f"plain-{SECRET}"]
    with pytest.raises(CommandFailed) as caught:
        runner.run(argv, timeout=30, env={"DB_PASSWORD": SECRET}, secrets=[SECRET])
    error = caught.value
    assert SECRET in tool.calls[0]["argv"][-1]  # the tool did get the real value
    for text in (str(error), " ".join(error.argv), error.stderr_tail, error.stdout_tail, repr(error.__dict__)):
        assert SECRET not in text
    assert "failed with ***" in error.stderr_tail
    assert caplog.records, "the runner logs each command"
    assert SECRET not in _everything_logged(caplog)

    ok = fake_tool("ok", "print(' '.join(argv)); print(os.environ['DB_PASSWORD'], file=sys.stderr)")
    result = runner.run([ok.path, SECRET], timeout=30, env={"DB_PASSWORD": SECRET}, secrets=[SECRET])
    assert SECRET not in repr(result)
    assert SECRET not in _everything_logged(caplog)


def test_timed_out_command_leaks_no_secret(fake_tool, caplog):
    tool = fake_tool("tool", "print('using ' + argv[0], file=sys.stderr, flush=True); import time; time.sleep(30)")
    caplog.set_level(logging.DEBUG)
    with pytest.raises(CommandTimedOut) as caught:
        runner.run([tool.path, SECRET], timeout=1, secrets=[SECRET])
    assert SECRET not in str(caught.value) + " ".join(caught.value.argv) + caught.value.stderr_tail
    assert SECRET not in _everything_logged(caplog)
    assert os.path.basename(str(tool.path)) in str(caught.value)


@pytest.mark.django_db
def test_every_command_a_step_starts_lands_in_its_row_redacted_the_failing_one_too():
    """The runner records into the current step whatever starts a command (no caller hands argv over); a poll that
    repeats the same command is recorded once; outside a step nothing is recorded."""
    from provisioning.models import Operation, ProvisioningRun, RunStatus
    from provisioning.steps import Attempt, step
    from stores.tests.factories import StoreFactory

    store = StoreFactory()
    ok, fails = [sys.executable, "-c", "pass", SECRET], [sys.executable, "-c", "import sys; sys.exit(3)"]
    runner.run(ok, timeout=30, secrets=[SECRET])  # no step: nowhere to record it
    with pytest.raises(CommandFailed), step(Attempt(store, Operation.CREATE, secrets=[SECRET]), "probe"):
        runner.run(ok, timeout=30, secrets=[SECRET])
        runner.run(ok, timeout=30, secrets=[SECRET])
        runner.run(fails, timeout=30)
    row = ProvisioningRun.objects.get(store=store)
    assert (row.step, row.status) == ("probe", RunStatus.FAILED)
    assert row.argv == [[sys.executable, "-c", "pass", "***"], fails]
    assert SECRET not in str(row.argv)
