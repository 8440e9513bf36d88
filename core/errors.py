"""The base of every app's domain errors: each carries the contract's envelope fields, and core.api renders it."""

from typing import Any


class PlatformError(Exception):
    """A refusal a client can read: HTTP status, contract code, message, optional suggestion and extras."""

    status_code = 500
    code = "INTERNAL_ERROR"
    default_message = "An unexpected error occurred."
    suggestion: str | None = None
    retryable = False

    def __init__(
        self,
        message: str | None = None,
        *,
        suggestion: str | None = None,
        retryable: bool | None = None,
        details: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.message = message or self.default_message
        super().__init__(self.message)
        if suggestion is not None:
            self.suggestion = suggestion
        if retryable is not None:
            self.retryable = retryable
        self.details = details
        self.extra = extra or {}

    def to_error(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.suggestion:
            error["suggestion"] = self.suggestion
        error["retryable"] = self.retryable
        if self.details is not None:
            error["details"] = self.details
        error.update(self.extra)
        return error


class ValidationFailed(PlatformError):
    status_code = 400
    code = "VALIDATION_ERROR"
    default_message = "Invalid request."
    suggestion = "Check the request parameters and try again."


class Unauthorized(PlatformError):
    status_code = 401
    code = "UNAUTHORIZED"
    default_message = "Authentication required. Please provide a valid Bearer token."


class Forbidden(PlatformError):
    status_code = 403
    code = "FORBIDDEN"
    default_message = "Access denied."


class Conflict(PlatformError):
    status_code = 409
    code = "CONFLICT"
    default_message = "The request conflicts with the current state."


class ServiceUnavailable(PlatformError):
    """A dependency of the platform (its database, Redis) does not answer: 503, and the client may retry."""

    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    default_message = "The service is temporarily unavailable."
    suggestion = "Retry in a few seconds."
    retryable = True


def dependency_unavailable(exc: BaseException) -> ServiceUnavailable | None:
    """The contract's 503 for an error that says the database or Redis is down (a restart, a failover), or None
    for any other error. Such an outage is no bug of ours: it is logged as one line, not as a traceback."""
    from django.db import InterfaceError, OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    if isinstance(exc, OperationalError | InterfaceError):
        return ServiceUnavailable("The database is not answering right now.", extra={"retryAfterSeconds": 5})
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return ServiceUnavailable("A platform service is not answering right now.", extra={"retryAfterSeconds": 5})
    return None
