"""The battery floor of a device's queue. A sweep keeps charging suspended for a device's whole
queue, so a long one drains the phone; before each cell, a battery below the floor gets its
charging back until it is BATTERY_FLOOR_MARGIN_PCT points above the floor, then the queue goes on
(the next cell suspends charging again). A battery that does not get there within
BATTERY_FLOOR_WAIT_S (held at a charge limit, a weak charger) ends the device's queue: its cells
stay pending for --resume.
"""

from __future__ import annotations

import time

from harness.bench.session import DeviceSession
from harness.device import charging
from harness.errors import DeviceError
from harness.sweep.spec import BATTERY_FLOOR_MARGIN_PCT

BATTERY_FLOOR_WAIT_S = 3600.0
LEVEL_POLL_S = 2.0


def keep_above_floor(session: DeviceSession, floor_pct: float, *, say, stop) -> dict | None:
    """Charge the battery back above the floor when it is below it; None when it is not (or the
    floor is 0 or the level unknown), else what happened, for run.json: the level found, the
    target, the level reached and how long it took (`reached` False ends the queue)."""
    if floor_pct <= 0:
        return None
    try:
        level = session.battery_level_pct()
    except DeviceError:
        return None  # unknown: the next benchmark finds the device gone, and the queue recovers or ends there
    if level is None or level >= floor_pct:
        return None
    target_pct = min(100.0, floor_pct + BATTERY_FLOOR_MARGIN_PCT)
    say(f"battery at {level}%, below the {floor_pct:g}% floor: charging restored until {target_pct:g}%")
    started = time.monotonic()
    session.restore_charging()
    reached_pct = charging.charge_to(session.device, target_pct, timeout_s=BATTERY_FLOOR_WAIT_S,
                                     poll_s=LEVEL_POLL_S, stop=stop)
    reached = reached_pct is not None and reached_pct >= target_pct
    waited_s = round(time.monotonic() - started, 1)
    say(f"battery at {reached_pct}% after {waited_s:g} s" + ("" if reached else
        ": not charging up to the floor (held at a charge limit?); its remaining cells stay pending for --resume"))
    return {"level_pct": level, "floor_pct": floor_pct, "target_pct": target_pct, "reached_pct": reached_pct,
            "reached": reached, "waited_s": waited_s}
