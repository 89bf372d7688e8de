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

STAY_ON_SETTING = "stay_on_while_plugged_in"
# KEYCODE_WAKEUP (API 20+) only ever wakes the screen; KEYCODE_POWER would toggle it.
WAKE_UP = "input keyevent KEYCODE_WAKEUP"

RESTORE_FROM_NOTE_SCRIPT = (
    f'if [ -f {STAY_AWAKE_NOTE} ]; then settings put global {STAY_ON_SETTING} "$(cat {STAY_AWAKE_NOTE})"; '
    f"rm -f {STAY_AWAKE_NOTE}; fi"
)


# Wakes the screen while it reads the setting (unset, "null", means off), notes it and keeps the
# screen on; prints the value to put back on its last line. One round trip, the wake-up beside the
# rest: on a phone `settings`, `svc` and `input` are each a Java program that takes 0.1-0.3 s to start.
_KEEP_AWAKE_SCRIPT = (
    f"{WAKE_UP} >/dev/null 2>&1 & "
    f"previous=$(settings get global {STAY_ON_SETTING} 2>/dev/null); "
    'case $previous in "" | *[!0-9]*) previous=0 ;; esac; '
    f'printf %s "$previous" >{STAY_AWAKE_NOTE} && svc power stayon true; wait; '
    'echo "$previous"'
)


def keep_awake(device: Device, *, first: str = "") -> str:
    """Wake the screen and keep it on while plugged in; returns the setting to restore. `first`:
    a script to run before, in the same round trip (its output is ignored)."""
    script = f"{{ {first}; }} >/dev/null 2>&1; {_KEEP_AWAKE_SCRIPT}" if first else _KEEP_AWAKE_SCRIPT
    lines = device.shell_script(script, check=False).stdout.split()
    return lines[-1] if lines and lines[-1].isdigit() else "0"


def restore_script(previous: str) -> str:
    """The shell that puts the stay-on setting back to `previous` (what keep_awake returned)."""
    return f"settings put global {STAY_ON_SETTING} {shlex.quote(previous)}; rm -f {STAY_AWAKE_NOTE}"
