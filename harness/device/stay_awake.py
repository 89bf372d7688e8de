"""Keeping the screen on: an Android phone whose screen times out mid-sweep idles at another power
(hundreds of mW apart), and over Wi-Fi adb a phone with its screen off can sleep and freeze the
runner. squeezebench wakes the screen and sets `svc power stayon true` (the global setting
`stay_on_while_plugged_in`) around benchmarks, and always puts the setting back.

As with charging (harness/device/charging.py), the value to put back is written into a note on the
device first (STAY_AWAKE_NOTE) and removed when it is put back; a squeezebench killed in between
leaves the note, and the next benchmark on the device restores the setting from it.
"""

from __future__ import annotations

import shlex

from harness.device.connection import Device
from harness.device.workdir import STAY_AWAKE_NOTE
from harness.errors import DeviceError

STAY_ON_SETTING = "stay_on_while_plugged_in"
# KEYCODE_WAKEUP (API 20+) only ever wakes the screen; KEYCODE_POWER would toggle it.
WAKE_UP = "input keyevent KEYCODE_WAKEUP"

RESTORE_FROM_NOTE_SCRIPT = (
    f'if [ -f {STAY_AWAKE_NOTE} ]; then settings put global {STAY_ON_SETTING} "$(cat {STAY_AWAKE_NOTE})"; '
    f"rm -f {STAY_AWAKE_NOTE}; fi"
)


def keep_awake(device: Device) -> str:
    """Wake the screen and keep it on while plugged in; returns the setting to restore."""
    previous = device.shell(["settings", "get", "global", STAY_ON_SETTING], check=False).stdout.strip()
    if not previous.isdigit():
        previous = "0"  # "null": never set, which means off
    device.shell_script(
        f"printf %s {previous} >{STAY_AWAKE_NOTE} && svc power stayon true; {WAKE_UP} >/dev/null 2>&1", check=False
    )
    return previous


def restore_awake(device: Device, previous: str) -> None:
    """The stay-on setting back to `previous` (what keep_awake returned)."""
    try:
        device.shell_script(
            f"settings put global {STAY_ON_SETTING} {shlex.quote(previous)}; rm -f {STAY_AWAKE_NOTE}", check=False
        )
    except DeviceError:
        pass  # the device is gone; the note makes the next session on it restore the setting
