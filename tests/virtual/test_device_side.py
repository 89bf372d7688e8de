"""What a command running on the virtual device sees: Android's layout and tools, properties,
dumpsys formats, sysfs, one PID namespace per device, read-only system, and the host's Python
with LiteRT behind /system/bin/python3."""

from __future__ import annotations

import json
import os
import re
import shlex

import pytest

from harness.device.connection import parse_getprop
from tests.support.polling import wait_for

PASSPORT_PROPERTIES = (
    "ro.product.manufacturer", "ro.product.model", "ro.product.name", "ro.product.device",
    "ro.product.brand", "ro.soc.manufacturer", "ro.soc.model", "ro.board.platform",
    "ro.build.version.release", "ro.build.version.sdk", "ro.product.cpu.abilist",
    "ro.build.fingerprint",
)


def out(client, command: str) -> str:
    result = client.shell(command)
    assert result.exit_code == 0, (command, result)
    return result.stdout.decode()


def test_properties_mark_a_virtual_device_and_fill_the_passport(bundled):
    assert out(bundled, "getprop ro.squeezebench.virtual") == "1\n"
    assert out(bundled, "getprop ro.squeezebench.profile") == "virtual-default\n"
    assert out(bundled, "getprop ro.product.cpu.abi") == "x86_64\n"
    assert out(bundled, "getprop ro.build.type; getprop ro.debuggable") == "user\n0\n"
    assert out(bundled, "getprop ro.kernel.qemu") == "\n"  # not an emulator
    everything = out(bundled, "getprop")
    assert all(re.fullmatch(r"\[[^\]]+\]: \[.*\]", line) for line in everything.splitlines())
    props = parse_getprop(everything)  # what the passport reads
    assert [name for name in PASSPORT_PROPERTIES if not props.get(name)] == []
    assert list(props) == sorted(props)
    assert props["ro.product.model"] == "Virtual Device"


def test_setprop_changes_properties_but_not_read_only_ones(bundled):
    assert out(bundled, "setprop debug.squeezebench.test hello; getprop debug.squeezebench.test") == "hello\n"
    refused = bundled.shell("setprop ro.product.model Pixel")
    assert refused.exit_code == 1
    assert b"failed to set property" in refused.stderr
    assert out(bundled, "getprop ro.product.model") == "Virtual Device\n"


@pytest.mark.parametrize("args", ["ro.product.model", "", "no.such.property", "no.such.property fallback"])
def test_getprop_is_served_without_python_and_says_what_the_system_server_says(bundled, args):
    """The agent's snapshots run getprop and `dumpsys thermalservice`: mksh reads what the
    daemon publishes, where a Python start costs 25-37 ms."""
    traced = bundled.shell(f"sh -x /system/bin/getprop {args}")

    assert traced.exit_code == 0 and b"python" not in traced.stderr, traced.stderr
    assert traced.stdout.decode() == system_server_answer(bundled, {"command": "getprop", "args": args.split()})


@pytest.mark.parametrize("service", ["battery", "thermalservice", "power"])
def test_the_agents_dumpsys_queries_are_served_without_python_and_say_what_the_system_server_says(bundled, service):
    """The agent's snapshots and the battery check before each cell ask them: a Python start each
    made a snapshot 40 ms. The numbers move with every power tick (charge counter, voltage), so
    the two answers, read at different times, are compared with their digits masked."""
    traced = bundled.shell(f"sh -x /system/bin/dumpsys {service}")

    assert traced.exit_code == 0 and b"python" not in traced.stderr, traced.stderr
    answer = system_server_answer(bundled, {"command": "dumpsys", "args": [service]})
    assert re.sub(r"\d+", "0", traced.stdout.decode()) == re.sub(r"\d+", "0", answer)
    for other in ("meminfo", f"{service} -h"):  # the rest: the full stand-in
        assert b"python" in bundled.shell(f"sh -x /system/bin/dumpsys {other}").stderr, other


def test_what_a_command_changes_shows_at_once_in_the_served_dumps(bundled):
    """The agent's snapshot right after the harness wakes the screen must see it awake."""
    try:
        out(bundled, "input keyevent KEYCODE_SLEEP")
        assert "  mWakefulness=Asleep\n" in out(bundled, "dumpsys power")
        out(bundled, "input keyevent KEYCODE_WAKEUP; svc power stayon usb")
        dump = out(bundled, "dumpsys power")
        assert "  mWakefulness=Awake\n" in dump and "  mStayOnWhilePluggedInSetting=2\n" in dump
        out(bundled, "settings put global stay_on_while_plugged_in 0")
        assert "  mStayOnWhilePluggedInSetting=0\n" in out(bundled, "dumpsys power")
        out(bundled, "dumpsys battery unplug")
        assert "(UPDATES STOPPED -- use 'reset' to restart)" in out(bundled, "dumpsys battery")
    finally:
        out(bundled, "input keyevent KEYCODE_WAKEUP; svc power stayon false; dumpsys battery reset")


def system_server_answer(client, request: dict) -> str:
    """What the Python stand-in prints: the system server's answer through its socket."""
    code = ("import json, socket, sys; s = socket.socket(socket.AF_UNIX); s.connect('/dev/socket/squeezebench'); "
            f"s.sendall({json.dumps(request)!r}.encode() + b'\\n'); "
            "sys.stdout.write(json.loads(s.makefile().readline())['stdout'])")
    return out(client, f"python3 -c {shlex.quote(code)}")


def test_android_layout_and_tools(bundled):
    assert out(bundled, "readlink /sdcard; echo $TMPDIR; id -u") == "/storage/self/primary\n/data/local/tmp\n2000\n"
    # /system/bin/sh is mksh, common commands are toybox applets, host coreutils stay reachable.
    assert "MIRBSD KSH" in out(bundled, "echo $KSH_VERSION")
    assert out(bundled, "readlink /system/bin/ls") == "toybox\n"
    assert out(bundled, "/usr/bin/env true && echo host-tools") == "host-tools\n"
    assert out(bundled, "cat /system/build.prop | grep ro.squeezebench.virtual") == "ro.squeezebench.virtual=1\n"


def test_only_data_and_sdcard_are_writable(bundled):
    for path in ("/system/bin/x", "/usr/x", "/x", "/proc/x", "/sys/class/power_supply/battery/capacity", "/dev/x"):
        assert bundled.shell(f"echo 1 > {path}").exit_code != 0, path
    assert out(bundled, "echo ok > /data/local/tmp/w && cat /data/local/tmp/w && rm /data/local/tmp/w") == "ok\n"
    assert out(bundled, "echo ok > /sdcard/w && cat /data/media/0/w && rm /sdcard/w") == "ok\n"


def test_commands_of_separate_shell_calls_share_one_pid_namespace(bundled):
    pid = out(bundled, "sleep 60 >/dev/null 2>&1 & echo $!").strip()
    try:
        assert pid in out(bundled, "pidof sleep").split()
        assert re.search(rf"^\s*{pid}\b.*sleep", out(bundled, "ps -A"), re.M)
    finally:
        assert bundled.shell(f"kill {pid}").exit_code == 0
    # Gone once the device's init has reaped it (a zombie still answers kill -0).
    wait_for(lambda: bundled.shell(f"kill -0 {pid}").exit_code != 0, f"process {pid} to be reaped", timeout_s=30)


def test_host_processes_are_invisible_and_unreachable(bundled):
    listing = out(bundled, "ps -A -o PID,ARGS")
    assert "pytest" not in listing and "harness.virtual.daemon" not in listing
    # Our own PID is no process inside the device (its namespace numbers from 1).
    assert bundled.shell(f"kill -0 {os.getpid()}").exit_code != 0 or os.getpid() < 50


def test_python3_runs_a_pushed_runner_with_numpy_and_litert(bundled, device_tmp, tmp_path):
    runner = tmp_path / "runner.py"
    runner.write_text(
        "#!/system/bin/python3\n"
        "import sys, numpy\n"
        "from ai_edge_litert.interpreter import Interpreter\n"
        "print('runner', numpy.arange(4).sum(), Interpreter.__name__, sys.argv[1])\n"
    )
    runner.chmod(0o755)
    bundled.push(runner, f"{device_tmp}/runner.py")
    assert out(bundled, f"{device_tmp}/runner.py arg") == "runner 6 Interpreter arg\n"


def test_dumpsys_battery_has_android_format_and_unplug_only_changes_reports(bundled):
    dump = out(bundled, "dumpsys battery")
    assert dump.startswith("Current Battery Service state:\n")
    for field in ("AC powered: false", "USB powered: true", "status: 2", "scale: 100", "technology: Li-ion"):
        assert f"  {field}\n" in dump
    assert re.search(r"^  Charge counter: \d+$", dump, re.M)
    assert re.search(r"^  temperature: \d{3}$", dump, re.M)
    try:
        out(bundled, "dumpsys battery unplug")
        unplugged = out(bundled, "dumpsys battery")
        assert "(UPDATES STOPPED -- use 'reset' to restart)" in unplugged
        assert "  USB powered: false\n" in unplugged
        # As on a phone, the charger keeps charging: the gauge still says so.
        assert out(bundled, "cat /sys/class/power_supply/battery/status") == "Charging\n"
    finally:
        out(bundled, "dumpsys battery reset")
    assert "UPDATES STOPPED" not in out(bundled, "dumpsys battery")


def test_dumpsys_thermalservice_reports_status_and_temperatures(bundled):
    dump = out(bundled, "dumpsys thermalservice")
    assert re.search(r"^Thermal Status: [0-6]$", dump, re.M)
    assert re.search(r"Temperature\{mValue=\d+\.\d+, mType=3, mName=skin, mStatus=\d\}", dump)
    try:
        out(bundled, "cmd thermalservice override-status 3")
        assert "Thermal Status: 3\n" in out(bundled, "dumpsys thermalservice")
    finally:
        out(bundled, "cmd thermalservice reset")


def test_sysfs_reads_like_a_phone(bundled):
    battery = out(bundled, "cd /sys/class/power_supply/battery && cat capacity status current_now voltage_now charge_counter temp").split()
    capacity, status, current_ua, voltage_uv, counter_uah, temp = battery
    assert 0 < int(capacity) <= 100
    assert status in ("Charging", "Discharging", "Full", "Not charging")
    assert abs(int(current_ua)) < 10_000_000
    assert 3_000_000 < int(voltage_uv) < 4_600_000
    assert int(counter_uah) > 0
    assert 150 < int(temp) < 600
    cores = out(bundled, "ls -d /sys/devices/system/cpu/cpu[0-9]* | wc -l").strip()
    assert int(cores) == len(os.sched_getaffinity(0))
    freq = out(bundled, "cd /sys/devices/system/cpu/cpu0/cpufreq && cat scaling_governor cpuinfo_max_freq scaling_cur_freq").split()
    assert freq[0] == "schedutil" and int(freq[1]) == 2_400_000 and int(freq[2]) > 0


def test_meminfo_settings_pm_am_logcat(bundled):
    assert out(bundled, "dumpsys meminfo").startswith("Applications Memory Usage (in Kilobytes):\n")
    pid = out(bundled, "sleep 30 >/dev/null 2>&1 & echo $!").strip()
    try:
        block = out(bundled, f"dumpsys meminfo {pid}")
        assert f"** MEMINFO in pid {pid} [sleep] **" in block
        assert re.search(r"TOTAL PSS: +\d+", block)
    finally:
        bundled.shell(f"kill {pid}")
    assert out(bundled, "settings put global squeezebench_test 7; settings get global squeezebench_test") == "7\n"
    assert out(bundled, "settings get global no_such_key") == "null\n"
    assert "package:com.android.shell\n" in out(bundled, "pm list packages")
    assert bundled.shell("pm path com.example.absent").exit_code == 1
    assert b"does not exist" in bundled.shell("am start -W -n com.example.absent/.Main").stdout
    out(bundled, "log -t SqueezeTest 'hello from the test'")
    assert re.search(r" I SqueezeTest: hello from the test$", out(bundled, "logcat -d"), re.M)


def test_exec_out_is_binary_exact_and_interactive_shell_gets_a_pty(bundled):
    done = bundled.adb("exec-out", "i=0; while [ $i -lt 256 ]; do printf \"\\\\$(printf %o $i)\"; i=$((i+1)); done")
    assert done.stdout == bytes(range(256))
    tty = bundled.adb("shell", "-tt", "tty; echo $TERM")
    assert tty.stdout.replace(b"\r\n", b"\n").startswith(b"/dev/pts/")


def test_taskset_pins_inside_the_device(bundled):
    assert out(bundled, "taskset 1 cat /proc/self/status | grep Cpus_allowed_list") == "Cpus_allowed_list:\t0\n"


@pytest.mark.parametrize("service", ["reboot:", "jdwp", "no-such-service:"])
def test_unknown_services_are_refused(bundled, service):
    import adbutils

    with pytest.raises(adbutils.AdbError):
        with bundled.device_handle().open_transport(service):
            pass
