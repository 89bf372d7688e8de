"""Progress a person can follow: one line per device with the cell being run and an ETA.

On a terminal the device lines are redrawn in place; otherwise (CI logs, pipes) every event is a
line of its own. --quiet silences it; with --json it goes to stderr so stdout stays JSON.

A device's ETA is paced from the end of its first cell once a second one is done: the first holds
what a queue does once (suspending charging and waiting for the gauge, the idle baseline, the
first pushes), which made the ETA after one digits cell twice the time the other eight took.
"""

from __future__ import annotations

import sys
import threading
import time

from harness.store.records import BenchResult
from harness.units import fmt_us


def fmt_duration_s(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Reporter:
    def __init__(self, *, quiet: bool = False, stream=None, clock=time.monotonic):
        self.quiet = quiet
        self._clock = clock
        self.stream = stream or sys.stderr
        self.live = not quiet and hasattr(self.stream, "isatty") and self.stream.isatty()
        self._lock = threading.Lock()
        self._lines: dict[str, str] = {}
        self._drawn = 0
        self._device_state: dict[str, dict] = {}

    def _emit(self, text: str) -> None:
        if self.quiet:
            return
        with self._lock:
            self._clear_live()
            print(text, file=self.stream, flush=True)
            self._draw_live()

    def _clear_live(self) -> None:
        if self.live and self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
            self._drawn = 0

    def _draw_live(self) -> None:
        if self.live and self._lines:
            for line in self._lines.values():
                self.stream.write(line[:200] + "\n")
            self._drawn = len(self._lines)
            self.stream.flush()

    def _set_line(self, serial: str, text: str) -> None:
        if self.quiet:
            return
        with self._lock:
            self._clear_live()
            self._lines[serial] = text
            if not self.live:
                print(text, file=self.stream, flush=True)
            self._draw_live()

    def message(self, text: str) -> None:
        self._emit(text)

    def device_started(self, serial: str, n_cells: int) -> None:
        self._device_state[serial] = {"total": n_cells, "done": 0, "started": self._clock(), "first_done": None}
        self._set_line(serial, f"[{serial}] {n_cells} cells queued")

    def _eta(self, serial: str) -> str:
        state = self._device_state[serial]
        if not state["done"]:
            return "ETA -"
        if state["done"] == 1:
            per_cell = self._clock() - state["started"]
        else:
            per_cell = (self._clock() - state["first_done"]) / (state["done"] - 1)
        return "ETA " + fmt_duration_s(per_cell * (state["total"] - state["done"]))

    def cell_started(self, serial: str, cell: dict, index: int, total: int) -> None:
        self._set_line(
            serial,
            f"[{serial}] {index + 1}/{total} {cell['model']} {cell['level']} t{cell['threads']} {cell['delegate']} ... {self._eta(serial)}",
        )

    def cell_finished(self, serial: str, cell: dict, result: BenchResult) -> None:
        state = self._device_state[serial]
        state["done"] += 1
        if state["done"] == 1:
            state["first_done"] = self._clock()
        latency = result.measurements.latency_us
        outcome = (f"median {fmt_us(latency.median)}" if result.ok and latency
                   else f"{result.status}: {(result.reason or '')[:100]}")  # fmt: skip
        text = f"[{serial}] {state['done']}/{state['total']} {cell['model']} {cell['level']} t{cell['threads']} {cell['delegate']}: {outcome}"
        self._emit(text)
        if self.live:
            self._set_line(serial, f"[{serial}] {state['done']}/{state['total']} done, {self._eta(serial)}")

    def device_finished(self, serial: str) -> None:
        state = self._device_state.get(serial, {})
        elapsed = self._clock() - state.get("started", self._clock())
        self._set_line(serial, f"[{serial}] finished {state.get('done', 0)}/{state.get('total', 0)} cells in {fmt_duration_s(elapsed)}")
