"""WSGI entry point for gunicorn; installs the drain handler so /health/ready answers 503 while shutting down."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

from config.lifecycle import install_drain_handler  # noqa: E402  (needs settings loaded)

install_drain_handler()
