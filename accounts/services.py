"""The write path for accounts: register, authenticate, change password, issue and revoke tokens."""

import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import authenticate
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import lockout
from accounts.exceptions import InvalidCredentials, InvalidPassword, InvalidRefreshToken, UserExists
from accounts.models import Role, User, normalize_email
from accounts.signals import password_changed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TokenPair:
    access: str
    refresh: str


def tokens_for(user: User) -> TokenPair:
    """A refresh token and its access token, with the claims the original put in its JWT (id, email, role)."""
    refresh = RefreshToken.for_user(user)
    refresh["email"] = user.email
    refresh["role"] = user.role
    access = refresh.access_token  # copies the claims above
    return TokenPair(access=str(access), refresh=str(refresh))


def user_register(*, email: str, username: str, password: str, request: HttpRequest | None = None) -> User:
    """A new tenant. Nobody becomes admin by registering: admins come from createsuperuser / ensure_admin. The
    registration rate limit is checked first, whichever page or route calls (429 over REGISTER_RATE_LIMIT)."""
    lockout.registration_guard(request)
    email = normalize_email(email)
    if User.objects.filter(email=email).exists():
        raise UserExists()
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, username=username, password=password, role=Role.TENANT)
    except IntegrityError as exc:  # a concurrent registration won the race, or the username is taken
        raise UserExists("A user with this email or username already exists.") from exc
    lockout.registered(request, user)
    return user


def user_authenticate(*, request: HttpRequest | None, email: str, password: str) -> User:
    """Login for API and pages alike: the rate limit and lockout are checked first (429 / 423), a failure is
    counted, audited and may lock the account, a success clears the failures."""
    email = normalize_email(email)
    lockout.login_guard(request, email)
    user = authenticate(request, username=email, password=password)
    if user is None or not user.is_active:
        lockout.login_failed(request, email)
        raise InvalidCredentials()
    lockout.login_succeeded(request, user)
    return user


NO_PROPAGATION = {"totalStores": 0, "successful": 0, "failed": 0, "details": []}


def user_change_password(*, user: User, current_password: str, new_password: str) -> dict[str, Any]:
    """The API's and the page's password change: check the current password, store the new one, and hand it to
    whatever keeps copies of it (the password_changed signal's receivers: the stores' admin accounts), which answer
    at once. Returns the propagation report of the contract: {totalStores, successful, failed, details}."""
    if not user.check_password(current_password):
        raise InvalidPassword()
    user.set_password(new_password)
    user.save(update_fields=["password", "updated_at"])
    report: dict[str, Any] = {**NO_PROPAGATION, "details": []}
    answers: list[tuple[Any, Any]] = password_changed.send(sender=User, user=user, new_password=new_password)
    for _receiver, answer in answers:
        for count in ("totalStores", "successful", "failed"):
            report[count] += answer[count]
        report["details"] += answer["details"]
    return report


def token_refresh(*, refresh: str) -> str:
    try:
        token = RefreshToken(refresh)  # type: ignore[arg-type]  # the stubs say Token; it parses the string
        user = User.objects.filter(pk=token["id"], is_active=True).first()
    except (TokenError, KeyError) as exc:
        raise InvalidRefreshToken() from exc
    if user is None:
        raise InvalidRefreshToken()
    access = token.access_token
    access["email"] = user.email
    access["role"] = user.role
    return str(access)


def token_revoke(*, refresh: str, user: User) -> None:
    """Logout: the refresh token goes on the blacklist and can never mint an access token again."""
    try:
        token = RefreshToken(refresh)  # type: ignore[arg-type]  # as above
    except TokenError as exc:
        raise InvalidRefreshToken() from exc
    if str(token.get("id")) != str(user.pk):
        raise InvalidRefreshToken()
    token.blacklist()


def ensure_admin(*, email: str, password: str, username: str = "admin") -> tuple[User, bool]:
    """Make sure an operator account exists with this email (idempotent; used by `make run`)."""
    email = normalize_email(email)
    user = User.objects.filter(email=email).first()
    if user is not None:
        changed = False
        if user.role != Role.ADMIN or not user.is_superuser or not user.is_active:
            user.role, user.is_superuser, user.is_active = Role.ADMIN, True, True
            user.save(update_fields=["role", "is_superuser", "is_active", "updated_at"])
            changed = True
        return user, changed
    if User.objects.filter(username=username).exists():
        username = f"{username}-{email.split('@')[0]}"[:128]
    return User.objects.create_superuser(email=email, username=username, password=password), True
