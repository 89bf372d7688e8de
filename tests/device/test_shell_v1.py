"""Phones without adb's shell protocol (Android 6 and older, some vendor adbd): a replayed
pre-shell_v2 capture through the real adb server. Commands return their output with the pty's
CRLF undone, and their exit status."""

from __future__ import annotations

import pytest

from harness.device.connection import Device
from harness.device.passport import read_passport
from harness.errors import DeviceError

from tests.captures.support import CORPUS, replayed
from tests.virtual.support import Client, bundled_adb

OLD_TABLET = CORPUS / "asus-tf201-android4.0.3"  # Android 4.0.3, capture.toml: shell_v2 = false


@pytest.fixture(scope="module")
def old_device(adb_server):
    with replayed(adb_server, OLD_TABLET) as started:
        yield Device(adb_server, started.serial)


def test_the_device_offers_no_shell_v2_to_the_adb_server(old_device):
    features = old_device._adb_device.get_features().split(",")
    assert "shell_v2" not in features and "stat_v2" in features
    assert old_device.has_shell_v2 is False


def test_adbutils_alone_returns_nothing_on_such_a_device(old_device):
    """What the harness used to read: adbutils' shell2(v2=True) falls back to the v1 shell and
    fills `output`, leaving `stdout` empty."""
    raw = old_device._adb_device.shell2("echo hello", encoding=None, v2=True)
    assert raw.stdout == b"" and raw.output == b"hello\r\n"


def test_commands_return_their_output_with_the_ptys_crlf_undone(old_device):
    assert old_device.shell(["echo", "hello"]).stdout == "hello\n"
    assert old_device.shell_script("printf 'a\\r\\nb'").stdout == "a\r\nb"  # a CR of its own stays
    raw = old_device.shell_script_raw("printf 'a\\nb\\n'")
    assert raw.stdout == b"a\r\nb\r\n" and raw.shell_v2 is False  # as the device sent it


def test_the_exit_status_comes_back(old_device):
    assert old_device.shell_script("exit 3", check=False).exit_code == 3
    assert old_device.shell(["false"], check=False).exit_code == 1
    assert old_device.shell_script("echo out; echo err >&2; true").stdout == "out\nerr\n"  # one stream
    with pytest.raises(DeviceError) as error:
        old_device.shell(["ls", "/no/such/dir"])
    assert error.value.returncode == 1 and "No such file" in error.value.one_line()


def test_a_script_ending_in_a_comment_or_a_background_job_still_reports(old_device):
    assert old_device.shell_script("echo a # a comment", check=False).stdout == "a\n"
    assert old_device.shell_script("sleep 0 &", check=False).exit_code == 0


def test_large_output_arrives_whole(old_device):
    lines = old_device.shell(["seq", "1", "20000"]).stdout.splitlines()
    assert lines == [str(n) for n in range(1, 20001)]


def test_the_passport_has_the_abi_and_properties(old_device):
    passport = read_passport(old_device)
    assert passport.abi == "armeabi-v7a" and passport.model == "TF201"
    assert passport.build["release"] == "4.0.3" and passport.build["sdk"] == 15


def test_the_adb_command_line_shows_crlf_as_old_phones_did(old_device, adb_server):
    done = Client("bundled-cli", adb_server, old_device.serial, bundled_adb()).adb("shell", "echo hello")
    assert done.stdout == b"hello\r\n"
