"""The on-device agent's output as typed, immutable values: `result.txt` and `energy.csv`.

`android_app/README.md` lists every key. Keys an agent did not write (an older agent version, a
device without the file behind a key) come back as None; keys this parser does not know are kept
in `AgentResult.extra`. A line that is not `key=value`, a value of the wrong type, or an agent
version newer than this parser understands is an `AgentResultError` naming the line.

Values stay in the units and sign conventions the device used (`current_now` as the driver
reports it, temperatures in tenths of a degree converted to degrees): `harness.bench.energy`
normalises what needs normalising and says what it did.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from harness.errors import InputError

# The newest `agent.version` this parser understands (android_app/agent.sh AGENT_VERSION).
# 1: first version. 2: --repeat N (runner.repeat, runner.runs, run.N.* after each of several
# runs, whose files are in run_N/), cpuN.scaling_max_khz and cpuN.policy, cpus_online,
# power.wakefulness, clocks.samples, the measured_start rails dump, the kept thermal dump.
AGENT_VERSION = 2

RUNNER_STATUSES = ("ok", "failed", "timeout", "killed", "not-run")
COOLDOWN_RESULTS = ("cool", "timeout", "not-requested", "no-sensors", "interrupted")
ENERGY_SOURCES = ("power-rails", "battery-gauge", "none")
SAMPLE_PHASES = ("idle", "run")
RAIL_DUMPS = ("idle_start", "run_start", "measured_start", "run_end")
# power_supply `type` values (Linux ABI, plus the agent's "Dock" from `dumpsys battery`) that
# mean power is coming from outside.
EXTERNAL_SUPPLY_TYPES = frozenset(
    {"Mains", "USB", "USB_DCP", "USB_CDP", "USB_ACA", "USB_C", "USB_PD", "USB_PD_DRP",
     "USB_HVDCP", "USB_HVDCP_3", "USB_HVDCP_3P5", "USB_FLOAT", "BrickID", "Wireless", "Dock"}
)
CHARGING_STATUSES = frozenset({"Charging", "Full"})
NOT_CHARGING_STATUSES = frozenset({"Discharging", "Not charging"})

_KEY = re.compile(r"[A-Za-z0-9_.:@+-]+")
_SNAPSHOT = r"(before|after|run\.\d+)"
_CPU_KEY = re.compile(rf"{_SNAPSHOT}\.cpu(\d+)\.(online|governor|cur_freq_khz|max_freq_khz|scaling_max_khz|policy)")
_SUPPLY_KEY = re.compile(rf"{_SNAPSHOT}\.supply\.(.+)\.(type|online)")
_RUN_KEY = re.compile(r"run\.(\d+)\.start_uptime_s")


class _Record:
    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class AgentResultError(InputError):
    """The agent's output cannot be read: says which line and what was expected."""

    def __init__(self, problem: str, fix: str | None = None):
        super().__init__(
            problem,
            fix or "keep the pulled directory for a bug report; re-push android_app/agent.sh "
            "from this squeezebench and run again",
        )


@dataclass(frozen=True)
class BatteryState(_Record):
    source: str | None  # power_supply directory ("battery", "bms", ...), "dumpsys", or None
    capacity_pct: int | None
    status: str | None  # sysfs vocabulary: Charging, Discharging, Not charging, Full, Unknown
    temp_c: float | None
    current_now: int | None  # raw: driver's unit (µA, some mA) and sign
    voltage_now: int | None  # raw: µV (some drivers mV)
    charge_counter_uah: int | None
    input_suspended: bool | None  # `power.battery_input.suspended`; None when unset/unknown
    updates_stopped: bool | None  # `dumpsys battery unplug` & co froze what BatteryService says

    @property
    def charging(self) -> bool | None:
        """True for Charging/Full, False for Discharging/Not charging, None otherwise."""
        if self.status in CHARGING_STATUSES:
            return True
        if self.status in NOT_CHARGING_STATUSES:
            return False
        return None


@dataclass(frozen=True)
class CpuState(_Record):
    index: int
    online: bool | None  # None: no `online` file (cpu0 usually has none: always online)
    governor: str | None
    cur_freq_khz: int | None
    max_freq_khz: int | None  # cpuinfo_max_freq: what the core can do
    scaling_max_khz: int | None = None  # scaling_max_freq: what the kernel lets it do now
    policy: int | None = None  # the first core of its cpufreq policy (related_cpus)


@dataclass(frozen=True)
class PowerSupply(_Record):
    name: str  # power_supply directory name ("usb", "ac", "wireless", ...) or "dumpsys-usb" & co
    type: str | None
    online: bool | None

    @property
    def is_external_power(self) -> bool:
        return self.type in EXTERNAL_SUPPLY_TYPES


@dataclass(frozen=True)
class DeviceState(_Record):
    uptime_s: float | None
    battery: BatteryState
    thermal_status: int | None  # 0 none .. 6 shutdown; None without thermalservice (< Android 10)
    supplies: tuple[PowerSupply, ...]
    cpus: tuple[CpuState, ...]
    cpus_online: str | None = None  # /sys/devices/system/cpu/online, a kernel CPU list ("0-3,6-7")
    wakefulness: str | None = None  # dumpsys power mWakefulness: Awake, Asleep, Dreaming, Dozing
    thermal_dump: str | None = None  # the kept `dumpsys thermalservice` (run snapshots), relative to the output

    @property
    def battery_temp_c(self) -> float | None:
        return self.battery.temp_c

    @property
    def external_power_online(self) -> tuple[str, ...] | None:
        """Names of online chargers (usb, ac, wireless...); None when no supply could be read."""
        known = [s for s in self.supplies if s.is_external_power and s.online is not None]
        if not known:
            return None
        return tuple(s.name for s in known if s.online)


@dataclass(frozen=True)
class Cooldown(_Record):
    requested_s: float | None
    temp_limit_c: float | None
    result: str | None  # one of COOLDOWN_RESULTS
    waited_s: float | None
    thermal_status_at_start: int | None
    thermal_status_at_end: int | None
    battery_temp_c_at_start: float | None
    battery_temp_c_at_end: float | None


@dataclass(frozen=True)
class RunnerOutcome(_Record):
    argv: tuple[str, ...] | None
    status: str | None  # one of RUNNER_STATUSES
    exit_code: int | None  # as the shell reports it: 128+N when signal N ended the runner
    signal: int | None
    start_uptime_s: float | None
    end_uptime_s: float | None
    timeout_s: float | None  # 0: no watchdog
    taskset_mask: str | None
    process_group: str | None  # "own" (setsid: the whole group is stopped) or "shared"
    cpus_online: str | None = None  # the online CPUs as the runner started: what the mask is cut to
    repeat: int | None = None  # runner processes asked for (--repeat)
    runs: int | None = None  # runner processes started

    @property
    def duration_s(self) -> float | None:
        if self.start_uptime_s is None or self.end_uptime_s is None:
            return None
        return self.end_uptime_s - self.start_uptime_s


@dataclass(frozen=True)
class RunRecord(_Record):
    """One of several runs (--repeat N): when it ran, how it ended, and the device after it."""

    index: int  # 1-based; run 1's files are in the output directory, run N's in run_N/
    start_uptime_s: float | None
    end_uptime_s: float | None
    exit_code: int | None
    status: str | None
    state: DeviceState


@dataclass(frozen=True)
class EnergySetup(_Record):
    """What the agent could sample and where it put it (the samples themselves are files)."""

    source: str | None  # one of ENERGY_SOURCES
    rails_hal: str | None  # "2.0" (dumpsys) or "1.0" (lshal)
    gauge_path: str | None  # power_supply directory sampled for current_now/voltage_now
    interval_ms: int | None
    idle_s: float | None
    samples_file: str | None  # "energy.csv", or None without a gauge
    rails_files: tuple[str, ...]
    # Uptime just before and just after each rails dump, by dump name (RAIL_DUMPS).
    rails_uptime_s: Mapping[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class AgentResult(_Record):
    version: int | None
    shell: str | None
    start_uptime_s: float | None
    end_uptime_s: float | None
    interrupted: str | None  # TERM/HUP/INT when the agent was stopped by a signal
    sysroot: str | None  # --sysroot (tests only): the device readings are not real
    before: DeviceState
    after: DeviceState
    cooldown: Cooldown
    runner: RunnerOutcome
    energy: EnergySetup
    extra: Mapping[str, str]  # keys this parser does not know, as written
    clocks_file: str | None = None  # "clocks.csv": every core's clock sampled during the run
    runs: tuple[RunRecord, ...] = ()  # with --repeat N > 1: each run, in order


@dataclass(frozen=True)
class EnergySample(_Record):
    uptime_s: float
    phase: str  # "idle" or "run"
    current_now: int | None  # raw; None when the read failed
    voltage_now: int | None


# ---------------------------------------------------------------- result.txt


def parse_agent_result(text: str) -> AgentResult:
    values = _Values(_key_values(text))
    version = values.int("agent.version")
    if version is not None and version > AGENT_VERSION:
        raise AgentResultError(
            f"result.txt comes from agent version {version}; this squeezebench understands up to {AGENT_VERSION}",
            "upgrade squeezebench, or push the agent bundled with this one (android_app/agent.sh)",
        )
    return AgentResult(
        version=version,
        shell=values.text("agent.shell"),
        start_uptime_s=values.float("agent.start_uptime_s"),
        end_uptime_s=values.float("agent.end_uptime_s"),
        interrupted=values.text("agent.interrupted"),
        before=_device_state(values, "before"),
        after=_device_state(values, "after"),
        cooldown=_cooldown(values),
        runner=_runner(values),
        energy=_energy_setup(values),
        sysroot=values.text("agent.sysroot"),
        clocks_file=values.text("clocks.samples"),
        runs=_runs(values),
        # Last, so that every key read above counts as known.
        extra=values.unread(),
    )


def _key_values(text: str) -> dict[str, tuple[int, str]]:
    """key -> (line number, value). Split on \\n only: a value may hold any other character."""
    pairs: dict[str, tuple[int, str]] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep or not _KEY.fullmatch(key):
            raise AgentResultError(f"result.txt line {number} is not key=value: {line[:120]!r}")
        # The agent writes each key once; should a signal ever make it write one again, the
        # later value is the one it meant.
        pairs[key] = (number, value)
    return pairs


T = TypeVar("T")


class _Values:
    """Typed access to the key=value pairs that remembers which keys were read."""

    def __init__(self, pairs: dict[str, tuple[int, str]]):
        self._pairs = pairs
        self._read: set[str] = set()

    def keys(self) -> list[str]:
        return list(self._pairs)

    def _get(self, key: str, convert: Callable[[str], T], expected: str) -> T | None:
        self._read.add(key)
        if key not in self._pairs:
            return None
        number, value = self._pairs[key]
        if value == "":
            return None
        try:
            return convert(value)
        except ValueError:
            raise AgentResultError(
                f"result.txt line {number}: {key} should be {expected}, got {value[:80]!r}"
            ) from None

    def text(self, key: str) -> str | None:
        return self._get(key, str, "text")

    def int(self, key: str) -> int | None:
        return self._get(key, int, "a whole number")

    def float(self, key: str) -> float | None:
        return self._get(key, float, "a number")

    def tenths(self, key: str) -> float | None:
        value = self._get(key, int, "a whole number (tenths of a degree)")
        return None if value is None else value / 10

    def bool(self, key: str) -> bool | None:
        return self._get(key, _to_bool, "true/false or 1/0")

    def supply_online(self, key: str) -> bool | None:
        return self._get(key, _supply_online, "a power supply's online value (0, 1 or 2)")

    def choice(self, key: str, allowed: tuple[str, ...]) -> str | None:
        def convert(value: str) -> str:
            if value not in allowed:
                raise ValueError(value)
            return value

        return self._get(key, convert, "one of " + ", ".join(allowed))

    def words(self, key: str) -> tuple[str, ...]:
        value = self.text(key)
        return tuple(value.split()) if value else ()

    def argv(self, key: str) -> tuple[str, ...] | None:
        return self._get(key, lambda v: tuple(shlex.split(v)), "sh-quoted arguments")

    def unread(self) -> dict[str, str]:
        return {k: v for k, (_, v) in self._pairs.items() if k not in self._read}


def _to_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(value)


def _supply_online(value: str) -> bool:
    # sysfs-class-power: 0 offline, 1 online (fixed), 2 online (programmable: USB-PD / PPS chargers).
    stripped = value.strip()
    return int(stripped) != 0 if stripped.isdigit() else _to_bool(stripped)


def _device_state(values: _Values, prefix: str) -> DeviceState:
    return DeviceState(
        uptime_s=values.float(f"{prefix}.uptime_s"),
        battery=BatteryState(
            source=values.text(f"{prefix}.battery.path"),
            capacity_pct=values.int(f"{prefix}.battery.capacity_pct"),
            status=values.text(f"{prefix}.battery.status"),
            temp_c=values.tenths(f"{prefix}.battery.temp_dC"),
            current_now=values.int(f"{prefix}.battery.current_now"),
            voltage_now=values.int(f"{prefix}.battery.voltage_now"),
            charge_counter_uah=values.int(f"{prefix}.battery.charge_counter"),
            input_suspended=values.bool(f"{prefix}.battery.input_suspended"),
            updates_stopped=values.bool(f"{prefix}.battery.updates_stopped"),
        ),
        thermal_status=values.int(f"{prefix}.thermal.status"),
        supplies=_supplies(values, prefix),
        cpus=_cpus(values, prefix),
        cpus_online=values.text(f"{prefix}.cpus_online"),
        wakefulness=values.text(f"{prefix}.power.wakefulness"),
        thermal_dump=values.text(f"{prefix}.thermal.dump"),
    )


def _runs(values: _Values) -> tuple[RunRecord, ...]:
    indexes = sorted({int(m.group(1)) for k in values.keys() if (m := _RUN_KEY.fullmatch(k))})
    return tuple(
        RunRecord(
            index=n,
            start_uptime_s=values.float(f"run.{n}.start_uptime_s"),
            end_uptime_s=values.float(f"run.{n}.end_uptime_s"),
            exit_code=values.int(f"run.{n}.exit_code"),
            status=values.choice(f"run.{n}.status", RUNNER_STATUSES),
            state=_device_state(values, f"run.{n}"),
        )
        for n in indexes
    )


def _cpus(values: _Values, prefix: str) -> tuple[CpuState, ...]:
    indexes = sorted({int(m.group(2)) for k in values.keys() if (m := _CPU_KEY.fullmatch(k)) and m.group(1) == prefix})
    return tuple(
        CpuState(
            index=n,
            online=values.bool(f"{prefix}.cpu{n}.online"),
            governor=values.text(f"{prefix}.cpu{n}.governor"),
            cur_freq_khz=values.int(f"{prefix}.cpu{n}.cur_freq_khz"),
            max_freq_khz=values.int(f"{prefix}.cpu{n}.max_freq_khz"),
            scaling_max_khz=values.int(f"{prefix}.cpu{n}.scaling_max_khz"),
            policy=values.int(f"{prefix}.cpu{n}.policy"),
        )
        for n in indexes
    )


def _supplies(values: _Values, prefix: str) -> tuple[PowerSupply, ...]:
    names = sorted({m.group(2) for k in values.keys() if (m := _SUPPLY_KEY.fullmatch(k)) and m.group(1) == prefix})
    return tuple(
        PowerSupply(
            name=name,
            type=values.text(f"{prefix}.supply.{name}.type"),
            online=values.supply_online(f"{prefix}.supply.{name}.online"),
        )
        for name in names
    )


def _cooldown(values: _Values) -> Cooldown:
    return Cooldown(
        requested_s=values.float("cooldown.requested_s"),
        temp_limit_c=values.float("cooldown.temp_limit_c"),
        result=values.choice("cooldown.result", COOLDOWN_RESULTS),
        waited_s=values.float("cooldown.waited_s"),
        thermal_status_at_start=values.int("cooldown.thermal_status_at_start"),
        thermal_status_at_end=values.int("cooldown.thermal_status_at_end"),
        battery_temp_c_at_start=values.tenths("cooldown.battery_temp_dC_at_start"),
        battery_temp_c_at_end=values.tenths("cooldown.battery_temp_dC_at_end"),
    )


def _runner(values: _Values) -> RunnerOutcome:
    return RunnerOutcome(
        argv=values.argv("runner.argv"),
        status=values.choice("runner.status", RUNNER_STATUSES),
        exit_code=values.int("runner.exit_code"),
        signal=values.int("runner.signal"),
        start_uptime_s=values.float("runner.start_uptime_s"),
        end_uptime_s=values.float("runner.end_uptime_s"),
        timeout_s=values.float("runner.timeout_s"),
        taskset_mask=values.text("taskset.mask"),
        process_group=values.text("runner.process_group"),
        cpus_online=values.text("taskset.cpus_online"),
        repeat=values.int("runner.repeat"),
        runs=values.int("runner.runs"),
    )


def _energy_setup(values: _Values) -> EnergySetup:
    rails_uptime_s = {}
    for dump in RAIL_DUMPS:
        before_s = values.float(f"energy.rails_{dump}_uptime_s")
        after_s = values.float(f"energy.rails_{dump}_end_uptime_s")
        if before_s is not None:
            rails_uptime_s[dump] = (before_s, after_s if after_s is not None else before_s)
    return EnergySetup(
        source=values.choice("energy.source", ENERGY_SOURCES),
        rails_hal=values.text("energy.rails_hal"),
        gauge_path=values.text("energy.gauge_path"),
        interval_ms=values.int("energy.interval_ms"),
        idle_s=values.float("energy.idle_s"),
        samples_file=values.text("energy.samples"),
        rails_files=values.words("energy.rails_files"),
        rails_uptime_s=rails_uptime_s,
    )


# ---------------------------------------------------------------- energy.csv

ENERGY_CSV_HEADER = "uptime_s,phase,current_now,voltage_now"


def parse_energy_samples(csv_text: str) -> list[EnergySample]:
    """Rows of energy.csv; an empty current or voltage (a failed read) is None.

    A last line without its newline is dropped: the sampler was stopped while writing it.
    """
    lines = csv_text.split("\n")
    if not lines or lines[0].removesuffix("\r") != ENERGY_CSV_HEADER:
        raise AgentResultError(f"energy.csv does not start with the header {ENERGY_CSV_HEADER!r}")
    complete, last = lines[1:-1], lines[-1]
    if last.strip() and not csv_text.endswith("\n"):
        last = ""
    samples = []
    for number, line in enumerate([*complete, last], start=2):
        line = line.removesuffix("\r")
        if line.strip():
            samples.append(_energy_sample(number, line))
    return samples


def _energy_sample(number: int, line: str) -> EnergySample:
    fields = line.split(",")
    if len(fields) != 4 or fields[1] not in SAMPLE_PHASES:
        raise AgentResultError(
            f"energy.csv line {number} is not uptime_s,phase,current_now,voltage_now: {line[:120]!r}"
        )
    try:
        return EnergySample(
            uptime_s=float(fields[0]),
            phase=fields[1],
            current_now=int(fields[2]) if fields[2] else None,
            voltage_now=int(fields[3]) if fields[3] else None,
        )
    except ValueError:
        raise AgentResultError(f"energy.csv line {number} has a value that is not a number: {line[:120]!r}") from None
