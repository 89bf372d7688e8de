"""`squeezebench virtual start | list | stop` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from harness.errors import ExitCode


def squeezebench(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "harness", *args], capture_output=True, text=True, timeout=120,
        env=env or dict(os.environ),
    )


def test_start_list_stop_delete(adb_server, unused_port):
    port = unused_port()
    started = squeezebench("virtual", "start", "--port", str(port), "--profile", "virtual-midrange",
                           "--adb-server", str(adb_server))
    assert started.returncode == 0, started.stderr
    serial = f"127.0.0.1:{port}"
    assert started.stdout.startswith(f"{serial}\tvirtual-midrange\tdevice")
    try:
        listed = json.loads(squeezebench("virtual", "list", "--json").stdout)
        [mine] = [d for d in listed if d["serial"] == serial]
        assert mine["profile"] == "virtual-midrange" and mine["adb_server"] == str(adb_server)
        assert serial in squeezebench("virtual", "list").stdout
    finally:
        stopped = squeezebench("virtual", "stop", "--delete", serial)
    assert stopped.returncode == 0 and stopped.stdout == f"stopped and deleted {serial}\n"
    assert serial not in squeezebench("virtual", "list").stdout


def test_errors_are_one_line_with_the_documented_exit_codes(adb_server):
    bad_profile = squeezebench("virtual", "start", "--profile", "no-such", "--adb-server", str(adb_server))
    assert bad_profile.returncode == ExitCode.BAD_INPUT
    assert bad_profile.stderr.count("\n") == 1 and "known profiles: " in bad_profile.stderr
    nothing_named = squeezebench("virtual", "stop")
    assert nothing_named.returncode == ExitCode.USAGE
    unknown = squeezebench("virtual", "stop", "127.0.0.1:1")
    assert unknown.returncode == ExitCode.DEVICE and "squeezebench virtual list" in unknown.stderr


def test_missing_bubblewrap_names_the_debian_package(adb_server, tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # nothing to find on this PATH
    done = squeezebench("virtual", "start", "--adb-server", str(adb_server), env=env)
    assert done.returncode == ExitCode.ENVIRONMENT
    assert "apt-get install bubblewrap mksh toybox" in done.stderr
    assert "Traceback" not in done.stderr
