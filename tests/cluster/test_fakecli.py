"""The fake helm/kubectl used by error-path unit tests: canned replies, sequences, delays, argv and stdin records."""

from __future__ import annotations

import subprocess
import time


def test_scripted_reply_and_recorded_argv(fake_cli):
    fake_cli.on("helm", r"^status shop-1 ", stdout='{"info": {"status": "failed"}}', stderr="warn\n", exit_code=3)
    proc = subprocess.run(["helm", "status", "shop-1", "-o", "json"], env=fake_cli.env, capture_output=True, text=True)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, '{"info": {"status": "failed"}}', "warn\n")
    assert fake_cli.calls() == [{"tool": "helm", "argv": ["status", "shop-1", "-o", "json"], "stdin": None}]


def test_times_make_a_sequence_and_stdin_is_recorded(fake_cli):
    fake_cli.on("kubectl", r"^apply", stderr="Error from server (Timeout)", exit_code=1, times=1)
    fake_cli.on("kubectl", r"^apply", stdout="configmap/x created\n")
    first = subprocess.run(
        [fake_cli.kubectl, "apply", "-f", "-"],
        input="kind: ConfigMap\n",
        env=fake_cli.env,
        capture_output=True,
        text=True,
    )
    second = subprocess.run(
        [fake_cli.kubectl, "apply", "-f", "-"], input="kind: Secret\n", env=fake_cli.env, capture_output=True, text=True
    )
    assert (first.returncode, first.stderr) == (1, "Error from server (Timeout)")
    assert (second.returncode, second.stdout) == (0, "configmap/x created\n")
    assert [c["stdin"] for c in fake_cli.calls("kubectl")] == ["kind: ConfigMap\n", "kind: Secret\n"]


def test_unmatched_call_fails_loudly_unless_defaulted(fake_cli):
    fake_cli.on("helm", r"^version", stdout="v3.19.0")
    proc = subprocess.run([fake_cli.helm, "uninstall", "x"], env=fake_cli.env, capture_output=True, text=True)
    assert proc.returncode == 127
    assert "no rule for: uninstall x" in proc.stderr
    fake_cli.default(stdout="ok")
    again = subprocess.run([fake_cli.helm, "uninstall", "x"], env=fake_cli.env, capture_output=True, text=True)
    assert (again.returncode, again.stdout) == (0, "ok")
    assert [c["argv"] for c in fake_cli.calls("helm")] == [["uninstall", "x"], ["uninstall", "x"]]
    assert fake_cli.calls("kubectl") == []


def test_delay_lets_a_caller_time_out(fake_cli):
    fake_cli.on("helm", r"^upgrade", delay=5)
    started = time.monotonic()
    try:
        subprocess.run(
            [fake_cli.helm, "upgrade", "--install", "s", "chart"], env=fake_cli.env, timeout=1, capture_output=True
        )
        raise AssertionError("the fake did not delay")
    except subprocess.TimeoutExpired:
        pass
    assert time.monotonic() - started < 4
    assert fake_cli.env["HELM_BIN"] == str(fake_cli.helm)
    assert fake_cli.env["PATH"].split(":")[0] == str(fake_cli.helm.parent)
