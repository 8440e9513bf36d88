"""Small shared helpers: logging to stderr, running commands with a timeout and a readable error, free ports."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path


class ClusterError(RuntimeError):
    """The local cluster could not be built, started or stopped; the message says why."""


def log(message: str) -> None:
    print(f"[localcluster {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# A long step says what it is doing this often, so a first `make run` (a Kubernetes build, image builds) never
# looks stuck; steps that end within QUIET_SECONDS say nothing.
PROGRESS_EVERY_SECONDS = 30.0
QUIET_SECONDS = 5.0


@contextlib.contextmanager
def progress(
    what: str, *, every: float = PROGRESS_EVERY_SECONDS, quiet: float = QUIET_SECONDS, say=None
) -> Iterator[None]:
    """Logs "<what>: still running, 1m30s elapsed" after `quiet` seconds and then every `every` seconds, and the
    total when it ends (only for steps that outlasted `quiet`)."""
    say = say or log
    started = time.monotonic()
    stop = threading.Event()

    def beat() -> None:
        wait = quiet
        while not stop.wait(wait):
            say(f"{what}: still running, {elapsed(time.monotonic() - started)} elapsed")
            wait = every

    thread = threading.Thread(target=beat, name=f"progress: {what}", daemon=True)
    thread.start()
    ok = False
    try:
        yield
        ok = True
    finally:
        stop.set()
        thread.join()
        took = time.monotonic() - started
        if took >= quiet:
            say(f"{what}: {'done' if ok else 'failed'} after {elapsed(took)}")


def elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def run(
    argv: Sequence[str | Path],
    *,
    timeout: float = 300,
    check: bool = True,
    capture: bool = True,
    **kwargs,
) -> subprocess.CompletedProcess[str]:
    """Run argv (never through a shell); on failure raise ClusterError with the command and the tail of stderr."""
    args = [str(a) for a in argv]
    try:
        proc = subprocess.run(args, timeout=timeout, text=True, capture_output=capture, **kwargs)
    except subprocess.TimeoutExpired as exc:
        raise ClusterError(f"timed out after {timeout:.0f}s: {' '.join(args[:6])}") from exc
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout or "")[-2000:]
        raise ClusterError(f"exit {proc.returncode}: {' '.join(args[:8])}\n{tail}")
    return proc


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the caller binds it soon after)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.5):
    """Poll predicate until it returns a truthy value; raise ClusterError naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:  # noqa: BLE001 - keep polling, report the last error
            last_exc = exc
        time.sleep(interval)
    detail = f" (last error: {last_exc})" if last_exc else ""
    raise ClusterError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
