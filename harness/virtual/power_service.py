"""The virtual device's PowerManagerService: `dumpsys power`, `cmd power`, and what `svc power
stayon` and `input keyevent` do to the screen (AOSP's formats and commands).

The screen is Awake unless a replayed capture shows it otherwise (a tablet captured `Asleep`);
KEYCODE_WAKEUP wakes it, KEYCODE_SLEEP puts it to sleep, KEYCODE_POWER toggles it. `svc power
stayon` writes the global setting `stay_on_while_plugged_in` as on a phone; the screen never times
out on its own here (simulated: no user activity timer).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from harness.virtual.power import PowerModel
from harness.virtual.system_services import Result, usage_error

STAY_ON_SETTING = "stay_on_while_plugged_in"
# svc power stayon's values (BatteryManager.BATTERY_PLUGGED_*: AC 1, USB 2, wireless 4).
STAY_ON_VALUES = {"true": 7, "false": 0, "ac": 1, "usb": 2, "wireless": 4}
AWAKE, ASLEEP = "Awake", "Asleep"
_KEYS = {"KEYCODE_WAKEUP": "wake", "224": "wake", "KEYCODE_SLEEP": "sleep", "223": "sleep",
         "KEYCODE_POWER": "toggle", "26": "toggle"}
_SVC_POWER_HELP = ("Control the power manager\n\nusage: svc power stayon [true|false|usb|ac|wireless]\n"
                   "         Set the 'keep awake while plugged in' setting.\n")


class PowerService:
    def __init__(self, power: PowerModel, global_settings: dict[str, str], save: Callable[[], None],
                 captured_dump: Callable | None = None, wakefulness: str | None = None):
        """`captured_dump(reading, wakefulness, stay_on)`: a replayed capture's `dumpsys power`
        text, rendered; `wakefulness`: the screen's state at start (the capture's)."""
        self._power = power
        self._settings = global_settings
        self._save = save
        self._captured_dump = captured_dump
        self.wakefulness = wakefulness or AWAKE
        self._fixed_performance = False

    @property
    def stay_on_setting(self) -> int:
        value = self._settings.get(STAY_ON_SETTING, "0")
        return int(value) if value.isdigit() else 0

    def svc(self, args: list[str]) -> Result:
        if args[:2] == ["power", "stayon"] and len(args) == 3 and args[2] in STAY_ON_VALUES:
            self._settings[STAY_ON_SETTING] = str(STAY_ON_VALUES[args[2]])
            self._save()
            return Result()
        if args[:1] == ["power"]:
            return Result(stdout=_SVC_POWER_HELP)
        return usage_error(f"svc: {' '.join(args[:1]) or 'no command'} is not available on a virtual device")

    def input(self, args: list[str]) -> Result:
        if args[:1] == ["keyevent"] and len(args) >= 2:
            for key in args[1:]:
                action = _KEYS.get(key)
                if action == "wake" or (action == "toggle" and self.wakefulness != AWAKE):
                    self.wakefulness = AWAKE
                elif action in ("sleep", "toggle"):
                    self.wakefulness = ASLEEP
            return Result()
        return usage_error("Usage: input [<source>] <command> [<arg>...]\n  keyevent <key code number or name> ...")

    def command(self, args: list[str]) -> Result:
        if args[:1] == ["set-fixed-performance-mode-enabled"] and len(args) == 2 and args[1] in ("true", "false"):
            self._fixed_performance = args[1] == "true"
            return Result()
        return usage_error("Power manager (power) commands:\n  set-fixed-performance-mode-enabled [true|false]", 255)

    def dump(self) -> str:
        reading = self._power.last
        stay_on = self.stay_on_setting
        captured = self._captured_dump(reading, self.wakefulness, stay_on) if self._captured_dump else None
        if captured is not None:
            return captured
        powered = reading.usb_online
        return (
            "POWER MANAGER (dumpsys power)\n\nPower Manager State:\n"
            f"  mWakefulness={self.wakefulness}\n"
            f"  mIsPowered={'true' if powered else 'false'}\n"
            f"  mPlugType={2 if powered else 0}\n"
            f"  mBatteryLevel={reading.level_percent}\n"
            f"  mStayOn={'true' if stay_on and powered else 'false'}\n"
            f"  mFixedPerformanceModeEnabled={'true' if self._fixed_performance else 'false'}\n"
            "\nSettings and Configuration:\n"
            f"  mStayOnWhilePluggedInSetting={stay_on}\n"
        )


def captured_wakefulness(template: str) -> str | None:
    match = re.search(r"mWakefulness=(\w+)", template)
    return match[1] if match else None
