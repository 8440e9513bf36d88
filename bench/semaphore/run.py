"""Benchmark of the Redis provisioning semaphore, each number printed as a ratio against a baseline measured in the
same run: the cost of an uncontended acquire+release against plain Redis round trips, the hand-off latency from
a release to the next waiter against one round trip, and the throughput of a saturated semaphore against the
ideal (jobs / limit x hold time). Run: .venv/bin/python bench/semaphore/run.py"""

import os
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "true")
os.environ["REDIS_KEY_PREFIX"] = f"sp-bench-{os.getpid()}"

import django  # noqa: E402

django.setup()

from core.redis import get_redis, key  # noqa: E402
from provisioning.concurrency import Semaphore  # noqa: E402

ROUNDS = 300


def median_seconds(fn, rounds: int = ROUNDS) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def baseline_round_trips() -> float:
    """Two plain round trips (SET NX PX, DEL): the least a Redis lock could cost."""
    client, name = get_redis(), key("bench", "baseline")

    def cycle():
        client.set(name, "1", nx=True, px=30000)
        client.delete(name)

    return median_seconds(cycle)


def uncontended_cycle() -> float:
    semaphore = Semaphore("bench-uncontended", max_concurrent=3)
    return median_seconds(lambda: semaphore.acquire("bench").release())


def handoff_latency(rounds: int = 50) -> float:
    """From a holder's release to the queued waiter holding the slot (push wake-up, not polling)."""
    semaphore = Semaphore("bench-handoff", max_concurrent=1, queue_timeout=30)
    samples = []
    for _ in range(rounds):
        holder = semaphore.acquire("holder")
        got: list[float] = []

        def wait_for_slot(got=got):
            semaphore.acquire("waiter")
            got.append(time.perf_counter())

        waiter = threading.Thread(target=wait_for_slot)
        waiter.start()
        while semaphore.stats()["queued"] == 0:
            time.sleep(0.001)
        released = time.perf_counter()
        holder.release()
        waiter.join()
        samples.append(got[0] - released)
        for token in list(get_redis().zrange(key("sem", "bench-handoff", "holders"), 0, -1)):
            semaphore.release(token.decode())
    return statistics.median(samples)


def saturated_throughput(workers: int = 6, jobs_each: int = 10, limit: int = 3, hold: float = 0.1) -> float:
    semaphore = Semaphore("bench-throughput", max_concurrent=limit, max_queue=workers, queue_timeout=60)

    def work():
        for _ in range(jobs_each):
            with semaphore.slot("job"):
                time.sleep(hold)

    threads = [threading.Thread(target=work) for _ in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    return elapsed / (workers * jobs_each / limit * hold)


def main() -> None:
    try:
        base = baseline_round_trips()
        cycle = uncontended_cycle()
        handoff = handoff_latency()
        throughput_ratio = saturated_throughput()
        print(f"baseline: 2 Redis round trips        {base * 1000:8.3f} ms (median of {ROUNDS})")
        print(f"acquire+release, uncontended        {cycle * 1000:8.3f} ms  ratio {cycle / base:5.2f} x baseline")
        trip = base / 2
        print(
            f"hand-off release -> next waiter  {handoff * 1000:8.3f} ms  ratio {handoff / trip:5.2f} x one round trip"
        )
        print(f"saturated: 60 jobs of 100 ms, limit 3  elapsed/ideal ratio {throughput_ratio:5.2f}")
    finally:
        client = get_redis()
        for name in client.scan_iter(match=f"{os.environ['REDIS_KEY_PREFIX']}:*", count=1000):
            client.delete(name)


if __name__ == "__main__":
    main()
