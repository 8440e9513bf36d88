"""The Redis semaphore and the per-store lock: the limit holds across real OS processes, FIFO order, a full
queue, a timed-out wait, a killed worker's lease expiring, stats; lock exclusivity and token-checked release."""

import os
import signal
import threading
import uuid

import pytest

from core.redis import get_redis, key
from provisioning import concurrency
from provisioning.concurrency import Semaphore
from provisioning.errors import QueueFull, QueueTimeout, StoreBusy
from provisioning.tests.conftest import wait_until


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def holders(semaphore: Semaphore) -> list[str]:
    """Labels of the operations holding a slot, as Redis has them (the semaphore's ops hash)."""
    return sorted(label.decode() for label in get_redis().hvals(key("sem", semaphore.name, "ops")))


def events(name: str) -> list[str]:
    return [e.decode() for e in get_redis().lrange(key(name), 0, -1)]


def max_overlap(log: list[str]) -> int:
    running = peak = 0
    for event in log:
        running += 1 if event.startswith("+") else -1
        peak = max(peak, running)
    return peak


def test_the_limit_holds_across_processes_and_a_waiter_gets_the_freed_slot(workers):
    name, log, release = unique("sem"), unique("events"), unique("release")
    semaphore = Semaphore(name, max_concurrent=2)
    for _ in range(3):
        workers.start("hold", name, 2, 30, log, release)
    wait_until(lambda: len(events(log)) == 2, message="two workers holding slots")
    wait_until(lambda: semaphore.stats()["queued"] == 1, message="the third worker queued")
    assert semaphore.stats()["active"] == 2
    assert len(events(log)) == 2  # the third is still waiting while both slots are held

    get_redis().rpush(key(release), 1)  # one holder finishes
    wait_until(lambda: len([e for e in events(log) if e.startswith("+")]) == 3, message="the waiter got the slot")
    get_redis().rpush(key(release), 1, 1)
    for proc in workers.procs:
        assert proc.wait(timeout=60) == 0
    assert max_overlap(events(log)) == 2
    stats = semaphore.stats()
    assert (stats["active"], stats["queued"], stats["totalAcquired"]) == (0, 0, 3)


def test_waiters_are_served_in_arrival_order():
    semaphore = Semaphore(unique("sem"), max_concurrent=1, max_queue=5, queue_timeout=30)
    holder = semaphore.acquire("holder")
    order: list[str] = []

    def wait_then_release(label: str) -> None:
        lease = semaphore.acquire(label)
        order.append(label)
        lease.release()

    threads = []
    for n, label in enumerate(["first", "second", "third"], start=1):
        thread = threading.Thread(target=wait_then_release, args=(label,))
        thread.start()
        threads.append(thread)
        wait_until(lambda n=n: semaphore.stats()["queued"] == n, message=f"{label} queued")
    holder.release()
    for thread in threads:
        thread.join(timeout=30)
    assert order == ["first", "second", "third"]


def test_a_full_queue_rejects_at_once_and_counts_it():
    semaphore = Semaphore(unique("sem"), max_concurrent=1, max_queue=1, queue_timeout=30)
    holder = semaphore.acquire("holder")
    waiter = threading.Thread(target=lambda: semaphore.acquire("waiter").release())
    waiter.start()
    wait_until(lambda: semaphore.stats()["queued"] == 1, message="waiter queued")
    with pytest.raises(QueueFull) as caught:
        semaphore.acquire("third")
    assert caught.value.code == "PROVISIONING_QUEUE_FULL"
    stats = semaphore.stats()
    assert (stats["active"], stats["queued"], stats["totalRejected"]) == (1, 1, 1)
    holder.release()
    waiter.join(timeout=30)
    assert semaphore.stats()["totalAcquired"] == 2


def test_a_wait_past_the_timeout_fails_and_leaves_the_queue():
    semaphore = Semaphore(unique("sem"), max_concurrent=1, queue_timeout=0.5)
    holder = semaphore.acquire("holder")
    with pytest.raises(QueueTimeout) as caught:
        semaphore.acquire("late")
    assert caught.value.code == "PROVISIONING_QUEUE_TIMEOUT"
    stats = semaphore.stats()
    assert (stats["active"], stats["queued"], stats["totalTimedOut"], stats["totalAcquired"]) == (1, 0, 1, 1)
    assert semaphore.renew(holder.token) is True  # the holder is untouched


def test_a_killed_workers_slot_frees_itself_when_its_lease_expires(workers):
    name, log, release = unique("sem"), unique("events"), unique("release")
    semaphore = Semaphore(name, max_concurrent=1, lease_seconds=3)
    proc = workers.start("hold", name, 1, 3, log, release)
    wait_until(lambda: events(log), message="the worker holding the slot")
    # While the worker lives it renews its lease, so waiting longer than one lease gets nothing.
    with pytest.raises(QueueTimeout):
        semaphore.acquire("parent", timeout=4)
    assert semaphore.stats()["active"] == 1

    os.kill(proc.pid, signal.SIGKILL)  # no release, no renewal
    proc.wait(timeout=10)
    lease = semaphore.acquire("parent", timeout=30)
    assert holders(semaphore) == ["parent"]
    assert lease.release() is True


def test_release_is_idempotent_and_frees_the_slot():
    semaphore = Semaphore(unique("sem"), max_concurrent=1)
    lease = semaphore.acquire("a")
    assert lease.release() is True
    assert lease.release() is False
    assert semaphore.stats()["active"] == 0
    semaphore.acquire("b", timeout=0).release()


def test_slot_context_releases_on_error_and_renews_while_held():
    semaphore = Semaphore(unique("sem"), max_concurrent=1, lease_seconds=0.6)
    with pytest.raises(RuntimeError), semaphore.slot("job") as lease:
        threading.Event().wait(1.5)  # longer than the lease: only renewal keeps it
        assert holders(semaphore) == ["job"]
        assert not lease.lost
        raise RuntimeError("the step failed")
    assert semaphore.stats()["active"] == 0


def test_stats_shape_for_health(settings):
    settings.PROVISIONING_MAX_CONCURRENT = 3
    settings.PROVISIONING_MAX_QUEUE = 10
    lease = concurrency.provisioning_semaphore().acquire("store-1:create")
    assert concurrency.stats() == {
        "active": 1,
        "queued": 0,
        "maxConcurrent": 3,
        "maxQueueSize": 10,
        "totalAcquired": 1,
        "totalRejected": 0,
        "totalTimedOut": 0,
        "activeOperations": 1,
    }
    lease.release()


def test_store_lock_is_exclusive_per_store():
    with concurrency.store_lock("store-a") as held:
        with pytest.raises(StoreBusy):
            concurrency.acquire_store_lock("store-a")
        other = concurrency.acquire_store_lock("store-b")  # another store is not affected
        other.release()
        assert not held.lost
    concurrency.acquire_store_lock("store-a").release()  # free again after the block


def test_store_lock_release_never_frees_someone_elses_lock():
    stale = concurrency.acquire_store_lock("store-c", ttl=0.3)
    wait_until(lambda: not concurrency.is_store_locked("store-c"), message="the stale lock expiring")
    current = concurrency.acquire_store_lock("store-c", ttl=30)
    assert stale.release() is False  # its token no longer matches
    assert concurrency.is_store_locked("store-c")
    with pytest.raises(StoreBusy):
        concurrency.acquire_store_lock("store-c")
    assert current.release() is True
    assert not concurrency.is_store_locked("store-c")


def test_store_lock_is_renewed_while_held():
    with concurrency.store_lock("store-d", ttl=0.6) as held:
        threading.Event().wait(1.5)
        assert concurrency.is_store_locked("store-d")
        assert held.renew() is True
    assert not concurrency.is_store_locked("store-d")
