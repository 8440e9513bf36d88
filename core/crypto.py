"""Encryption at rest for secrets kept in the database (store admin credentials, platform-generated secrets)."""

import base64
import hashlib
import json
from functools import cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

UNREADABLE_MESSAGE = "A stored secret cannot be decrypted with CREDENTIALS_ENCRYPTION_KEY."


@cache
def _fernet() -> MultiFernet:
    keys = [k.strip() for k in settings.CREDENTIALS_ENCRYPTION_KEY.split(",") if k.strip()]
    if not keys:
        if not (settings.DEBUG or settings.TESTING):
            raise ImproperlyConfigured("CREDENTIALS_ENCRYPTION_KEY is required when DJANGO_DEBUG is off.")
        # Local development and tests only: a key derived from SECRET_KEY (the production guard refuses this).
        keys = [base64.urlsafe_b64encode(hashlib.sha256(settings.SECRET_KEY.encode()).digest()).decode()]
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "CREDENTIALS_ENCRYPTION_KEY must be Fernet keys (32 url-safe base64 bytes)."
        ) from exc


def encrypt_json(value: Any) -> str:
    return _fernet().encrypt(json.dumps(value, separators=(",", ":")).encode()).decode()


def decrypt_json(token: str) -> Any:
    try:
        return json.loads(_fernet().decrypt(token.encode()))
    except InvalidToken as exc:
        raise ImproperlyConfigured(UNREADABLE_MESSAGE) from exc


class Unreadable:
    """A stored secret that no configured key decrypts (the key was lost or changed). Loading the row still works,
    so one such store does not break a list, a page or a sweep; using the value raises ImproperlyConfigured, and it
    is truthy so that code reading `value or {}` never takes it for "nothing stored yet" and regenerates secrets
    over it. Saving the row writes the original token back unchanged."""

    __slots__ = ("token",)

    def __init__(self, token: str) -> None:
        self.token = token

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "<unreadable secret>"

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise ImproperlyConfigured(UNREADABLE_MESSAGE)

    __getitem__ = __iter__ = __len__ = __contains__ = get = keys = items = values = _refuse


def is_unreadable(value: Any) -> bool:
    return isinstance(value, Unreadable)


class EncryptedJSONField(models.TextField):
    """A JSON value stored as a Fernet token: readable only with CREDENTIALS_ENCRYPTION_KEY (newest key first;
    older keys still decrypt, so keys can be rotated). A token no key decrypts loads as `Unreadable`."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return None
        try:
            return decrypt_json(value)
        except ImproperlyConfigured:
            return Unreadable(value)

    def to_python(self, value):
        return value

    def get_prep_value(self, value):
        if value is None:
            return None
        if isinstance(value, Unreadable):
            return value.token
        return encrypt_json(value)
