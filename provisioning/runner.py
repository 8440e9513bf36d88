"""The one place in the platform that starts processes. argv lists only (never a shell), an explicit timeout on
every call (the whole process group is killed when it passes), a small allow-listed environment, typed results
and errors, and secrets redacted from everything logged, raised or returned."""

import contextlib
import logging
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

from provisioning.errors import BinaryMissing, ClusterUnreachable, CommandFailed, CommandTimedOut
from provisioning.redaction import redact, redact_argv, redact_values

logger = logging.getLogger(__name__)

# Bound what an error carries (and what lands in a run row): the end of stderr is where tools explain themselves.
STDERR_TAIL_CHARS = 2000

# The parent's environment holds the platform's own secrets (DJANGO_SECRET_KEY, DATABASE_URL...); a child gets
# only what a CLI needs to find its tools, config and caches, plus the caller's overlay.
_ENV_ALLOW = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ", "USER", "KUBECONFIG", "SSL_CERT_FILE", "SSL_CERT_DIR"}
_ENV_ALLOW_PREFIXES = ("HELM_", "XDG_", "KUBECTL_")
_ENV_ALLOW_PROXY = {"http_proxy", "https_proxy", "no_proxy"}

# How helm and kubectl (Go's net/http and client-go) say the API server cannot be reached.
_UNREACHABLE = re.compile(
    r"connection refused|no route to host|i/o timeout|tls handshake|unable to connect to the server"
    r"|kubernetes cluster unreachable|network is unreachable|no such host|connection reset by peer"
    r"|the server is currently unable to handle the request|http2: client connection lost",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class CommandResult:
    """What a finished command left: argv is redacted; stdout/stderr have registered secrets masked."""

    argv: list[str]
    returncode: int
    stdout: str
    stderr: str
    duration: float  # seconds


def child_env(overlay: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k in _ENV_ALLOW or k.startswith(_ENV_ALLOW_PREFIXES) or k.lower() in _ENV_ALLOW_PROXY
    }
    env.update(overlay or {})
    return env


def tail(text: str, limit: int = STDERR_TAIL_CHARS) -> str:
    return text if len(text) <= limit else "…" + text[-limit:]


def is_cluster_unreachable(stderr: str) -> bool:
    return bool(_UNREACHABLE.search(stderr))


# While a chain runs a step, its ownership check (provisioning.concurrency.Ownership.check); a command that outlives
# the chain's hold on its store is killed within OWNER_POLL_SECONDS (AWX polls its cancel_flag the same way).
owner_check: ContextVar[Callable[[], None] | None] = ContextVar("owner_check", default=None)
OWNER_POLL_SECONDS = 1.0


@contextlib.contextmanager
def checking_owner(check: Callable[[], None] | None) -> Iterator[None]:
    """Every command run in the block calls `check` about once a second; what it raises kills the command."""
    token = owner_check.set(check)
    try:
        yield
    finally:
        owner_check.reset(token)


# While a step runs, where the commands it starts are recorded (provisioning.steps.StepContext.ran): every command
# lands in its step's row, redacted, as it starts (so one that fails or times out is there too), whoever calls it.
command_log: ContextVar[Callable[[list[str]], None] | None] = ContextVar("command_log", default=None)


@contextlib.contextmanager
def recording(sink: Callable[[list[str]], None] | None) -> Iterator[None]:
    """Every command run in the block is handed, redacted, to `sink` as it starts."""
    token = command_log.set(sink)
    try:
        yield
    finally:
        command_log.reset(token)


def _record(safe_argv: list[str]) -> None:
    sink = command_log.get()
    if sink is not None:
        sink(list(safe_argv))


def _communicate(
    proc: subprocess.Popen, stdin: bytes | None, *, deadline: float, check_owner: Callable[[], None] | None
) -> tuple[bytes, bytes]:
    """communicate() until `deadline` (TimeoutExpired then), calling `check_owner` between short waits; retrying
    communicate() after its timeout loses no output (stdin is sent on the first call only)."""
    first = True
    while True:
        remaining = deadline - time.monotonic()
        wait = remaining if check_owner is None else min(remaining, OWNER_POLL_SECONDS)
        try:
            return proc.communicate(input=stdin if first else None, timeout=max(wait, 0.01))
        except subprocess.TimeoutExpired:
            first = False
            if time.monotonic() >= deadline:
                raise
            if check_owner is not None:
                check_owner()


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def run(
    argv: Sequence[str],
    *,
    timeout: float,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    secrets: Iterable[str | None] = (),
    cwd: str | None = None,
    check: bool = True,
) -> CommandResult:
    """Run argv to completion within `timeout` seconds.

    Raises BinaryMissing, CommandTimedOut (process group killed), ClusterUnreachable or CommandFailed (non-zero
    exit, only when `check`). `secrets` are values to mask everywhere (they may also sit in `env` or `stdin`,
    which are never logged).
    """
    if isinstance(argv, str | bytes) or not argv:
        raise TypeError("argv must be a non-empty list of arguments")
    if timeout is None or timeout <= 0:
        raise ValueError("every command needs a positive timeout")
    argv = [os.fspath(a) for a in argv]
    secrets = [s for s in secrets if s]
    safe_argv = redact_argv(argv, secrets)
    check_owner = owner_check.get()
    if check_owner is not None:
        check_owner()  # a chain that no longer owns its store starts nothing more
    _record(safe_argv)
    started = time.monotonic()
    try:
        # A new session makes the child a process-group leader, so a timeout kills its children too.
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=child_env(env),
            cwd=cwd,
            start_new_session=True,
        )
    except FileNotFoundError:
        logger.error("command binary missing", extra={"argv": safe_argv})
        raise BinaryMissing(argv=safe_argv, reason="executable not found") from None
    except PermissionError:
        logger.error("command binary not executable", extra={"argv": safe_argv})
        raise BinaryMissing(argv=safe_argv, reason="not executable") from None

    try:
        out, err = _communicate(proc, stdin, deadline=started + timeout, check_owner=check_owner)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a grandchild left the group and holds the pipes open
            proc.kill()
            proc.wait()
            out, err = b"", b""
        duration = time.monotonic() - started
        stderr = redact(err.decode("utf-8", "replace"), secrets)
        logger.warning(
            "command timed out", extra={"argv": safe_argv, "timeout": timeout, "duration": round(duration, 3)}
        )
        timed_out = CommandTimedOut(argv=safe_argv, timeout=timeout, stderr_tail=tail(stderr))
        timed_out.duration = duration
        raise timed_out from None
    except BaseException:
        # Never leave a child running behind an interrupted caller (a Celery soft time limit, Ctrl-C).
        _kill_group(proc)
        proc.wait()
        raise

    duration = time.monotonic() - started
    result = CommandResult(
        argv=safe_argv,
        returncode=proc.returncode,
        # Only registered values are masked in stdout: pattern masking would corrupt the JSON we parse.
        stdout=redact_values(out.decode("utf-8", "replace"), secrets),
        stderr=redact(err.decode("utf-8", "replace"), secrets),
        duration=duration,
    )
    logger.info(
        "command finished",
        extra={"argv": safe_argv, "returncode": result.returncode, "duration": round(duration, 3)},
    )
    if check and result.returncode != 0:
        error_class = ClusterUnreachable if is_cluster_unreachable(result.stderr) else CommandFailed
        failed = error_class(
            argv=safe_argv,
            returncode=result.returncode,
            stderr_tail=tail(result.stderr),
            stdout_tail=redact(tail(result.stdout, 500)),
        )
        failed.duration = duration
        raise failed
    return result


def pipe(
    argv: Sequence[str],
    *,
    timeout: float,
    source: Iterable[bytes] | None = None,
    sink: Callable[[bytes], None] | None = None,
    env: Mapping[str, str] | None = None,
    secrets: Iterable[str | None] = (),
    chunk_size: int = 1024 * 1024,
) -> CommandResult:
    """Run argv with its stdin fed from `source` (chunks) and/or its stdout handed to `sink` chunk by chunk, so a
    dump or an archive streams through without being held in memory (backups). Same guarantees as `run`: argv list,
    timeout (the process group is killed), allow-listed environment, redacted errors; stdout is not kept."""
    if isinstance(argv, str | bytes) or not argv:
        raise TypeError("argv must be a non-empty list of arguments")
    argv = [os.fspath(a) for a in argv]
    secrets = [s for s in secrets if s]
    safe_argv = redact_argv(argv, secrets)
    _record(safe_argv)
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if source is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE if sink is not None else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=child_env(env),
            start_new_session=True,
        )
    except FileNotFoundError:
        raise BinaryMissing(argv=safe_argv, reason="executable not found") from None
    timed_out = threading.Event()
    stderr_chunks: list[bytes] = []
    failures: list[BaseException] = []

    def on_timeout() -> None:
        timed_out.set()
        _kill_group(proc)

    def feed() -> None:
        try:
            for chunk in source or ():
                proc.stdin.write(chunk)  # type: ignore[union-attr]
        except BrokenPipeError:
            pass  # the command stopped reading: its exit code and stderr say why
        except BaseException as exc:  # a source that failed (storage, checksum): the command must not succeed
            failures.append(exc)
            _kill_group(proc)
        finally:
            with contextlib.suppress(BrokenPipeError, OSError):
                proc.stdin.close()  # type: ignore[union-attr]

    def drain_stderr() -> None:
        for line in proc.stderr:  # type: ignore[union-attr]
            stderr_chunks.append(line)
            if len(stderr_chunks) > 200:
                del stderr_chunks[:100]

    timer = threading.Timer(timeout, on_timeout)
    threads = [threading.Thread(target=drain_stderr, daemon=True)]
    if source is not None:
        threads.append(threading.Thread(target=feed, daemon=True))
    timer.start()
    for thread in threads:
        thread.start()
    try:
        if sink is not None:
            while chunk := proc.stdout.read(chunk_size):  # type: ignore[union-attr]
                sink(chunk)
        proc.wait()
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    finally:
        timer.cancel()
        for thread in threads:
            thread.join(timeout=5)
    duration = time.monotonic() - started
    stderr = redact(b"".join(stderr_chunks).decode("utf-8", "replace"), secrets)
    logger.info("command finished", extra={"argv": safe_argv, "returncode": proc.returncode, "duration": duration})
    if failures:
        raise failures[0]
    if timed_out.is_set():
        raise CommandTimedOut(argv=safe_argv, timeout=timeout, stderr_tail=tail(stderr))
    if proc.returncode != 0:
        error_class = ClusterUnreachable if is_cluster_unreachable(stderr) else CommandFailed
        raise error_class(argv=safe_argv, returncode=proc.returncode, stderr_tail=tail(stderr), stdout_tail="")
    return CommandResult(argv=safe_argv, returncode=0, stdout="", stderr=stderr, duration=duration)
