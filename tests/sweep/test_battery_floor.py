"""harness.sweep.battery_floor: below the floor, charging comes back until the level is above it."""

from __future__ import annotations

from harness.errors import DeviceGoneError
from harness.sweep import battery_floor


class FakeSession:
    """Only what keep_above_floor touches: the level, restore_charging, the device handle."""

    def __init__(self, levels):
        self.levels = list(levels)
        self.restored = 0
        self.device = self

    def battery_level_pct(self):
        if isinstance(self.levels[0], Exception):
            raise self.levels[0]
        return self.levels[0]

    def restore_charging(self):
        self.restored += 1


def charge_as_levels(monkeypatch, session):
    def charge_to(_device, target_pct, *, timeout_s, poll_s, stop):
        for level in session.levels:
            if level >= target_pct:
                return level
        return session.levels[-1]
    monkeypatch.setattr(battery_floor.charging, "charge_to", charge_to)


def test_above_the_floor_nothing_happens(monkeypatch):
    session = FakeSession([31])
    assert battery_floor.keep_above_floor(session, 30, say=print, stop=lambda: False) is None
    assert battery_floor.keep_above_floor(FakeSession([5]), 0, say=print, stop=lambda: False) is None
    assert session.restored == 0


def test_below_the_floor_charging_is_restored_until_the_margin(monkeypatch):
    session = FakeSession([22, 30, 36])
    charge_as_levels(monkeypatch, session)
    said = []

    event = battery_floor.keep_above_floor(session, 30, say=said.append, stop=lambda: False)

    assert session.restored == 1
    assert event["level_pct"] == 22 and event["target_pct"] == 35 and event["reached_pct"] == 36 and event["reached"]
    assert "below the 30% floor" in said[0]


def test_a_battery_that_does_not_charge_ends_the_queue(monkeypatch):
    session = FakeSession([22, 22])  # held at a charge limit
    charge_as_levels(monkeypatch, session)

    event = battery_floor.keep_above_floor(session, 30, say=lambda text: None, stop=lambda: False)

    assert event["reached"] is False and event["reached_pct"] == 22


def test_a_device_lost_before_the_check_leaves_the_loss_to_the_next_benchmark():
    # An adb server that died between two cells: the cell's benchmark then finds the device
    # gone and the queue recovers, where an error here stopped the queue as an internal error.
    session = FakeSession([DeviceGoneError("adb server gone", serial="emulator-5554")])
    assert battery_floor.keep_above_floor(session, 30, say=print, stop=lambda: False) is None
    assert session.restored == 0
