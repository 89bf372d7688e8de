"""`squeezebench runner fetch`: the official runner downloaded and registered, from a local HTTP
server standing in for Google's (no test reaches outside this host)."""

from __future__ import annotations

import http.server
import json
import os
import struct
import threading

import pytest

from harness.device import runner_binaries

from tests.support.cli import one_line_error, run_cli


def elf(machine: int, elf_class: int, size_bytes: int = 4096) -> bytes:
    header = b"\x7fELF" + bytes([elf_class, 1, 1]) + b"\0" * 9 + struct.pack("<HH", 2, machine)
    return header + b"\0" * (size_bytes - len(header))


class Mirror(http.server.BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    lie_about_length: set[str] = set()

    def do_GET(self):  # noqa: N802 - http.server's name
        name = self.path.rsplit("/", 1)[-1]
        body = self.files.get(name)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        # A partial download: the server promises more than it sends, then hangs up.
        self.send_header("Content-Length", str(len(body) * (2 if name in self.lie_about_length else 1)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def mirror():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Mirror)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Mirror.files, Mirror.lie_about_length = {}, set()
    yield f"http://127.0.0.1:{server.server_port}/nightly/latest"
    server.shutdown()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A cache of its own, seen by this process and by the CLI it runs."""
    monkeypatch.setenv("SQUEEZEBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    for abi in runner_binaries.ABI_ELF:
        monkeypatch.delenv(runner_binaries.env_var_name(abi), raising=False)
    return tmp_path / "cache"


def test_fetch_downloads_checks_records_and_registers(mirror, cache):
    Mirror.files["android_aarch64_benchmark_model"] = elf(*runner_binaries.ABI_ELF["arm64-v8a"])
    done = run_cli("runner", "fetch", "--abi", "arm64-v8a", "--base-url", mirror)
    assert done.returncode == 0, done.stderr
    found = runner_binaries.runner_for("arm64-v8a", is_virtual=False)
    entry = runner_binaries.registered_runners()["arm64-v8a"]
    assert found.source == "registered" and found.path.read_bytes() == Mirror.files["android_aarch64_benchmark_model"]
    assert entry["source_url"] == f"{mirror}/android_aarch64_benchmark_model" and entry["registered_utc"]
    assert entry["sha256"] == found.sha256 and found.sha256 in done.stdout
    assert os.access(found.path, os.X_OK)


@pytest.mark.parametrize("case, problem", [
    ("missing", "HTTP 404 Not Found"),
    ("wrong-abi", "is built for armeabi-v7a, not arm64-v8a"),
    ("not-elf", "is not an ELF executable"),
    ("partial", "stopped after 4096 of 8192 bytes"),
])
def test_a_failed_or_wrong_download_registers_nothing(mirror, cache, case, problem):
    name = "android_aarch64_benchmark_model"
    if case == "wrong-abi":
        Mirror.files[name] = elf(*runner_binaries.ABI_ELF["armeabi-v7a"])
    elif case == "not-elf":
        Mirror.files[name] = b"<html>Sign in to continue</html>"
    elif case == "partial":
        Mirror.files[name] = elf(*runner_binaries.ABI_ELF["arm64-v8a"])
        Mirror.lie_about_length.add(name)
    done = run_cli("runner", "fetch", "--abi", "arm64-v8a", "--base-url", mirror)
    one_line_error(done.returncode, done.stderr, 7, problem, f"{mirror}/{name}")
    assert runner_binaries.registered_runners() == {}
    assert not list((cache / "runners").rglob("benchmark_model")) and not list((cache / "runners").rglob("*.part"))


def test_a_run_without_a_runner_names_the_fetch_command(cache):
    from harness.errors import HostEnvironmentError

    with pytest.raises(HostEnvironmentError) as error:
        runner_binaries.runner_for("armeabi-v7a", is_virtual=False)
    assert "squeezebench runner fetch --abi armeabi-v7a" in error.value.one_line()


def test_the_default_address_is_googles_official_one():
    assert runner_binaries.official_url("x86_64") == (
        "https://storage.googleapis.com/tensorflow-nightly-public/prod/tensorflow/release/lite/tools/nightly/latest/"
        "android_x86_64_benchmark_model"
    )
    listing = json.loads(run_cli("runner", "list", "--json").stdout)
    assert {row["abi"] for row in listing} >= set(runner_binaries.ABI_ELF)
