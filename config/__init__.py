"""The Django project package (named `config`, not `platform`, so it never shadows the standard library)."""

from .celery import app as celery_app

__all__ = ("celery_app",)
