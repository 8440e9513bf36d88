"""Store errors, each with the contract's status, code and message."""

from core.errors import Conflict, Forbidden, PlatformError


class StoreNotFound(PlatformError):
    status_code = 404
    code = "STORE_NOT_FOUND"
    suggestion = "Verify the store ID and try again."

    def __init__(self, store_id: str) -> None:
        super().__init__(f"Store '{store_id}' not found")


class StoreAccessDenied(Forbidden):
    default_message = "Access denied."


class StoreConflict(Conflict):
    pass


class InvalidStateTransition(PlatformError):
    status_code = 409
    code = "INVALID_STATE_TRANSITION"
    suggestion = "The store is not in the correct state for this operation."


class StoreLimitExceeded(PlatformError):
    status_code = 429
    code = "STORE_LIMIT_EXCEEDED"
    suggestion = "Delete an existing store before creating a new one."

    def __init__(self, limit: int) -> None:
        super().__init__(f"Maximum of {limit} active stores per user reached.")


class CreationCooldown(PlatformError):
    status_code = 429
    code = "CREATION_COOLDOWN"
    retryable = True

    def __init__(self, seconds: int) -> None:
        super().__init__(
            f"Please wait {seconds} seconds before creating another store.",
            suggestion=f"Wait {seconds} seconds before retrying.",
            extra={"retryAfterSeconds": seconds},
        )
