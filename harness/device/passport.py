"""The device passport: the conditions every measurement was taken under.

Read in one shell round trip. Flags mark what makes a number untrustworthy or not comparable
with a phone's: a virtual device, an emulator, charging, thermal throttling, low battery, a
debuggable build (Jetpack's benchmark library refuses or flags the same things).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from harness import __version__
from harness.device.connection import Device, parse_getprop

LOW_BATTERY_PCT = 25
_SECTION = "--squeezebench-section--"
# Android BatteryManager status codes as printed by `dumpsys battery`.
BATTERY_STATUS = {1: "unknown", 2: "charging", 3: "discharging", 4: "not-charging", 5: "full"}
# PowerManager thermal status levels (THERMAL_STATUS_*).
THERMAL_STATUS = {0: "none", 1: "light", 2: "moderate", 3: "severe", 4: "critical", 5: "emergency", 6: "shutdown"}

PASSPORT_PROPS = (
    "ro.product.manufacturer",
    "ro.product.brand",
    "ro.product.model",
    "ro.product.name",
    "ro.product.device",
    "ro.soc.manufacturer",
    "ro.soc.model",
    "ro.board.platform",
    "ro.hardware",
    "ro.build.version.release",
    "ro.build.version.sdk",
    "ro.build.fingerprint",
    "ro.build.type",
    "ro.debuggable",
    "ro.product.cpu.abi",
    "ro.product.cpu.abilist",
    "ro.kernel.qemu",
    "ro.boot.qemu",
    "ro.squeezebench.virtual",
    "ro.squeezebench.profile",
    "power.battery_input.suspended",
)

# One script, sections separated by a marker line, so the passport costs one adb round trip.
_PASSPORT_SCRIPT = "; ".join(
    [
        "getprop",
        f"echo {_SECTION}",
        "uname -r",
        f"echo {_SECTION}",
        "dumpsys battery 2>/dev/null",
        f"echo {_SECTION}",
        "dumpsys thermalservice 2>/dev/null",
        f"echo {_SECTION}",
        "for g in /sys/devices/system/cpu/cpu[0-9]*/cpufreq/scaling_governor; do "
        'if [ -r "$g" ]; then echo "$g $(cat "$g")"; fi; done',
        f"echo {_SECTION}",
        "cat /proc/meminfo 2>/dev/null",
        f"echo {_SECTION}",
        "nproc 2>/dev/null",
    ]
)


@dataclass(frozen=True)
class Passport:
    serial: str
    adb_server: str
    harness_version: str
    props: dict[str, str]
    kernel: str
    abi: str
    battery: dict
    thermal_status: int | None
    governors: dict[str, str]
    mem_total_kb: int | None
    cpu_count: int | None
    flags: dict[str, bool] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return self.props.get("ro.product.model", "")

    @property
    def is_virtual(self) -> bool:
        return self.flags.get("virtual", False)

    def to_dict(self) -> dict:
        return asdict(self)


def parse_dumpsys_battery(text: str) -> dict:
    values = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep:
            values[key.strip()] = value.strip()
    battery: dict = {}
    for key, name, convert in (
        ("level", "level_pct", int),
        ("scale", "scale", int),
        ("status", "status_code", int),
        ("temperature", "temperature_c", lambda v: int(v) / 10.0),
        ("voltage", "voltage_mv", int),
        ("Charge counter", "charge_counter_uah", int),
    ):
        try:
            battery[name] = convert(values[key])
        except (KeyError, ValueError):
            battery[name] = None
    battery["status"] = BATTERY_STATUS.get(battery["status_code"], "unknown")
    battery["plugged"] = [
        source for source in ("AC", "USB", "Wireless", "Dock") if values.get(f"{source} powered") == "true"
    ]
    return battery


def parse_thermal_status(text: str) -> int | None:
    match = re.search(r"Thermal Status:\s*(\d+)", text)
    return int(match.group(1)) if match else None


# android.os.Temperature.TYPE_* as `dumpsys thermalservice` prints them (mType=N).
TEMPERATURE_TYPE_CPU = 0
TEMPERATURE_TYPE_BATTERY = 2
TEMPERATURE_TYPE_SKIN = 3
_HAL_TEMPERATURE = re.compile(r"Temperature\{mValue=(?P<value>[-\d.eE]+|NaN), mType=(?P<type>-?\d+), mName=(?P<name>[^,]*),")


def parse_hal_temperatures(text: str) -> dict[int, float]:
    """The hottest sensor of each type in the "Current temperatures from HAL" section of
    `dumpsys thermalservice` (falling back to "Cached temperatures" when the HAL part is absent),
    by android.os.Temperature type: 0 CPU, 1 GPU, 2 battery, 3 skin, ... ; NaN readings skipped."""
    current = text.split("Current temperatures from HAL:", 1)
    section = current[1] if len(current) == 2 else text.split("Cached temperatures:", 1)[-1]
    section = re.split(r"\n(?=\S)", section, maxsplit=1)[0]  # up to the next unindented heading
    hottest: dict[int, float] = {}
    for match in _HAL_TEMPERATURE.finditer(section):
        if match["value"] == "NaN":
            continue
        kind, value = int(match["type"]), float(match["value"])
        hottest[kind] = max(value, hottest.get(kind, value))
    return hottest


def parse_meminfo_total_kb(text: str) -> int | None:
    match = re.search(r"^MemTotal:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


def parse_governors(text: str) -> dict[str, str]:
    governors = {}
    for line in text.splitlines():
        match = re.match(r".*/(cpu\d+)/cpufreq/scaling_governor (\S+)$", line.strip())
        if match:
            governors[match.group(1)] = match.group(2)
    return governors


def compute_flags(props: dict[str, str], battery: dict, thermal_status: int | None) -> dict[str, bool]:
    charging_suspended = props.get("power.battery_input.suspended") == "true"
    return {
        "virtual": props.get("ro.squeezebench.virtual") == "1",
        "emulator": props.get("ro.kernel.qemu") == "1" or props.get("ro.boot.qemu") == "1",
        "charging": battery.get("status") in ("charging", "full") and not charging_suspended,
        "throttled": bool(thermal_status),
        "low_battery": battery.get("level_pct") is not None and battery["level_pct"] < LOW_BATTERY_PCT,
        "debuggable": props.get("ro.debuggable") == "1" or props.get("ro.build.type") in ("userdebug", "eng"),
    }


def read_passport(device: Device) -> Passport:
    output = device.shell_script(_PASSPORT_SCRIPT, check=False).stdout
    sections = output.split(_SECTION + "\n")
    sections += [""] * (7 - len(sections))
    getprop_text, uname_text, battery_text, thermal_text, governor_text, meminfo_text, nproc_text = sections[:7]
    all_props = parse_getprop(getprop_text)
    props = {name: all_props[name] for name in PASSPORT_PROPS if name in all_props}
    battery = parse_dumpsys_battery(battery_text)
    thermal_status = parse_thermal_status(thermal_text)
    return Passport(
        serial=device.serial,
        adb_server=str(device.server),
        harness_version=__version__,
        props=props,
        kernel=uname_text.strip(),
        abi=props.get("ro.product.cpu.abi", ""),
        battery=battery,
        thermal_status=thermal_status,
        governors=parse_governors(governor_text),
        mem_total_kb=parse_meminfo_total_kb(meminfo_text),
        cpu_count=int(nproc_text.strip()) if nproc_text.strip().isdigit() else None,
        flags=compute_flags(props, battery, thermal_status),
    )
