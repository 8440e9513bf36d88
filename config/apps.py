"""The composition root as an app, so Django loads its start-up checks (config.checks)."""

from django.apps import AppConfig


class PlatformConfig(AppConfig):
    name = "config"
    label = "platform_config"
    verbose_name = "Storeplane platform"

    def ready(self) -> None:
        from config import checks  # noqa: F401  (registers the checks)
