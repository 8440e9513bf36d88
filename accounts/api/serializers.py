"""Request validation and response shapes for the auth routes (contract §1.4 #1-#4)."""

from typing import Any

from django.core.validators import RegexValidator
from email_validator import EmailNotValidError, validate_email

from accounts.models import User
from core.api import iso
from core.validation import ContractSerializer, StrictCharField

USERNAME_PATTERN = r"^[a-zA-Z0-9_-]+$"


class EmailField(StrictCharField):
    """Joi's .email(): a deliverable-looking address on a real top-level domain (x@y.local and x@y.test refused)."""

    default_error_messages = {"email": '"email" must be a valid email'}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 255)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if value != value.strip():
            self.fail("email")
        try:
            validate_email(value, check_deliverability=False)
        except EmailNotValidError:
            self.fail("email")
        return value


class RegisterSerializer(ContractSerializer):
    email = EmailField()
    username = StrictCharField(
        min_length=3,
        max_length=128,
        validators=[
            RegexValidator(
                USERNAME_PATTERN,
                message="Username must contain only letters, numbers, hyphens, and underscores.",
                code="pattern",
            )
        ],
    )
    password = StrictCharField(
        min_length=8,
        max_length=128,
        error_messages={"min_length": "Password must be at least 8 characters."},
    )


class LoginSerializer(ContractSerializer):
    email = EmailField()
    password = StrictCharField(max_length=1024)


class ChangePasswordSerializer(ContractSerializer):
    currentPassword = StrictCharField(max_length=1024)
    newPassword = StrictCharField(
        min_length=8,
        max_length=128,
        error_messages={"min_length": "New password must be at least 8 characters."},
    )


class RefreshSerializer(ContractSerializer):
    refresh = StrictCharField(max_length=4096)


def user_summary(user: User) -> dict[str, Any]:
    return {"id": str(user.pk), "email": user.email, "username": user.username, "role": user.role}


def user_detail(user: User) -> dict[str, Any]:
    return {**user_summary(user), "createdAt": iso(user.created_at)}
