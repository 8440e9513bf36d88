"""Bearer JWT authentication with the contract's rules: the header must start with `Bearer ` exactly, the user is
reloaded on every request and refused when missing or inactive."""

from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings

from accounts.models import User
from core.logging import user_id_var
from core.queries import PkLookup

NO_TOKEN = "Authentication required. Please provide a valid Bearer token."  # noqa: S105
BAD_TOKEN = "Invalid or expired token."  # noqa: S105  (a message, not a secret)
USER_BY_ID = PkLookup(User)


class BearerJWTAuthentication(JWTAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        if not header.startswith("Bearer ") or not header[7:].strip():
            raise exceptions.NotAuthenticated(NO_TOKEN)
        try:
            validated = self.get_validated_token(header[7:].strip().encode())
            user = self.get_user(validated)
        except (InvalidToken, TokenError, exceptions.AuthenticationFailed) as exc:
            raise exceptions.AuthenticationFailed(BAD_TOKEN) from exc
        if not user.is_active:
            raise exceptions.AuthenticationFailed(BAD_TOKEN)
        user_id_var.set(str(user.pk))
        return user, validated

    def get_user(self, validated_token):
        """The token's user, read from the database on every request (the contract's rule: a deactivated user is
        refused at once) without rebuilding the query each time (core.queries: it halves the lookup's CPU).
        simplejwt's other check (CHECK_REVOKE_TOKEN) is off in our settings."""
        try:
            return USER_BY_ID.get(validated_token[api_settings.USER_ID_CLAIM])
        except KeyError:
            raise InvalidToken("Token contained no recognizable user identification") from None
        except User.DoesNotExist:
            raise exceptions.AuthenticationFailed("User not found", code="user_not_found") from None

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
