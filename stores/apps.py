"""Stores: the store model and its state machine, the services that change it, and the stores API."""

from django.apps import AppConfig


class StoresConfig(AppConfig):
    name = "stores"
    default_auto_field = "django.db.models.BigAutoField"
