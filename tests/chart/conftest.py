"""Fixtures of the chart tests: helm presence is checked once so a missing helm fails with one clear message."""

import pytest

from .tools import helm_bin


@pytest.fixture(scope="session", autouse=True)
def _helm_present():
    helm_bin()  # raises ToolMissing with the fix in its message
