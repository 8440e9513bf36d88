"""Provisioning's typed errors: process failures (runner), admission refusals (semaphore, store lock, breaker).
Each carries a contract code and a `retryable` flag the retry policy reads; none reaches an HTTP response (the
work happens after the 202), but they share PlatformError so messages and codes stay in one shape."""

from collections.abc import Sequence

from core.errors import PlatformError


class ProvisioningError(PlatformError):
    """Base of everything the provisioning engine raises on purpose."""

    status_code = 503
    code = "PROVISIONING_ERROR"
    default_message = "Provisioning failed."
    # True when the failure says the infrastructure (cluster, helm) is unwell rather than that it refused our
    # request; only these count against a circuit breaker.
    infrastructure = False


class CommandError(ProvisioningError):
    """A process the runner started did not succeed. `argv` is always the redacted argv."""

    code = "COMMAND_FAILED"
    duration: float | None = None  # seconds the process ran, set by the runner (for the run row)

    def __init__(self, message: str, *, argv: Sequence[str], retryable: bool | None = None) -> None:
        super().__init__(message, retryable=retryable)
        self.argv = list(argv)


class CommandFailed(CommandError):
    """The command ran and exited non-zero: the tool said no (a chart error, a missing resource...)."""

    code = "COMMAND_FAILED"
    retryable = False

    def __init__(
        self, *, argv: Sequence[str], returncode: int, stderr_tail: str, stdout_tail: str = "", message: str = ""
    ) -> None:
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        self.stdout_tail = stdout_tail
        summary = last_line(stderr_tail)
        super().__init__(message or f"{_program(argv)} exited with code {returncode}: {summary}", argv=argv)


class ClusterUnreachable(CommandFailed):
    """helm or kubectl could not talk to the Kubernetes API server (refused, no route, TLS, i/o timeout)."""

    code = "CLUSTER_UNREACHABLE"
    retryable = True
    infrastructure = True

    def __init__(self, *, argv: Sequence[str], returncode: int, stderr_tail: str, stdout_tail: str = "") -> None:
        # What a tenant reads first is that the cluster was away, not which tool said so; the tool's own last line
        # follows for operators.
        super().__init__(
            argv=argv,
            returncode=returncode,
            stderr_tail=stderr_tail,
            stdout_tail=stdout_tail,
            message=f"The Kubernetes cluster could not be reached; safe to retry once it is back. "
            f"({_program(argv)}: {last_line(stderr_tail)})",
        )


class CommandTimedOut(CommandError):
    """The command outlived its timeout; its whole process group was killed."""

    code = "COMMAND_TIMEOUT"
    retryable = True
    infrastructure = True

    def __init__(self, *, argv: Sequence[str], timeout: float, stderr_tail: str = "") -> None:
        self.timeout = timeout
        self.stderr_tail = stderr_tail
        super().__init__(f"{_program(argv)} timed out after {timeout:g}s and was killed", argv=argv)


class BinaryMissing(CommandError):
    """The executable does not exist or cannot be executed: a setup problem, retrying will not help."""

    code = "BINARY_MISSING"
    retryable = False

    def __init__(self, *, argv: Sequence[str], reason: str) -> None:
        super().__init__(f"{_program(argv)}: {reason}", argv=argv)


class UnexpectedOutput(ProvisioningError):
    """A command succeeded but its output was not what we parse (not JSON, missing fields)."""

    code = "UNEXPECTED_OUTPUT"
    retryable = False


class QueueFull(ProvisioningError):
    code = "PROVISIONING_QUEUE_FULL"
    default_message = "The provisioning queue is full."
    suggestion = "Too many stores are being provisioned right now. Retry in a few minutes."
    retryable = True


class QueueTimeout(ProvisioningError):
    code = "PROVISIONING_QUEUE_TIMEOUT"
    default_message = "Timed out waiting for a provisioning slot."
    suggestion = "The platform is busy. Retry in a few minutes."
    retryable = True


class LeaseLost(ProvisioningError):
    """A semaphore slot or store lock expired under its holder (it stopped renewing, or Redis lost it)."""

    code = "LEASE_LOST"
    retryable = True


class Superseded(ProvisioningError):
    """The chain no longer owns its store (an operator force-deleted it, or the store's lock or slot lease
    expired): it stops where it is and marks nothing, so whoever owns the store now can go on. Not a failure."""

    code = "SUPERSEDED"
    default_message = "The operation stopped: the store moved on."
    retryable = False


class StoreBusy(ProvisioningError):
    code = "STORE_BUSY"
    default_message = "Another operation is already running on this store."
    retryable = True


class CircuitOpen(ProvisioningError):
    code = "CIRCUIT_OPEN"
    retryable = True

    def __init__(self, name: str, retry_in_seconds: float) -> None:
        self.name = name
        self.retry_in_seconds = retry_in_seconds
        seconds = max(1, round(retry_in_seconds))
        super().__init__(f"Circuit breaker '{name}' is OPEN. Service appears unavailable. Retry in {seconds}s.")


def _program(argv: Sequence[str]) -> str:
    return argv[0].rsplit("/", 1)[-1] if argv else "command"


def last_line(stderr_tail: str) -> str:
    """How a CLI says what went wrong: the last line of its stderr."""
    return stderr_tail.strip().splitlines()[-1] if stderr_tail.strip() else "no error output"


class DependencyUnavailable(ProvisioningError):
    """The platform's own database or Redis did not answer for longer than a step waits for it (a restart, a
    failover): the task retries on fresh connections; nothing about the store itself failed."""

    code = "DEPENDENCY_UNAVAILABLE"
    default_message = "The platform's database or Redis did not answer; the worker retries."
    retryable = True


class OperationFailed(ProvisioningError):
    """A store operation that could not finish, as its task sees it (provisioning.services.Chain): the cause's code
    and `retryable` flag, the reason the tenant reads (secrets removed, the operation named) and what the failure
    records. The task alone decides whether to try again or to give up, and only giving up marks anything."""

    def __init__(
        self,
        reason: str,
        *,
        code: str,
        retryable: bool,
        cause: BaseException | None = None,
        metadata: dict | None = None,
    ) -> None:
        super().__init__(reason, retryable=retryable)
        self.code = code
        self.cause = cause
        self.metadata = {"errorCode": code, "retryable": retryable, **(metadata or {})}


class NotStarted(ProvisioningError):
    """An operation's work before it changes anything failed (an upgrade's checks and backup before helm, a
    restore's verification and backup before loading): the store serves on as it was, retryable as the cause was.
    `outcome` is what the failed step adds to the operation's recorded outcome (the id of a backup that failed)."""

    code = "NOT_STARTED"

    def __init__(self, message: str, *, retryable: bool | None = None, outcome: dict | None = None) -> None:
        super().__init__(message, retryable=retryable)
        self.outcome = dict(outcome or {})
