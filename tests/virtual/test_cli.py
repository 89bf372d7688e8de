"""`squeezebench virtual start | list | stop` as a user runs them."""

from __future__ import annotations

import json
import os

from harness.errors import ExitCode
from tests.support.cli import one_line_error, run_cli, run_cli_in_process


def test_start_list_stop_delete(adb_server, unused_port):
    port = unused_port()
    started = run_cli("virtual", "start", "--port", port, "--profile", "virtual-midrange", "--adb-server", adb_server)
    assert started.returncode == 0, started.stderr
    serial = f"127.0.0.1:{port}"
    assert started.stdout.startswith(f"{serial}\tvirtual-midrange\tdevice")
    try:
        listed = json.loads(run_cli("virtual", "list", "--json").stdout)
        [mine] = [d for d in listed if d["serial"] == serial]
        assert mine["profile"] == "virtual-midrange" and mine["adb_server"] == str(adb_server)
        assert serial in run_cli("virtual", "list").stdout
    finally:
        stopped = run_cli("virtual", "stop", "--delete", serial)
    assert stopped.returncode == 0 and stopped.stdout == f"stopped and deleted {serial}\n"
    assert serial not in run_cli("virtual", "list").stdout


def test_errors_are_one_line_with_the_documented_exit_codes(adb_server):
    bad_profile = run_cli_in_process("virtual", "start", "--profile", "no-such", "--adb-server", adb_server)
    one_line_error(bad_profile.returncode, bad_profile.stderr, ExitCode.BAD_INPUT, "known profiles: ")
    nothing_named = run_cli_in_process("virtual", "stop")
    one_line_error(nothing_named.returncode, nothing_named.stderr, ExitCode.USAGE)
    unknown = run_cli_in_process("virtual", "stop", "127.0.0.1:1")
    one_line_error(unknown.returncode, unknown.stderr, ExitCode.DEVICE, "squeezebench virtual list")


def test_missing_bubblewrap_names_the_debian_package(adb_server, tmp_path):
    env = dict(os.environ, PATH=str(tmp_path))  # nothing to find on this PATH
    done = run_cli("virtual", "start", "--adb-server", adb_server, env=env)
    one_line_error(done.returncode, done.stderr, ExitCode.ENVIRONMENT, "apt-get install bubblewrap mksh toybox")
