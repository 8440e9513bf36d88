"""`make run`'s process wrapper (scripts/respawn.sh, used by every Procfile entry): a process that exits on its own
is started again and the wrapper says why, so one crash never silently ends web, worker and beat; a process that
keeps crashing is given up on with the reason; a stop (honcho's SIGTERM, Ctrl-C) stops it for good."""

import signal
import subprocess
import time
from pathlib import Path

from tests.faults.harness import wait_for

ROOT = Path(__file__).resolve().parents[2]
RESPAWN = str(ROOT / "scripts" / "respawn.sh")


def _wrapper(tmp_path: Path, script: str) -> tuple[subprocess.Popen, Path]:
    runs = tmp_path / "runs"
    body = f"echo run >> {runs}; {script}"
    proc = subprocess.Popen(
        ["bash", RESPAWN, "demo", "bash", "-c", body], stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    return proc, runs


def _count(runs: Path) -> int:
    return len(runs.read_text().splitlines()) if runs.exists() else 0


def test_a_process_that_exits_is_started_again_and_the_wrapper_says_why(tmp_path):
    pid_file = tmp_path / "pid"
    proc, runs = _wrapper(
        tmp_path, f"[ $(wc -l < {tmp_path / 'runs'}) -lt 2 ] && exit 3; echo $$ > {pid_file}; exec sleep 60"
    )
    try:
        wait_for(lambda: _count(runs) == 2, 20, "the second start")
        time.sleep(0.5)
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0  # stopped on request: not restarted, not an error
    assert "respawn: demo exited with code 3" in err and "starting it again" in err
    assert _count(runs) == 2
    command = Path(f"/proc/{pid_file.read_text().strip()}")
    wait_for(lambda: not command.exists() or "Z" in (command / "stat").read_text().split(")")[-1][:3], 10, "its end")


def test_a_process_that_keeps_crashing_is_given_up_with_the_reason(tmp_path):
    proc, runs = _wrapper(tmp_path, "exit 7")
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 7
    assert _count(runs) == 5
    assert "the 5th time within a minute; giving up" in err
