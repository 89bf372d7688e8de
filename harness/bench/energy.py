"""Energy per inference and average power from the agent's raw samples, with method and validity.

Two sources, rails preferred:
- power rails (`power-rails`): the power-stats HAL's cumulative energy counters, dumped by the agent
  at idle start, run start and run end. Energy is read directly; power is energy over the uptime
  between dumps. Rails measure what the SoC and peripherals draw, wherever it comes from, so a
  phone on its charger still gives valid rail numbers.
- the battery gauge (`battery-gauge`): `current_now` x `voltage_now` sampled at a fixed interval,
  integrated over time. It sees only what flows out of the battery, so it is valid only when no
  charger supplies the phone (see `charging_verdict`).
On a virtual device the numbers are computed the same way and the method is `simulated`.

The run window is the runner's whole life on the device (agent's runner.start/end uptime): model
loading, warm-up and measured runs. The idle baseline (measured the same way just before, at rest)
is subtracted, and the net energy divided by `n_inferences`: pass every inference the runner did
in that window (warm-up + measured iterations), so that each inference carries its share of init.

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

import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from harness.bench.agent_result import (
    CHARGING_STATUSES,
    RAIL_DUMPS,
    AgentResult,
    AgentResultError,
    BatteryState,
    DeviceState,
    EnergySample,
    parse_energy_samples,
)
from harness.store.records import Energy

METHOD_RAILS = "power-rails"
METHOD_GAUGE = "battery-gauge"
METHOD_SIMULATED = "simulated"

VALID = "valid"
INVALID_CHARGING = "invalid: charging"
INVALID_CHARGING_UNKNOWN = "invalid: charging state unknown"
INVALID_TOO_FEW_SAMPLES = "invalid: too few samples"
INVALID_NO_SOURCE = "invalid: no energy source"
INVALID_NOT_ABOVE_IDLE = "invalid: not above idle"
INVALID_BAD_SAMPLES = "invalid: bad samples"
INVALID_RUN = "invalid: runner did not finish"
INVALID_NO_INFERENCES = "invalid: no inferences"
INVALID_BORROWED_BASELINE = "invalid: idle baseline not valid here"

IDLE_SOURCE_OWN = "this cell"

# Fuel gauges update every 250 ms to 1 s: fewer samples than this per phase cannot be trusted.
MIN_GAUGE_SAMPLES_PER_PHASE = 4
# Rail counters are exact, but an idle or run window shorter than this is mostly dumpsys overhead.
MIN_RAIL_WINDOW_S = 0.5
# |current_now| never above this over a whole recording: the driver reports mA, not µA (an awake
# phone draws tens of mA at least, i.e. tens of thousands of µA).
MILLIAMP_HINT_MAX = 1000
# A Li-ion cell sits at 3-4.5 V: a voltage_now below this is in mV, not µV.
MILLIVOLT_HINT_MAX = 100_000
# After normalisation the run should discharge the battery; more samples than this share flowing
# the other way mean a charger is holding the battery up (e.g. plugged in at a charge limit).
MAX_INFLOW_SAMPLE_SHARE = 0.10


# With rails the window runs from the dump just before the runner to the dump just after it: the
# few idle moments it adds on each side are taken back out with the baseline.
RUNNER_WINDOW = "runner start to exit (model load, warm-up and measured runs)"


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
        suspended = "suspended" if _suspended(result, charging_suspended) else "not suspended"
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


@dataclass(frozen=True)
class _Measurement:
    """Powers over the two windows, before validity rules and division by inferences. The idle
    part is None until a borrowed baseline fills it in (`_borrowed_idle`)."""

    source: str
    idle_power_mw: float | None
    gross_power_mw: float
    idle_duration_s: float | None
    run_duration_s: float
    idle_samples: int
    run_samples: int
    sample_interval_ms: float | None = None
    normalisation: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    rails: tuple[str, ...] = ()
    idle_source: str = IDLE_SOURCE_OWN
    idle_age_s: float | None = None


class _Unusable(Exception):
    """The data of one source cannot give a number: validity label and reason."""

    def __init__(self, validity: str, reason: str, *, source: str | None = None, partial: dict | None = None):
        super().__init__(reason)
        self.validity = validity
        self.reason = reason
        self.source = source
        self.partial = partial or {}


def compute_energy(
    result: AgentResult,
    samples: Sequence[EnergySample] | str,
    rails: Mapping[str, str] | None,
    *,
    n_inferences: int,
    is_virtual: bool,
    charging_suspended: bool | None = None,
    idle_baseline: IdleBaseline | None = None,
    idle_baseline_max_age_s: float | None = None,
) -> Energy:
    """Energy per inference over the runner's window (see the module docstring).

    `samples`: energy.csv parsed (`parse_energy_samples`) or its text ("" when there is none).
    `rails`: each rails dump's text by file name ("rails_run_end.txt", as in
    `result.energy.rails_files`) or stem ("rails_run_end"), or None. `n_inferences`: every
    inference in the window (warm-up + measured). `charging_suspended`: whether the host set
    `power.battery_input.suspended`; what the agent read on the device takes precedence.
    `idle_baseline`: an earlier cell's baseline, used instead of this run's idle phase (the
    agent ran with --idle-baseline-s 0), valid for `idle_baseline_max_age_s` (None: no limit).
    """
    if isinstance(samples, str):
        try:
            samples = parse_energy_samples(samples) if samples.strip() else []
        except AgentResultError as error:
            return _no_number(INVALID_BAD_SAMPLES, error.problem, n_inferences=n_inferences)
    if result.runner.status != "ok":
        return _no_number(INVALID_RUN, f"the runner ended with status {result.runner.status or 'unknown'}",
                          n_inferences=n_inferences)
    if n_inferences <= 0:
        return _no_number(INVALID_NO_INFERENCES, "the runner reported no inferences to divide by",
                          n_inferences=n_inferences)
    try:
        if idle_baseline is not None:
            _check_borrowable(idle_baseline, result, charging_suspended, idle_baseline_max_age_s)
        measurement = _measure(result, samples, rails, charging_suspended, idle_baseline)
    except _Unusable as unusable:
        method = _method(unusable.source, is_virtual) if unusable.source else None
        borrowed = {} if idle_baseline is None else {"idle_source": idle_baseline.taken_in}
        return _no_number(unusable.validity, unusable.reason, n_inferences=n_inferences, method=method,
                          source=unusable.source, **borrowed, **unusable.partial)
    return _per_inference(measurement, n_inferences, is_virtual)


def _no_number(validity: str, reason: str, **known: Any) -> Energy:
    fields: dict[str, Any] = dict(
        method=None, source=None, energy_per_inference_j=None, idle_power_mw=None, gross_power_mw=None,
        net_power_mw=None, run_duration_s=None, idle_duration_s=None, idle_samples=0, run_samples=0,
        sample_interval_ms=None, window=RUNNER_WINDOW,
    )
    fields.update(known)
    return Energy(validity=validity, reason=reason, **fields)


def _method(source: str, is_virtual: bool) -> str:
    return METHOD_SIMULATED if is_virtual else source


def _check_borrowable(baseline: IdleBaseline, result: AgentResult, charging_suspended: bool | None,
                      max_age_s: float | None) -> None:
    """A borrowed baseline stands for this run's idle power only if nothing it depends on changed."""
    start = result.runner.start_uptime_s
    age_s = None if start is None else start - baseline.taken_at_uptime_s
    conditions = PowerConditions.at(result, "before", charging_suspended)
    problem = None
    if age_s is None:
        problem = "this run's start time is missing"
    elif age_s < 0:
        problem = "the device's clock went back since (it rebooted)"
    elif max_age_s is not None and age_s > max_age_s:
        problem = f"it is {age_s:.0f} s old, more than the {max_age_s:g} s a baseline is lent for"
    elif conditions.thermal_status != baseline.conditions.thermal_status:
        problem = (f"the thermal status was {baseline.conditions.thermal_status} then and "
                   f"{conditions.thermal_status} now")
    elif conditions.charging != baseline.conditions.charging:
        problem = f"charging was '{baseline.conditions.charging}' then and '{conditions.charging}' now"
    if problem:
        raise _Unusable(INVALID_BORROWED_BASELINE, f"the idle baseline from {baseline.taken_in} does not hold "
                        f"for this run: {problem} (the next run measures its own; --idle-baseline-reuse 0 "
                        "measures one before every run)")


def _borrowed_idle(measurement: _Measurement, baseline: IdleBaseline, result: AgentResult) -> _Measurement:
    """This run's powers with the borrowed baseline as its idle part."""
    how_measured = (measurement.source, measurement.normalisation, measurement.rails)
    if how_measured != (baseline.source, baseline.normalisation, baseline.rails):
        how = (f"{measurement.source} {list(measurement.normalisation + measurement.rails)} against "
               f"{baseline.source} {list(baseline.normalisation + baseline.rails)}")
        raise _Unusable(INVALID_BORROWED_BASELINE, f"the idle baseline from {baseline.taken_in} was measured "
                        f"otherwise than this run ({how})", source=measurement.source)
    return replace(
        measurement, idle_power_mw=baseline.power_mw, idle_duration_s=baseline.duration_s,
        idle_samples=baseline.samples, idle_source=baseline.taken_in,
        idle_age_s=_round_s(result.runner.start_uptime_s - baseline.taken_at_uptime_s),
    )


def _measure(result: AgentResult, samples: Sequence[EnergySample], rails: Mapping[str, str] | None,
             charging_suspended: bool | None, baseline: IdleBaseline | None) -> _Measurement:
    own_idle = baseline is None
    rails_problem = None
    if result.energy.rails_files and rails:
        try:
            measurement = _measure_rails(result, rails, own_idle)
            return measurement if own_idle else _borrowed_idle(measurement, baseline, result)
        except _Unusable as unusable:
            if not samples or unusable.validity == INVALID_BORROWED_BASELINE:
                raise
            rails_problem = f"power rails unusable ({unusable.reason}); used the battery gauge"
    if samples:
        measurement = _measure_gauge(result, samples, charging_suspended, own_idle)
        if rails_problem:
            measurement = _with_note(measurement, rails_problem)
        return measurement if own_idle else _borrowed_idle(measurement, baseline, result)
    raise _Unusable(INVALID_NO_SOURCE, _no_source_reason(result))


def _no_source_reason(result: AgentResult) -> str:
    if result.energy.source == "none":
        return ("the device exposes neither power rails nor a readable battery gauge "
                "(current_now/voltage_now) to the shell user")
    return "no energy samples or rail dumps were given"


def _with_note(measurement: _Measurement, note: str) -> _Measurement:
    return replace(measurement, notes=(*measurement.notes, note))


def _per_inference(measurement: _Measurement, n_inferences: int, is_virtual: bool) -> Energy:
    net_power_mw = measurement.gross_power_mw - measurement.idle_power_mw
    validity, reason = VALID, None
    if net_power_mw <= 0:
        validity = INVALID_NOT_ABOVE_IDLE
        reason = (f"the run ({measurement.gross_power_mw:.1f} mW) drew no more than the idle baseline "
                  f"({measurement.idle_power_mw:.1f} mW): the inference cost is below what this source resolves")
    valid = validity == VALID
    return Energy(
        **asdict(measurement),  # every _Measurement field is an Energy field of the same name
        method=_method(measurement.source, is_virtual),
        validity=validity,
        reason=reason,
        energy_per_inference_j=net_power_mw / 1000 * measurement.run_duration_s / n_inferences if valid else None,
        net_power_mw=net_power_mw if valid else None,
        n_inferences=n_inferences,
        window=RUNNER_WINDOW,
    )


def _runner_window(result: AgentResult, source: str) -> tuple[float, float]:
    start, end = result.runner.start_uptime_s, result.runner.end_uptime_s
    if start is None or end is None or end <= start:
        raise _Unusable(INVALID_BAD_SAMPLES, "the runner's start and end uptime are missing or out of order",
                        source=source)
    return start, end


# ---------------------------------------------------------------- battery gauge


def charging_verdict(result: AgentResult, charging_suspended: bool | None) -> tuple[str, str] | None:
    """(validity, reason) when the battery gauge cannot be trusted to see the whole load, else None.

    Suspended means `power.battery_input.suspended` read true by the agent before and after the
    run; when the agent could not read it, the host's `charging_suspended` decides. Then:
    - suspended: only a status of `Charging` after the run disqualifies (the device ignored the
      request); a charger online, or `Full` at 100%, is expected with the cable still in;
    - not suspended: a status of `Charging` or `Full`, or any external supply online (usb, ac,
      wireless, ...), is `invalid: charging` (a charger feeds the phone and the battery current
      misses that part of the load; `dumpsys battery unplug` changes nothing of it);
    - neither the status nor any supply readable: `invalid: charging state unknown`.
    Afterwards the samples themselves can still show current flowing in, in the idle or the run
    phase (see `_measure_gauge`).
    BatteryService's answers are ignored while its updates are stopped (`dumpsys battery unplug`).
    """
    before, after = result.before, result.after
    statuses = [s.battery.status for s in (before, after) if _trusted_status(s.battery)]
    if _suspended(result, charging_suspended):
        # The `before` snapshot can predate the suspension taking effect (BatteryService and the
        # fuel gauge follow within a second or so): the end of the run is what counts.
        if _trusted_status(after.battery) and after.battery.status == "Charging":
            return INVALID_CHARGING, ("the battery status was still Charging at the end of the run although "
                                      "charging was meant to be suspended: this device ignores "
                                      "power.battery_input.suspended")
        return None
    charging = [status for status in statuses if status in CHARGING_STATUSES]
    if charging:
        return INVALID_CHARGING, (f"the battery status was {charging[0]}: a charger, not the battery, "
                                  "powered the run" + _SUSPEND_HINT)
    supplies = [_trusted_external_power(s) for s in (before, after)]
    online = sorted({name for names in supplies for name in (names or ())})
    if online:
        return INVALID_CHARGING, (f"external power was online ({', '.join(online)}): the battery gauge "
                                  "misses what the charger supplies" + _SUSPEND_HINT)
    if not statuses and all(names is None for names in supplies):
        return INVALID_CHARGING_UNKNOWN, ("neither the battery status nor any charger's online state "
                                          "could be read, so the gauge may be measuring a charging battery")
    return None


def _suspended(result: AgentResult, charging_suspended: bool | None) -> bool:
    recorded = [result.before.battery.input_suspended, result.after.battery.input_suspended]
    if all(value is None for value in recorded):
        return bool(charging_suspended)
    return all(recorded)


_SUSPEND_HINT = ("; suspend charging (adb shell setprop power.battery_input.suspended true, battery >= 50%) "
                 "or run over Wi-Fi adb with the cable unplugged")


def _trusted_status(battery: BatteryState) -> bool:
    # BatteryService stops updating after `dumpsys battery unplug/set`: what it says is then made up.
    return battery.status is not None and not (battery.source == "dumpsys" and battery.updates_stopped)


def _trusted_external_power(state: DeviceState) -> tuple[str, ...] | None:
    """Online chargers, leaving out BatteryService's view when its updates are stopped."""
    supplies = state.supplies
    if state.battery.updates_stopped:
        supplies = tuple(s for s in supplies if not s.name.startswith("dumpsys-"))
    return replace(state, supplies=supplies).external_power_online


def _measure_gauge(result: AgentResult, samples: Sequence[EnergySample],
                   charging_suspended: bool | None, own_idle: bool) -> _Measurement:
    verdict = charging_verdict(result, charging_suspended)
    if verdict:
        raise _Unusable(*verdict, source=METHOD_GAUGE)
    start, end = _runner_window(result, METHOD_GAUGE)
    readable = [s for s in samples if s.current_now is not None and s.voltage_now is not None]
    notes = []
    if len(readable) < len(samples):
        notes.append(f"{len(samples) - len(readable)} unreadable gauge samples dropped")
    idle = [s for s in readable if s.phase == "idle"] if own_idle else []
    run = [s for s in readable if s.phase == "run"]
    counts = dict(idle_samples=len(idle), run_samples=len(run), sample_interval_ms=_median_interval_ms(readable))
    if len(run) < MIN_GAUGE_SAMPLES_PER_PHASE or (own_idle and len(idle) < MIN_GAUGE_SAMPLES_PER_PHASE):
        raise _Unusable(
            INVALID_TOO_FEW_SAMPLES,
            f"{len(idle)} idle and {len(run)} run gauge samples; at least {MIN_GAUGE_SAMPLES_PER_PHASE} "
            "of each are needed (lengthen --idle-baseline-s or the run, or shorten the sample interval)",
            source=METHOD_GAUGE, partial=counts,
        )
    # Normalised on this run's own samples, so that a borrowed baseline can be checked against it.
    scale_ua, scale_uv, sign, normalisation = _normalisation(idle + run)

    def power_uw(sample: EnergySample) -> float:
        return sign * sample.current_now * scale_ua * sample.voltage_now * scale_uv / 1e6

    for phase, phase_samples in (("idle", idle), ("run", run)):
        inflow = sum(1 for s in phase_samples if power_uw(s) < 0)
        if inflow > MAX_INFLOW_SAMPLE_SHARE * len(phase_samples):
            raise _Unusable(
                INVALID_CHARGING,
                f"current flowed into the battery in {inflow} of {len(phase_samples)} {phase} samples: "
                f"something other than the battery powered the {phase} phase" + _SUSPEND_HINT,
                source=METHOD_GAUGE, partial=counts,
            )
    idle_mw = idle_duration_s = None
    if own_idle:
        idle_start, idle_end = idle[0].uptime_s, idle[-1].uptime_s
        if idle_end <= idle_start:
            raise _Unusable(INVALID_BAD_SAMPLES, "the idle samples all carry the same time stamp",
                            source=METHOD_GAUGE, partial=counts)
        idle_mw = _mean_over([(s.uptime_s, power_uw(s)) for s in idle], idle_start, idle_end) / 1000
        idle_duration_s = _round_s(idle_end - idle_start)
    gross_mw = _mean_over([(s.uptime_s, power_uw(s)) for s in run], start, end) / 1000
    return _Measurement(
        source=METHOD_GAUGE, idle_power_mw=idle_mw, gross_power_mw=gross_mw,
        idle_duration_s=idle_duration_s, run_duration_s=_round_s(end - start),
        normalisation=normalisation, notes=tuple(notes), **counts,
    )


def _normalisation(samples: Sequence[EnergySample]) -> tuple[int, int, int, tuple[str, ...]]:
    """Scale to µA and µV and the sign that makes discharging positive, with what was done.

    Drivers disagree on the sign (the kernel ABI says negative while discharging, many report
    positive) and a few report mA: once charging is ruled out the battery discharges, so the
    sign most samples carry is the discharging one.
    """
    notes = []
    scale_ua = scale_uv = 1
    if max(abs(s.current_now) for s in samples) <= MILLIAMP_HINT_MAX:
        scale_ua = 1000
        notes.append("current mA->µA")
    if statistics.median(s.voltage_now for s in samples) < MILLIVOLT_HINT_MAX:
        scale_uv = 1000
        notes.append("voltage mV->µV")
    negative = sum(1 for s in samples if s.current_now < 0)
    positive = sum(1 for s in samples if s.current_now > 0)
    sign = 1
    if negative > positive:
        sign = -1
        notes.append("current sign flipped")
    return scale_ua, scale_uv, sign, tuple(notes)


def _mean_over(points: Sequence[tuple[float, float]], start: float, end: float) -> float:
    """Time-weighted mean of a piecewise-linear signal over [start, end]; held flat past its ends."""
    points = sorted(points)
    if start < points[0][0]:
        points.insert(0, (start, points[0][1]))
    if end > points[-1][0]:
        points.append((end, points[-1][1]))
    area = 0.0
    for (t0, v0), (t1, v1) in zip(points, points[1:]):
        a, b = max(t0, start), min(t1, end)
        if b <= a:
            continue
        slope = (v1 - v0) / (t1 - t0)
        va, vb = v0 + slope * (a - t0), v0 + slope * (b - t0)
        area += (va + vb) / 2 * (b - a)
    return area / (end - start)


def _median_interval_ms(samples: Sequence[EnergySample]) -> float | None:
    gaps = [(b.uptime_s - a.uptime_s) * 1000 for a, b in zip(samples, samples[1:]) if a.phase == b.phase]
    return round(statistics.median(gaps), 1) if gaps else None


def _round_s(duration_s: float) -> float:
    # Uptime has 10 ms resolution; more digits would only be float noise.
    return round(duration_s, 3)


# ---------------------------------------------------------------- power rails

_SECTION_START = re.compile(r"=+ PowerStats HAL (2\.0 energy meter|1\.0 rail energy data) =+")
_SECTION_END = re.compile(r"=+ End of PowerStats HAL")
_RAIL_LINE = re.compile(r"\s*(?P<name>\S.*?)\s+(?P<mws>-?\d+(?:\.\d+)?)\s+mWs(?:\s*\(\s*-?[\d.]+\s*\))?\s*")


def parse_rail_energy_mws(text: str) -> dict[str, float]:
    """Cumulative energy per rail (mWs) from a power-stats HAL dump; {} when it has none.

    HAL 2.0 (`dumpsys android.hardware.power.stats.IPowerStats/default`, AIDL default
    implementation): `  [RAIL]:Subsystem   123.45 mWs`, plus ` (delta)` with the `delta` argument.
    HAL 1.0 (`lshal debug android.hardware.power.stats@1.0::IPowerStats/default`):
    `  Subsys   Rail   123.45 mWs`, named here `[Rail]:Subsys` like HAL 2.0. Only the energy
    meter section counts (the energy consumers section has mWs lines too). The HAL prints from a
    float: about 7 significant digits, so a counter at 1e8 mWs moves in steps of 8 mWs.
    """
    rails: dict[str, float] = {}
    inside = False
    for line in text.splitlines():
        if _SECTION_START.search(line):
            inside = True
        elif _SECTION_END.search(line):
            inside = False
        elif inside and (match := _RAIL_LINE.fullmatch(line)):
            rails[_rail_name(match.group("name"))] = float(match.group("mws"))
    return rails


def _rail_name(columns: str) -> str:
    parts = columns.split()
    if len(parts) == 2 and not parts[0].startswith("["):
        subsystem, rail = parts
        return f"[{rail}]:{subsystem}"
    return " ".join(parts)


def _measure_rails(result: AgentResult, rails: Mapping[str, str], own_idle: bool) -> _Measurement:
    """Without `own_idle` (a borrowed baseline) the idle_start dump is not needed: the agent
    skips it when it takes no idle baseline."""
    uptimes = result.energy.rails_uptime_s
    dumps = RAIL_DUMPS if own_idle else RAIL_DUMPS[1:]
    counters = {}
    for dump in dumps:
        text = rails.get(f"rails_{dump}.txt", rails.get(f"rails_{dump}"))
        if text is None or dump not in uptimes:
            raise _Unusable(INVALID_BAD_SAMPLES, f"the {dump} rails dump or its time is missing", source=METHOD_RAILS)
        counters[dump] = parse_rail_energy_mws(text)
    names = sorted(set.intersection(*(set(c) for c in counters.values())))
    if not names:
        raise _Unusable(INVALID_BAD_SAMPLES, "the rails dumps list no energy meter channel", source=METHOD_RAILS)
    run_mws = _rails_delta_mws(counters["run_start"], counters["run_end"], names)
    # The HAL reads its counters somewhere during the dump: take the middle of each.
    at_s = {dump: sum(uptimes[dump]) / 2 for dump in dumps}
    run_s = _round_s(at_s["run_end"] - at_s["run_start"])
    idle_s = _round_s(at_s["run_start"] - at_s["idle_start"]) if own_idle else None
    counts = dict(idle_samples=2 if own_idle else 0, run_samples=2, idle_duration_s=idle_s, run_duration_s=run_s)
    if run_s < MIN_RAIL_WINDOW_S or (own_idle and idle_s < MIN_RAIL_WINDOW_S):
        idle_text = f"idle window {idle_s:.2f} s and " if own_idle else ""
        raise _Unusable(
            INVALID_TOO_FEW_SAMPLES,
            f"{idle_text}run window {run_s:.2f} s between rail dumps; each needs at "
            f"least {MIN_RAIL_WINDOW_S} s (lengthen --idle-baseline-s or the run)",
            source=METHOD_RAILS, partial=counts,
        )
    notes = []
    if result.before.battery.charging or result.after.battery.charging:
        notes.append("charging during the run: rails measure the load itself, so they stay valid")
    dropped = sorted(set().union(*counters.values()) - set(names))
    if dropped:
        notes.append(f"rails missing from some dumps left out: {', '.join(dropped)}")
    idle_mw = _rails_delta_mws(counters["idle_start"], counters["run_start"], names) / idle_s if own_idle else None
    return _Measurement(
        source=METHOD_RAILS, idle_power_mw=idle_mw, gross_power_mw=run_mws / run_s,
        notes=tuple(notes), rails=tuple(names), **counts,
    )


def _rails_delta_mws(first: Mapping[str, float], second: Mapping[str, float], names: Sequence[str]) -> float:
    backwards = [name for name in names if second[name] < first[name]]
    if backwards:
        raise _Unusable(INVALID_BAD_SAMPLES, f"rail counters went backwards ({', '.join(backwards)}): "
                        "the power-stats HAL restarted during the run", source=METHOD_RAILS)
    return sum(second[name] - first[name] for name in names)
