"""The sweep's progress lines: one per cell, and an ETA paced from the cells themselves, not from
the queue's one-off start. A fake clock and a stream that is not a terminal; no device."""

from __future__ import annotations

import io

from harness.store.records import BenchResult, CellStatus
from harness.sweep.progress import Reporter

CELL = {"model": "digits-cnn", "level": "fp32", "threads": 2, "delegate": "cpu"}


class Clock:
    def __init__(self):
        self.now_s = 50.0

    def __call__(self) -> float:
        return self.now_s


def failed_cell() -> BenchResult:
    return BenchResult(status=CellStatus.FAILED, reason="runner crashed", model={}, settings={}, runner={}, device={})


def test_the_eta_after_two_cells_leaves_out_the_queues_slow_start():
    """As the main command went tonight: 10 s to the first digits cell (charging, gauge, idle
    baseline, pushes), then 4.5 s a cell. The ETA before cell 3 is 7 x 4.5 s, not 7 x 7.25 s."""
    stream, clock = io.StringIO(), Clock()
    reporter = Reporter(stream=stream, clock=clock)
    reporter.device_started("emu", 9)
    reporter.cell_started("emu", CELL, 0, 9)
    clock.now_s += 10
    reporter.cell_finished("emu", CELL, failed_cell())
    reporter.cell_started("emu", CELL, 1, 9)
    clock.now_s += 4.5
    reporter.cell_finished("emu", CELL, failed_cell())
    reporter.cell_started("emu", CELL, 2, 9)
    lines = stream.getvalue().splitlines()
    assert lines[1] == "[emu] 1/9 digits-cnn fp32 t2 cpu ... ETA -"
    assert lines[3] == "[emu] 2/9 digits-cnn fp32 t2 cpu ... ETA 1m20s"  # one cell: all there is to go by
    assert lines[4] == "[emu] 2/9 digits-cnn fp32 t2 cpu: failed: runner crashed"
    assert lines[5] == "[emu] 3/9 digits-cnn fp32 t2 cpu ... ETA 32s"
