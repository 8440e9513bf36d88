"""Account errors, each with the contract's code and message."""

from core.errors import PlatformError


class UserExists(PlatformError):
    status_code = 409
    code = "USER_EXISTS"
    default_message = "A user with this email already exists."


class InvalidCredentials(PlatformError):
    status_code = 401
    code = "INVALID_CREDENTIALS"
    default_message = "Invalid email or password."


class InvalidPassword(PlatformError):
    status_code = 401
    code = "INVALID_PASSWORD"
    default_message = "Current password is incorrect."


class InvalidRefreshToken(PlatformError):
    status_code = 401
    code = "UNAUTHORIZED"
    default_message = "Invalid or expired token."
