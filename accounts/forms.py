"""Forms of the account pages. Validation is the API's (its ContractSerializer classes), so a page shows exactly the
message the API would return; the Django fields only describe the inputs (labels, autocomplete, help)."""

from typing import Any, ClassVar

from django import forms
from django.forms.widgets import Input
from rest_framework import serializers

from accounts.api.serializers import ChangePasswordSerializer, LoginSerializer, RegisterSerializer


class ContractForm(forms.Form):
    """A form whose cleaning is one of the API's serializers. `field_map` names the serializer key of each form
    field when they differ; the validated data is in `self.validated` (serializer keys)."""

    serializer_class: ClassVar[type[serializers.Serializer]]
    field_map: ClassVar[dict[str, str]] = {}

    def serializer_data(self) -> dict[str, Any]:
        data = {}
        for name in self.fields:
            value = self.data.get(self.add_prefix(name))
            if value not in (None, ""):
                data[self.field_map.get(name, name)] = value
        return data

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        serializer = self.serializer_class(data=self.serializer_data())
        self.validated: dict[str, Any] = {}
        if serializer.is_valid():
            self.validated = dict(serializer.validated_data)
            return cleaned
        back = {v: k for k, v in self.field_map.items()}
        for key, errors in serializer.errors.items():
            field = back.get(key, key)
            for error in errors if isinstance(errors, list) else [errors]:
                self.add_error(field if field in self.fields else None, str(error))
        return cleaned


def _text(label: str, *, autocomplete: str, input_type: str = "text", help_text: str = "", **attrs: Any) -> forms.Field:
    widget_attrs = {"autocomplete": autocomplete, "required": True, **attrs}
    widgets: dict[str, type[Input]] = {"password": forms.PasswordInput, "email": forms.EmailInput}
    widget_cls = widgets.get(input_type, forms.TextInput)
    # required=False: the serializer reports a missing value, with the API's wording.
    return forms.CharField(label=label, required=False, help_text=help_text, widget=widget_cls(attrs=widget_attrs))


class SignupForm(ContractForm):
    serializer_class = RegisterSerializer

    email = _text("Email", autocomplete="email", input_type="email")
    username = _text("Username", autocomplete="username", help_text="Letters, numbers, hyphens and underscores.")
    password = _text("Password", autocomplete="new-password", input_type="password", help_text="At least 8 characters.")


class LoginForm(ContractForm):
    serializer_class = LoginSerializer

    email = _text("Email", autocomplete="email", input_type="email", autofocus=True)
    password = _text("Password", autocomplete="current-password", input_type="password")


class PasswordChangeForm(ContractForm):
    serializer_class = ChangePasswordSerializer
    field_map = {"current_password": "currentPassword", "new_password": "newPassword"}

    current_password = _text("Current password", autocomplete="current-password", input_type="password")
    new_password = _text(
        "New password", autocomplete="new-password", input_type="password", help_text="At least 8 characters."
    )
