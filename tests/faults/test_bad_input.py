"""Bad input is refused in one line naming the problem and the fix, with the documented exit code,
no traceback, and nothing already on disk or on the device lost or changed. Most cases call the
CLI's entry point in this process (a traceback would fail the test just the same); a few run the
real console script."""

from __future__ import annotations

import json
import shutil

import pytest

from harness.device.workdir import DEVICE_ROOT
from harness.device import adb
from harness.device.connection import Device
from harness.errors import ExitCode
from harness.paths import DEVICE_PROFILES_DIR
from tests.faults.support import kill_daemon
from tests.report.report_runs import DIGITS, PIXEL, build_run
from tests.support.cli import one_line_error, run_cli, run_cli_in_process
from tests.support.fast import FAST_ARGS
from tests.support.polling import wait_for


def refused(exit_code, argv, *fragments):
    """Run the CLI in this process with argv and assert a one-line error containing the fragments.
    `run` gets --quiet: its progress lines ("converting ...") are not part of the error."""
    done = run_cli_in_process(*argv, *(["--quiet"] if argv[0] == "run" else []))
    assert done.stdout == "", done.stdout
    return one_line_error(done.returncode, done.stderr, exit_code, *fragments)


def device_files(device) -> list[str]:
    found = Device(device.adb_server, device.serial).shell(["find", DEVICE_ROOT], check=False).stdout
    return sorted(found.split())


# Models -------------------------------------------------------------------------------------


def test_corrupt_and_truncated_tflite_files_are_refused_before_anything_is_pushed(
    device, tiny_tflite, tmp_path
):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"this is not a model" * 100)
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(tiny_tflite.read_bytes()[: tiny_tflite.stat().st_size // 2])
    before = device_files(device)
    cases = [(junk, "no TFL3 identifier", "no TFL3 identifier"), (truncated, "truncated or corrupt", "truncated or corrupt")]
    for model, bench_says, run_says in cases:
        refused(ExitCode.BAD_INPUT, ["bench", model, "--device", device.serial, "--out", tmp_path / "o"], bench_says)
        refused(ExitCode.BAD_INPUT, ["run", model, "--devices", device.serial, "--results", tmp_path / "r"], run_says)
    assert device_files(device) == before
    assert not (tmp_path / "o").exists()
    assert not any((tmp_path / "r").glob("*"))


def test_corrupt_and_truncated_keras_files_are_refused_and_leave_no_run_behind(device, tmp_path):
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    earlier = tmp_path / "results" / "2020-01-01T000000Z-beef"
    earlier.mkdir(parents=True)
    (earlier / "run.json").write_text('{"kept": true}')
    for model in (broken, truncated):
        refused(ExitCode.BAD_INPUT, ["run", model, "--devices", device.serial, "--results", tmp_path / "results"],
                f"cannot load {model}")  # fmt: skip
    assert [p.name for p in (tmp_path / "results").iterdir()] == [earlier.name]
    assert (earlier / "run.json").read_text() == '{"kept": true}'


@pytest.fixture(scope="module")
def custom_op_tflite(tiny_tflite, tmp_path_factory):
    """The tiny model with its first operator replaced by a custom op no runner has."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAs(tiny_tflite.read_bytes(), 0))
    code = model.operatorCodes[0]
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = "SqueezebenchNoSuchOp"
    builder = flatbuffers.Builder(0)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path = tmp_path_factory.mktemp("custom") / "custom_op.tflite"
    path.write_bytes(bytes(builder.Output()))
    return path


def test_an_operator_the_runner_lacks_is_reported_by_the_cell(device, custom_op_tflite, tmp_path):
    done = run_cli("bench", custom_op_tflite, "--device", device.serial, "--json", "--out", tmp_path / "b", *FAST_ARGS)
    assert done.returncode == ExitCode.NOTHING_RAN, done.stderr
    assert "Traceback" not in done.stderr
    document = json.loads(done.stdout)
    assert document["status"] == "unsupported"
    assert "Encountered unresolved custom op: SqueezebenchNoSuchOp" in document["reason"]
    assert document["latency_us"] is None


def test_a_sweep_refuses_a_model_this_hosts_litert_cannot_run(device, custom_op_tflite, tmp_path):
    """`run` evaluates every level on the host first; such a model is refused there, in one line."""
    refused(ExitCode.BAD_INPUT, ["run", custom_op_tflite, "--devices", device.serial, "--results", tmp_path],
            "LiteRT rejects this .tflite", "SqueezebenchNoSuchOp")  # fmt: skip
    assert not list(tmp_path.iterdir())


# Device profiles ----------------------------------------------------------------------------


def profile_variant(tmp_path, name: str, change) -> str:
    text = (DEVICE_PROFILES_DIR / "virtual-default.toml").read_text().replace(
        'name = "virtual-default"', f'name = "{name}"'
    )
    path = tmp_path / f"{name}.toml"
    path.write_text(change(text))
    return str(path)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda t: t.replace("[power]", "[power\n"), "is not valid TOML"),
        (lambda t: t + "\n[extra]\nturbo = true\n", "'extra' is not a known key"),
        (lambda t: t.replace("idle_w = 0.4", "idle_w = 0.4\nidle_watts = 0.4"), "'power.idle_watts' is not a known key"),
        (lambda t: t.replace("sdk = 34", 'sdk = "34"'), "'build.sdk' must be an integer"),
        (lambda t: t.replace("schema_version = 1", "schema_version = 7"), "upgrade squeezebench"),
        (lambda t: t.replace('kind = "virtual"', 'kind = "phone"'), "'friendly_name' is missing"),
    ],
)
def test_a_bad_device_profile_is_refused_naming_the_key(tmp_path, change, fragment):
    profile = profile_variant(tmp_path, "bad-profile", change)
    refused(ExitCode.BAD_INPUT, ["virtual", "start", "--profile", profile], "bad-profile.toml", fragment)


def test_a_sweep_with_a_bad_virtual_profile_is_refused_and_leaves_no_run(private_adb, tiny_tflite, tmp_path):
    """No device on the server: the sweep would start a virtual device with this profile."""
    profile = profile_variant(tmp_path, "bad-profile", lambda t: t + "\nturbo = true\n")
    refused(ExitCode.BAD_INPUT, ["run", tiny_tflite, "--adb-server", private_adb, "--virtual-profile", profile,
            "--results", tmp_path / "r"], "'thermal.turbo' is not a known key")  # fmt: skip
    assert adb.device_states(private_adb) == {}
    assert not any((tmp_path / "r").glob("*"))


# Results ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished run directory as `squeezebench run` leaves it (made through the store's API)."""
    return build_run(tmp_path_factory.mktemp("results"), "2026-01-01T000000Z-done", [PIXEL], [DIGITS]).root


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda d: {**d, "schema_version": 99}, "schema_version 99 is newer than this squeezebench understands"),
        (lambda d: {**d, "kind": "something.else"}, "not a squeezebench.run document"),
        (lambda d: {**d, "cells": {"not": "a list"}}, "'cells' is missing or not a list"),
        (lambda d: {**d, "cells": [{**d["cells"][0], "dir": None}]}, "cell 0 lacks one of"),
        (lambda d: {**d, "cells": [{**d["cells"][0], "dir": "../../../../etc"}]}, "points outside the run directory"),
    ],
)
def test_a_damaged_or_newer_results_file_is_refused_and_left_as_it_is(finished_run, tmp_path, damage, fragment):
    run_dir = tmp_path / finished_run.name
    shutil.copytree(finished_run, run_dir)
    document = damage(json.loads((run_dir / "run.json").read_text()))
    (run_dir / "run.json").write_text(json.dumps(document))
    before = (run_dir / "run.json").read_bytes()
    refused(ExitCode.BAD_INPUT, ["report", run_dir, "--format", "md"], fragment)
    refused(ExitCode.BAD_INPUT, ["run", "--resume", run_dir], fragment)
    assert (run_dir / "run.json").read_bytes() == before


def test_a_truncated_results_file_is_refused(finished_run, tmp_path):
    run_dir = tmp_path / finished_run.name
    shutil.copytree(finished_run, run_dir)
    text = (run_dir / "run.json").read_text()
    (run_dir / "run.json").write_text(text[: len(text) // 2])
    refused(ExitCode.BAD_INPUT, ["run", "--resume", run_dir], "not valid JSON", "corrupt or truncated")


def test_a_directory_that_is_not_a_run_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("x")
    for args in (["report", tmp_path / "empty"], ["run", "--resume", tmp_path / "empty"]):
        refused(ExitCode.BAD_INPUT, args, "is not a squeezebench run (no run.json)")
    refused(ExitCode.BAD_INPUT, ["run", "--resume", tmp_path / "a-file"], "no run directory")
    refused(ExitCode.BAD_INPUT, ["run", "--resume", "no-such-run", "--results", tmp_path], "no run 'no-such-run'")


# Devices ------------------------------------------------------------------------------------


def test_an_unknown_serial_is_refused_naming_the_connected_ones(device, tiny_tflite, tmp_path):
    done = run_cli("bench", tiny_tflite, "--device", "no-such-phone")  # once in a real process
    one_line_error(done.returncode, done.stderr, ExitCode.DEVICE, "no device 'no-such-phone'", device.serial)
    refused(ExitCode.DEVICE, ["run", tiny_tflite, "--devices", "no-such-phone", "--results", tmp_path],
            "no device 'no-such-phone'")  # fmt: skip
    assert not list(tmp_path.iterdir())


def test_unauthorized_and_offline_devices_are_refused_with_the_fix(
    private_adb, virtual_devices, tiny_tflite, tmp_path
):
    [locked] = virtual_devices(1, adb_server=private_adb, unauthorized=True)
    server = ["--adb-server", private_adb]
    refused(ExitCode.DEVICE, ["bench", tiny_tflite, "--device", locked.serial, *server],
            "device is unauthorized", "accept the 'Allow USB debugging' prompt")  # fmt: skip
    refused(ExitCode.DEVICE, ["run", tiny_tflite, "--devices", locked.serial, *server, "--results", tmp_path],
            "device is unauthorized")  # fmt: skip
    # The only device needs its owner: not a virtual device started in its place.
    refused(ExitCode.DEVICE, ["run", tiny_tflite, *server, "--results", tmp_path],
            f"{locked.serial} is unauthorized, and no other device is connected")  # fmt: skip
    assert not list(tmp_path.iterdir())

    [gone] = virtual_devices(1, adb_server=private_adb)
    kill_daemon(gone)
    wait_for(lambda: adb.device_states(private_adb).get(gone.serial) == "offline", "the server to list it offline")
    refused(ExitCode.DEVICE, ["bench", tiny_tflite, "--device", gone.serial, *server],
            "device is offline", "reconnect")  # fmt: skip


# Options ------------------------------------------------------------------------------------


def test_conflicting_options_are_refused(finished_run, tiny_tflite, private_adb, tmp_path):
    before = (finished_run / "run.json").read_bytes()
    refused(ExitCode.USAGE, ["run", "--resume", finished_run, tiny_tflite], "drop MODEL")
    refused(ExitCode.USAGE, ["run", "--resume", finished_run, "--runs", "9", "--levels", "fp32"],
            "drop --levels, --runs")  # fmt: skip
    assert (finished_run / "run.json").read_bytes() == before
    refused(ExitCode.USAGE, ["run", "--delegates", "auto,gpu", tiny_tflite], "unknown delegate 'auto'")
    refused(ExitCode.USAGE, ["bench", tiny_tflite, "--threads", "0"], "'0' is not a positive integer")
    refused(ExitCode.USAGE, ["virtual", "stop", "--all", "127.0.0.1:6520"], "not both")
    refused(ExitCode.USAGE, ["run"], "no model given")
    refused(ExitCode.DEVICE, ["run", tiny_tflite, "--no-virtual", "--adb-server", private_adb, "--results", tmp_path],
            f"no device on adb server {private_adb}")  # fmt: skip
    assert not list(tmp_path.iterdir())


@pytest.mark.slow  # a sweep
def test_json_with_quiet_prints_the_json_and_nothing_else(device, tiny_tflite, tmp_path):
    """Not a conflict: --quiet silences the human output, --json is the output asked for."""
    done = run_cli("run", tiny_tflite, "--devices", device.serial, "--no-report", "--json", "--quiet", "--results",
                   tmp_path, *FAST_ARGS)  # fmt: skip
    assert done.returncode == 0 and done.stderr == ""
    assert json.loads(done.stdout)["counts"] == {"ok": 1}
