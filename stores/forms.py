"""The create-store form. Validation is the API's StoreCreateSerializer, so the page shows the API's messages."""

from typing import Any

from django import forms

from accounts.forms import ContractForm
from stores.api.serializers import StoreCreateSerializer
from stores.models import Engine, Theme


class StoreCreateForm(ContractForm):
    serializer_class = StoreCreateSerializer

    name = forms.CharField(
        label="Store name",
        required=False,
        help_text="3 to 63 lowercase letters, digits and hyphens; it becomes part of the store's address.",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "required": True, "spellcheck": "false", "autocapitalize": "none"}
        ),
    )
    engine = forms.CharField(
        label="Engine", required=False, initial=Engine.WOOCOMMERCE, widget=forms.Select(choices=Engine.choices)
    )
    theme = forms.CharField(
        label="Theme (WooCommerce)",
        required=False,
        initial=Theme.STOREFRONT,
        widget=forms.Select(choices=[(t.value, t.value.capitalize()) for t in Theme]),
    )
    password = forms.CharField(
        label="Store admin password (optional)",
        required=False,
        help_text="At least 8 characters. Leave empty and the platform generates one.",
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def serializer_data(self) -> dict[str, Any]:
        data = super().serializer_data()
        # The theme select is always posted by the page; it only means something for WooCommerce.
        if data.get("engine") != Engine.WOOCOMMERCE:
            data.pop("theme", None)
        return data
