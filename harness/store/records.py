"""The one result model: what a benchmark measured, as typed, immutable records that every writer
and reader of results uses (pyperf's Run/Benchmark pattern).

- `Measurements`: what one benchmark of one model on one device measured. It is the cell summary
  that run.json keeps per cell, and the measured part of the bench document.
- `BenchResult`: one benchmark whole (bench.json): its status, what was benchmarked, where and
  how, the `Measurements`, and the raw material's parse.
- `CellRecord`: one row of a report: a cell of a run joined with its model's conversion entry and
  its device, flattened; derived from the records above (`derive_cell_record`), never read from
  raw dicts elsewhere.

Every record has `to_dict()` and `from_dict()`; `from_dict` ignores keys it does not know (a
newer minor addition) and fills fields a document lacks with their defaults.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from harness import __version__
from harness.jsonfile import utc_now
from harness.schemas import BENCH


class CellStatus(enum.StrEnum):
    """Where a cell of a sweep (or a single benchmark) stands."""

    PENDING = "pending"
    RUNNING = "running"  # also what a cell in flight when the process died is left as
    OK = "ok"
    FAILED = "failed"  # the runner exited non-zero, or its output is unusable
    CRASHED = "crashed"  # the runner died by a signal
    TIMEOUT = "timeout"  # the runner hung and was killed
    UNSUPPORTED = "unsupported"  # the device cannot do this delegate / op
    DEVICE_LOST = "device-lost"
    SKIPPED = "skipped"  # not run: its level could not be converted

    @property
    def is_finished(self) -> bool:
        """Finished cells stay as they are; `--resume` redoes the others."""
        return self not in (CellStatus.PENDING, CellStatus.RUNNING, CellStatus.DEVICE_LOST)

    @property
    def is_failure(self) -> bool:
        """A cell that ran (or should have) and gave no measurement."""
        return self in (CellStatus.FAILED, CellStatus.CRASHED, CellStatus.TIMEOUT, CellStatus.UNSUPPORTED,
                        CellStatus.SKIPPED)  # fmt: skip

    @classmethod
    def read(cls, value) -> "CellStatus":
        """A status from a document; anything unknown reads as pending (it is then run again)."""
        try:
            return cls(value)
        except ValueError:
            return cls.PENDING


class Record:
    """to_dict / from_dict for frozen dataclasses of plain values, tuples, mappings and records."""

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None):
        if data is None:
            return None
        hints = _hints(cls)
        known = {f.name for f in fields(cls) if f.init}  # type: ignore[arg-type]
        return cls(**{name: _typed(hints[name], value) for name, value in data.items() if name in known})


def _plain(value):
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


@functools.cache
def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _typed(hint, value):
    """`value` as read from JSON, turned into what the field's type hint says."""
    if value is None:
        return None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            if arg is not type(None):
                return _typed(arg, value)
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.from_dict(value)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if origin is tuple:
        return tuple(_typed(args[0], item) for item in value) if args and args[-1] is Ellipsis else tuple(value)
    if origin in (dict, Mapping, typing.Mapping) or (isinstance(origin, type) and issubclass(origin, Mapping)):
        return {key: _typed(args[1], item) for key, item in value.items()} if args else dict(value)
    return value


# --- what the runner measured -----------------------------------------------------------


@dataclass(frozen=True)
class RunStats(Record):
    """One benchmark phase as the runner reports it, in µs; None where the output does not say."""

    count: int | None = None
    first: float | None = None
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    std: float | None = None  # population standard deviation, as the runner computes it
    median: float | None = None
    p5: float | None = None
    p95: float | None = None
    curr: float | None = None


@dataclass(frozen=True)
class LatencyStats(RunStats):
    """The measured runs with their spread: from per-iteration samples where the runner wrote
    them (`source` "samples"), else from its summary line ("runner-summary"). `p90` needs the
    samples: no runner prints it (the official tool's stats line and its BenchmarkResult proto
    stop at p5/median/p95)."""

    p90: float | None = None
    ci95_median: tuple[float, float] | None = None
    ci95_mean: tuple[float, float] | None = None
    cv: float | None = None  # coefficient of variation, std / mean
    source: str | None = None

    @property
    def ci95(self) -> tuple[tuple[float, float] | None, str | None]:
        """The interval reports show, and of what: the median's when samples exist, else the mean's."""
        if self.ci95_median:
            return self.ci95_median, "median"
        if self.ci95_mean:
            return self.ci95_mean, "mean"
        return None, None


@dataclass(frozen=True)
class MemoryMB(Record):
    """The runner's memory lines (MB): getrusage max-RSS deltas of the whole tool (`init`,
    `overall`), and `peak`, its periodic monitor of CPU-side RSS (GPU buffers mostly missing)."""

    init: float | None = None
    overall: float | None = None
    peak: float | None = None


@dataclass(frozen=True)
class DelegateShare(Record):
    """What one delegate took. `outcome`: `full` / `partial` / `none` (the tool's "explicitly
    applied" lines), `unsupported` (not available on the platform), `failed` (could not be
    applied), or None when the log only shows its `Replacing ...` lines."""

    nodes_delegated: int | None = None
    nodes_total: int | None = None
    partitions: int | None = None
    fallback_to_cpu: bool | None = None
    fully_delegated: bool | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class Delegation(Record):
    delegate: str | None = None
    nodes_delegated: int | None = None
    nodes_total: int | None = None
    partitions: int | None = None
    fallback_to_cpu: bool | None = None
    fully_delegated: bool | None = None
    by_delegate: Mapping[str, DelegateShare] = field(default_factory=lambda: types.MappingProxyType({}))

    @property
    def coverage(self) -> float | None:
        if self.nodes_delegated is None or not self.nodes_total:
            return None
        return self.nodes_delegated / self.nodes_total


# --- energy and thermal -----------------------------------------------------------------


@dataclass(frozen=True)
class Energy(Record):
    """Energy per inference with its method and validity (computed in harness/bench/energy.py)."""

    method: str | None  # power-rails | battery-gauge | simulated; None when nothing was measured
    source: str | None  # what the numbers come from (power-rails | battery-gauge), also when simulated
    validity: str  # "valid" or "invalid: ..."
    reason: str | None  # why, in a sentence, whenever validity is not "valid"
    energy_per_inference_j: float | None  # net of the idle baseline, over the measured runs only
    idle_power_mw: float | None  # the baseline
    gross_power_mw: float | None  # average over the measured runs
    net_power_mw: float | None  # gross - idle
    run_duration_s: float | None  # the runner's whole window (start-up and measured runs)
    idle_duration_s: float | None
    n_inferences: int  # measured runs (schema 1: measured runs + warm-up)
    window: str  # the span the energy covers and is divided over
    idle_samples: int  # gauge samples, or rail dumps
    run_samples: int
    sample_interval_ms: float | None  # median spacing of the gauge samples actually taken
    normalisation: tuple[str, ...] = ()  # what was done to the raw values ("current sign flipped", ...)
    notes: tuple[str, ...] = ()  # anything else worth knowing (fallbacks, dropped samples)
    rails: tuple[str, ...] = ()  # rail channels summed
    idle_source: str = "this cell"  # where the baseline was measured: "this cell" or "cell <id>"
    idle_age_s: float | None = None  # a borrowed baseline's age at this run's start (device clock)
    measured_s: float | None = None  # the measured runs' time by the runner's own timings
    inference_window_s: float | None = None  # the window gross_power_mw is averaged over
    startup_energy_j: float | None = None  # net energy of the runner's start-up (load, init, warm-up), once
    startup_duration_s: float | None = None
    current_unit: str | None = None  # the gauge's unit as decided from plausible power: "µA" or "mA"
    current_unit_from: str | None = None  # "idle phase", "run phase" or "remembered"
    charging_suspension: str | None = None  # "verified: ...", "no effect: ...", "not requested"
    idle_readings: int = 0  # distinct gauge readings in the idle window
    run_readings: int = 0  # ... and in the measured runs

    @property
    def energy_per_inference_mj(self) -> float | None:
        return None if self.energy_per_inference_j is None else self.energy_per_inference_j * 1000

    @property
    def is_valid(self) -> bool:
        return self.validity == "valid"

    def to_dict(self) -> dict[str, Any]:
        return super().to_dict() | {"energy_per_inference_mj": self.energy_per_inference_mj}


@dataclass(frozen=True)
class Thermal(Record):
    status_before: int | None = None  # Android thermal status 0 (none) .. 6 (shutdown)
    status_after: int | None = None
    battery_temp_c_before: float | None = None
    battery_temp_c_after: float | None = None
    cooldown: Mapping[str, Any] | None = None  # the agent's cool-down: requested, result, waited

    @property
    def throttled(self) -> bool:
        return (self.status_before or 0) > 0 or (self.status_after or 0) > 0


@dataclass(frozen=True)
class PolicyClocks(Record):
    """One cpufreq policy (its cores share a clock): what its cores can do and the cap the kernel
    held them to before and after the run (thermal mitigation lowers scaling_max_freq)."""

    cores: tuple[int, ...] = ()
    cpuinfo_max_khz: int | None = None
    scaling_max_khz_before: int | None = None
    scaling_max_khz_after: int | None = None

    @property
    def capped(self) -> bool:
        caps = (self.scaling_max_khz_before, self.scaling_max_khz_after)
        return bool(self.cpuinfo_max_khz) and any(c is not None and c < self.cpuinfo_max_khz for c in caps)


@dataclass(frozen=True)
class Clocks(Record):
    """The clocks of the cores the runner used (computed in harness/bench/clocks.py)."""

    cores: tuple[int, ...] = ()  # the runner's cores: the taskset mask cut to the online CPUs, or all online
    policies: Mapping[str, PolicyClocks] = field(default_factory=lambda: types.MappingProxyType({}))
    # "cpuN" -> median, min, max (kHz) and samples of its clock during the run (clocks.csv)
    run_khz: Mapping[str, Mapping[str, float]] = field(default_factory=lambda: types.MappingProxyType({}))
    capped: tuple[str, ...] = ()  # each capped policy, said in words; flagged `clock-capped`


@dataclass(frozen=True)
class RunConditions(Record):
    """The conditions of one benchmark besides thermal state: battery, screen, cores, precision,
    and warnings about the delegate on this Android version (harness/bench/conditions.py)."""

    battery_level_pct_before: int | None = None
    battery_level_pct_after: int | None = None
    # dumpsys power mWakefulness (Awake, Asleep, Dozing, Dreaming), with `svc power stayon true`
    # held and the screen woken for the benchmark (harness/device/stay_awake.py)
    wakefulness_before: str | None = None
    wakefulness_after: str | None = None
    taskset_mask: str | None = None
    effective_cpus: str | None = None  # the mask cut to the online CPUs as the runner started ("0-3,6-7")
    gpu_precision_loss_allowed: bool | None = None  # GPU delegate only: False keeps fp32 math on the GPU
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunnerRef(Record):
    """Which runner binary measured (the bench document keeps more: its path and argv)."""

    kind: str | None = None  # "benchmark_model" (official prebuilt) or "bundled-litert-python"
    version: str | None = None
    sha256: str | None = None
    source: str | None = None  # env, registered, cache, bundled


# --- deeper measurements (issue 14) -----------------------------------------------------


@dataclass(frozen=True)
class Repeats(Record):
    """`--repeat N`: the same benchmark in N fresh runner processes (pyperf's worker processes),
    one after the other under one agent. The cell's latency pools their samples; the spread of
    their medians is the between-run noise a comparison is judged against."""

    count: int
    medians_us: tuple[float, ...]
    spread: float | None  # sample standard deviation of the medians / their mean (None below 2)


@dataclass(frozen=True)
class NodeTypeTime(Record):
    """One node type of an op profile's regular runs: `avg_ms` summed per run over its `count`
    nodes; `delegated`: run inside a delegate (XNNPACK's own operators, a delegate partition)."""

    node_type: str
    count: int | None
    avg_ms: float | None
    percent: float | None
    delegated: bool


@dataclass(frozen=True)
class OpProfileSummary(Record):
    """The op-profiling pass in short (the full parse is in bench.json's `op_profile`); taken
    in a runner process of its own, so the cell's latency is not the profiled one."""

    available: bool
    reason: str | None = None  # why there are no numbers, when not available
    node_types: tuple[NodeTypeTime, ...] = ()
    total_us: float | None = None  # node time per run, as the profiler summed it
    nodes: int | None = None  # nodes executed per run
    delegated_time_share: float | None = None  # node time inside delegates / all node time


@dataclass(frozen=True)
class OutputCheckSummary(Record):
    """Outputs computed on the device for real inputs, against the host (harness/bench/output_check.py)."""

    available: bool
    reason: str | None = None  # why nothing was checked
    samples: int | None = None
    source: str | None = None  # where the inputs came from
    top1_agreement_fp32: float | None = None  # device vs the host's fp32 (reference) model
    top1_agreement_level: float | None = None  # device vs the same level on the host
    max_abs_error: float | None = None  # vs the same level on the host, dequantized
    max_rel_error: float | None = None  # max |device - host| / max |host|, per sample
    max_step_error: int | None = None  # quantized outputs: in quantization steps
    device_accuracy: float | None = None  # where labels exist
    host_accuracy: float | None = None  # the same level on the host, same samples
    tolerance: Mapping[str, Any] | None = None
    numerics: bool = False
    worst_index: int | None = None
    verdict: str | None = None
    device_outputs_from: Mapping[str, Any] | None = None  # reused from an earlier check: bench/device_outputs.py


@dataclass(frozen=True)
class SustainedInterval(Record):
    """One interval of a sustained run (one runner process): what it measured and the device's
    state at its end."""

    index: int
    start_s: float  # from the first interval's start
    end_s: float
    inferences: int | None
    median_us: float | None
    p90_us: float | None
    thermal_status: int | None
    skin_temp_c: float | None
    cpu_temp_c: float | None
    battery_temp_c: float | None
    cpu_freq_khz: int | None  # highest current clock of the pinned cores
    cpu_cap_khz: int | None  # lowest scaling_max_freq of the pinned cores
    cpu_max_khz: int | None  # cpuinfo_max_freq of the pinned cores
    battery_pct: int | None
    energy_per_inference_mj: float | None
    energy_note: str | None = None  # why there is no energy number


@dataclass(frozen=True)
class Sustained(Record):
    """`--sustained DURATION`: the model run continuously in back-to-back intervals."""

    duration_s: float
    interval_s: float
    intervals: tuple[SustainedInterval, ...]
    p90_us: float | None  # over every inference of the run
    median_us: float | None
    throttled: bool
    began_interval: int | None  # first interval judged throttled
    began_s: float | None
    why: str | None  # what made it throttled ("median 14% above the first interval's", "clocks capped")
    slowdown: float | None  # worst interval median / first interval median
    min_cap_fraction: float | None  # lowest cap / cpuinfo max seen
    clocks: str | None  # "reported" or "simulated (...)" on a virtual device


@dataclass(frozen=True)
class PresetCheck(Record):
    """Whether a cell met its validity preset's requirements (harness/bench/presets.py)."""

    name: str
    met: bool
    reasons: tuple[str, ...]  # what was not met
    headline: str  # the statistic the preset reports first ("median", "p90")
    headline_us: float | None


# --- one benchmark ----------------------------------------------------------------------


@dataclass(frozen=True)
class Measurements(Record):
    """What one benchmark measured: the cell summary of run.json, the measured part of bench.json."""

    latency_us: LatencyStats | None = None
    warmup_us: RunStats | None = None
    init_us: float | None = None
    first_inference_us: float | None = None
    memory_mb: MemoryMB | None = None
    energy: Energy | None = None
    delegation: Delegation | None = None
    thermal: Thermal | None = None
    flags: tuple[str, ...] = ()
    runner: RunnerRef | None = None
    clocks: Clocks | None = None
    conditions: RunConditions | None = None
    # What memory_mb.peak is: "CPU-side RSS, own pass" when measured in a pass of its own (--peak-memory:
    # the monitor's polling thread can affect timing, so the timed pass runs without it); None: no peak.
    memory_peak_label: str | None = None
    repeats: Repeats | None = None
    op_profile: OpProfileSummary | None = None
    output_check: OutputCheckSummary | None = None
    sustained: Sustained | None = None
    preset: PresetCheck | None = None


@dataclass(frozen=True)
class BenchResult(Record):
    """One benchmark, whole: what bench.json holds. Its JSON keeps the measurements at the top
    level (schema 1's layout)."""

    status: CellStatus
    reason: str | None
    model: Mapping[str, Any]  # file, path, sha256, size_bytes, and the sweep's name and level
    settings: Mapping[str, Any]  # BenchSettings.to_dict()
    runner: Mapping[str, Any]  # the runner binary, its argv and the model path on the device
    device: Mapping[str, Any]  # the passport
    measurements: Measurements = Measurements()
    raw: Mapping[str, str] = field(default_factory=dict)  # raw file names kept beside bench.json
    parsed: Mapping[str, Any] | None = None  # the runner log's parse (ParsedLog.to_dict())
    agent: Mapping[str, Any] | None = None  # the agent's result.txt, parsed
    # The extra passes in full: "op_profile" (the profiling pass's parse), "output_check"
    # (every comparison of the outputs checked on the device).
    passes: Mapping[str, Any] = field(default_factory=dict)
    timing: Mapping[str, float] = field(default_factory=dict)  # host seconds: push_s, agent_s, pull_s
    harness_version: str = __version__
    created_utc: str = field(default_factory=utc_now)

    @property
    def ok(self) -> bool:
        return self.status is CellStatus.OK

    def failed(self, status: CellStatus, reason: str) -> "BenchResult":
        return dataclasses.replace(self, status=status, reason=reason)

    def to_dict(self) -> dict[str, Any]:
        document = {**BENCH.stamp(), **super().to_dict()}
        measured = document.pop("measurements")
        measured.pop("runner")  # the full runner entry is kept instead
        return document | measured

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BenchResult":
        measured = {f.name: data.get(f.name) for f in fields(Measurements) if f.name in data}
        measured["runner"] = data.get("runner")
        measured["flags"] = data.get("flags") or ()
        own = {name: value for name, value in data.items() if name not in measured or name == "runner"}
        result = super().from_dict(own)
        return dataclasses.replace(result, measurements=Measurements.from_dict(measured))
