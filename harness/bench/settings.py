"""How a benchmark is taken: the knobs the same for `bench`, `run` and the Python API
(`Measurement`), and one benchmark's full settings (`BenchSettings`: plus threads and delegate,
with the core mask resolved), which become the runner's flags."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

from harness.bench.presets import PRESETS
from harness.device.profiles import DELEGATES
from harness.errors import UsageError

# Time the runner may need beyond its measured phases: loading, delegate init, teardown.
RUNNER_INIT_ALLOWANCE_S = 60.0
# benchmark_model's periodic memory monitor: a thread polling the process's RSS, which its README
# says can affect the timing. It runs only in a pass of its own (`peak_memory`).
PEAK_MEMORY_FLAG = "--report_peak_memory_footprint=true"
GPU_PRECISION_FLAG = "--gpu_precision_loss_allowed"
DEFAULT_SUSTAINED_INTERVAL_S = 30.0
DEFAULT_CHECK_SAMPLES = 64


def defaults_of(cls) -> dict:
    return {f.name: f.default for f in fields(cls)}


@dataclass(frozen=True)
class Measurement:
    """How each benchmark is taken, whatever the model, device, threads or delegate: the same
    knobs for `bench`, `run` and the Python API (the CLI's option names map onto these fields)."""

    runs: int = 50
    warmup_runs: int = 1
    # Long enough for the battery gauge (energy_gauge.MIN_GAUGE_WINDOW_S with a margin): a fuel
    # gauge updating every 0.5 s gives 6 readings.
    min_secs: float = 3.0
    max_secs: float = 150.0
    cooldown_s: float = 0.0
    cooldown_temp_c: float = 35.0
    taskset: str | None = None  # a hex mask, or "big" (the device profile's big cores)
    suspend_charging: bool = True
    idle_baseline_s: float = 3.0
    sample_interval_ms: int = 250
    timeout_s: float | None = None
    runner_args: tuple[str, ...] = ()
    peak_memory: bool = False  # a second pass with benchmark_model's memory monitor, for peak memory
    repeat: int = 1  # fresh runner processes per benchmark (between-run noise)
    sustained_s: float = 0.0  # run continuously this long, in intervals (0: off)
    sustained_interval_s: float = DEFAULT_SUSTAINED_INTERVAL_S
    op_profile: bool = False  # a runner pass of its own with --enable_op_profiling=true
    check_outputs: bool | None = None  # None: `run` checks when the model has evaluation data
    check_samples: int = DEFAULT_CHECK_SAMPLES
    # False: outputs a check of the same device build, runner, file, flags and inputs computed
    # before are compared again instead of computed again (harness/bench/device_outputs.py).
    recheck_outputs: bool = False
    preset: str | None = None  # a validity preset (harness/bench/presets.py), already applied
    # False (--no-energy): no energy number, and none of what it needs: charging is left as it is
    # and no idle baseline is taken (so suspend_charging and idle_baseline_s are set off).
    energy: bool = True

    def __post_init__(self):
        if not self.energy:
            object.__setattr__(self, "suspend_charging", False)
            object.__setattr__(self, "idle_baseline_s", 0.0)
        if self.runs < 1 or self.warmup_runs < 0:
            raise UsageError("--runs must be at least 1 and --warmup-runs at least 0")
        if self.repeat < 1 or self.check_samples < 1:
            raise UsageError("--repeat and --check-samples must be at least 1")
        if self.sustained_s < 0 or self.sustained_interval_s <= 0:
            raise UsageError("--sustained must be at least 0 and --sustained-interval above 0")
        if self.sustained_s and self.repeat > 1:
            raise UsageError("--sustained and --repeat both decide how often the runner starts",
                             "give one of them: --sustained for throttling, --repeat for between-run noise")
        if self.preset is not None and self.preset not in PRESETS:
            raise UsageError(f"unknown preset {self.preset!r}", f"use one of {', '.join(PRESETS)}")
        if self.cooldown_temp_c < 0:  # the agent reads plain non-negative decimals
            raise UsageError(f"--cooldown-temp {self.cooldown_temp_c:g} is below 0 °C", "give a battery temperature such as 35")
        if self.taskset not in (None, "big") and not re.fullmatch(r"[0-9a-fA-F]+", self.taskset):
            raise UsageError(f"--taskset {self.taskset!r} is not a hex CPU mask", "e.g. --taskset f0, or big")

    @classmethod
    def from_options(cls, options) -> "Measurement":
        """From a mapping (run.json's spec) or an object (argparse namespace) with these names.
        A preset's settings fill the fields it names; a value given otherwise for one of them
        (not the default, not the preset's) is refused."""
        source = options if isinstance(options, Mapping) else vars(options)
        values = {f.name: source[f.name] for f in fields(cls) if f.name in source}
        values["runner_args"] = tuple(values.get("runner_args") or ())
        preset = values.get("preset")
        if preset in PRESETS:
            defaults = defaults_of(cls)
            for name, wanted in PRESETS[preset].settings.items():
                given = values.get(name, defaults[name])
                if given not in (defaults[name], wanted):
                    raise UsageError(f"--{name.removesuffix('_s').replace('_', '-')} {given:g} conflicts with "
                                     f"--preset {preset}, which sets {wanted:g}", "drop one of them")
                values[name] = wanted
        if values.get("energy") is False and values.get("idle_baseline_s", 0.0) not in (0.0, defaults_of(cls)["idle_baseline_s"]):
            raise UsageError(f"--idle-baseline {values['idle_baseline_s']:g} conflicts with --no-energy, which takes no "
                             "idle baseline", "drop one of them")
        return cls(**values)

    @property
    def runner_starts(self) -> int:
        """Runner processes per benchmark: the repeats, or the sustained run's intervals."""
        if self.sustained_s:
            return max(1, math.ceil(self.sustained_s / self.sustained_interval_s - 1e-9))
        return self.repeat

    def to_dict(self) -> dict:
        data = asdict(self)
        data["runner_args"] = list(self.runner_args)
        return data


@dataclass(frozen=True)
class BenchSettings(Measurement):
    """One benchmark's settings: the measurement plus threads and delegate, taskset resolved
    (DeviceSession.settings_for)."""

    threads: int = 1
    delegate: str = "cpu"
    # GPU delegate only: whether it may compute in fp16. Only an fp16 level allows it, so that an
    # fp32 level is measured in fp32 on the GPU too (the runner's default allows it).
    gpu_precision_loss_allowed: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.delegate not in DELEGATES:
            raise UsageError(f"unknown delegate {self.delegate!r}", f"use one of {', '.join(DELEGATES)}")
        if self.threads < 1:
            raise UsageError("--threads must be at least 1")
        if self.taskset == "big":
            raise ValueError("resolve 'big' to the device's mask first (DeviceSession.settings_for)")

    @property
    def derived_timeout_s(self) -> float:
        """How long one runner process may take before it counts as hung: its own upper
        bounds, twice."""
        if self.timeout_s:
            return self.timeout_s
        return RUNNER_INIT_ALLOWANCE_S + 2 * (self.max_secs + self.max_secs)

    def runner_flags(self) -> list[str]:
        """The measured pass: each sustained interval is one runner process timed by its own
        --min_secs/--max_secs (the official tool has no other way to split a long run)."""
        runs, min_secs, max_secs = self.runs, self.min_secs, self.max_secs
        if self.sustained_s:
            runs, min_secs = 1, min(self.sustained_interval_s, self.sustained_s)
            max_secs = min_secs
        return [
            f"--num_threads={self.threads}",
            f"--num_runs={runs}",
            f"--warmup_runs={self.warmup_runs}",
            f"--min_secs={min_secs:g}",
            f"--max_secs={max_secs:g}",
            *self.model_flags(),
        ]

    def model_flags(self) -> list[str]:
        """What decides how the model computes (the delegate, the user's runner flags), for
        every pass; threads are set by each pass."""
        delegate = {
            "cpu": [],
            "xnnpack-off": ["--use_xnnpack=false"],
            "gpu": ["--use_gpu=true"],
            "nnapi": ["--use_nnapi=true"],
        }[self.delegate]
        if self.delegate == "gpu" and not any(a.startswith(GPU_PRECISION_FLAG + "=") for a in self.runner_args):
            delegate.append(f"{GPU_PRECISION_FLAG}={'true' if self.gpu_precision_loss_allowed else 'false'}")
        return delegate + list(self.runner_args)

    def memory_pass_flags(self) -> list[str]:
        """The runner's flags for the peak-memory pass: the timed pass's, with the monitor on."""
        return self.runner_flags() + [PEAK_MEMORY_FLAG]

    def idle_key(self) -> tuple:
        """The settings an idle baseline depends on: one measured with others is not lent."""
        return (self.idle_baseline_s, self.sample_interval_ms, self.suspend_charging)

    def to_dict(self) -> dict:
        return super().to_dict() | {"derived_timeout_s": self.derived_timeout_s}
