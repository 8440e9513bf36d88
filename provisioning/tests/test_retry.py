"""Backoff with full jitter: schedule bounds, settings-driven countdowns, and retrying only what is retryable."""

import random

import pytest

from provisioning import retry
from provisioning.errors import ClusterUnreachable, CommandFailed, QueueFull


class Extreme:
    """An rng that always draws the top (or bottom) of the range."""

    def __init__(self, top: bool) -> None:
        self.top = top

    def uniform(self, a: float, b: float) -> float:
        return b if self.top else a


def test_ceilings_double_up_to_the_cap():
    assert retry.backoff_delays(7, base=1, cap=10, rng=Extreme(top=True)) == [1, 2, 4, 8, 10, 10, 10]
    assert retry.backoff_delays(4, base=1, cap=10, rng=Extreme(top=False)) == [0, 0, 0, 0]


def test_every_jittered_delay_lies_within_its_ceiling():
    rng = random.Random(42)
    for _ in range(200):
        delays = retry.backoff_delays(8, base=2, cap=60, rng=rng)
        assert len(delays) == 8
        for n, delay in enumerate(delays):
            assert 0 <= delay <= min(60, 2 * 2**n)


def test_jitter_spreads_workers_that_failed_together():
    rng = random.Random(7)
    firsts = {round(retry.backoff_delays(3, base=2, cap=60, rng=rng)[2], 3) for _ in range(20)}
    assert len(firsts) > 10


def test_huge_attempt_numbers_stay_at_the_cap():
    assert retry.ceiling(10_000, base=2, cap=60) == 60


def test_countdown_for_reads_settings(settings):
    settings.PROVISIONING_RETRY_BASE_SECONDS = 3
    settings.PROVISIONING_RETRY_MAX_SECONDS = 20
    assert [retry.countdown_for(n, rng=Extreme(top=True)) for n in range(5)] == [3, 6, 12, 20, 20]
    assert 0 <= retry.countdown_for(2) <= 12


def test_should_retry_only_retryable_errors_within_the_limit(settings):
    settings.PROVISIONING_MAX_RETRIES = 3
    unreachable = ClusterUnreachable(argv=["kubectl"], returncode=1, stderr_tail="connection refused")
    refused = CommandFailed(argv=["helm"], returncode=1, stderr_tail="Error: chart says no")
    assert retry.should_retry(unreachable, attempt=0)
    assert retry.should_retry(QueueFull(), attempt=2)
    assert not retry.should_retry(unreachable, attempt=3)
    assert not retry.should_retry(refused, attempt=0)
    assert not retry.should_retry(ValueError("bug"), attempt=0)


def test_call_with_retries_retries_retryable_errors_then_succeeds():
    outcomes = [ClusterUnreachable(argv=["k"], returncode=1, stderr_tail=""), QueueFull(), "done"]
    slept: list[float] = []

    def step():
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert retry.call_with_retries(step, attempts=3, base=1, cap=10, sleep=slept.append, rng=Extreme(True)) == "done"
    assert slept == [1, 2]


def test_call_with_retries_gives_up_at_once_on_a_refusal_and_after_the_attempts_otherwise():
    calls = []

    def refused():
        calls.append(1)
        raise CommandFailed(argv=["helm"], returncode=1, stderr_tail="no")

    with pytest.raises(CommandFailed):
        retry.call_with_retries(refused, attempts=3, base=1, cap=10, sleep=lambda s: None)
    assert len(calls) == 1

    calls.clear()

    def unreachable():
        calls.append(1)
        raise ClusterUnreachable(argv=["k"], returncode=1, stderr_tail="")

    with pytest.raises(ClusterUnreachable):
        retry.call_with_retries(unreachable, attempts=2, base=1, cap=10, sleep=lambda s: None)
    assert len(calls) == 3
