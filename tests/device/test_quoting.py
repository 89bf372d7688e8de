"""Commands for the device shell are built from argv lists; nothing in an argument is evaluated.

Checked with real POSIX shells (the device runs mksh; dash and posh are stricter cousins)."""

import shutil
import subprocess

import pytest

from harness.device.connection import check_device_path, parse_getprop, quote_command

NASTY = [
    "plain",
    "with space",
    "it's",
    'double "quotes"',
    "semi;colon",
    "$(touch /tmp/should-not-exist)",
    "`touch /tmp/should-not-exist`",
    "new\nline",
    "ünïcödé 模型",
    "$HOME",
    "*",
    "-n",
    "",
    "back\\slash",
]


@pytest.mark.parametrize("shell", ["sh", "dash", "mksh", "posh"])
def test_every_argument_reaches_the_program_unchanged(shell, tmp_path):
    if not shutil.which(shell):
        pytest.skip(f"{shell} not installed (scripts/setup --test installs it)")
    canary = tmp_path / "canary"
    args = NASTY + [f"$(touch {canary})", f"`touch {canary}`", f"; touch {canary}"]
    command = quote_command(["printf", "%s\\0", *args])
    out = subprocess.run([shell, "-c", command], capture_output=True, check=True, cwd=tmp_path).stdout
    assert out.decode().split("\0")[:-1] == args
    assert not canary.exists()


def test_an_empty_command_is_refused():
    with pytest.raises(ValueError):
        quote_command([])


def test_getprop_listing_is_parsed_including_odd_values():
    text = "[ro.product.model]: [Pixel 8]\n[ro.empty]: []\n[weird]: [a]: [b]\nnot a prop line\n"
    assert parse_getprop(text) == {"ro.product.model": "Pixel 8", "ro.empty": "", "weird": "a]: [b"}


@pytest.mark.parametrize("path", ["relative/x", "/data/../etc/passwd", "/data/local/tmp/./x", "/data/x\0y"])
def test_device_paths_that_climb_or_are_relative_are_refused(path):
    with pytest.raises(ValueError):
        check_device_path(path)


def test_clean_device_paths_pass():
    assert check_device_path("/data/local/tmp/squeezebench/models/ab/m o d.tflite") == (
        "/data/local/tmp/squeezebench/models/ab/m o d.tflite"
    )
