"""Backoff with full jitter: schedule bounds and settings-driven countdowns (what the tasks retry with)."""

import random

from provisioning import retry


class Extreme:
    """An rng that always draws the top (or bottom) of the range."""

    def __init__(self, top: bool) -> None:
        self.top = top

    def uniform(self, a: float, b: float) -> float:
        return b if self.top else a


def test_ceilings_double_up_to_the_cap():
    assert [retry.countdown_for(n, base=1, cap=10, rng=Extreme(top=True)) for n in range(7)] == [1, 2, 4, 8, 10, 10, 10]
    assert [retry.countdown_for(n, base=1, cap=10, rng=Extreme(top=False)) for n in range(4)] == [0, 0, 0, 0]


def test_every_jittered_delay_lies_within_its_ceiling():
    rng = random.Random(42)
    for _ in range(200):
        for n in range(8):
            assert 0 <= retry.countdown_for(n, base=2, cap=60, rng=rng) <= min(60, 2 * 2**n)


def test_jitter_spreads_workers_that_failed_together():
    rng = random.Random(7)
    thirds = {round(retry.countdown_for(2, base=2, cap=60, rng=rng), 3) for _ in range(20)}
    assert len(thirds) > 10


def test_huge_attempt_numbers_stay_at_the_cap():
    assert retry.ceiling(10_000, base=2, cap=60) == 60


def test_countdown_for_reads_settings(settings):
    settings.PROVISIONING_RETRY_BASE_SECONDS = 3
    settings.PROVISIONING_RETRY_MAX_SECONDS = 20
    assert [retry.countdown_for(n, rng=Extreme(top=True)) for n in range(5)] == [3, 6, 12, 20, 20]
    assert 0 <= retry.countdown_for(2) <= 12
