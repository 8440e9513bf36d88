"""Provisioning: the Celery chain that drives helm and kubectl to create and delete stores."""

from django.apps import AppConfig


def _propagate_password(sender, *, user, new_password: str, **kwargs) -> dict:
    """accounts' password_changed: the tenant's new password goes to its ready stores' admin accounts."""
    from provisioning.services import propagate_password

    return propagate_password(user=user, new_password=new_password)


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.signals import password_changed

        password_changed.connect(_propagate_password, dispatch_uid="provisioning.propagate_password")
