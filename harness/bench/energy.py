"""Energy per inference and average power from the agent's raw samples, with method and validity.

Two sources, rails preferred (energy_rails.py), then the battery gauge (energy_gauge.py); on a
virtual device the numbers are computed the same way and the method is `simulated`.

The runner's life splits into its start-up (process start, model load, delegate init, warm-up)
and its measured runs (energy_window.RunnerPhases, from the runner's own timings). Energy per
inference is the net power over the measured runs (the idle baseline, measured the same way just
before at rest, subtracted) times their length, divided by their number; the start-up's net energy
is reported apart (`startup_energy_j`). Neither changes with `--runs`.

A sweep measures the idle baseline once per device and lends it to the device's later cells
(`IdleBaseline`): a borrowed baseline counts only while the device is in the state it was taken
in (same energy source and normalisation, same thermal status, same charging state, no reboot)
and not older than the sweep's window; otherwise the cell's energy is `invalid: idle baseline
not valid here`, with the reason. The energy document says where its baseline came from
(`idle_source`: "this cell" or "cell <id>") and how old it was (`idle_age_s`).

Never a number without its method, and never a number the data cannot support: then the value is
None, `validity` says `invalid: ...` and `reason` says why in a sentence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from harness.bench.agent_result import AgentResult, AgentResultError, EnergySample, parse_energy_samples
from harness.bench.energy_gauge import charging_requested, measure_gauge
from harness.bench.energy_rails import measure_rails
from harness.bench.energy_window import (
    IDLE_SOURCE_OWN, INVALID_BAD_SAMPLES, INVALID_BORROWED_BASELINE, INVALID_NO_INFERENCES,
    INVALID_NO_SOURCE, INVALID_NOT_ABOVE_IDLE, INVALID_RUN, MEASURED_WINDOW, METHOD_SIMULATED, NOT_MEASURED, VALID,
    RunnerPhases,
    SourceMeasurement, Unusable, round_s, runner_window,
)
from harness.store.records import Energy

@dataclass(frozen=True)
class PowerConditions:
    """The device state an idle baseline depends on, as the agent's snapshots record it."""

    thermal_status: int | None
    charging: str  # "suspended" or "not suspended", the battery's charging, and online chargers

    @classmethod
    def at(cls, result: AgentResult, snapshot: str, charging_suspended: bool | None) -> "PowerConditions":
        """At the agent's `before` snapshot (the thermal status as the idle or run phase began,
        after any cool-down) or its `after` snapshot."""
        state = result.before if snapshot == "before" else result.after
        thermal_status = state.thermal_status
        if snapshot == "before" and result.cooldown.thermal_status_at_end is not None:
            thermal_status = result.cooldown.thermal_status_at_end
        suspended = "suspended" if charging_requested(result, charging_suspended) else "not suspended"
        charging = {True: "charging", False: "not charging", None: "charging unknown"}[state.battery.charging]
        online = state.external_power_online
        chargers = "unknown" if online is None else ", ".join(online) or "none"
        return cls(thermal_status, f"{suspended}, {charging}, chargers online: {chargers}")


@dataclass(frozen=True)
class IdleBaseline:
    """An idle baseline measured in one cell, to be lent to later cells on the same device."""

    source: str  # power-rails | battery-gauge: only a run measured the same way may use it
    power_mw: float
    duration_s: float
    samples: int
    normalisation: tuple[str, ...]  # a gauge run normalised otherwise is not comparable
    rails: tuple[str, ...]  # the rail channels summed (power-rails)
    taken_at_uptime_s: float  # the end of its idle window (its runner's start), device clock
    conditions: PowerConditions  # the device's state when it was taken
    taken_in: str  # "cell <id>"

    @classmethod
    def from_cell(cls, energy: Energy, result: AgentResult, charging_suspended: bool | None,
                  taken_in: str) -> "IdleBaseline | None":
        """The baseline a cell measured itself, None when it has none to lend."""
        if (energy.idle_source != IDLE_SOURCE_OWN or energy.idle_power_mw is None or energy.source is None
                or result.runner.start_uptime_s is None):
            return None
        return cls(
            source=energy.source, power_mw=energy.idle_power_mw, duration_s=energy.idle_duration_s,
            samples=energy.idle_samples, normalisation=energy.normalisation, rails=energy.rails,
            taken_at_uptime_s=result.runner.start_uptime_s,
            conditions=PowerConditions.at(result, "before", charging_suspended),
            taken_in=taken_in,
        )


def compute_energy(
    result: AgentResult,
    samples: Sequence[EnergySample] | str,
    rails: Mapping[str, str] | None,
    *,
    n_inferences: int,
    measured_s: float | None,
    is_virtual: bool,
    charging_suspended: bool | None = None,
    idle_baseline: IdleBaseline | None = None,
    idle_baseline_max_age_s: float | None = None,
    remembered_current_unit: str | None = None,
) -> Energy:
    """Energy per measured inference (see the module docstring).

    `samples`: energy.csv parsed (`parse_energy_samples`) or its text ("" when there is none).
    `rails`: each rails dump's text by file name ("rails_run_end.txt", as in
    `result.energy.rails_files`) or stem ("rails_run_end"), or None. `n_inferences`: the measured
    runs; `measured_s`: their total time by the runner's own timings. `charging_suspended`:
    whether the host set `power.battery_input.suspended`; what the agent read on the device takes
    precedence. `idle_baseline`: an earlier cell's baseline, used instead of this run's idle phase
    (the agent ran with --idle-baseline-s 0), valid for `idle_baseline_max_age_s` (None: no
    limit). `remembered_current_unit`: the gauge's unit ("µA"/"mA") an earlier benchmark on this
    device decided, for when this one's samples cannot decide it.
    """
    if isinstance(samples, str):
        try:
            samples = parse_energy_samples(samples) if samples.strip() else []
        except AgentResultError as error:
            return _no_number(INVALID_BAD_SAMPLES, error.problem, n_inferences=n_inferences)
    if result.runner.status != "ok":
        return _no_number(INVALID_RUN, f"the runner ended with status {result.runner.status or 'unknown'}",
                          n_inferences=n_inferences)
    if n_inferences <= 0 or not measured_s or measured_s <= 0:
        return _no_number(INVALID_NO_INFERENCES, "the runner reported no measured inferences (or no time for "
                          "them) to divide by", n_inferences=n_inferences)
    if not samples and not (result.energy.rails_files and rails):
        # Said first: without a source, the runner's window (too short to time, maybe) is moot.
        return _no_number(INVALID_NO_SOURCE, _no_source_reason(result), n_inferences=n_inferences)
    try:
        start_s, end_s = runner_window(result.runner.start_uptime_s, result.runner.end_uptime_s, source=None)
        phases = RunnerPhases(start_s, end_s, min(measured_s, end_s - start_s), n_inferences)
        if idle_baseline is not None:
            _check_borrowable(idle_baseline, result, charging_suspended, idle_baseline_max_age_s)
        measurement = _measure(result, samples, rails, phases, charging_suspended, idle_baseline,
                               remembered_current_unit)
    except Unusable as unusable:
        method = _method(unusable.source, is_virtual) if unusable.source else None
        borrowed = {} if idle_baseline is None else {"idle_source": idle_baseline.taken_in}
        return _no_number(unusable.validity, unusable.reason, n_inferences=n_inferences, method=method,
                          source=unusable.source, **borrowed, **unusable.partial)
    return _per_inference(measurement, phases, is_virtual)


def not_measured(n_inferences: int) -> Energy:
    """The energy of a benchmark that asked for none (--no-energy)."""
    return _no_number(NOT_MEASURED, "no energy was asked for (--no-energy): charging was left as it was and no "
                      "idle baseline taken", n_inferences=n_inferences)


def _no_number(validity: str, reason: str, **known: Any) -> Energy:
    fields: dict[str, Any] = dict(
        method=None, source=None, energy_per_inference_j=None, idle_power_mw=None, gross_power_mw=None,
        net_power_mw=None, run_duration_s=None, idle_duration_s=None, idle_samples=0, run_samples=0,
        sample_interval_ms=None, window=MEASURED_WINDOW,
    )
    fields.update(known)
    return Energy(validity=validity, reason=reason, **fields)


def _method(source: str, is_virtual: bool) -> str:
    return METHOD_SIMULATED if is_virtual else source


def _check_borrowable(baseline: IdleBaseline, result: AgentResult, charging_suspended: bool | None,
                      max_age_s: float | None) -> None:
    """A borrowed baseline stands for this run's idle power only if nothing it depends on changed."""
    age_s = result.runner.start_uptime_s - baseline.taken_at_uptime_s
    conditions = PowerConditions.at(result, "before", charging_suspended)
    problem = None
    if age_s < 0:
        problem = "the device's clock went back since (it rebooted)"
    elif max_age_s is not None and age_s > max_age_s:
        problem = f"it is {age_s:.0f} s old, more than the {max_age_s:g} s a baseline is lent for"
    elif conditions.thermal_status != baseline.conditions.thermal_status:
        problem = (f"the thermal status was {baseline.conditions.thermal_status} then and "
                   f"{conditions.thermal_status} now")
    elif conditions.charging != baseline.conditions.charging:
        problem = f"charging was '{baseline.conditions.charging}' then and '{conditions.charging}' now"
    if problem:
        raise Unusable(INVALID_BORROWED_BASELINE, f"the idle baseline from {baseline.taken_in} does not hold "
                       f"for this run: {problem} (the next run measures its own; --idle-baseline-reuse 0 "
                       "measures one before every run)")


def _borrowed_idle(measurement: SourceMeasurement, baseline: IdleBaseline, result: AgentResult) -> SourceMeasurement:
    """This run's powers with the borrowed baseline as its idle part."""
    how_measured = (measurement.source, measurement.normalisation, measurement.rails)
    if how_measured != (baseline.source, baseline.normalisation, baseline.rails):
        how = (f"{measurement.source} {list(measurement.normalisation + measurement.rails)} against "
               f"{baseline.source} {list(baseline.normalisation + baseline.rails)}")
        raise Unusable(INVALID_BORROWED_BASELINE, f"the idle baseline from {baseline.taken_in} was measured "
                       f"otherwise than this run ({how})", source=measurement.source)
    return replace(
        measurement, idle_power_mw=baseline.power_mw, idle_duration_s=baseline.duration_s,
        idle_samples=baseline.samples, idle_source=baseline.taken_in,
        idle_age_s=round_s(result.runner.start_uptime_s - baseline.taken_at_uptime_s),
    )


def _measure(result: AgentResult, samples: Sequence[EnergySample], rails: Mapping[str, str] | None,
             phases: RunnerPhases, charging_suspended: bool | None, baseline: IdleBaseline | None,
             remembered_unit: str | None) -> SourceMeasurement:
    own_idle = baseline is None
    rails_problem = None
    if result.energy.rails_files and rails:
        try:
            measurement = measure_rails(result, rails, own_idle)
            return measurement if own_idle else _borrowed_idle(measurement, baseline, result)
        except Unusable as unusable:
            if not samples or unusable.validity == INVALID_BORROWED_BASELINE:
                raise
            rails_problem = f"power rails unusable ({unusable.reason}); used the battery gauge"
    # Here there are samples: compute_energy has said "no source" for neither, rails raised above.
    measurement = measure_gauge(result, samples, phases, charging_suspended, own_idle, remembered_unit)
    if rails_problem:
        measurement = replace(measurement, notes=(*measurement.notes, rails_problem))
    return measurement if own_idle else _borrowed_idle(measurement, baseline, result)


def _no_source_reason(result: AgentResult) -> str:
    if result.energy.source == "none":
        return ("the device exposes neither power rails nor a readable battery gauge "
                "(current_now/voltage_now) to the shell user")
    return "no energy samples or rail dumps were given"


def _per_inference(measurement: SourceMeasurement, phases: RunnerPhases, is_virtual: bool) -> Energy:
    fields = asdict(measurement)  # every SourceMeasurement field but the start-up power is an Energy field
    startup_mw = fields.pop("startup_power_mw")
    net_power_mw = measurement.gross_power_mw - measurement.idle_power_mw
    validity, reason = VALID, None
    if net_power_mw <= 0:
        validity = INVALID_NOT_ABOVE_IDLE
        reason = (f"the measured runs ({measurement.gross_power_mw:.1f} mW) drew no more than the idle baseline "
                  f"({measurement.idle_power_mw:.1f} mW): the inference cost is below what this source resolves")
    valid = validity == VALID
    startup_j = None
    if valid and startup_mw is not None and startup_mw > measurement.idle_power_mw:
        startup_j = (startup_mw - measurement.idle_power_mw) / 1000 * measurement.startup_duration_s
    return Energy(
        **fields,
        method=_method(measurement.source, is_virtual),
        validity=validity,
        reason=reason,
        # Net power times the measured runs' own time, per run: their mean latency's share.
        energy_per_inference_j=net_power_mw / 1000 * phases.measured_s / phases.inferences if valid else None,
        net_power_mw=net_power_mw if valid else None,
        n_inferences=phases.inferences,
        measured_s=round_s(phases.measured_s),
        startup_energy_j=startup_j,
        window=MEASURED_WINDOW,
    )
