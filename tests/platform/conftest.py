"""Fixtures of the platform chart tests: helm presence is checked once, as for the store chart."""

import pytest

from tests.chart.tools import helm_bin


@pytest.fixture(scope="session", autouse=True)
def _helm_present():
    helm_bin()  # raises ToolMissing with the fix in its message
