"""Fixtures of the fault suite: one private PostgreSQL and Redis for the whole run (migrated once), and per case
a clean private platform (no rows, empty Redis) whose processes and cluster leftovers are removed afterwards."""

import tempfile
from pathlib import Path

import pytest

from tests.faults.harness import (
    Platform,
    PrivatePostgres,
    PrivateRedis,
    cluster_healthy,
    migrate,
    reset_database,
    scrub,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "faults"


@pytest.fixture(scope="session")
def private_services(k8s_cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("faults-services")
    # PostgreSQL runs as its own user, who cannot enter pytest's private temporary directories.
    pg_root = Path(tempfile.mkdtemp(prefix="storeplane-faults-pg-"))
    pg, redis = PrivatePostgres(pg_root), PrivateRedis(root / "redis")
    pg.init()
    redis.start()
    try:
        migrate(pg, redis, k8s_cluster)
        yield pg, redis
    finally:
        if redis.answers():
            redis.stop()
        pg.stop()
        scrub(pg_root)


@pytest.fixture
def platform(private_services, k8s_cluster, request):
    pg, redis = private_services
    if not redis.answers():  # a case that failed half way through its outage
        redis.start()
    pg.start() if not _pg_answers(pg) else None
    reset_database(pg)
    redis.cli("flushall")
    # The processes' logs outlive pytest's rotation of temporary directories: artifacts/faults/<case>/.
    logs = ARTIFACTS / request.node.name
    scrub(logs)
    logs.mkdir(parents=True)
    handle = Platform(pg, redis, k8s_cluster, logs)
    try:
        yield handle
    finally:
        handle.stop_all()
        handle.remove_stores()
        assert cluster_healthy(), "the local cluster is not healthy after the case"


def _pg_answers(pg: PrivatePostgres) -> bool:
    try:
        pg.connect().close()
        return True
    except Exception:  # noqa: BLE001  (down is what we ask about)
        return False
