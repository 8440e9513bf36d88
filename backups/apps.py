"""Backups: the app's start-up wiring into the layers below it, which cannot import it."""

from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # `restoreFrom` in store creation, the restore's steps in the create chain and the backup before an upgrade:
        # stores and provisioning offer these hooks; registering twice (tests reloading apps) must not run one twice.
        from backups import restore, services
        from provisioning import lifecycle, recovery
        from provisioning import services as provisioning_services
        from stores import services as store_services

        for hooks, hook in (
            (store_services.RESTORE_PLANNERS, restore.plan_restore),
            (provisioning_services.BEFORE_CREATE, restore.verify_before_create),
            (provisioning_services.AFTER_ENGINE_SETUP, restore.load_after_setup),
            # An upgrade (the fleet's too) takes a backup before helm upgrade runs.
            (lifecycle.BEFORE_UPGRADE, services.backup_before_upgrade),
            # Recovery (recover_stores, beat, worker start) fails the backups whose worker was lost.
            (recovery.SWEEPS, services.backups_recover),
        ):
            if hook not in hooks:
                hooks.append(hook)
        from backups import admin_actions  # noqa: F401  (the store console's "back up" action)
