"""A device's queue in a sweep: charging suspended once and put back at the end, and one idle
power baseline lent to the later cells (real converter output, adb server and virtual device);
the rules for lending a baseline as units."""

from __future__ import annotations

import time

import pytest

from harness.bench.energy import IdleBaseline, PowerConditions
from harness.bench.session import DeviceSession, LentBaseline
from harness.bench.settings import BenchSettings
from harness.device import charging
from harness.device.workdir import CHARGING_NOTE
from harness.device.connection import Device
from harness.sweep import engine
from harness.sweep.spec import SweepSpec
from tests.support.energy import assert_energy_as_recorded, recorded_samples
from tests.support.fast import fast_measurement

# Short cells that still measure energy reliably: a run window of about a second with the runner
# busy throughout, gauge samples every 100 ms (a faster sampler costs the idle window its CPU too).
# Windows long enough for a fuel gauge (at least 4 distinct readings in 2 s each: issue 13, item 6).
ENERGY_CELLS = fast_measurement(min_secs=2.5, idle_baseline_s=2.5, sample_interval_ms=100)


@pytest.mark.slow
@pytest.mark.parametrize("reuse_s", [600.0, 0.0])
def test_a_queue_suspends_charging_once_and_lends_its_idle_baseline(virtual_devices, tiny_tflite, tmp_path,
                                                                    monkeypatch, reuse_s):
    [virtual] = virtual_devices(1)
    suspensions, settling_work = [], []
    suspend = charging.suspend_charging

    def counted_suspend(device, **kwargs):
        restore_to = suspend(device, **kwargs)
        suspensions.append(list(settling_work))  # what of the host's work was done when it returned
        return restore_to

    def settling():  # the CLI's report imports
        time.sleep(0.2)
        settling_work.append("done")

    monkeypatch.setattr(charging, "suspend_charging", counted_suspend)
    spec = SweepSpec(models=(str(tiny_tflite),), devices=(virtual.serial,), threads=(1, 2, 3), measurement=ENERGY_CELLS,
                     idle_baseline_reuse_s=reuse_s)

    outcome = engine.run_sweep(spec, results_root=tmp_path, while_settling=settling)

    assert outcome.counts == {"ok": 3}
    # The host's work ran once, during the charger's settling, and was over before the first cell.
    assert suspensions == [["done"]] and settling_work == ["done"]
    cells = outcome.store.cells
    benches = [outcome.store.load_bench(cell) for cell in cells]
    assert all(b.agent["before"]["battery"]["input_suspended"] for b in benches)
    device = Device(virtual.adb_server, virtual.serial)
    assert device.shell(["getprop", "power.battery_input.suspended"]).stdout.strip() == "false"
    assert not device.shell(["ls", CHARGING_NOTE], check=False).ok

    energies = [b.measurements.energy for b in benches]
    assert all(b.settings["idle_baseline_s"] == 2.5 for b in benches)  # as asked, whoever measured it
    assert (energies[0].idle_source, energies[0].idle_age_s) == ("this cell", None)
    lender = None  # the last cell that measured a baseline it could lend
    for cell, bench, energy in zip(cells, benches, energies):
        borrowed = bool(reuse_s) and lender is not None
        assert bench.agent["energy"]["idle_s"] == (0.0 if borrowed else 2.5), energy
        if borrowed:
            assert energy.idle_source == f"cell {lender['id']}"
            assert not energy.is_valid or (energy.idle_power_mw == lender["idle_power_mw"] and 0 < energy.idle_age_s < 60)
        else:
            assert energy.idle_source == "this cell"
        assert_energy_as_recorded(energy.to_dict(), recorded_samples(outcome.store.cell_dir(cell)))
        if not borrowed:  # a cell that measured its own baseline lends it, when it has one
            lender = None if energy.idle_power_mw is None else {"id": cell["id"], "idle_power_mw": energy.idle_power_mw}


# ---------------------------------------------------------------- when a baseline is lent

CONDITIONS = PowerConditions(thermal_status=0, charging="suspended, not charging, chargers online: none")
SETTINGS = BenchSettings(idle_baseline_s=2.0)


def session_lending(*, reuse_s=600.0, held_s=5.0, settings=SETTINGS, conditions=CONDITIONS, after=CONDITIONS):
    baseline = IdleBaseline(source="battery-gauge", power_mw=400.0, duration_s=2.0, samples=8, normalisation=(),
                            rails=(), taken_at_uptime_s=100.0, conditions=conditions, taken_in="cell first")
    session = DeviceSession(device=None, passport=None, runner=None, idle_baseline_reuse_s=reuse_s)
    session.lent_baseline = LentBaseline(baseline, time.monotonic() - held_s, settings.idle_key())
    session.last_conditions = after
    return session


def test_a_baseline_is_lent_while_nothing_it_depends_on_changed():
    session = session_lending()

    assert session.baseline_to_borrow(SETTINGS) is session.lent_baseline.baseline


@pytest.mark.parametrize(("lending", "settings"), [
    (dict(reuse_s=0.0), SETTINGS),  # `bench`, or --idle-baseline-reuse 0
    (dict(), BenchSettings(idle_baseline_s=0.0)),  # no baseline asked for
    (dict(held_s=595.0), SETTINGS),  # would expire before its runner starts
    (dict(held_s=540.0), BenchSettings(idle_baseline_s=2.0, cooldown_s=60.0)),  # would expire in the cool-down
    (dict(), BenchSettings(idle_baseline_s=2.0, sample_interval_ms=100)),  # sampled otherwise
    (dict(after=PowerConditions(2, CONDITIONS.charging)), SETTINGS),  # hotter since
    (dict(after=PowerConditions(0, "not suspended, charging, chargers online: usb")), SETTINGS),
], ids=["reuse-off", "no-baseline-asked", "expiring", "cooldown", "other-interval", "thermal", "charging"])
def test_a_baseline_is_not_lent_when(lending, settings):
    assert session_lending(**lending).baseline_to_borrow(settings) is None


def test_nothing_is_lent_before_a_baseline_was_measured():
    session = DeviceSession(device=None, passport=None, runner=None, idle_baseline_reuse_s=600.0)

    assert session.baseline_to_borrow(SETTINGS) is None
