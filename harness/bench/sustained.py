"""A sustained run (`--sustained DURATION`) read back: one row per interval (each interval is one
runner process, started back to back by the agent: android_app/agent.sh --repeat N) with its
latency, the device's state at its end, and energy per inference; and when throttling began.

Throttling began in the first interval whose clocks (scaling_max_freq of the pinned cores) are
capped below their maximum, or whose median is THROTTLE_SLOWDOWN above the first interval's and
stays there: the median of its and every later interval's medians is too. A throttled device
stays slow while the load lasts; one slow interval among fast ones is something else on the device
(on a shared host, another process): measured on virtual-default with the host busy, one interval
of six was 42% slower and the rest within 5% of the first.
"""

from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

from harness import stats
from harness.bench.agent_result import AgentResult, CpuState, DeviceState
from harness.bench.runs import RunOutput
from harness.device.cpus import mask_cpus
from harness.device.passport import TEMPERATURE_TYPE_CPU, TEMPERATURE_TYPE_SKIN, parse_hal_temperatures
from harness.store import cell_files
from harness.store.records import Sustained, SustainedInterval

THROTTLE_SLOWDOWN = 0.10
SIMULATED_CLOCKS = ("simulated: the virtual device caps its clocks as its SoC heats and stops its processes "
                    "for the capped share of every 5 ms (harness/virtual/throttle.py)")


def pinned_cores(taskset_mask: str | None, cpus: tuple[CpuState, ...]) -> list[CpuState]:
    """The CPUs the runner was pinned to (every CPU without a mask)."""
    if not taskset_mask:
        return list(cpus)
    selected = mask_cpus(taskset_mask)
    return [cpu for cpu in cpus if cpu.index in selected]


def _clocks(state: DeviceState, taskset_mask: str | None) -> tuple[int | None, int | None, int | None]:
    """(highest current clock, lowest cap, highest maximum) of the pinned cores, kHz."""
    cores = pinned_cores(taskset_mask, state.cpus)
    current = [c.cur_freq_khz for c in cores if c.cur_freq_khz is not None]
    caps = [c.scaling_max_khz for c in cores if c.scaling_max_khz is not None]
    maxima = [c.max_freq_khz for c in cores if c.max_freq_khz is not None]
    return max(current, default=None), min(caps, default=None), max(maxima, default=None)


def _temperatures(cell_dir: Path, state: DeviceState) -> dict[int, float]:
    if not state.thermal_dump:
        return {}
    return parse_hal_temperatures(cell_files.read_text(cell_dir, state.thermal_dump))


def interval_row(cell_dir: Path, run: RunOutput, first_start_s: float, taskset_mask: str | None,
                 energy) -> SustainedInterval:
    record = run.record
    state = record.state
    latency = run.latency if run.ok else None
    temperatures = _temperatures(cell_dir, state)
    freq, cap, maximum = _clocks(state, taskset_mask)
    return SustainedInterval(
        index=run.index,
        start_s=round(record.start_uptime_s - first_start_s, 2),
        end_s=round(record.end_uptime_s - first_start_s, 2),
        inferences=latency.count if latency else None,
        median_us=latency.median if latency else None,
        p90_us=latency.p90 if latency else None,
        thermal_status=state.thermal_status,
        skin_temp_c=temperatures.get(TEMPERATURE_TYPE_SKIN),
        cpu_temp_c=temperatures.get(TEMPERATURE_TYPE_CPU),
        battery_temp_c=state.battery.temp_c,
        cpu_freq_khz=freq,
        cpu_cap_khz=cap,
        cpu_max_khz=maximum,
        battery_pct=state.battery.capacity_pct,
        energy_per_inference_mj=energy.energy_per_inference_mj if energy else None,
        energy_note=None if energy is None or energy.is_valid else energy.reason,
    )


def is_capped(row: SustainedInterval) -> bool:
    return row.cpu_cap_khz is not None and row.cpu_max_khz is not None and row.cpu_cap_khz < row.cpu_max_khz


def throttling(rows: list[SustainedInterval]) -> tuple[int | None, str | None]:
    """The first throttled interval's index and why, or (None, None)."""
    base = rows[0].median_us if rows else None
    for position, row in enumerate(rows):
        limit_us = base * (1 + THROTTLE_SLOWDOWN) if base else None
        lasting_us = _median([r.median_us for r in rows[position:] if r.median_us])
        slower = limit_us and row.median_us and row.median_us > limit_us and lasting_us > limit_us
        if is_capped(row) or slower:
            why = []
            if slower:
                why.append(f"median {100 * (row.median_us / base - 1):.0f}% above the first interval's, and "
                           f"{100 * (lasting_us / base - 1):.0f}% from here on")
            if is_capped(row):
                why.append(f"clocks capped at {row.cpu_cap_khz / 1e3:.0f} of {row.cpu_max_khz / 1e3:.0f} MHz")
            return row.index, " and ".join(why)
    return None, None


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def sustained_record(cell_dir: Path, runs: list[RunOutput], agent: AgentResult, *, duration_s: float,
                     interval_s: float, is_virtual: bool, interval_energy) -> Sustained | None:
    """`interval_energy(run) -> Energy | None`: the energy of one interval's window."""
    recorded = [run for run in runs if run.record and run.record.start_uptime_s is not None
                and run.record.end_uptime_s is not None]
    if not recorded:
        return None
    first_start = recorded[0].record.start_uptime_s
    mask = agent.runner.taskset_mask
    rows = [interval_row(cell_dir, run, first_start, mask, interval_energy(run)) for run in recorded]
    began, why = throttling(rows)
    samples = [s for run in recorded if run.ok for s in run.samples_us]
    medians = [row.median_us for row in rows if row.median_us]
    caps = [row.cpu_cap_khz / row.cpu_max_khz for row in rows if row.cpu_cap_khz and row.cpu_max_khz]
    ordered = sorted(samples)
    began_row = next((row for row in rows if row.index == began), None)
    return Sustained(
        duration_s=duration_s,
        interval_s=interval_s,
        intervals=tuple(rows),
        p90_us=stats.percentile(ordered, 90) if ordered else None,
        median_us=stats.percentile(ordered, 50) if ordered else _median(medians),
        throttled=began is not None,
        began_interval=began,
        began_s=began_row.start_s if began_row else None,
        why=why,
        slowdown=max(medians) / medians[0] if medians else None,
        min_cap_fraction=min(caps) if caps else None,
        clocks=SIMULATED_CLOCKS if is_virtual else "as the device reports them (cpufreq)",
    )


def interval_window(agent: AgentResult, run: RunOutput) -> AgentResult:
    """The agent's result with its runner window narrowed to one interval (for compute_energy)."""
    runner = dataclasses.replace(agent.runner, start_uptime_s=run.record.start_uptime_s,
                                 end_uptime_s=run.record.end_uptime_s, status="ok" if run.ok else run.record.status)
    return dataclasses.replace(agent, runner=runner)
