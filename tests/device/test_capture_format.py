"""The capture directory format (harness/device/capture.py): reading what users and public sources
give, refusing what is no capture in one line, and the framing `capture` reads /sys nodes with."""

from __future__ import annotations

import os

import pytest

from harness.device.capture import Capture, decode_text, parse_sys_output
from harness.errors import InputError

GETPROP = "[ro.product.model]: [Pixel 3a]\n[ro.product.cpu.abi]: [arm64-v8a]\n"


def test_a_bare_directory_with_only_getprop_is_a_capture(tmp_path):
    (tmp_path / "getprop.txt").write_text(GETPROP)
    capture = Capture.load(tmp_path)
    assert capture.properties() == {"ro.product.model": "Pixel 3a", "ro.product.cpu.abi": "arm64-v8a"}
    assert capture.info.shell_v2 is None and capture.has_part("properties") and not capture.has_part("battery")


@pytest.mark.parametrize("raw, text", [
    (b"\xff\xfe" + "[a]: [\u00e9]\r\n".encode("utf-16-le"), "[a]: [\u00e9]\r\n"),
    (b"\xfe\xff" + "[a]: [b]\n".encode("utf-16-be"), "[a]: [b]\n"),
    (b"\xef\xbb\xbf[a]: [b]\n", "[a]: [b]\n"),
    (b"[a]: [\xff\xfe\x80]\n", "[a]: [\ufffd\ufffd\ufffd]\n"),  # not UTF-8: replaced, no failure
])
def test_text_is_decoded_as_it_was_saved(raw, text):
    assert decode_text(raw) == text


def test_raw_non_utf8_bytes_of_a_node_are_kept_as_they_are(tmp_path):
    node = tmp_path / "sys" / "class" / "power_supply" / "battery" / "manufacturer"
    node.parent.mkdir(parents=True)
    node.write_bytes(b"ATL\xb0\xff\n")
    capture = Capture.load(tmp_path)
    assert capture.sys_files() == {"/sys/class/power_supply/battery/manufacturer": b"ATL\xb0\xff\n"}


def test_symlinks_leaving_the_sys_tree_are_left_out(tmp_path):
    cpu = tmp_path / "sys" / "devices" / "system" / "cpu"
    (cpu / "cpufreq" / "policy0").mkdir(parents=True)
    (cpu / "cpufreq" / "policy0" / "scaling_governor").write_text("schedutil\n")
    (cpu / "cpu0").mkdir()
    (cpu / "cpu0" / "cpufreq").symlink_to("../cpufreq/policy0")
    (cpu / "cpu1").mkdir()
    (cpu / "cpu1" / "cpufreq").symlink_to("/etc")
    (cpu / "cpu2").mkdir()
    (cpu / "cpu2" / "cpufreq").symlink_to("../../../../../..")
    links = Capture.load(tmp_path).sys_links()
    assert [(link.path, link.target) for link in links] == [("/sys/devices/system/cpu/cpu0/cpufreq", "../cpufreq/policy0")]


@pytest.mark.parametrize("toml, problem", [
    ("schema_version = 1\nshell_v2 = 'no'\n", "'shell_v2' must be a bool"),
    ("schema_version = 99\n", "schema_version 99 is newer"),
    ("schema_version = 1\ncurrent_unit = 'nA'\n", "current_unit must be one of uA, mA"),
    ("schema_version = 1\ncolour = 'blue'\n", "unknown key 'colour'"),
    ("notes = '''unterminated\n", "cannot be read"),
    ("schema_version = 1\ndenied = [1]\n", "'denied' must list strings"),
    ("notes = 'no version'\n", "schema_version missing"),
])
def test_a_bad_capture_toml_is_refused_naming_the_key(tmp_path, toml, problem):
    (tmp_path / "capture.toml").write_text(toml)
    with pytest.raises(InputError) as error:
        Capture.load(tmp_path)
    assert problem in error.value.one_line() and "\n" not in error.value.one_line()


def test_a_directory_without_any_capture_file_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError, match="holds no capture"):
        Capture.load(tmp_path)
    with pytest.raises(InputError, match="is not a directory"):
        Capture.load(tmp_path / "absent")


MARKER = b"@@m"


def framed(*records: bytes) -> bytes:
    return b"".join(records)


def test_node_values_are_cut_exactly_with_or_without_a_final_newline():
    output = framed(
        MARKER + b" node /sys/a\n", b"42\n", MARKER + b" end 0\n",
        MARKER + b" node /sys/b\n", b"no newline", MARKER + b" end 0\n",
        MARKER + b" node /sys/c\n", b"cat: /sys/c: Permission denied\n", MARKER + b" end 1\n",
        MARKER + b" link /sys/d ../cpufreq/policy0\n",
    )
    assert parse_sys_output(output, MARKER) == [
        ("node", "/sys/a", b"42\n", 0),
        ("node", "/sys/b", b"no newline", 0),
        ("node", "/sys/c", b"cat: /sys/c: Permission denied\n", 1),
        ("link", "/sys/d", b"../cpufreq/policy0", 0),
    ]


def test_framing_through_a_pty_keeps_its_crlf_for_the_caller_to_undo():
    output = MARKER + b" node /sys/a\r\n" + b"42\r\n" + MARKER + b" end 0\r\n"
    assert parse_sys_output(output, MARKER) == [("node", "/sys/a", b"42\r\n", 0)]


def test_output_cut_short_keeps_the_complete_records():
    output = MARKER + b" node /sys/a\n42\n" + MARKER + b" end 0\n" + MARKER + b" node /sys/b\n4"
    assert parse_sys_output(output, MARKER) == [("node", "/sys/a", b"42\n", 0)]


def test_the_recorder_refuses_a_directory_that_holds_something(tmp_path):
    from harness.device.capture import record

    (tmp_path / "old.txt").write_text("x")
    with pytest.raises(InputError, match="is not empty"):
        record(device=None, out_dir=tmp_path)
    assert os.listdir(tmp_path) == ["old.txt"]
