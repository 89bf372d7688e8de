"""A virtual device's /system, generated at every start: mksh as sh, toybox's applets, the
stand-ins for Android's commands (system_bin/android_tools.py, two of them served fast from files
the daemon publishes), python3, build.prop and /etc; and those published files.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
from pathlib import Path

from harness.virtual.sandbox import APEX_DIR, PUBLISHED_DIR, DeviceLayout, HostTools

# Commands served by system_bin/android_tools.py (they win over toybox applets of that name).
STAND_INS = (
    "getprop", "setprop", "dumpsys", "cmd", "settings", "pm", "am",
    "logcat", "log", "service", "taskset", "svc", "input",
)


def build_system(layout: DeviceLayout, tools: HostTools, build_prop_text: str,
                 commands: dict[str, str] | None = None) -> None:
    """Generate /system (recreated at every start, so it always matches this squeezebench).
    `commands`: scripts that replace commands of the same name (a replayed phone's `uname`,
    `toybox`); toybox's applets then run the host's toybox directly."""
    commands = commands or {}
    if layout.runtime_dir.exists():
        shutil.rmtree(layout.runtime_dir)
    bin_dir = layout.system_dir / "bin"
    bin_dir.mkdir(parents=True)
    layout.socket_dir.mkdir(parents=True)
    (bin_dir / "sh").symlink_to(tools.mksh)
    applet_target = tools.toybox if "toybox" in commands else "toybox"
    if "toybox" not in commands:
        (bin_dir / "toybox").symlink_to(tools.toybox)
    for applet in tools.toybox_applets:
        if applet not in STAND_INS and applet not in ("sh", "toybox") and applet not in commands:
            (bin_dir / applet).symlink_to(applet_target)
    (layout.published_dir / "properties").mkdir(parents=True)
    (layout.published_dir / "dumpsys").mkdir()
    for name in STAND_INS:
        fast = _FAST_STAND_INS.get(name)
        if fast is None:
            _write_executable(bin_dir / name, f"#!{os.path.realpath(sys.executable)} -IS\n{_stand_in_code(name)}\n")
        else:
            python = shlex.join([os.path.realpath(sys.executable), "-IS", "-c", _stand_in_code(name)])
            _write_executable(bin_dir / name, fast.replace("PUBLISHED", PUBLISHED_DIR).replace("PYTHON_STAND_IN", python))
    # A wrapper, not a symlink: the venv is found from the path Python is started by.
    _write_executable(bin_dir / "python3", f'#!/system/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
    for name, script in commands.items():
        _write_executable(bin_dir / name, script)
    (layout.system_dir / "build.prop").write_text(build_prop_text)
    _build_etc(layout.system_dir / "etc")


def _stand_in_code(name: str) -> str:
    """Python code running android_tools as the command `name`, whatever argv[0] is (`python -c`
    makes it "-c")."""
    return (f"import sys; sys.path.insert(0, {APEX_DIR!r}); import android_tools; "
            f"sys.exit(android_tools.main([{name!r}] + sys.argv[1:]))")


# getprop and `dumpsys battery|thermalservice|power` run several times per benchmark (the agent's
# snapshots, the battery check before each cell): served by mksh from the files the daemon
# publishes they cost 2-3 ms, where starting Python costs 25-37 ms. Every other use goes to the
# Python stand-in.
FAST_DUMPSYS_SERVICES = ("battery", "thermalservice", "power")
_FAST_STAND_INS = {
    "getprop": """#!/system/bin/sh
# getprop [NAME [DEFAULT]] from PUBLISHED, which the device's daemon rewrites on every setprop.
case $#:$1 in
0:) exec cat PUBLISHED/getprop ;;
[12]:-* | [12]:.* | [12]:*[!A-Za-z0-9_.@:-]*) ;;
[12]:?*)
	[ -f "PUBLISHED/properties/$1" ] && exec cat "PUBLISHED/properties/$1"
	print -r -- "$2"
	exit 0
	;;
esac
exec PYTHON_STAND_IN "$@"
""",
    "dumpsys": """#!/system/bin/sh
# `dumpsys SERVICE` from PUBLISHED/dumpsys, which the device's daemon rewrites on every power tick
# and after every command.
case "$#:$1" in
""" + " | ".join(f"1:{service}" for service in FAST_DUMPSYS_SERVICES) + """)
	[ -r "PUBLISHED/dumpsys/$1" ] && exec cat "PUBLISHED/dumpsys/$1"
	;;
esac
exec PYTHON_STAND_IN "$@"
""",
}


def publishable_property(name: str) -> bool:
    """Names that make a file of their own (the fast getprop leaves the others to Python)."""
    return not name.startswith(".") and "/" not in name and name.isprintable()


def publish(layout: DeviceLayout, relative: str, text: str) -> None:
    """Replace a published file at once: a stand-in reading it sees the old text or the new."""
    target = layout.published_dir / relative
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, target)


def unpublish(layout: DeviceLayout, relative: str) -> None:
    """Remove a published file: its fast stand-in hands the question to the Python one."""
    (layout.published_dir / relative).unlink(missing_ok=True)


def _build_etc(etc: Path) -> None:
    etc.mkdir(parents=True)
    (etc / "passwd").write_text(
        "root:x:0:0:root:/:/system/bin/sh\nshell:x:2000:2000:shell:/:/system/bin/sh\n"
        "nobody:x:9999:9999:nobody:/:/system/bin/sh\n"
    )
    (etc / "group").write_text("root:x:0:\nshell:x:2000:\nnobody:x:9999:\n")
    (etc / "nsswitch.conf").write_text("passwd: files\ngroup: files\nhosts: files\n")
    (etc / "hosts").write_text("127.0.0.1       localhost\n::1             ip6-localhost\n")
    (etc / "mkshrc").write_text(
        "# Interactive `adb shell` prompt, as Android's /system/etc/mkshrc\n"
        ': ${HOSTNAME:=$(getprop ro.product.device)}\n'
        ": ${USER:=$(id -un)}\n"
        "PS1='${HOSTNAME}:${PWD:-?} $ '\n"
    )
    if Path("/etc/ld.so.cache").is_file():
        shutil.copyfile("/etc/ld.so.cache", etc / "ld.so.cache")
    if Path("/etc/alternatives").is_dir():
        (etc / "alternatives").mkdir()


def _write_executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(0o755)
