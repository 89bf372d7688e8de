"""Device profiles: `device_profiles/*.toml`, read strictly (every key is documented in
device_profiles/README.md; an unknown key or a value of the wrong type is refused with a one-line
error naming the file and the key).

Two kinds:
- `kind = "virtual"`: the simulated hardware of a virtual device (build properties, cores and
  clocks, power and thermal model). The virtual device daemon reads these.
- `kind = "phone"`: a known real phone, matched by ro.product.model / ro.soc.model /
  ro.board.platform, with the settings worth using on it (big-core mask, threads, delegates).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InputError, ResultsError
from harness.paths import DEVICE_PROFILES_DIR
from harness.schemas import DEVICE_PROFILE

KINDS = ("virtual", "phone")
# The delegates squeezebench can ask benchmark_model for: cpu (XNNPACK, the runner's default),
# xnnpack-off (plain TFLite kernels), gpu, nnapi.
DELEGATES = ("cpu", "xnnpack-off", "gpu", "nnapi")
# The virtual device runs real work on the host, so its ABI is the host's.
VIRTUAL_ABIS = ("x86_64",)
# Characters that would break the CNXN banner (`;`-separated `key=value`, no `:` in values)
# or `adb devices -l` (space-separated fields).
BANNER_FORBIDDEN = (";", ":", "=", "\n")
ANDROID_THERMAL_LEVELS = 6  # light, moderate, severe, critical, emergency, shutdown


@dataclass(frozen=True)
class BuildProperties:
    manufacturer: str
    brand: str
    model: str
    name: str
    device: str
    soc_manufacturer: str
    soc_model: str
    board_platform: str
    abi: str
    sdk: int
    release: str
    fingerprint: str


@dataclass(frozen=True)
class CpuSpec:
    cores: int
    min_freq_khz: int
    max_freq_khz: int
    governor: str


@dataclass(frozen=True)
class PowerSpec:
    idle_w: float
    active_w_per_core: float


@dataclass(frozen=True)
class BatterySpec:
    capacity_mah: float
    nominal_voltage_v: float
    charge_current_ma: float
    initial_level_percent: float
    internal_resistance_ohm: float
    gauge_refresh_s: float  # how often the fuel gauge's reading changes (real ones: 0.25-1 s)


@dataclass(frozen=True)
class ThermalSpec:
    ambient_c: float
    thermal_mass_j_per_k: float
    heat_dissipation_w_per_k: float
    soc_thermal_mass_j_per_k: float
    soc_to_body_w_per_k: float
    status_thresholds_c: tuple[float, ...]
    # Simulated clock caps: from throttle_start_c (SoC temperature) the clocks are capped, down
    # to throttle_min_fraction of their maximum at throttle_full_c; None: never capped.
    throttle_start_c: float | None = None
    throttle_full_c: float | None = None
    throttle_min_fraction: float = 0.3


@dataclass(frozen=True)
class Profile:
    name: str
    kind: str
    path: Path
    description: str


@dataclass(frozen=True)
class VirtualProfile(Profile):
    build: BuildProperties
    cpu: CpuSpec
    power: PowerSpec
    battery: BatterySpec
    thermal: ThermalSpec


@dataclass(frozen=True)
class PhoneMatch:
    models: tuple[str, ...] = ()
    soc_models: tuple[str, ...] = ()
    board_platforms: tuple[str, ...] = ()


@dataclass(frozen=True)
class PhoneProfile(Profile):
    friendly_name: str
    match: PhoneMatch
    big_core_mask: int | None
    default_threads: int | None
    delegates: tuple[str, ...] = field(default=())


def load_profile(name_or_path: str | os.PathLike) -> Profile:
    """A profile by name (`virtual-default`, looked up in device_profiles/) or by path."""
    text = os.fspath(name_or_path)
    if text.endswith(".toml") or os.sep in text:
        path = Path(text)
        if not path.is_file():
            raise InputError(f"device profile {path} does not exist", "check the path")
        return _load(path)
    path = DEVICE_PROFILES_DIR / f"{text}.toml"
    if not path.is_file():
        known = ", ".join(p.stem for p in _profile_paths()) or "none"
        raise InputError(f"no device profile named {text!r}", f"known profiles: {known}")
    return _load(path)


def load_virtual_profile(name_or_path: str | os.PathLike) -> VirtualProfile:
    """Like load_profile, but refuses a phone profile (a virtual device needs simulated hardware)."""
    profile = load_profile(name_or_path)
    if not isinstance(profile, VirtualProfile):
        raise InputError(
            f"device profile {profile.name!r} describes a phone, not a virtual device",
            'use a profile with kind = "virtual", e.g. virtual-default',
        )
    return profile


def all_profiles() -> list[Profile]:
    return [_load(path) for path in _profile_paths()]


def match_profile(props: dict[str, str]) -> PhoneProfile | None:
    """The phone profile for a device's properties: a model match beats an SoC match, which
    beats a board-platform match. Virtual devices are never matched here (their profile is
    named by their `ro.squeezebench.profile` property)."""
    if props.get("ro.squeezebench.virtual") == "1":
        return None
    phones = [p for p in all_profiles() if isinstance(p, PhoneProfile)]
    rules: list[tuple[str, Callable[[PhoneMatch], tuple[str, ...]]]] = [
        ("ro.product.model", lambda m: m.models),
        ("ro.soc.model", lambda m: m.soc_models),
        ("ro.board.platform", lambda m: m.board_platforms),
    ]
    for prop, candidates in rules:
        value = props.get(prop, "").strip()
        if not value:
            continue
        for phone in phones:
            if value.casefold() in (c.casefold() for c in candidates(phone.match)):
                return phone
    return None


def profile_for_device(props: dict[str, str]) -> Profile | None:
    """A virtual device's own profile (named by its property), else the matching phone profile.

    A virtual device of another host may use a profile this checkout does not have: then None,
    and it runs with detected defaults like an unknown phone."""
    if props.get("ro.squeezebench.virtual") == "1":
        name = props.get("ro.squeezebench.profile", "")
        if not name or not (DEVICE_PROFILES_DIR / f"{name}.toml").is_file():
            return None
        return load_profile(name)
    return match_profile(props)


def _profile_paths() -> list[Path]:
    if not DEVICE_PROFILES_DIR.is_dir():
        return []
    return sorted(DEVICE_PROFILES_DIR.glob("*.toml"))


def host_core_count() -> int:
    return len(os.sched_getaffinity(0))


# Reading -------------------------------------------------------------------------------------


class _Table:
    """One TOML table being read: typed getters that remember which keys were used, so that
    whatever is left over at the end is reported as unknown."""

    def __init__(self, path: Path, data: dict, prefix: str = ""):
        self.path = path
        self.data = data
        self.prefix = prefix
        self.used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def error(self, key: str, problem: str) -> InputError:
        return InputError(
            f"device profile {self.path.name}: '{self._key(key)}' {problem}",
            "see device_profiles/README.md for every key and its type",
        )

    def _get(self, key: str, required: bool) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise self.error(key, "is missing")
            return None
        return self.data[key]

    def string(self, key: str, default: str | None = None, *, required: bool = True) -> str:
        value = self._get(key, required and default is None)
        if value is None:
            return default  # type: ignore[return-value]
        if not isinstance(value, str) or not value.strip():
            raise self.error(key, f"must be a non-empty string, got {_describe(value)}")
        return value

    def integer(self, key: str, default: int | None = None, *, required: bool = True,
                minimum: int | None = None, maximum: int | None = None) -> int:
        value = self._get(key, required and default is None)
        if value is None:
            return default  # type: ignore[return-value]
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.error(key, f"must be an integer, got {_describe(value)}")
        _check_range(self, key, value, minimum, maximum)
        return value

    def number(self, key: str, default: float | None = None, *, required: bool = True,
               minimum: float | None = None, maximum: float | None = None,
               positive: bool = False) -> float:
        value = self._get(key, required and default is None)
        if value is None:
            return default  # type: ignore[return-value]
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise self.error(key, f"must be a number, got {_describe(value)}")
        if positive and value <= 0:
            raise self.error(key, f"must be greater than 0, got {value}")
        _check_range(self, key, value, minimum, maximum)
        return float(value)

    def string_list(self, key: str) -> tuple[str, ...]:
        value = self._get(key, False)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.error(key, f"must be a list of non-empty strings, got {_describe(value)}")
        return tuple(value)

    def number_list(self, key: str) -> tuple[float, ...]:
        value = self._get(key, True)
        if not isinstance(value, list) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
        ):
            raise self.error(key, f"must be a list of numbers, got {_describe(value)}")
        return tuple(float(v) for v in value)

    def table(self, key: str, *, required: bool = True) -> "_Table":
        value = self._get(key, required)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise self.error(key, f"must be a table ([{self._key(key)}]), got {_describe(value)}")
        return _Table(self.path, value, prefix=f"{self._key(key)}.")

    def refuse_unknown_keys(self) -> None:
        for key in self.data:
            if key not in self.used:
                raise self.error(key, "is not a known key")


def _check_range(table: _Table, key: str, value: float, minimum, maximum) -> None:
    if minimum is not None and value < minimum:
        raise table.error(key, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise table.error(key, f"must be at most {maximum}, got {value}")


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"


def _load(path: Path) -> Profile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"device profile {path} cannot be read: {e.strerror}", "check the file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"device profile {path.name} is not valid TOML: {e}", "fix the syntax") from None
    try:
        data = DEVICE_PROFILE.upgrade(data, path, kind_required=False)
    except ResultsError as e:  # a profile is an input, not a result: same message, input's exit code
        raise InputError(e.problem, e.fix) from None
    top = _Table(path, data)
    top.integer("schema_version")
    kind = top.string("kind")
    if kind not in KINDS:
        raise top.error("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    name = top.string("name", default=path.stem)
    if name != path.stem:
        raise top.error("name", f"must match the file name {path.stem!r}, got {name!r}")
    description = top.string("description", default="")
    reader = _read_virtual if kind == "virtual" else _read_phone
    profile = reader(top, name=name, kind=kind, path=path, description=description)
    top.refuse_unknown_keys()
    return profile


def _read_virtual(top: _Table, **common) -> VirtualProfile:
    build = _read_build(top.table("build"))
    cpu = _read_cpu(top.table("cpu", required=False))
    power_table = top.table("power")
    power = PowerSpec(
        idle_w=power_table.number("idle_w", minimum=0),
        active_w_per_core=power_table.number("active_w_per_core", minimum=0),
    )
    power_table.refuse_unknown_keys()
    return VirtualProfile(
        **common, build=build, cpu=cpu, power=power,
        battery=_read_battery(top.table("battery")), thermal=_read_thermal(top.table("thermal")),
    )


def _read_build(table: _Table) -> BuildProperties:
    values = {key: table.string(key) for key in (
        "manufacturer", "brand", "model", "name", "device",
        "soc_manufacturer", "soc_model", "board_platform", "release",
    )}
    for key in ("model", "name", "device"):
        if any(ch in values[key] for ch in BANNER_FORBIDDEN):
            raise table.error(key, f"must not contain any of ; : = (it goes into the ADB banner), got {values[key]!r}")
    abi = table.string("abi", default="x86_64")
    if abi not in VIRTUAL_ABIS:
        raise table.error("abi", f"must be x86_64 (work runs on the host's CPU), got {abi!r}")
    sdk = table.integer("sdk", minimum=21, maximum=99)
    fingerprint = table.string(
        "fingerprint",
        default=f"{values['brand']}/{values['name']}/{values['device']}:{values['release']}"
        f"/SQZB.{sdk}/1:user/release-keys",
    )
    table.refuse_unknown_keys()
    return BuildProperties(**values, abi=abi, sdk=sdk, fingerprint=fingerprint)


def _read_cpu(table: _Table) -> CpuSpec:
    cpu = CpuSpec(
        cores=table.integer("cores", default=host_core_count(), minimum=1, maximum=64),
        min_freq_khz=table.integer("min_freq_khz", default=300_000, minimum=1),
        max_freq_khz=table.integer("max_freq_khz", default=2_400_000, minimum=1),
        governor=table.string("governor", default="schedutil"),
    )
    if cpu.min_freq_khz > cpu.max_freq_khz:
        raise table.error("min_freq_khz", f"must not exceed max_freq_khz ({cpu.max_freq_khz})")
    table.refuse_unknown_keys()
    return cpu


def _read_battery(table: _Table) -> BatterySpec:
    battery = BatterySpec(
        capacity_mah=table.number("capacity_mah", positive=True),
        nominal_voltage_v=table.number("nominal_voltage_v", minimum=3.0, maximum=4.5),
        charge_current_ma=table.number("charge_current_ma", minimum=0),
        initial_level_percent=table.number("initial_level_percent", default=80.0, minimum=1, maximum=100),
        internal_resistance_ohm=table.number("internal_resistance_ohm", default=0.15, minimum=0),
        gauge_refresh_s=table.number("gauge_refresh_s", default=0.5, minimum=0.25, maximum=1.0),
    )
    table.refuse_unknown_keys()
    return battery


def _read_thermal(table: _Table) -> ThermalSpec:
    thermal = ThermalSpec(
        ambient_c=table.number("ambient_c", minimum=-20, maximum=60),
        thermal_mass_j_per_k=table.number("thermal_mass_j_per_k", positive=True),
        heat_dissipation_w_per_k=table.number("heat_dissipation_w_per_k", positive=True),
        soc_thermal_mass_j_per_k=table.number("soc_thermal_mass_j_per_k", default=10.0, positive=True),
        soc_to_body_w_per_k=table.number("soc_to_body_w_per_k", default=1.0, positive=True),
        status_thresholds_c=table.number_list("status_thresholds_c"),
        throttle_start_c=table.number("throttle_start_c", required=False),
        throttle_full_c=table.number("throttle_full_c", required=False),
        throttle_min_fraction=table.number("throttle_min_fraction", default=0.3, minimum=0.05, maximum=1),
    )
    if (thermal.throttle_start_c is None) != (thermal.throttle_full_c is None) or (
        thermal.throttle_start_c is not None and thermal.throttle_full_c <= thermal.throttle_start_c
    ):
        raise table.error("throttle_full_c", "give throttle_start_c and a higher throttle_full_c together, or neither")
    thresholds = thermal.status_thresholds_c
    if len(thresholds) != ANDROID_THERMAL_LEVELS or list(thresholds) != sorted(thresholds):
        raise table.error(
            "status_thresholds_c",
            f"must list {ANDROID_THERMAL_LEVELS} rising temperatures (Android thermal status 1..6), got {list(thresholds)}",
        )
    if thresholds[0] <= thermal.ambient_c:
        raise table.error("status_thresholds_c", f"must start above ambient_c ({thermal.ambient_c})")
    table.refuse_unknown_keys()
    return thermal


def _read_phone(top: _Table, **common) -> PhoneProfile:
    friendly_name = top.string("friendly_name")
    match_table = top.table("match")
    match = PhoneMatch(
        models=match_table.string_list("model"),
        soc_models=match_table.string_list("soc_model"),
        board_platforms=match_table.string_list("board_platform"),
    )
    match_table.refuse_unknown_keys()
    if not (match.models or match.soc_models or match.board_platforms):
        raise top.error("match", "needs at least one of model, soc_model, board_platform")
    mask_text = top.string("big_core_mask", required=False)
    big_core_mask = None
    if mask_text is not None:
        try:
            big_core_mask = int(mask_text, 16)
        except ValueError:
            raise top.error("big_core_mask", f"must be a hex CPU mask such as \"f0\", got {mask_text!r}") from None
        if big_core_mask <= 0:
            raise top.error("big_core_mask", "must select at least one core")
    delegates = top.string_list("delegates")
    for delegate in delegates:
        if delegate not in DELEGATES:
            raise top.error("delegates", f"has unknown delegate {delegate!r} (known: {', '.join(DELEGATES)})")
    return PhoneProfile(
        **common,
        friendly_name=friendly_name,
        match=match,
        big_core_mask=big_core_mask,
        default_threads=top.integer("default_threads", required=False, minimum=1, maximum=64),
        delegates=delegates,
    )
