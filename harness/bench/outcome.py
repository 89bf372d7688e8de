"""What a benchmark's outcome was (its status and reason) and which conditions flag its numbers."""

from __future__ import annotations

import re

from harness import stats
from harness.bench.energy_window import INVALID_CHARGING
from harness.device.passport import Passport
from harness.store.records import CellStatus, Clocks, Delegation, Energy, LatencyStats, RunConditions, Thermal

# Wakefulness a phone benchmarks badly in: idle power is lower, and over Wi-Fi adb it may sleep.
SCREEN_OFF = ("Asleep", "Dozing", "Dreaming")

OUTPUT_TAIL_CHARS = 300

_UNSUPPORTED_PATTERNS = (
    re.compile(r"(GPU|NNAPI|Hexagon)[^\n]*(not supported|unsupported|not available|failed to create|could not create)", re.I),
    re.compile(r"Failed to (apply|create) [^\n]*delegate", re.I),
    re.compile(r"Didn't find op for builtin opcode", re.I),
    re.compile(r"Op builtin_code out of range", re.I),
    re.compile(r"Encountered unresolved custom op", re.I),
)


def tail(text: str, chars: int = OUTPUT_TAIL_CHARS) -> str:
    return (text or "").strip()[-chars:]


def classify_outcome(runner_status: str | None, exit_code: int | None, timeout_s, errors: list[str],
                     complete: bool, log_text: str) -> tuple[CellStatus, str | None]:
    """The cell's status from what the agent says of its runner and what the runner printed."""
    if runner_status == "timeout":
        return CellStatus.TIMEOUT, f"runner hung and was killed after {timeout_s} s; output tail: {tail(log_text)}"
    if any(p.search(log_text) for p in _UNSUPPORTED_PATTERNS) and runner_status != "ok":
        return CellStatus.UNSUPPORTED, _first_error_line(errors, log_text)
    if exit_code is not None and exit_code >= 128:
        return CellStatus.CRASHED, f"runner killed by signal {exit_code - 128}; output tail: {tail(log_text)}"
    if runner_status != "ok" or exit_code:
        return CellStatus.FAILED, f"runner exited with code {exit_code}: {_first_error_line(errors, log_text)}"
    if not complete:
        return CellStatus.FAILED, f"runner output is incomplete or unparseable; tail: {tail(log_text)}"
    return CellStatus.OK, None


def _first_error_line(errors: list[str], log_text: str) -> str:
    if errors:
        return errors[0]
    lines = [line for line in log_text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def cell_flags(passport: Passport, delegate: str, latency: LatencyStats | None, energy: Energy | None,
               thermal: Thermal | None, delegation: Delegation | None) -> tuple[str, ...]:
    """The conditions that make a cell's numbers unlike a phone's at rest on its battery."""
    flags = [name for name in ("virtual", "emulator", "low_battery", "debuggable") if passport.flags.get(name)]
    if energy is not None and energy.validity == INVALID_CHARGING:  # not "charging state unknown"
        flags.append("charging")
    if thermal is not None and thermal.throttled:
        flags.append("throttled")
    delegation = delegation or Delegation()
    if delegation.fallback_to_cpu:
        flags.append("delegate-fallback")
    elif delegation.fully_delegated is False and delegate in ("gpu", "nnapi"):
        flags.append("partial-delegation")
    if latency is not None and stats.is_noisy(latency.cv):
        flags.append("noisy")
    return tuple(flags)


def extra_flags(clocks: Clocks | None, conditions: RunConditions | None) -> tuple[str, ...]:
    """Flags of the clocks and the screen: a cpufreq cap on the runner's cores whatever the thermal
    status (`clock-capped`), and a screen that was off (`screen-off`)."""
    flags = []
    if clocks is not None and clocks.capped:
        flags.append("clock-capped")
    if conditions is not None and {conditions.wakefulness_before, conditions.wakefulness_after} & set(SCREEN_OFF):
        flags.append("screen-off")
    return tuple(flags)
