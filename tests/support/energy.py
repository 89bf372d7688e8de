"""What a benchmark's own gauge record allows, for tests that run real benchmarks on a virtual
device: whether its energy could be a number depends on how often the gauge updated during its
windows, which a busy host can starve, not on a schedule a test assumes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from harness.bench.agent_result import parse_energy_samples
from harness.bench.energy_gauge import MIN_DISTINCT_READINGS, MIN_GAUGE_SAMPLES_PER_PHASE
from harness.bench.energy_window import INVALID_TOO_FEW_SAMPLES, INVALID_WINDOW
from harness.store.cell_files import ENERGY_SAMPLES_FILE

# What a benchmark must say when its own record does not allow a number.
TOO_FEW_READINGS = (INVALID_WINDOW, INVALID_TOO_FEW_SAMPLES)


def gauge_allowed_a_number(energy: Mapping) -> bool:
    """Enough samples and distinct readings in each window the energy used (`energy`: bench.json's
    energy, or Energy.to_dict()). The loaded suite once recorded 3 distinct readings in a 2.5 s idle
    window: the virtual gauge's updates had been starved, and the cell rightly gave no number."""
    own_idle = energy["idle_source"] == "this cell"
    samples = [energy["run_samples"]] + ([energy["idle_samples"]] if own_idle else [])
    readings = [energy["run_readings"]] + ([energy["idle_readings"]] if own_idle else [])
    return min(samples) >= MIN_GAUGE_SAMPLES_PER_PHASE and min(readings) >= MIN_DISTINCT_READINGS


def assert_refused_for_a_starved_gauge(energy: Mapping, samples: Sequence) -> None:
    """The window refusal, and a raw record (energy.csv, parsed) that shows a live gauge starved,
    not a frozen one or a miscount: readings changed over the benchmark, and the idle window's
    count is at least the distinct values its own samples hold."""
    assert energy["validity"] in TOO_FEW_READINGS, energy
    assert len({(s.current_now, s.voltage_now) for s in samples}) >= MIN_DISTINCT_READINGS, samples
    if energy["idle_source"] == "this cell":
        idle = {(s.current_now, s.voltage_now) for s in samples if s.phase == "idle"}
        assert energy["idle_readings"] >= len(idle), (energy, idle)


def assert_energy_as_recorded(energy: Mapping, samples: Sequence) -> None:
    """A valid, positive energy where the gauge record allows one; else a starved gauge's refusal."""
    if gauge_allowed_a_number(energy):
        assert energy["validity"] == "valid" and energy["energy_per_inference_mj"] > 0, energy
    else:
        assert_refused_for_a_starved_gauge(energy, samples)


def recorded_samples(out_dir: Path) -> list:
    """A benchmark's raw gauge samples (its energy.csv, parsed; none when it wrote none)."""
    csv = Path(out_dir) / ENERGY_SAMPLES_FILE
    return parse_energy_samples(csv.read_text()) if csv.exists() else []
