"""The device passport: the conditions every measurement was taken under.

Read in one shell round trip. Flags mark what makes a number untrustworthy or not comparable
with a phone's: a virtual device, an emulator, charging, thermal throttling, low battery, a
debuggable build (Jetpack's benchmark library refuses or flags the same things), battery values
frozen by `dumpsys battery set/unplug`.

The parsers take real phones' output as it comes (tests/data/devices): vendor additions to
`dumpsys battery` (Samsung's unindented sections, empty values, `current now:` in mA), both
layouts of `dumpsys thermalservice` (HIDL `ThermalHAL 2.0`, AIDL `ThermalHAL AIDL 3`) and the
battery-current-limiting entries it lists among temperatures, no `ro.soc.*` before Android 12,
custom ROMs whose fingerprint names another release than `ro.build.version.release`.
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
# android.os.Temperature types that thermal HALs list among temperatures but are none: battery
# current limiting (BCL) readings of the battery's voltage, current and state of charge
# (Qualcomm's `vbat`, `ibat`, `socd`). Read as °C they would be a -1 °C or 53 °C "sensor".
NOT_TEMPERATURE_TYPES = {6: ("bcl_voltage", "V"), 7: ("bcl_current", "A"), 8: ("bcl_percentage", "%")}
# Sensor names of the same readings where only a name is known (thermal zones in sysfs).
NOT_TEMPERATURE_NAMES = re.compile(r"^(ibat|vbat|socd|vph|bcl|batt_current|batt_voltage)", re.I)
# Where the passport takes the SoC from, best first: ro.soc.* exists from Android 12 on.
SOC_PROPS = ("ro.soc.model", "ro.board.platform", "ro.hardware")
_TEMPERATURE = re.compile(
    r"Temperature\{mValue=(?P<value>[^,]+), mType=(?P<type>-?\d+), mName=(?P<name>[^,]*), mStatus=(?P<status>-?\d+)\}"
)
_THERMAL_HAL = re.compile(r"ThermalHAL (?:AIDL (?P<aidl>\d+)|(?P<hidl>\d+\.\d+))\s+connected: (?P<connected>\w+)")
# android.os.Temperature.TYPE_* as `dumpsys thermalservice` prints them (mType=N).
TEMPERATURE_TYPE_CPU = 0
TEMPERATURE_TYPE_BATTERY = 2
TEMPERATURE_TYPE_SKIN = 3
_FINGERPRINT_RELEASE = re.compile(r"^[^/]*/[^/]*/[^/:]*:(?P<release>[^/]+)/")

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
    "ro.squeezebench.capture",
    "ro.squeezebench.simulated",
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
        f"echo {_SECTION}",
        # What the gauge says, for when BatteryService's values are frozen or it has no dump.
        "for n in capacity status; do echo \"$n $(cat /sys/class/power_supply/battery/$n 2>/dev/null)\"; done",
    ]
)
_SECTION_COUNT = 8


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
    build: dict = field(default_factory=dict)  # parse_build: release, sdk, soc and their sources
    thermal: dict = field(default_factory=dict)  # parse_thermalservice

    @property
    def model(self) -> str:
        return self.props.get("ro.product.model", "")

    @property
    def is_virtual(self) -> bool:
        return self.flags.get("virtual", False)

    def to_dict(self) -> dict:
        return asdict(self)


def battery_service_lines(text: str) -> list[str]:
    """The lines of BatteryService's own state: the indented ones after `Current Battery
    Service state:` up to the first unindented line. Vendors append unindented sections and
    logs after it (Samsung: `FEATURE_...`, `LLB ...`, `[BattActionChangedLogBuffer]` lines that
    hold an older `level:43`), which are not the state."""
    lines = text.replace("\r\n", "\n").split("\n")
    header = next((i for i, line in enumerate(lines) if line.strip() == "Current Battery Service state:"), -1)
    block = []
    for line in lines[header + 1:]:
        if line.strip() and not line[:1].isspace():
            break
        block.append(line.rstrip("\r"))
    return block


def parse_dumpsys_battery(text: str) -> dict:
    values: dict[str, str] = {}
    lines = battery_service_lines(text)
    for line in lines:
        key, sep, value = line.strip().partition(":")
        if sep:
            values.setdefault(key.strip(), value.strip())
    battery: dict = {}
    for key, name, convert in (
        ("level", "level_pct", int),
        ("scale", "scale", int),
        ("status", "status_code", int),
        ("temperature", "temperature_c", lambda v: int(v) / 10.0),
        ("voltage", "voltage_mv", int),
        ("Charge counter", "charge_counter_uah", int),
        # Samsung's BatteryService only: the gauge's current in mA, positive while charging.
        ("current now", "current_now_ma", int),
    ):
        try:
            battery[name] = convert(values[key])
        except (KeyError, ValueError):
            battery[name] = None
    battery["status"] = BATTERY_STATUS.get(battery["status_code"], "unknown")
    battery["plugged"] = [
        source for source in ("AC", "USB", "Wireless", "Dock") if values.get(f"{source} powered") == "true"
    ]
    battery["updates_stopped"] = any("(UPDATES STOPPED" in line for line in lines)
    battery["source"] = "dumpsys" if values else None
    return battery


def read_battery(dumpsys_text: str, gauge_text: str) -> dict:
    """The battery's state from BatteryService, checked against the gauge's sysfs nodes.

    After `dumpsys battery set/unplug`, BatteryService reports what it was told until `dumpsys
    battery reset` (`(UPDATES STOPPED ...)`): none of its values is the battery's. They are kept
    apart as `overridden`, and level and status come from the gauge if it is readable (as they
    do when BatteryService gives nothing at all), else stay unknown."""
    battery = parse_dumpsys_battery(dumpsys_text)
    if battery["source"] is not None and not battery["updates_stopped"]:
        battery["charging"] = is_charging(battery)
        return battery
    gauge = dict(line.split(" ", 1) for line in gauge_text.splitlines() if " " in line)
    level_text = gauge.get("capacity", "").strip()
    status = gauge.get("status", "").strip().lower().replace(" ", "-")
    trusted = {
        **{key: None for key in battery},
        "level_pct": int(level_text) if level_text.isdigit() else None,
        "status": status if status in BATTERY_STATUS.values() else "unknown",
        "plugged": [],
        "updates_stopped": battery["updates_stopped"],
        "source": "sysfs" if level_text or status else None,
    }
    if battery["updates_stopped"]:
        trusted["overridden"] = {key: value for key, value in battery.items() if key not in ("updates_stopped", "source")}
    trusted["charging"] = is_charging(trusted)
    return trusted


def is_charging(battery: dict) -> bool | None:
    """Whether the battery itself was charging (not: whether a charger was plugged in, see
    `plugged`); None without a status to trust."""
    if battery.get("status") in (None, "unknown"):
        return None
    return battery["status"] == "charging"


def parse_thermal_status(text: str) -> int | None:
    match = re.search(r"Thermal Status:\s*(\d+)", text)
    return int(match.group(1)) if match else None


def _hal_readings(text: str) -> tuple[bool, list[tuple[str, int, float]]]:
    """The sensors of `Current temperatures from HAL` (else the cached ones) of `dumpsys
    thermalservice` as (name, android.os.Temperature type, value), and whether they were current."""
    current, _, _ = text.partition("Current cooling devices from HAL:")
    _, found_current, from_hal = current.partition("Current temperatures from HAL:")
    readings = []
    for match in _TEMPERATURE.finditer(from_hal if found_current else current):
        try:
            readings.append((match["name"], int(match["type"]), float(match["value"])))
        except ValueError:
            continue
    return bool(found_current), readings


def _is_temperature(name: str, sensor_type: int) -> bool:
    """Readings of the BCL types are volts, amps and percent, never temperatures."""
    return sensor_type not in NOT_TEMPERATURE_TYPES and not NOT_TEMPERATURE_NAMES.match(name)


def parse_thermalservice(text: str) -> dict:
    """`dumpsys thermalservice` in either layout: status, which HAL answers, and the sensors of
    `Current temperatures from HAL` (else the cached ones); BCL readings kept apart."""
    hal = _THERMAL_HAL.search(text)
    found_current, readings = _hal_readings(text)
    temperatures_c: dict[str, float] = {}
    not_temperatures: dict[str, dict] = {}
    for name, sensor_type, value in readings:
        if not _is_temperature(name, sensor_type):
            kind, unit = NOT_TEMPERATURE_TYPES.get(sensor_type, ("not-a-temperature", None))
            not_temperatures[name] = {"value": value, "type": sensor_type, "kind": kind, "unit": unit}
        elif value == value:  # NaN: a sensor without a reading
            temperatures_c[name] = value
    hottest = max(temperatures_c.items(), key=lambda item: item[1], default=(None, None))
    return {
        "status": parse_thermal_status(text),
        "hal": ("aidl" if hal["aidl"] else "hidl") if hal else None,
        "hal_version": (hal["aidl"] or hal["hidl"]) if hal else None,
        "hal_connected": (hal["connected"] == "yes") if hal else None,
        "temperatures_from": ("hal" if found_current else "cache") if temperatures_c or not_temperatures else None,
        "temperatures_c": temperatures_c,
        "hottest_sensor": hottest[0],
        "hottest_c": hottest[1],
        "not_temperatures": not_temperatures,
    }


def parse_hal_temperatures(text: str) -> dict[int, float]:
    """The hottest sensor of each android.os.Temperature type (0 CPU, 1 GPU, 2 battery, 3 skin,
    ...) in `dumpsys thermalservice`, as parse_thermalservice reads them; NaN readings skipped."""
    hottest: dict[int, float] = {}
    for name, sensor_type, value in _hal_readings(text)[1]:
        if _is_temperature(name, sensor_type) and value == value:
            hottest[sensor_type] = max(value, hottest.get(sensor_type, value))
    return hottest


def parse_build(props: dict[str, str]) -> dict:
    """Android release and SDK, the SoC and where each came from. A custom ROM may keep its
    stock fingerprint (LineageOS 22 = Android 15 on a fingerprint of 14): the release property
    wins, both are kept. Before Android 12 there is no `ro.soc.model`; an empty property counts
    as absent (a MIUI port with `ro.board.platform` = "")."""
    fingerprint = _FINGERPRINT_RELEASE.match(props.get("ro.build.fingerprint", ""))
    soc_source = next((name for name in SOC_PROPS if props.get(name, "").strip()), None)
    sdk = props.get("ro.build.version.sdk", "").strip()
    release = props.get("ro.build.version.release", "").strip()
    return {
        "release": release or None,
        "fingerprint_release": fingerprint["release"] if fingerprint else None,
        "release_disagrees": bool(fingerprint and release and fingerprint["release"] != release),
        "sdk": int(sdk) if sdk.isdigit() else None,
        "soc": props[soc_source].strip() if soc_source else None,
        "soc_source": soc_source,
    }


def primary_abi(props: dict[str, str]) -> str:
    """ro.product.cpu.abi, else the first of ro.product.cpu.abilist (a capture may hold only it)."""
    return props.get("ro.product.cpu.abi", "").strip() or props.get("ro.product.cpu.abilist", "").split(",")[0].strip()


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
        "battery_overridden": bool(battery.get("updates_stopped")),
    }


def read_passport(device: Device) -> Passport:
    output = device.shell_script(_PASSPORT_SCRIPT, check=False).stdout
    sections = output.split(_SECTION + "\n")
    sections += [""] * (_SECTION_COUNT - len(sections))
    (getprop_text, uname_text, battery_text, thermal_text, governor_text, meminfo_text, nproc_text,
     gauge_text) = sections[:_SECTION_COUNT]
    all_props = parse_getprop(getprop_text)
    props = {name: all_props[name] for name in PASSPORT_PROPS if name in all_props}
    battery = read_battery(battery_text, gauge_text)
    thermal = parse_thermalservice(thermal_text)
    return Passport(
        serial=device.serial,
        adb_server=str(device.server),
        harness_version=__version__,
        props=props,
        kernel=uname_text.strip(),
        abi=primary_abi(all_props),
        battery=battery,
        thermal_status=thermal["status"],
        governors=parse_governors(governor_text),
        mem_total_kb=parse_meminfo_total_kb(meminfo_text),
        cpu_count=int(nproc_text.strip()) if nproc_text.strip().isdigit() else None,
        flags=compute_flags(props, battery, thermal["status"]),
        build=parse_build(all_props),
        thermal=thermal,
    )
