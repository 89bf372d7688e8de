"""The stand-in commands: APK manifests, taskset's CPU folding, pm/cmd install end to end, and a
system server that survives whatever a process inside sends it."""

from __future__ import annotations

import json
import logging

import pytest

from harness.device.profiles import load_profile
from harness.virtual.power import PowerModel
from harness.virtual.properties import PropertyStore, initial_properties
from harness.virtual.system_bin import android_tools
from harness.virtual.system_server import SystemServer
from tests.virtual.support import binary_manifest, write_apk


@pytest.mark.parametrize("utf8", [False, True])
def test_manifest_package_reads_binary_xml(utf8):
    assert android_tools.manifest_package(binary_manifest("com.example.app", utf8=utf8)) == "com.example.app"


def test_manifest_that_is_not_binary_xml_is_refused():
    with pytest.raises(ValueError):
        android_tools.manifest_package(b"<manifest package='x'/>")


def test_cpu_lists_parse_like_the_kernel_prints_them():
    assert android_tools._parse_cpu_list("0-2,5,7-8\n") == [0, 1, 2, 5, 7, 8]


def test_pm_install_list_uninstall_through_the_device(bundled, device_tmp, tmp_path):
    apk = write_apk(tmp_path / "app.apk", "com.example.virtualapp")
    bundled.push(apk, f"{device_tmp}/app.apk")
    assert bundled.shell(f"pm install -r {device_tmp}/app.apk").stdout == b"Success\n"
    assert b"package:com.example.virtualapp\n" in bundled.shell("pm list packages -3").stdout
    not_apk = bundled.shell(f"echo text > {device_tmp}/x.apk; pm install {device_tmp}/x.apk")
    assert not_apk.exit_code == 1 and b"INSTALL_PARSE_FAILED_NOT_APK" in not_apk.stdout
    assert bundled.shell("pm uninstall com.example.virtualapp").stdout == b"Success\n"
    assert b"virtualapp" not in bundled.shell("pm list packages").stdout


def test_adb_install_streams_the_apk_to_cmd_package(bundled, tmp_path):
    apk = write_apk(tmp_path / "streamed.apk", "com.example.streamed")
    done = bundled.adb("install", str(apk))
    assert done.returncode == 0, done.stdout + done.stderr
    assert b"package:com.example.streamed\n" in bundled.shell("pm list packages -3").stdout
    bundled.shell("pm uninstall com.example.streamed")


@pytest.mark.parametrize("line", [b"", b"not json\n", b'{"command": 3, "args": []}\n',
                                  b'{"command": "getprop", "args": [1]}\n', b'{"command": "rm", "args": []}\n',
                                  b'{"command": "dumpsys", "args": ["meminfo", "nope"]}\n',
                                  b'{"command": "setprop", "args": ["bad name!", "x"]}\n'])
def test_system_server_answers_garbage_without_failing(line, tmp_path, caplog):
    profile = load_profile("virtual-default")
    server = SystemServer(profile, PropertyStore(initial_properties(profile, "X")), PowerModel(profile),
                          tmp_path / "system.json", proc_dir=lambda: tmp_path)
    result = server.execute_json(line)
    assert result.exit_code != 0 or result.stdout.startswith("No process found")
    # A handler that crashed is answered with 255 too, but logged: none of these may crash one.
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_log_line_with_an_empty_priority_is_refused_and_logcat_filters_keep_working(tmp_path):
    profile = load_profile("virtual-default")
    server = SystemServer(profile, PropertyStore(initial_properties(profile, "X")), PowerModel(profile),
                          tmp_path / "system.json", proc_dir=lambda: tmp_path)

    def run(command, *args):
        return server.execute_json(json.dumps({"command": command, "args": list(args)}).encode())

    assert run("log", "-p", "", "-t", "T", "hi").exit_code != 0
    assert run("log", "-p", "i", "-t", "T", "kept").exit_code == 0
    filtered = run("logcat", "-d", "T:I", "*:S")
    assert filtered.exit_code == 0 and "kept" in filtered.stdout and "hi" not in filtered.stdout
