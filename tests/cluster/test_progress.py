"""A long step of the local cluster's tooling says what it is doing while it runs (a first `make run` builds
Kubernetes for minutes), and a short one says nothing."""

import time

import pytest

from scripts.localcluster.util import elapsed, progress


def test_a_long_step_reports_while_it_runs_and_when_it_ends():
    said: list[str] = []
    with progress("building things", every=0.2, quiet=0.1, say=said.append):
        time.sleep(0.75)
    beats = [s for s in said if "still running" in s]
    assert len(beats) >= 3, said
    assert all(s.startswith("building things: still running, ") and s.endswith(" elapsed") for s in beats)
    assert said[-1].startswith("building things: done after ")


def test_a_short_step_is_quiet_and_a_failing_one_says_so():
    said: list[str] = []
    with progress("quick", every=0.2, quiet=0.5, say=said.append):
        pass
    assert said == []
    with pytest.raises(RuntimeError), progress("doomed", every=5, quiet=0.05, say=said.append):
        time.sleep(0.1)
        raise RuntimeError("no")
    assert said[-1].startswith("doomed: failed after ")


def test_elapsed_reads_as_minutes_and_seconds():
    assert (elapsed(5.4), elapsed(90), elapsed(600)) == ("5s", "1m30s", "10m00s")
