"""Start-up checks of the composition root: a misconfiguration that would break every request fails fast with
a message saying what to do (as core.env's secret check does), instead of a 500 on every page."""

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

STATIC_MANIFEST_MISSING = "storeplane.E001"
# Our own tag, not Tags.staticfiles: collectstatic runs the staticfiles checks, and it is what writes the manifest.
TAG = "storeplane"


@checks.register(TAG)
def static_manifest_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """With DJANGO_DEBUG off, static files are served from collectstatic's manifest: without it, rendering any
    page raises ("Missing staticfiles manifest entry") and every page answers 500."""
    from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage

    if not isinstance(staticfiles_storage, ManifestFilesMixin):  # DEBUG and tests serve files as they are
        return []
    manifest = Path(settings.STATIC_ROOT) / staticfiles_storage.manifest_name
    if manifest.is_file():
        return []
    return [
        checks.Error(
            f"DJANGO_DEBUG is off and the static files manifest {manifest} does not exist: every page would answer "
            "500 (missing staticfiles manifest).",
            hint="Run `python manage.py collectstatic --noinput` before starting the web server (the Dockerfile "
            "does), or set DJANGO_DEBUG=true for local development.",
            id=STATIC_MANIFEST_MISSING,
        )
    ]


def fail_fast() -> None:
    """For servers that run no system checks (gunicorn): raise on any error the start-up checks report."""
    errors = [message for message in static_manifest_check() if message.is_serious()]
    if errors:
        raise ImproperlyConfigured("\n".join(f"{e.msg} {e.hint}" for e in errors))
