"""Conversion progress lines: new steps at once, heartbeats for silent levels, time left only
where a step measures its progress. A fake clock; no TensorFlow."""

from __future__ import annotations

import sys

from harness.convert import workers
from harness.convert.progress import Tracker, step_time_left_s


class Clock:
    def __init__(self):
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def tracker_with_lines(heartbeat_s: float = 4.0):
    lines: list[str] = []
    clock = Clock()
    return Tracker(lines.append, heartbeat_s=heartbeat_s, clock=clock), lines, clock


def test_a_new_step_is_printed_at_once_and_progress_within_it_only_at_heartbeats():
    tracker, lines, clock = tracker_with_lines()
    tracker.step("pruned-50", "fine-tuning", "epoch 1/4", 0.0)
    clock.now_s += 1
    tracker.step("pruned-50", "fine-tuning", "epoch 2/4", 0.25)
    assert lines == ["pruned-50: fine-tuning epoch 1/4, 0.0 s elapsed"]
    clock.now_s += 3
    tracker.step("pruned-50", "fine-tuning", "epoch 3/4", 0.625)
    assert lines[-1] == "pruned-50: fine-tuning epoch 3/4, 4.0 s elapsed, about 3 s left"


def test_the_time_left_is_paced_from_the_first_progress_not_from_a_slow_start():
    """As pruned-50 went under load: 8 s of tracing and compiling before 6% of its epochs were
    done, then 6% more per 0.5 s. The old estimate from the step's start said 125 s."""
    tracker, lines, clock = tracker_with_lines(heartbeat_s=0.5)
    tracker.step("pruned-50", "fine-tuning", "epoch 1/4", 0.0)
    clock.now_s += 8
    tracker.step("pruned-50", "fine-tuning", "epoch 1/4", 0.06)
    assert lines[-1] == "pruned-50: fine-tuning epoch 1/4, 8.0 s elapsed"  # one point is no pace
    clock.now_s += 0.5
    tracker.step("pruned-50", "fine-tuning", "epoch 1/4", 0.12)
    assert lines[-1] == "pruned-50: fine-tuning epoch 1/4, 8.5 s elapsed, about 7 s left"


def test_a_silent_level_gets_a_heartbeat_with_its_latest_step_and_the_time_left_counts_down():
    tracker, lines, clock = tracker_with_lines()
    tracker.step("int8", "calibrating", "10/200 samples", 0.05)
    clock.now_s += 2
    tracker.step("int8", "calibrating", "30/200 samples", 0.15)
    tracker.heartbeat()
    assert len(lines) == 1
    clock.now_s += 2
    tracker.heartbeat()
    assert lines[-1] == "int8: calibrating 30/200 samples, 4.0 s elapsed, about 15 s left in calibrating"


def test_a_new_step_is_paced_afresh():
    tracker, lines, clock = tracker_with_lines(heartbeat_s=0.5)
    tracker.step("int8", "calibrating", "2/200 samples", 0.01)
    clock.now_s += 1
    tracker.step("int8", "evaluating", "54/540 samples", 0.1)
    assert lines[-1] == "int8: evaluating 54/540 samples, 1.0 s elapsed"
    clock.now_s += 1
    tracker.step("int8", "evaluating", "108/540 samples", 0.2)
    assert lines[-1] == "int8: evaluating 108/540 samples, 2.0 s elapsed, about 8 s left in evaluating"


def test_progress_that_starts_over_within_a_step_is_paced_afresh():
    """`pruned-50+clustered-16` fine-tunes twice, both as "fine-tuning": the second run's pace is
    its own, not the first run's start to the second run's progress."""
    tracker, lines, clock = tracker_with_lines(heartbeat_s=0.5)
    tracker.step("pruned-50+clustered-16", "fine-tuning", "epoch 1/4", 0.1)
    clock.now_s += 9
    tracker.step("pruned-50+clustered-16", "fine-tuning", "epoch 4/4", 1.0)
    clock.now_s += 1
    tracker.step("pruned-50+clustered-16", "fine-tuning", "epoch 1/2", 0.1)
    clock.now_s += 1
    tracker.step("pruned-50+clustered-16", "fine-tuning", "epoch 1/2", 0.2)
    assert lines[-1] == "pruned-50+clustered-16: fine-tuning epoch 1/2, 11.0 s elapsed, about 8 s left"


def test_finished_levels_stop_their_heartbeats_and_say_how_long_they_took():
    tracker, lines, clock = tracker_with_lines()
    tracker.step("fp16", "converting")
    clock.now_s += 2.5
    assert tracker.finished("fp16") == 2.5
    clock.now_s += 10
    tracker.heartbeat()
    assert lines == ["fp16: converting, 0.0 s elapsed"]
    assert tracker.finished("never-started") is None


def test_time_left_needs_measured_progress_between_two_reports():
    assert step_time_left_s(None, None, 10) is None
    assert step_time_left_s((0, 0.2), (10, 0.21), 10) is None  # too little progress to extrapolate
    assert step_time_left_s((0, 0.2), (10, 0.5), 10) == 50 / 3
    assert step_time_left_s((0, 0.2), (10, 0.5), 15) == 50 / 3 - 5
    assert step_time_left_s((0, 0.2), (10, 1.0), 10) == 0
    assert step_time_left_s((0, 0.2), (10, 0.5), 100) == 0  # overdue: never a negative time


def test_the_heartbeat_thread_stops_with_the_tracker():
    tracker, _lines, _clock = tracker_with_lines()
    with tracker:
        thread = tracker._thread
        assert thread.is_alive()
    assert not thread.is_alive()


def test_workers_are_used_for_several_levels_unless_tensorflow_is_already_here(monkeypatch):
    monkeypatch.setattr(workers, "available_cores", lambda: 2)
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert workers.auto_jobs(9) == 2
    assert workers.auto_jobs(1) == 1
    monkeypatch.setattr(workers, "available_cores", lambda: 16)
    assert workers.auto_jobs(9) == workers.MAX_AUTO_JOBS
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    assert workers.auto_jobs(9) == 1
