"""`make test` lints and type-checks before it runs pytest (STYLE habit 15): ruff check, ruff format --check and
mypy on the files pyproject.toml lists (services, selectors, runner, parsers)."""

import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_make_test_runs_ruff_and_mypy_before_pytest():
    planned = subprocess.run(["make", "-n", "test"], cwd=ROOT, capture_output=True, text=True, timeout=60).stdout
    lines = planned.splitlines()

    def position(fragment: str) -> int:
        return next(i for i, line in enumerate(lines) if fragment in line)

    pytest_at = position("/pytest")
    for command in ("ruff check .", "ruff format --check .", "/mypy"):
        assert position(command) < pytest_at, command


def test_mypy_checks_the_services_selectors_runner_and_parsers():
    files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    services_and_selectors = {
        str(p.relative_to(ROOT)) for name in ("services", "selectors") for p in ROOT.glob(f"*/{name}.py")
    }
    assert services_and_selectors | {"provisioning/runner.py"} <= set(files)
    assert {"provisioning/helm.py", "provisioning/kubectl.py"} <= set(files)  # the parsers of helm's and kubectl's JSON
    assert all((ROOT / f).is_file() for f in files)
