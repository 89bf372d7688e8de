"""Energy from the battery gauge: `current_now` x `voltage_now`, sampled by the agent at a fixed
interval and integrated over time. The gauge sees only what flows out of the battery, so its
numbers hold only when the battery alone carried the load. Decided here, in this order:

1. Charging. Suspension (`power.battery_input.suspended`) counts only by its effect: a sustained
   discharge after it was set (`suspension_effect`). A phone may echo the property and ignore it;
   one held at a charge limit ("Not charging") or `Full` on its charger then rests its battery at
   about 0 A while the charger carries the load. Without that effect the not-suspended rules
   apply (`charging_verdict`): Charging, Full, Not charging or any charger online disqualify.
2. The current's unit, from plausible power: |I x V| of an awake phone lies within about 0.05-20 W,
   and only one of µA and mA puts a reading there (`decide_current_unit`); the idle phase decides
   first, then the run, then what an earlier benchmark on the device decided.
3. The sign: once charging is ruled out the battery discharges, so the sign most samples carry is
   the discharging one.
4. Enough of the gauge: fuel gauges update every 0.25-1 s and smooth, so each window (idle, and the
   measured runs) needs enough distinct readings and enough time (`check_window`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace

from harness.bench.agent_result import CHARGING_STATUSES, AgentResult, BatteryState, DeviceState, EnergySample
from harness.bench.energy_window import (
    INVALID_BAD_SAMPLES, INVALID_CHARGING, INVALID_CHARGING_UNKNOWN, INVALID_TOO_FEW_SAMPLES, INVALID_UNIT,
    INVALID_WINDOW, METHOD_GAUGE, RunnerPhases, SourceMeasurement, Unusable, mean_over, median_interval_ms, round_s,
)

# Fuel gauges update every 250 ms to 1 s: fewer samples than this per phase cannot be trusted.
MIN_GAUGE_SAMPLES_PER_PHASE = 4
# ... nor fewer distinct readings (a smoothed gauge repeats its value between updates), nor a
# window shorter than this: a 1 s gauge needs more time, and says so through the readings.
MIN_DISTINCT_READINGS = 4
MIN_GAUGE_WINDOW_S = 2.0
# What an awake phone draws: a gauge reading outside this in both µA and mA is no current.
PLAUSIBLE_POWER_W = (0.05, 20.0)
CURRENT_UNITS = {"µA": 1, "mA": 1000}
# A battery that carries an awake phone's whole load discharges at least this much.
MIN_SUSPENDED_DISCHARGE_W = 0.1
# With the battery carrying the load, the run draws visibly more than idle; a battery resting on
# its charger does not move with the load.
FOLLOWS_LOAD_MARGIN = 0.10
# A Li-ion cell sits at 3-4.5 V: a voltage_now below this is in mV, not µV.
MILLIVOLT_HINT_MAX = 100_000
# After normalisation the run should discharge the battery; more samples than this share flowing
# the other way mean a charger is holding the battery up (e.g. plugged in at a charge limit).
MAX_INFLOW_SAMPLE_SHARE = 0.10
SUSPEND_HINT = ("; suspend charging (adb shell setprop power.battery_input.suspended true, battery >= 50%) "
                "or run over Wi-Fi adb with the cable unplugged")
HELD_STATUSES = frozenset({"Not charging", "Full"})


@dataclass(frozen=True)
class CurrentUnit:
    name: str  # "µA" or "mA"
    decided_from: str  # "idle phase", "run phase" or "remembered"

    @property
    def to_ua(self) -> int:
        return CURRENT_UNITS[self.name]


# ---------------------------------------------------------------- charging


def charging_requested(result: AgentResult, charging_suspended: bool | None) -> bool:
    """Whether `power.battery_input.suspended` was true before and after the run, as the agent read
    it; the host's word (`charging_suspended`) when the agent could not read it."""
    recorded = [result.before.battery.input_suspended, result.after.battery.input_suspended]
    if all(value is None for value in recorded):
        return bool(charging_suspended)
    return all(recorded)


def suspension_without_effect(result: AgentResult, idle: Sequence[EnergySample],
                              run: Sequence[EnergySample]) -> str | None:
    """Why a requested suspension shows no effect, before any unit is known; None when the rest
    of the check (`suspension_effect`) decides. A battery still Charging ignored it; one that
    reports a held status (Not charging, Full) or none must move with the load, which a battery
    resting on its charger does not."""
    after = result.after.battery
    if trusted_status(after) and after.status == "Charging":
        return "the battery status was still Charging at the end of the run"
    if trusted_status(after) and after.status not in HELD_STATUSES:
        return None
    said = f"the battery status was {after.status}" if trusted_status(after) else "no battery status could be read"
    if not idle:
        return f"{said} and, without an idle phase of its own, nothing shows the battery carrying the load"
    idle_ua, run_ua = (statistics.median(abs(s.current_now) for s in phase) for phase in (idle, run))
    if run_ua <= idle_ua * (1 + FOLLOWS_LOAD_MARGIN):
        return (f"{said} and the battery current did not follow the load (median {idle_ua:g} idle, {run_ua:g} "
                "in the run, in the gauge's unit): it rested while the charger carried the phone")
    return None


def suspension_effect(idle: Sequence[EnergySample], run: Sequence[EnergySample], unit: CurrentUnit,
                      scale_uv: int) -> str | None:
    """Why the samples show no sustained discharge, None when they do: in every phase nearly every
    sample flows one way, the same in both, at least MIN_SUSPENDED_DISCHARGE_W."""
    signs = []
    for phase, samples in (("idle", idle), ("run", run)):
        if not samples:
            continue
        power_w = statistics.median(abs(s.current_now) * unit.to_ua * s.voltage_now * scale_uv for s in samples) / 1e12
        sign = _majority_sign(samples)
        against = sum(1 for s in samples if s.current_now * sign < 0)
        if power_w < MIN_SUSPENDED_DISCHARGE_W or against > MAX_INFLOW_SAMPLE_SHARE * len(samples):
            return (f"the battery gave {power_w * 1000:.0f} mW in the {phase} phase ({against} of {len(samples)} samples "
                    f"the other way), not the sustained discharge of at least {MIN_SUSPENDED_DISCHARGE_W * 1000:.0f} mW "
                    "of a battery carrying the phone")
        signs.append(sign)
    if len(set(signs)) > 1:
        return "the battery current changed direction between the idle phase and the run"
    return None


def charging_verdict(result: AgentResult, why_not_suspended: str | None = None) -> tuple[str, str] | None:
    """(validity, reason) when, charging not being suspended in effect, the battery gauge cannot be
    trusted to see the whole load; else None. `why_not_suspended`: why a requested suspension did
    not count, said first.

    - a status of `Charging` or `Full`, or `Not charging` with a charger online (held at a charge
      limit), or any external supply online (usb, ac, wireless, ...), is `invalid: charging` (a
      charger feeds the phone and the battery current misses that part of the load; `dumpsys
      battery unplug` changes nothing of it);
    - neither the status nor any supply readable: `invalid: charging state unknown`.
    BatteryService's answers are ignored while its updates are stopped (`dumpsys battery unplug`).
    """
    before, after = result.before, result.after
    prefix = f"power.battery_input.suspended was set but had no effect ({why_not_suspended}); " if why_not_suspended else ""
    statuses = [s.battery.status for s in (before, after) if trusted_status(s.battery)]
    supplies = [_trusted_external_power(s) for s in (before, after)]
    online = sorted({name for names in supplies for name in (names or ())})
    charging = [status for status in statuses if status in CHARGING_STATUSES]
    if charging:
        return INVALID_CHARGING, (f"{prefix}the battery status was {charging[0]}: a charger, not the battery, "
                                  "powered the run" + SUSPEND_HINT)
    if online and "Not charging" in statuses:
        return INVALID_CHARGING, (f"{prefix}the battery was Not charging with {', '.join(online)} online: held on "
                                  "its charger (a charge limit), the charger carried the load" + SUSPEND_HINT)
    if online:
        return INVALID_CHARGING, (f"{prefix}external power was online ({', '.join(online)}): the battery gauge "
                                  "misses what the charger supplies" + SUSPEND_HINT)
    if not statuses and all(names is None for names in supplies):
        return INVALID_CHARGING_UNKNOWN, (f"{prefix}neither the battery status nor any charger's online state "
                                          "could be read, so the gauge may be measuring a charging battery")
    return None


def trusted_status(battery: BatteryState) -> bool:
    # BatteryService stops updating after `dumpsys battery unplug/set`: what it says is then made up.
    return battery.status is not None and not (battery.source == "dumpsys" and battery.updates_stopped)


def _trusted_external_power(state: DeviceState) -> tuple[str, ...] | None:
    """Online chargers, leaving out BatteryService's view when its updates are stopped."""
    supplies = state.supplies
    if state.battery.updates_stopped:
        supplies = tuple(s for s in supplies if not s.name.startswith("dumpsys-"))
    return replace(state, supplies=supplies).external_power_online


# ---------------------------------------------------------------- units and sign


def decide_current_unit(idle: Sequence[EnergySample], run: Sequence[EnergySample], scale_uv: int,
                        remembered: str | None) -> CurrentUnit:
    """The unit that puts the phase's median |I x V| within PLAUSIBLE_POWER_W: the idle phase
    first, then the run, then the unit remembered from an earlier benchmark on this device."""
    low_w, high_w = PLAUSIBLE_POWER_W
    medians = {}
    for phase, samples in (("idle phase", idle), ("run phase", run)):
        if not samples:
            continue
        median_uw = statistics.median(abs(s.current_now) * s.voltage_now * scale_uv for s in samples) / 1e6
        medians[phase] = median_uw
        plausible = [name for name, to_ua in CURRENT_UNITS.items() if low_w <= median_uw * to_ua / 1e6 <= high_w]
        if len(plausible) == 1:
            return CurrentUnit(plausible[0], phase)
    if remembered in CURRENT_UNITS:
        return CurrentUnit(remembered, "remembered")
    said = ", ".join(f"{phase} {uw:.3g}" for phase, uw in medians.items())
    raise Unusable(INVALID_UNIT, f"|current_now x voltage_now| ({said}, in the gauge's units) is {low_w:g}-{high_w:g} W "
                   "neither as µA nor as mA: the gauge's current is not a current this phone could draw",
                   source=METHOD_GAUGE)


def _majority_sign(samples: Sequence[EnergySample]) -> int:
    negative = sum(1 for s in samples if s.current_now < 0)
    positive = sum(1 for s in samples if s.current_now > 0)
    return -1 if negative > positive else 1


def distinct_readings(samples: Sequence[EnergySample]) -> int:
    """How many readings the gauge gave: a smoothed gauge repeats its value between updates."""
    values = [(s.current_now, s.voltage_now) for s in samples]
    return sum(1 for i, value in enumerate(values) if i == 0 or value != values[i - 1])


def check_window(name: str, samples: Sequence[EnergySample], window_s: float, partial: dict, fix: str) -> None:
    readings = distinct_readings(samples)
    if readings < MIN_DISTINCT_READINGS or window_s < MIN_GAUGE_WINDOW_S:
        raise Unusable(
            INVALID_WINDOW,
            f"the {name} window gave {readings} distinct gauge readings in {window_s:.2f} s; at least "
            f"{MIN_DISTINCT_READINGS} in {MIN_GAUGE_WINDOW_S:g} s are needed (fuel gauges update every 0.25-1 s "
            f"and smooth): {fix}",
            source=METHOD_GAUGE, partial=partial,
        )


# ---------------------------------------------------------------- the measurement


def measure_gauge(result: AgentResult, samples: Sequence[EnergySample], phases: RunnerPhases,
                  charging_suspended: bool | None, own_idle: bool, remembered_unit: str | None) -> SourceMeasurement:
    readable = [s for s in samples if s.current_now is not None and s.voltage_now is not None]
    notes = []
    if len(readable) < len(samples):
        notes.append(f"{len(samples) - len(readable)} unreadable gauge samples dropped")
    idle = [s for s in readable if s.phase == "idle"] if own_idle else []
    run = [s for s in readable if s.phase == "run" and phases.start_s <= s.uptime_s <= phases.end_s]
    measured = [s for s in run if s.uptime_s >= phases.measured_start_s]
    counts = dict(idle_samples=len(idle), run_samples=len(run),
                  sample_interval_ms=median_interval_ms([(s.phase, s.uptime_s) for s in readable]))
    if len(run) < MIN_GAUGE_SAMPLES_PER_PHASE or (own_idle and len(idle) < MIN_GAUGE_SAMPLES_PER_PHASE):
        raise Unusable(
            INVALID_TOO_FEW_SAMPLES,
            f"{len(idle)} idle and {len(run)} run gauge samples; at least {MIN_GAUGE_SAMPLES_PER_PHASE} "
            "of each are needed (lengthen --idle-baseline or the run, or shorten the sample interval)",
            source=METHOD_GAUGE, partial=counts,
        )
    # Normalised on this run's own samples, so that a borrowed baseline can be checked against it.
    scale_uv = 1000 if statistics.median(s.voltage_now for s in idle + run) < MILLIVOLT_HINT_MAX else 1

    def unit_of_current() -> CurrentUnit:
        try:
            return decide_current_unit(idle, run, scale_uv, remembered_unit)
        except Unusable as unusable:
            raise Unusable(unusable.validity, unusable.reason, source=METHOD_GAUGE, partial=counts) from None

    suspension = _checked_charging(result, idle, run, charging_suspended, unit_of_current, scale_uv, counts)
    unit = unit_of_current()
    sign = _majority_sign(idle + run)
    normalisation = (("current mA->µA",) if unit.name == "mA" else ()) + (("voltage mV->µV",) if scale_uv > 1 else ()) \
        + (("current sign flipped",) if sign < 0 else ())
    counts |= dict(current_unit=unit.name, current_unit_from=unit.decided_from, charging_suspension=suspension)

    def power_uw(sample: EnergySample) -> float:
        return sign * sample.current_now * unit.to_ua * sample.voltage_now * scale_uv / 1e6

    for phase, phase_samples in (("idle", idle), ("run", run)):
        inflow = sum(1 for s in phase_samples if power_uw(s) < 0)
        if inflow > MAX_INFLOW_SAMPLE_SHARE * len(phase_samples):
            raise Unusable(
                INVALID_CHARGING,
                f"current flowed into the battery in {inflow} of {len(phase_samples)} {phase} samples: "
                f"something other than the battery powered the {phase} phase" + SUSPEND_HINT,
                source=METHOD_GAUGE, partial=counts,
            )
    counts |= dict(run_readings=distinct_readings(measured), idle_readings=distinct_readings(idle))
    idle_mw = idle_duration_s = None
    if own_idle:
        idle_start, idle_end = idle[0].uptime_s, idle[-1].uptime_s
        if idle_end <= idle_start:
            raise Unusable(INVALID_BAD_SAMPLES, "the idle samples all carry the same time stamp",
                           source=METHOD_GAUGE, partial=counts)
        check_window("idle", idle, idle_end - idle_start, counts, "lengthen --idle-baseline")
        idle_mw = mean_over([(s.uptime_s, power_uw(s)) for s in idle], idle_start, idle_end) / 1000
        idle_duration_s = round_s(idle_end - idle_start)
    check_window("measured-runs", measured, phases.measured_s, counts,
                 "lengthen the measured runs with --min-secs (or --runs)")
    points = [(s.uptime_s, power_uw(s)) for s in run]
    startup_mw = mean_over(points, phases.start_s, phases.measured_start_s) / 1000 if phases.startup_s > 0 else None
    return SourceMeasurement(
        source=METHOD_GAUGE, idle_power_mw=idle_mw,
        gross_power_mw=mean_over(points, phases.measured_start_s, phases.end_s) / 1000, startup_power_mw=startup_mw,
        startup_duration_s=round_s(phases.startup_s),
        idle_duration_s=idle_duration_s, run_duration_s=round_s(phases.duration_s),
        inference_window_s=round_s(phases.end_s - phases.measured_start_s),
        normalisation=normalisation, notes=tuple(notes), **counts,
    )


def _checked_charging(result: AgentResult, idle, run, charging_suspended, unit_of_current, scale_uv: int,
                      counts: dict) -> str:
    """What became of charging suspension ("verified: ...", "no effect: ...", "not requested"),
    raising Unusable when the gauge cannot see the whole load."""
    if not charging_requested(result, charging_suspended):
        verdict = charging_verdict(result)
        if verdict:
            raise Unusable(*verdict, source=METHOD_GAUGE, partial=counts | {"charging_suspension": "not requested"})
        return "not requested"
    why_not = suspension_without_effect(result, idle, run)
    if why_not is None:
        why_not = suspension_effect(idle, run, unit_of_current(), scale_uv)
    if why_not is None:
        return "verified: the battery carried the load (sustained discharge after power.battery_input.suspended)"
    verdict = charging_verdict(result, why_not)
    if verdict:
        raise Unusable(*verdict, source=METHOD_GAUGE, partial=counts | {"charging_suspension": f"no effect: {why_not}"})
    return f"no effect: {why_not}; no charger was online"
