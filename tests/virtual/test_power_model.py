"""Unit tests of the battery/thermal model and of the CPU meter that drives it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.device.profiles import load_profile
from harness.virtual.power import PowerModel, SandboxCpuMeter


@pytest.fixture
def model() -> PowerModel:
    return PowerModel(load_profile("virtual-default"))


def run(model: PowerModel, seconds: float, busy_cores: float, tick_s: float = 0.25):
    reading = model.last
    for _ in range(round(seconds / tick_s)):
        reading = model.step(tick_s, busy_cores * tick_s)
    return reading


def test_an_idle_device_on_usb_charges_and_stays_at_its_temperature(model):
    start = model.last
    reading = run(model, 60, busy_cores=0)
    assert reading.status == "Charging" and reading.usb_online
    assert reading.current_ua > 0
    assert reading.charge_counter_uah > start.charge_counter_uah
    assert abs(reading.skin_temp_c - start.skin_temp_c) < 0.01


def test_suspended_charging_discharges_by_the_modelled_power(model):
    model.charging_suspended = True
    start = model.last
    reading = run(model, 3600, busy_cores=1)
    assert reading.status == "Discharging" and not reading.usb_online
    assert reading.current_ua < 0
    power_w = 0.4 + 1.2  # idle + one busy core, from the profile
    expected_uah = power_w / 3.8 * 1e6  # about an hour at roughly nominal voltage
    drained = start.charge_counter_uah - reading.charge_counter_uah
    assert expected_uah * 0.9 < drained < expected_uah * 1.1
    assert reading.level_percent < start.level_percent


def test_load_heats_the_soc_first_and_the_skin_slowly(model):
    start = model.last
    reading = run(model, 10, busy_cores=2)
    soc_rise = reading.soc_temp_c - start.soc_temp_c
    skin_rise = reading.skin_temp_c - start.skin_temp_c
    assert soc_rise > 1.0
    assert 0 < skin_rise < soc_rise / 3


def test_thermal_status_climbs_with_skin_temperature_and_charging_pauses_when_severe():
    hot = PowerModel(load_profile("virtual-hot"))
    statuses = set()
    for _ in range(240):
        statuses.add(hot.step(0.25, 0.5).thermal_status)  # two busy cores for a minute
    assert {0, 1, 2, 3} <= statuses
    assert hot.last.status == "Not charging" and hot.last.current_ua == 0


def test_a_full_battery_reports_full():
    model = PowerModel(load_profile("virtual-default"))
    model.charge_uah = model.last.charge_full_uah
    reading = model.step(0.25, 0)
    assert (reading.status, reading.level_percent, reading.current_ua) == ("Full", 100, 0)


def test_cpu_meter_counts_cpu_time_of_processes_in_a_proc_tree(tmp_path):
    meter = SandboxCpuMeter(Path("/proc"))
    meter.cpu_since_last_s()
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    assert meter.cpu_since_last_s() >= 0.25
    empty = SandboxCpuMeter(tmp_path / "gone")
    assert empty.cpu_since_last_s() == 0.0 and empty.cpu_since_last_s() == 0.0
