"""Backups: the app's start-up wiring into the layers below it, which cannot import it."""

from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # `restoreFrom` in store creation and the restore's steps in the create chain: stores and provisioning
        # offer these hooks; registering twice (tests reloading apps) must not run a restore twice.
        from backups import restore
        from provisioning import services as provisioning_services
        from stores import services as store_services

        for hooks, hook in (
            (store_services.RESTORE_PLANNERS, restore.plan_restore),
            (provisioning_services.BEFORE_CREATE, restore.verify_before_create),
            (provisioning_services.AFTER_ENGINE_SETUP, restore.load_after_setup),
        ):
            if hook not in hooks:
                hooks.append(hook)
        from backups import admin_actions  # noqa: F401  (the store console's "back up" action)
