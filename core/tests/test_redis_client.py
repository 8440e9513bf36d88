"""The process's Redis client is built once even when a worker's threads ask for it at the same moment."""

import threading
import time

import redis

from core.redis import get_redis, reset_redis_client


def test_threads_asking_at_once_share_one_client_and_none_is_closed_under_another(monkeypatch):
    build = redis.Redis.from_url

    def slow_build(*args, **kwargs):  # widens the window in which a second thread could build its own client
        time.sleep(0.05)
        return build(*args, **kwargs)

    monkeypatch.setattr(redis.Redis, "from_url", slow_build)
    reset_redis_client()
    barrier = threading.Barrier(16)
    clients, errors = [], []

    def ask() -> None:
        barrier.wait()
        try:
            client = get_redis()
            clients.append(client)
            for _ in range(20):
                pipe = client.pipeline(transaction=False)
                pipe.ping()
                pipe.ping()
                pipe.execute()
        except Exception as exc:  # noqa: BLE001  (any error is the failure being tested for)
            errors.append(repr(exc))

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len({id(c) for c in clients}) == 1 and len(clients) == 16
    assert get_redis() is clients[0]
    reset_redis_client()  # the next test builds a client without the slow builder
