"""WSGI entry point for gunicorn: refuses to start when config.checks finds a fatal misconfiguration, and installs
the drain handler so /health/ready answers 503 while shutting down."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

from config.checks import fail_fast  # noqa: E402  (needs settings loaded)
from config.lifecycle import install_drain_handler  # noqa: E402

fail_fast()  # gunicorn runs no system checks: a web server that would answer 500 everywhere refuses to start
install_drain_handler()
