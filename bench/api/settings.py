"""Settings for the API benchmark: the production settings (DEBUG off, from the environment the bench script sets)
plus one extra route, the floor view, so both are served by the same gunicorn in the same run."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.api.urls"
