"""The system services whose state is the power model's: `dumpsys battery` and `dumpsys
thermalservice` with their commands, in AOSP's formats (BatteryService, ThermalManagerService);
and the Result every stand-in command answers with (harness.virtual.system_server).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.device.profiles import VirtualProfile
from harness.virtual.power import ANDROID_STATUS_CODES, PowerModel, PowerReading


@dataclass
class Result:
    stdout: str = ""
    stderr: str = ""
    exit_code: int = 0
    extra: dict = field(default_factory=dict)


def usage_error(text: str, exit_code: int = 1) -> Result:
    return Result(stderr=text if text.endswith("\n") else text + "\n", exit_code=exit_code)


class BatteryService:
    """`dumpsys battery` and its shell commands: `unplug`, `set KEY VALUE`, `reset` change only
    what is reported (as on a phone); the simulated current keeps flowing."""

    SETTABLE = ("ac", "usb", "wireless", "status", "level", "temp", "present", "counter", "invalid")

    def __init__(self, profile: VirtualProfile, power: PowerModel):
        self._profile = profile
        self._power = power
        self.overrides: dict[str, str] = {}

    def command(self, args: list[str]) -> Result:
        if not args or args[0] == "-a":
            return Result(stdout=self.dump())
        verb = args[0]
        if verb == "unplug":
            self.overrides.update({"ac": "0", "usb": "0", "wireless": "0"})
        elif verb == "reset":
            self.overrides.clear()
        elif verb == "set" and len(args) == 3:
            if args[1] not in self.SETTABLE:
                return Result(stdout=f"Unknown set option: {args[1]}\n", exit_code=0)
            try:
                int(args[2])
            except ValueError:
                return Result(stdout=f"Bad value: {args[2]}\n", exit_code=0)
            self.overrides[args[1]] = args[2]
        else:
            return Result(stdout=self._help())
        return Result()

    def _help(self) -> str:
        return (
            "Battery service (battery) commands:\n  help\n    Print this help text.\n"
            "  set [-f] [ac|usb|wireless|status|level|temp|present|counter|invalid] <value>\n"
            "    Force a battery property value, freezing battery state.\n"
            "  unplug [-f]\n    Force battery unplugged, freezing battery state.\n"
            "  reset [-f]\n    Unfreeze battery state, returning to current hardware values.\n"
        )

    def dump(self) -> str:
        reading = self._power.last
        o = self.overrides

        def flag(key: str, actual: bool) -> str:
            return "true" if (o[key] != "0" if key in o else actual) else "false"

        lines = ["Current Battery Service state:"]
        if o:
            lines.append("  (UPDATES STOPPED -- use 'reset' to restart)")
        lines += [
            f"  AC powered: {flag('ac', False)}",
            f"  USB powered: {flag('usb', reading.usb_online)}",
            f"  Wireless powered: {flag('wireless', False)}",
        ]
        if self._profile.build.sdk >= 33:
            lines.append("  Dock powered: false")
        lines += [
            f"  Max charging current: {round(self._profile.battery.charge_current_ma * 1000)}",
            "  Max charging voltage: 5000000",
            f"  Charge counter: {o.get('counter', reading.charge_counter_uah)}",
            f"  status: {o.get('status', ANDROID_STATUS_CODES[reading.status])}",
            "  health: 2",
            f"  present: {flag('present', True)}",
            f"  level: {o.get('level', reading.level_percent)}",
            "  scale: 100",
            f"  voltage: {reading.voltage_uv // 1000}",
            f"  temperature: {o.get('temp', reading.battery_temp_tenths_c)}",
            "  technology: Li-ion",
        ]
        return "\n".join(lines) + "\n"


class ThermalService:
    """`dumpsys thermalservice` and `cmd thermalservice override-status N | reset`."""

    TYPE_CPU, TYPE_BATTERY, TYPE_SKIN = 0, 2, 3

    def __init__(self, profile: VirtualProfile, power: PowerModel):
        self._thresholds = profile.thermal.status_thresholds_c
        self._power = power
        self.override_status: int | None = None

    def status(self) -> int:
        if self.override_status is not None:
            return self.override_status
        return self._power.last.thermal_status

    def command(self, args: list[str]) -> Result:
        if args[:1] == ["override-status"] and len(args) == 2 and args[1].isdigit() and int(args[1]) <= 6:
            self.override_status = int(args[1])
            return Result()
        if args == ["reset"]:
            self.override_status = None
            return Result()
        return Result(
            stdout="Thermal service (thermalservice) commands:\n  help\n    Print this help text.\n"
            "  override-status STATUS\n    sets and locks the thermal status of the device to STATUS.\n"
            "    status code is defined in android.os.Temperature.\n"
            "  reset\n    unlocks the thermal status of the device.\n",
            exit_code=0 if args[:1] in (["help"], []) else 255,
        )

    def dump(self) -> str:
        reading = self._power.last
        temperatures = self._temperature_lines(reading)
        listeners = "\tcallbacks: 0\n\tkilled: false\n\tbroadcasts count: -1\n"
        nan7 = ", ".join(["NaN"] * 7)
        hot = ", ".join(["NaN"] + [java_float(t) for t in self._thresholds])
        return (
            f"IsStatusOverride: {'true' if self.override_status is not None else 'false'}\n"
            f"ThermalEventListeners:\n{listeners}ThermalStatusListeners:\n{listeners}"
            f"Thermal Status: {self.status()}\n"
            f"Cached temperatures:\n{temperatures}"
            "HAL Ready: true\nHAL connection:\n\tThermalHAL AIDL 1  connected: yes\n"
            f"Current temperatures from HAL:\n{temperatures}"
            "Current cooling devices from HAL:\n"
            "Temperature static thresholds from HAL:\n"
            f"\tTemperatureThreshold{{mType={self.TYPE_SKIN}, mName=skin, "
            f"mHotThrottlingThresholds=[{hot}], mColdThrottlingThresholds=[{nan7}]}}\n"
        )

    def _temperature_lines(self, reading: PowerReading) -> str:
        sensors = [
            (reading.soc_temp_c, self.TYPE_CPU, "cpu", 0),
            (reading.skin_temp_c, self.TYPE_BATTERY, "battery", 0),
            (reading.skin_temp_c, self.TYPE_SKIN, "skin", reading.thermal_status),
        ]
        return "".join(
            f"\tTemperature{{mValue={java_float(value)}, mType={kind}, mName={name}, mStatus={status}}}\n"
            for value, kind, name, status in sensors
        )


def java_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    return repr(round(value, 3))
