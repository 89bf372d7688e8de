"""Energy from the power-stats HAL's rails: cumulative energy counters per rail, dumped by the agent
at the idle window's start, the runner's start, the start of its measured runs (when the runner
announces them) and its end. Rails measure what the SoC and peripherals draw wherever it comes
from, so a phone on its charger still gives valid rail numbers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from harness.bench.agent_result import AgentResult
from harness.bench.energy_window import (
    INVALID_BAD_SAMPLES, INVALID_NOT_SEPARATED, INVALID_TOO_FEW_SAMPLES, METHOD_RAILS, SourceMeasurement, Unusable,
    round_s,
)

# Rail counters are exact, but an idle or run window shorter than this is mostly dumpsys overhead.
MIN_RAIL_WINDOW_S = 0.5

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


def measure_rails(result: AgentResult, rails: Mapping[str, str], own_idle: bool) -> SourceMeasurement:
    """Without `own_idle` (a borrowed baseline) the idle_start dump is not needed: the agent
    skips it when it takes no idle baseline."""
    uptimes = result.energy.rails_uptime_s
    dumps = ("idle_start",) * own_idle + ("run_start", "measured_start", "run_end")
    counters = {}
    for dump in dumps:
        text = rails.get(f"rails_{dump}.txt", rails.get(f"rails_{dump}"))
        if text is None or dump not in uptimes:
            if dump == "measured_start":
                raise Unusable(INVALID_NOT_SEPARATED, "no rails dump at the start of the measured runs (the runner "
                               "announced no measured phase the agent could see), so start-up and inference energy "
                               "cannot be told apart", source=METHOD_RAILS)
            raise Unusable(INVALID_BAD_SAMPLES, f"the {dump} rails dump or its time is missing", source=METHOD_RAILS)
        counters[dump] = parse_rail_energy_mws(text)
    names = sorted(set.intersection(*(set(c) for c in counters.values())))
    if not names:
        raise Unusable(INVALID_BAD_SAMPLES, "the rails dumps list no energy meter channel", source=METHOD_RAILS)
    # The HAL reads its counters somewhere during the dump: take the middle of each.
    at_s = {dump: sum(uptimes[dump]) / 2 for dump in dumps}
    measured_s = round_s(at_s["run_end"] - at_s["measured_start"])
    idle_s = round_s(at_s["run_start"] - at_s["idle_start"]) if own_idle else None
    counts = dict(idle_samples=2 if own_idle else 0, run_samples=3, idle_duration_s=idle_s,
                  run_duration_s=round_s(at_s["run_end"] - at_s["run_start"]), inference_window_s=measured_s)
    if measured_s < MIN_RAIL_WINDOW_S or (own_idle and idle_s < MIN_RAIL_WINDOW_S):
        idle_text = f"idle window {idle_s:.2f} s and " if own_idle else ""
        raise Unusable(
            INVALID_TOO_FEW_SAMPLES,
            f"{idle_text}measured window {measured_s:.2f} s between rail dumps; each needs at "
            f"least {MIN_RAIL_WINDOW_S} s (lengthen --idle-baseline or --min-secs)",
            source=METHOD_RAILS, partial=counts,
        )
    notes = ["rails window of the measured runs starts when the agent saw them announced"]
    if result.before.battery.charging or result.after.battery.charging:
        notes.append("charging during the run: rails measure the load itself, so they stay valid")
    dropped = sorted(set().union(*counters.values()) - set(names))
    if dropped:
        notes.append(f"rails missing from some dumps left out: {', '.join(dropped)}")
    startup_s = at_s["measured_start"] - at_s["run_start"]
    startup_mw = _delta_mws(counters["run_start"], counters["measured_start"], names) / startup_s if startup_s > 0 else None
    idle_mw = _delta_mws(counters["idle_start"], counters["run_start"], names) / idle_s if own_idle else None
    return SourceMeasurement(
        source=METHOD_RAILS, idle_power_mw=idle_mw,
        gross_power_mw=_delta_mws(counters["measured_start"], counters["run_end"], names) / measured_s,
        startup_power_mw=startup_mw, startup_duration_s=round_s(startup_s), notes=tuple(notes), rails=tuple(names), **counts,
    )


def _delta_mws(first: Mapping[str, float], second: Mapping[str, float], names: Sequence[str]) -> float:
    backwards = [name for name in names if second[name] < first[name]]
    if backwards:
        raise Unusable(INVALID_BAD_SAMPLES, f"rail counters went backwards ({', '.join(backwards)}): "
                       "the power-stats HAL restarted during the run", source=METHOD_RAILS)
    return sum(second[name] - first[name] for name in names)
