"""Which benchmark_model a device gets: checked, recorded, never a silent fallback."""

import struct

import pytest

from harness.device import runner_binaries
from harness.errors import HostEnvironmentError, InputError


# Android's ABIs as ELF headers say them (e_machine, EI_CLASS), from elf.h: EM_AARCH64 183,
# EM_ARM 40, EM_X86_64 62, EM_386 3; ELFCLASS64 2, ELFCLASS32 1.
ELF_OF_ABI = {"arm64-v8a": (183, 2), "armeabi-v7a": (40, 1), "x86_64": (62, 2), "x86": (3, 1)}


def fake_elf(path, machine: int, elf_class: int):
    header = b"\x7fELF" + bytes([elf_class, 1, 1]) + b"\0" * 9 + struct.pack("<HH", 2, machine)
    path.write_bytes(header + b"\0" * 64)
    return path


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SQUEEZEBENCH_CACHE", str(tmp_path / "cache"))
    for abi in runner_binaries.ABI_ELF:
        monkeypatch.delenv(runner_binaries.env_var_name(abi), raising=False)


def test_missing_runner_says_what_to_download_and_how_to_register():
    with pytest.raises(HostEnvironmentError) as error:
        runner_binaries.runner_for("arm64-v8a", is_virtual=False)
    message = error.value.one_line()
    assert "android_aarch64_benchmark_model" in message
    assert "squeezebench runner add" in message and "--abi arm64-v8a" in message
    assert "SQUEEZEBENCH_BENCHMARK_MODEL_ARM64_V8A" in message


@pytest.mark.parametrize("abi", list(ELF_OF_ABI))
def test_register_checks_the_abi_and_records_the_sha256(tmp_path, abi):
    machine, elf_class = ELF_OF_ABI[abi]
    binary = runner_binaries.register_runner(fake_elf(tmp_path / "bm", machine, elf_class), abi)
    found = runner_binaries.runner_for(abi, is_virtual=False)
    assert found.source == "registered" and found.sha256 == binary.sha256
    assert runner_binaries.registered_runners()[abi]["sha256"] == binary.sha256


def test_wrong_abi_and_non_elf_are_refused_with_the_reason(tmp_path):
    arm32 = fake_elf(tmp_path / "bm32", *ELF_OF_ABI["armeabi-v7a"])
    with pytest.raises(InputError, match="built for armeabi-v7a, not arm64-v8a"):
        runner_binaries.register_runner(arm32, "arm64-v8a")
    script = tmp_path / "script"
    script.write_text("#!/bin/sh\necho hi\n")
    with pytest.raises(InputError, match="not an ELF executable"):
        runner_binaries.register_runner(script, "x86_64")


def test_a_registered_binary_that_changed_is_refused(tmp_path):
    binary = runner_binaries.register_runner(fake_elf(tmp_path / "bm", *ELF_OF_ABI["x86_64"]), "x86_64")
    with open(binary.path, "ab") as f:
        f.write(b"tampered")
    with pytest.raises(HostEnvironmentError, match="changed since registration"):
        runner_binaries.runner_for("x86_64", is_virtual=False)


def test_environment_variable_wins_and_virtual_devices_use_the_bundled_runner(tmp_path, monkeypatch):
    path = fake_elf(tmp_path / "from-env", *ELF_OF_ABI["arm64-v8a"])
    monkeypatch.setenv("SQUEEZEBENCH_BENCHMARK_MODEL_ARM64_V8A", str(path))
    assert runner_binaries.runner_for("arm64-v8a", is_virtual=False).source == "env"
    bundled = runner_binaries.runner_for("x86_64", is_virtual=True)
    assert bundled.kind == "bundled-litert-python" and bundled.version
