"""Fixtures for the local image tests: the built archives (cached by content hash) and podman pods with no network.

Containers run under podman with `--network none`, so nothing they do can send a packet off the machine; checks run
inside them through `podman exec`. Every pod a test starts is removed when the test ends, pass or fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from scripts.localcluster.images import build  # noqa: E402

PODMAN = list(build.PODMAN)
# Our podman settings (default ulimits for every container, including a pod's infra container), for our calls only.
PODMAN_ENV = {**os.environ, "CONTAINERS_CONF": str(Path(__file__).with_name("containers.conf"))}


def podman(*args: str, stdin: str | None = None, check: bool = True, timeout: int = 120) -> subprocess.CompletedProcess:
    """Runs podman; on an unexpected failure the assertion shows the command's stderr."""
    proc = subprocess.run(
        [*PODMAN, *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False, env=PODMAN_ENV
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args[:3])} ... exit {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


@pytest.fixture(scope="session")
def image_cache_dir() -> Path:
    return Path(os.environ.get("STOREPLANE_IMAGE_CACHE", str(build.DEFAULT_CACHE_DIR))).expanduser()


@pytest.fixture(scope="session")
def built_images(image_cache_dir: Path) -> dict[str, build.BuildResult]:
    """All images, built once per machine (the cache makes this a few seconds when nothing changed);
    STOREPLANE_TEST_IMAGES=wordpress,mariadb builds only those (tests of one image while others are being changed)."""
    build.ensure_host_tools(image_cache_dir / "logs" / "host-tools.log")
    names = [name for name in os.environ.get("STOREPLANE_TEST_IMAGES", "").split(",") if name]
    results = build.build_images(image_cache_dir, names or None)
    return {result.ref.split("/")[1].split(":")[0]: result for result in results}


@pytest.fixture(scope="session")
def load_image(built_images: dict[str, build.BuildResult]) -> Callable[[str], str]:
    """Loads an image's docker-archive into podman (once per session) and returns its ref."""
    loaded: set[str] = set()

    def load(name: str) -> str:
        result = built_images[name]
        if name not in loaded:
            podman("load", "-q", "-i", str(result.archive), timeout=300)
            loaded.add(name)
        return result.ref

    return load


@dataclass
class Pod:
    """A podman pod with no network: its containers share only loopback, like the containers of one k8s pod."""

    name: str
    containers: list[str] = field(default_factory=list)

    def run(
        self, ref: str, name: str, env: dict[str, str], volumes: dict[Path, str] | None = None, user: str | None = None
    ) -> str:
        args = ["run", "-d", "--pod", self.name, "--name", f"{self.name}-{name}", *build.PODMAN_RUN_LIMITS]
        for key in env:
            # Values reach podman through its environment (`-e KEY` copies it), not through argv.
            args += ["-e", key]
        for host, target in (volumes or {}).items():
            args += ["-v", f"{host}:{target}"]
        if user:
            args += ["--user", user]
        proc = subprocess.run(
            [*PODMAN, *args, ref], capture_output=True, text=True, timeout=120, check=False, env={**PODMAN_ENV, **env}
        )
        assert proc.returncode == 0, proc.stderr
        self.containers.append(f"{self.name}-{name}")
        return f"{self.name}-{name}"

    def exec(
        self,
        container: str,
        *argv: str,
        stdin: str | None = None,
        env: dict[str, str] | None = None,
        timeout: int = 120,
    ) -> subprocess.CompletedProcess:
        args = ["exec", "-i"] if stdin is not None else ["exec"]
        for key in env or {}:
            args += ["-e", key]
        return subprocess.run(
            [*PODMAN, *args, container, *argv],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env={**PODMAN_ENV, **(env or {})},
        )

    def logs(self, container: str) -> str:
        proc = podman("logs", container, check=False)
        return proc.stdout + proc.stderr

    def wait_exit(self, container: str, timeout: int = 120) -> int:
        """Waits for the container to stop and returns its exit code."""
        return int(podman("wait", container, timeout=timeout).stdout.strip().splitlines()[-1])

    def remove(self, container: str) -> None:
        podman("rm", "-f", "-t", "0", container, check=False)
        self.containers.remove(container)

    def wait_for(self, container: str, probe: Callable[[], bool], what: str, timeout: float = 180) -> None:
        """Polls probe until it holds; fails with the container's log tail when it does not in time."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if probe():
                return
            state = podman("inspect", "-f", "{{.State.Running}}", container, check=False).stdout.strip()
            if state == "false":
                break
            time.sleep(1)
        raise AssertionError(f"{what} not reached in {timeout}s; log of {container}:\n{self.logs(container)[-3000:]}")


@pytest.fixture
def pod() -> Iterator[Pod]:
    name = f"sp-imgtest-{uuid.uuid4().hex[:8]}"
    podman("pod", "create", "--network", "none", "--name", name)
    the_pod = Pod(name)
    try:
        yield the_pod
    finally:
        podman("pod", "rm", "-f", "-t", "0", name, check=False)


@pytest.fixture
def volume(tmp_path: Path) -> Callable[[str, int], Path]:
    """A host directory for a data volume, owned by the uid the image runs as (what fsGroup gives in k8s)."""

    def make(name: str, uid: int) -> Path:
        path = tmp_path / name
        path.mkdir()
        os.chown(path, uid, uid)
        return path

    return make
