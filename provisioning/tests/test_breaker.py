"""Circuit breakers in Redis: closed -> open at the threshold, half-open after the reset timeout with one trial,
success closes, failure reopens; only infrastructure failures count; state shared between worker processes."""

import time

import pytest

from provisioning import breaker
from provisioning.errors import BinaryMissing, CircuitOpen, ClusterUnreachable, CommandFailed, CommandTimedOut
from provisioning.tests.conftest import wait_until


@pytest.fixture(autouse=True)
def _numbers(settings):
    settings.CB_FAILURE_THRESHOLD = 3
    settings.CB_RESET_TIMEOUT_SECONDS = 0.5
    settings.CB_HALF_OPEN_MAX = 1


def fail(name="helm", error=None):
    with pytest.raises(type(error or CommandTimedOut(argv=["helm"], timeout=1))), breaker.guard(name):
        raise error or CommandTimedOut(argv=["helm"], timeout=1)


def succeed(name="helm"):
    ran = []
    with breaker.guard(name):
        ran.append(True)
    return ran == [True]


def state(name="helm"):
    return breaker.stats(name)["state"]


def test_opens_at_the_threshold_and_then_rejects_without_calling():
    fail()
    fail(error=ClusterUnreachable(argv=["helm"], returncode=1, stderr_tail="connection refused"))
    assert state() == "CLOSED"
    assert breaker.stats("helm")["failureCount"] == 2
    fail()
    assert state() == "OPEN"
    ran = []
    with pytest.raises(CircuitOpen) as caught, breaker.guard("helm"):
        ran.append(True)
    assert ran == []
    assert caught.value.code == "CIRCUIT_OPEN"
    assert "Circuit breaker 'helm' is OPEN" in str(caught.value)
    assert "Retry in 1s" in str(caught.value)
    assert state("kubernetes") == "CLOSED"  # breakers are independent


def test_refusals_and_our_own_errors_do_not_count():
    for _ in range(5):
        fail(error=CommandFailed(argv=["helm"], returncode=1, stderr_tail="Error: chart says no"))
        fail(error=BinaryMissing(argv=["helm"], reason="executable not found"))
        with pytest.raises(KeyError), breaker.guard("helm"):
            raise KeyError("bug")
    assert state() == "CLOSED"
    assert breaker.stats("helm")["failureCount"] == 0


def test_a_success_resets_the_consecutive_failures():
    fail()
    fail()
    assert succeed()
    fail()
    fail()
    assert state() == "CLOSED"


def test_half_open_after_the_reset_timeout_admits_one_trial_and_a_success_closes():
    for _ in range(3):
        fail()
    wait_until(lambda: state() == "HALF_OPEN", message="the reset timeout")
    # While the trial runs, nobody else gets through.
    with breaker.guard("helm"), pytest.raises(CircuitOpen), breaker.guard("helm"):
        pass
    assert state() == "CLOSED"
    stats = breaker.stats("helm")
    assert stats["failureCount"] == 0
    assert stats["successCount"] == 1


def test_a_failed_trial_reopens():
    for _ in range(3):
        fail()
    wait_until(lambda: state() == "HALF_OPEN", message="the reset timeout")
    fail()
    assert state() == "OPEN"
    with pytest.raises(CircuitOpen):
        succeed()


def test_state_is_shared_between_worker_processes(workers, settings):
    settings.CB_RESET_TIMEOUT_SECONDS = 5  # long enough to see OPEN here after the other process opened it
    numbers = {"CB_FAILURE_THRESHOLD": "3", "CB_RESET_TIMEOUT_SECONDS": "5"}
    assert workers.run("breaker", "helm", "timeout", 3, env=numbers) == "OPEN"
    assert state() == "OPEN"
    with pytest.raises(CircuitOpen):
        succeed()
    wait_until(lambda: state() == "HALF_OPEN", message="the reset timeout")
    assert succeed()
    assert workers.run("state", "helm", env=numbers) == "CLOSED"
    # Refusals in another process change nothing here either.
    assert workers.run("breaker", "helm", "refused", 5, env=numbers) == "CLOSED"
    assert state() == "CLOSED"


def test_stats_and_state_values():
    before = int(time.time() * 1000)
    assert breaker.state_value("helm") == 0
    for _ in range(3):
        fail()
    assert breaker.state_value("helm") == 2
    stats = {s["name"]: s for s in breaker.all_stats()}
    assert set(stats) == {"helm", "kubernetes"}
    assert stats["helm"] == {
        "name": "helm",
        "state": "OPEN",
        "failureCount": 3,
        "successCount": 0,
        "failureThreshold": 3,
        "resetTimeoutMs": 500,
        "lastFailureTime": stats["helm"]["lastFailureTime"],
    }
    assert stats["helm"]["lastFailureTime"] >= before - 1000  # epoch ms, Redis's clock
    assert stats["kubernetes"]["lastFailureTime"] is None
    wait_until(lambda: breaker.state_value("helm") == 1, message="half-open")
    breaker.reset("helm")
    assert breaker.state_value("helm") == 0
