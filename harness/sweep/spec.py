"""What a sweep was asked to do: stored in run.json so that `--resume` can finish it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI imports this module to build its parser: the bench stack stays unloaded
    from harness.bench.settings import Measurement

# How long a device worker waits for a lost device or adb server to come back before it gives up
# on that device (its remaining cells are then marked device-lost, for --resume).
DEFAULT_RECOVER_WAIT_S = 30.0
# How long a device's idle power baseline, measured in one cell, stands for its later cells (while
# its thermal status and charging state stay the same); 0 measures one before every cell.
DEFAULT_IDLE_BASELINE_REUSE_S = 600.0
# A device's queue keeps charging suspended: below this battery level charging is restored until
# the level is this many points above it (Jetpack's benchmarks flag below 25%), then the queue goes on.
DEFAULT_BATTERY_FLOOR_PCT = 30.0
BATTERY_FLOOR_MARGIN_PCT = 5.0


@dataclass(frozen=True)
class SweepSpec:
    models: tuple[str, ...]
    levels: str = "all"
    data: str | None = None
    random_calibration: bool = False
    devices: tuple[str, ...] | None = None  # None: every connected device
    threads: tuple[int, ...] | None = None  # None: each device's default
    delegates: tuple[str, ...] = ("cpu",)
    measurement: Measurement = field(default_factory=lambda: _measurement({}))
    adb_servers: tuple[str, ...] = ()  # empty: adb's environment (ADB_SERVER_SOCKET, ...) or 127.0.0.1:5037
    virtual_profile: str = "virtual-default"
    virtual_parallel: bool = False
    auto_virtual: bool = True
    device_wait_s: float | None = None  # how long to wait for a device another process holds
    recover_wait_s: float = DEFAULT_RECOVER_WAIT_S
    idle_baseline_reuse_s: float = DEFAULT_IDLE_BASELINE_REUSE_S
    battery_floor_pct: float = DEFAULT_BATTERY_FLOOR_PCT
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        data = asdict(self)
        for name, value in data.items():
            if isinstance(value, tuple):
                data[name] = list(value)
        data["measurement"] = self.measurement.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "SweepSpec":
        known = {f.name for f in fields(cls)}
        values = {}
        for name, value in data.items():
            if name not in known:
                continue
            values[name] = tuple(value) if isinstance(value, list) else value
        values["measurement"] = _measurement(data.get("measurement") or {})
        return cls(**values)


def _measurement(options: dict) -> "Measurement":
    from harness.bench.settings import Measurement

    return Measurement.from_options(options)


def check_inputs(spec: SweepSpec) -> None:
    """Everything a sweep needs that can be checked without a device and without converting,
    in the order a user fixes things: the models, the levels, the data, the virtual profile.
    Raises the first problem (InputError / UsageError); nothing is started or written before."""
    from harness.convert.data import load_npz
    from harness.convert.levels import parse_levels
    from harness.convert.sources import check_model_reference
    from harness.device.profiles import load_virtual_profile

    for model in spec.models:
        check_model_reference(model)
    if spec.levels != "all":
        parse_levels(spec.levels)
    if spec.data:
        load_npz(Path(spec.data))
    if spec.auto_virtual and not spec.devices:
        load_virtual_profile(spec.virtual_profile)
