"""Per-level progress while converting: what each level is doing, for how long, and what is left.

Code that builds a level reports steps through a `StepReport` callable: `report("fine-tuning",
"epoch 2/4", 0.3)` says the level is fine-tuning, in its second of four epochs, 30% of the way
through that step. The Tracker turns these into lines for the user's `progress(message)`
callable: one when a level starts a new kind of step, and a heartbeat at least every HEARTBEAT_S
for each level still running, with its elapsed time and, where the step can be measured (epochs
and batches, calibration and evaluation samples), an estimate of the time left in it.

The estimate is the step's pace since its first report of progress, not since the step began: a
step's start holds one-off work (Keras traces the training function in the first batch, slowly
under load), which made the first estimate of a 12 s fine-tuning "about 137 s left".

Nothing heavy is imported here; steps may arrive from worker processes (through a queue drained by
a thread) or from this process's main thread, so the Tracker is thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

Progress = Callable[[str], None]
StepReport = Callable[..., None]  # (step, count="", fraction=None) -> None
HEARTBEAT_S = 4.0  # under the promised 5 s, with room for a heartbeat thread's own delay
TICK_S = 0.5
MIN_FRACTION_FOR_ETA = 0.05


def ignore_steps(step: str, count: str = "", fraction: float | None = None) -> None:
    """A StepReport for callers that do not show progress."""


@dataclass
class _Running:
    started_s: float
    step: str = "starting"
    count: str = ""
    printed_s: float = 0.0
    paced_from: tuple[float, float] | None = None  # (time, fraction) of the step's first progress
    progress_at: tuple[float, float] | None = None  # (time, fraction) of its latest


class Tracker:
    """Levels in flight (keyed by name) and the lines that describe them."""

    def __init__(self, emit: Progress, *, heartbeat_s: float = HEARTBEAT_S, clock=time.monotonic):
        self._emit = emit
        self._heartbeat_s = heartbeat_s
        self._clock = clock
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def message(self, text: str) -> None:
        with self._lock:
            self._emit(text)

    def step(self, level: str, step: str, count: str = "", fraction: float | None = None) -> None:
        now = self._clock()
        with self._lock:
            running = self._running.setdefault(level, _Running(started_s=now))
            new_step = step != running.step
            if new_step:
                running.step = step
                running.paced_from = running.progress_at = None
            running.count = count
            if fraction is not None and fraction > 0:
                started_over = running.progress_at is not None and fraction < running.progress_at[1]
                running.progress_at = (now, fraction)
                # A composite level fine-tunes twice under one step: the second starts over.
                if running.paced_from is None or started_over:
                    running.paced_from = running.progress_at
            if new_step or now - running.printed_s >= self._heartbeat_s:
                self._print(level, running, now)

    def reporter(self, level: str) -> StepReport:
        """A StepReport bound to one level, for code running in this process."""

        def report(step: str, count: str = "", fraction: float | None = None) -> None:
            self.step(level, step, count, fraction)

        return report

    def finished(self, level: str) -> float | None:
        """Forget a level; returns how long it was tracked (None if it never reported)."""
        with self._lock:
            running = self._running.pop(level, None)
        return None if running is None else self._clock() - running.started_s

    def heartbeat(self) -> None:
        """A line for every running level that has been silent for HEARTBEAT_S."""
        now = self._clock()
        with self._lock:
            for level, running in self._running.items():
                if now - running.printed_s >= self._heartbeat_s:
                    self._print(level, running, now)

    def _print(self, level: str, running: _Running, now: float) -> None:
        running.printed_s = now
        self._emit(describe(level, running, now))

    def __enter__(self) -> Tracker:
        self._thread = threading.Thread(target=self._beat, name="convert-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(TICK_S):
            self.heartbeat()


def describe(level: str, running: _Running, now: float) -> str:
    """`pruned-50: fine-tuning epoch 2/4, 6.1 s elapsed, about 4 s left`."""
    doing = f"{running.step} {running.count}".strip()
    text = f"{level}: {doing}, {now - running.started_s:.1f} s elapsed"
    left_s = step_time_left_s(running.paced_from, running.progress_at, now)
    if left_s is not None:
        text += f", about {left_s:.0f} s left" + ("" if running.step == "fine-tuning" else f" in {running.step}")
    return text


def step_time_left_s(paced_from: tuple[float, float] | None, progress_at: tuple[float, float] | None,
                     now_s: float) -> float | None:
    """The rest of a step at its pace between two (time, fraction) reports, counted down since the
    latest; None until enough progress lies between them to extrapolate from."""
    if paced_from is None or progress_at is None:
        return None
    (from_s, from_fraction), (at_s, fraction) = paced_from, progress_at
    progress = fraction - from_fraction
    if progress < MIN_FRACTION_FOR_ETA or fraction > 1:
        return None
    return max(0.0, (at_s - from_s) * (1 - fraction) / progress - (now_s - at_s))
