"""Bearer JWT authentication with the contract's rules: the header must start with `Bearer ` exactly, the user is
reloaded on every request and refused when missing or inactive."""

from rest_framework import exceptions
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from config.logging import user_id_var

NO_TOKEN = "Authentication required. Please provide a valid Bearer token."  # noqa: S105
BAD_TOKEN = "Invalid or expired token."  # noqa: S105  (a message, not a secret)


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

    def authenticate_header(self, request):
        return 'Bearer realm="api"'
