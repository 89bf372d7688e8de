"""A replayed capture's `dumpsys battery`, `dumpsys thermalservice` and `dumpsys power`: the
captured text, with the values that move rewritten in place and everything else (vendor
sections, spacing, odd lines) as captured.

- battery: in BatteryService's own block (passport.battery_service_lines), the powered flags,
  status and level follow the simulation; voltage, temperature, charge counter and Samsung's
  `current now` (mA) continue from the captured values. A capture frozen by `dumpsys battery
  unplug` (`(UPDATES STOPPED ...)`) stays frozen until `dumpsys battery reset`; `set`, `unplug`
  and `reset` work as on the phone.
- thermalservice: `Thermal Status` moves from the captured status by the simulated change (or
  shows `cmd thermalservice override-status`); the HAL's current temperatures move with the
  simulated SoC or skin temperature; battery-current-limiting entries (vbat/ibat/socd) stay.
- power: `mBatteryLevel` and `mIsPowered` follow the simulation.
"""

from __future__ import annotations

import re

from harness.device.passport import NOT_TEMPERATURE_TYPES, THERMAL_STATUS, battery_service_lines
from harness.virtual.power import ANDROID_STATUS_CODES, PowerReading, continued
from harness.virtual.system_services import BatteryService, ThermalService, java_float

STOPPED_LINE = "  (UPDATES STOPPED -- use 'reset' to restart)"
# android.os.Temperature types on the SoC: they follow the simulated SoC temperature.
SOC_TEMPERATURE_TYPES = {0, 1, 9, 10, 13}  # CPU, GPU, NPU, TPU, SOC
CPU_TYPE = 0
_KEY_VALUE = re.compile(r"^(?P<indent>\s+)(?P<key>[^:]+):(?P<space> ?)(?P<value>.*)$")
_TEMPERATURE_VALUE = re.compile(r"(Temperature\{mValue=)(?P<value>[^,]+)(, mType=)(?P<type>-?\d+)")
_POWERED_OVERRIDES = {"AC powered": "ac", "USB powered": "usb", "Wireless powered": "wireless"}
# Keys whose captured number the simulation carries on (a captured text that is no number stays).
_CONTINUED_KEYS = ("voltage", "temperature", "Charge counter", "charge counter", "current now")


class ReplayedBatteryService(BatteryService):
    def __init__(self, profile, power, replay, template: str):
        super().__init__(profile, power)
        self._replay = replay
        self._template = template
        self._frozen = any("(UPDATES STOPPED" in line for line in battery_service_lines(template))

    def command(self, args: list[str]):
        if args[:1] == ["reset"]:
            self._frozen = False
        return super().command(args)

    def dump(self) -> str:
        if self._frozen and not self.overrides:
            return self._template
        return self.render(self._power.last)

    def render(self, reading: PowerReading) -> str:
        lines = self._template.split("\n")
        block = battery_service_lines(self._template)
        header = next((i for i, line in enumerate(lines) if line.strip() == "Current Battery Service state:"), -1)
        stopped = bool(self.overrides) or self._frozen
        rendered = []
        for index, line in enumerate(lines):
            in_block = header < index <= header + len(block)
            if in_block and "(UPDATES STOPPED" in line:
                continue
            match = _KEY_VALUE.match(line) if in_block else None
            value = self._value(match["key"].strip(), match["value"], reading) if match else None
            rendered.append(line if value is None else f"{match['indent']}{match['key']}:{match['space']}{value}")
            if index == header and stopped:
                rendered.append(STOPPED_LINE)
        return "\n".join(rendered)

    def _value(self, key: str, captured: str, reading: PowerReading) -> str | None:
        """The text key `key` shows now; None keeps the captured line."""
        start = self._replay.start
        o = self.overrides
        if key in _POWERED_OVERRIDES:
            override = o.get(_POWERED_OVERRIDES[key])
            if override is not None:
                return "true" if override != "0" else "false"
            return "true" if captured.strip() == "true" and reading.usb_online else "false"
        numbers = {
            "status": lambda: o.get("status", ANDROID_STATUS_CODES[reading.status]),
            "level": lambda: o.get("level", reading.level_percent),
            "present": lambda: o.get("present") and ("true" if o["present"] != "0" else "false"),
            "voltage": lambda: round(continued(_number(captured), start.voltage_uv / 1000, reading.voltage_uv / 1000)),
            "temperature": lambda: o.get("temp", round(continued(
                _number(captured), start.battery_temp_tenths_c, reading.battery_temp_tenths_c))),
            "Charge counter": lambda: o.get("counter", round(continued(
                _number(captured), start.charge_counter_uah, reading.charge_counter_uah))),
            "charge counter": lambda: round(continued(_number(captured), start.charge_counter_uah, reading.charge_counter_uah)),
            # Samsung: mA, positive while charging.
            "current now": lambda: round(continued(_number(captured), start.current_ua / 1000, reading.current_ua / 1000)),
        }
        if key not in numbers or (key in _CONTINUED_KEYS and _number(captured) is None and captured.strip()):
            return None
        value = numbers[key]()
        return None if value is None else str(value)


class ReplayedThermalService(ThermalService):
    def __init__(self, profile, power, replay, template: str):
        super().__init__(profile, power)
        self._replay = replay
        self._template = template
        captured = re.search(r"Thermal Status:\s*(\d+)", template)
        self._captured_status = int(captured[1]) if captured else 0

    def status(self) -> int:
        if self.override_status is not None:
            return self.override_status
        moved = self._captured_status + self._power.last.thermal_status - self._replay.start.thermal_status
        return min(max(moved, 0), max(THERMAL_STATUS))

    def dump(self) -> str:
        reading = self._power.last
        text = re.sub(r"(Thermal Status:\s*)\d+", lambda m: f"{m[1]}{self.status()}", self._template)
        text = re.sub(r"(IsStatusOverride:\s*)\w+",
                      lambda m: f"{m[1]}{'true' if self.override_status is not None else 'false'}", text)
        before, found, current = text.partition("Current temperatures from HAL:")
        if not found:
            return self._move_temperatures(text, reading)
        sensors, cooling, rest = current.partition("Current cooling devices from HAL:")
        return before + found + self._move_temperatures(sensors, reading) + cooling + rest

    def _move_temperatures(self, text: str, reading: PowerReading) -> str:
        start = self._replay.start

        def moved(match: re.Match) -> str:
            sensor_type = int(match["type"])
            value = _number(match["value"])
            if value is None or sensor_type in NOT_TEMPERATURE_TYPES:
                return match[0]
            if sensor_type in SOC_TEMPERATURE_TYPES:
                value += reading.soc_temp_c - start.soc_temp_c
            else:
                value += reading.skin_temp_c - start.skin_temp_c
            return f"{match[1]}{java_float(value)}{match[3]}{match['type']}"

        return _TEMPERATURE_VALUE.sub(moved, text)


def hottest_cpu_c(template: str) -> float | None:
    """The hottest CPU temperature (android.os.Temperature TYPE_CPU) a captured thermalservice
    dump shows, cached or current."""
    values = [_number(m["value"]) for m in _TEMPERATURE_VALUE.finditer(template) if int(m["type"]) == CPU_TYPE]
    return max((v for v in values if v is not None and v == v), default=None)


def render_power(template: str, reading: PowerReading, wakefulness: str, stay_on_setting: int) -> str:
    text = re.sub(r"(mBatteryLevel=)\d+", lambda m: f"{m[1]}{reading.level_percent}", template)
    text = re.sub(r"(mWakefulness=)\w+", lambda m: f"{m[1]}{wakefulness}", text)
    text = re.sub(r"(mStayOnWhilePluggedInSetting=)\d+", lambda m: f"{m[1]}{stay_on_setting}", text)
    text = re.sub(r"(mStayOn=)\w+", lambda m: f"{m[1]}{'true' if stay_on_setting and reading.usb_online else 'false'}", text)
    return re.sub(r"(mIsPowered=)\w+", lambda m: f"{m[1]}{'true' if reading.usb_online else 'false'}", text)


def _number(text: str) -> float | None:
    try:
        return float(text.strip())
    except ValueError:
        return None
