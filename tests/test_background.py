"""harness.background: work done while a block runs (alongside), or until it is finished (Started)."""

from __future__ import annotations

import threading

import pytest

from harness.background import Started, alongside


def test_the_work_runs_while_the_block_runs_and_is_done_at_its_end():
    started, finished = threading.Event(), []

    def work():
        started.set()
        finished.append(True)

    with alongside(work):
        # Waiting here for the work to start would never end if it ran only after the block.
        assert started.wait(timeout=30)
    assert finished == [True]


def test_the_work_error_is_raised_after_the_block():
    block_done = []

    def work():
        raise ValueError("from the work")

    with pytest.raises(ValueError, match="from the work"):
        with alongside(work):
            block_done.append(True)
    assert block_done == [True]


def test_the_block_error_wins_over_the_work_error():
    def work():
        raise ValueError("from the work")

    with pytest.raises(KeyError):
        with alongside(work):
            raise KeyError("from the block")


def test_no_work_is_a_plain_block_with_no_thread():
    ran = []
    with alongside(None):
        ran.append(True)
        assert not [t for t in threading.enumerate() if t.name == "alongside"]
    assert ran == [True]


def test_started_work_gives_its_result_when_finished():
    release = threading.Event()
    started = Started(lambda: release.wait(30) and "held")
    release.set()
    assert started.finish() == "held"


def test_started_work_raises_its_error_when_finished_and_wait_does_not():
    started = Started(lambda: {}["missing"])
    started.wait()
    with pytest.raises(KeyError):
        started.finish()
