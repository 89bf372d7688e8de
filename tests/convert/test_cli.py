"""`squeezebench convert` as a user runs it: the table, --json, exit codes, and every bad input
giving a one-line error with its documented exit code, no traceback, and nothing left behind."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tests.support.cli import one_line_error, run_cli, run_cli_in_process

from harness.errors import ExitCode

pytestmark = pytest.mark.slow


def test_missing_model_path(tmp_path):
    result = run_cli("convert", str(tmp_path / "nope.keras"), "--out", str(tmp_path / "out"))
    one_line_error(result.returncode, result.stderr, ExitCode.BAD_INPUT, "not found", "digits-cnn")
    assert not (tmp_path / "out").exists()


def test_unknown_level_name_lists_the_valid_ones(tmp_path):
    result = run_cli("convert", "digits-cnn", "--levels", "fp32,int4", "--out", str(tmp_path / "out"))
    one_line_error(result.returncode, result.stderr, ExitCode.USAGE, "unknown level 'int4'", "valid levels: fp32, fp16")
    assert not (tmp_path / "out").exists()


def test_corrupt_keras_file_in_a_real_process(tmp_path):
    model = tmp_path / "broken.keras"
    model.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    result = run_cli("convert", str(model), "--levels", "fp32", "--quiet", "--out", str(tmp_path / "out"))
    one_line_error(result.returncode, result.stderr, ExitCode.BAD_INPUT, f"cannot load {model} as a Keras .keras model")
    assert not (tmp_path / "out").exists()


def run_main(*args: str) -> tuple[int, str, str]:
    done = run_cli_in_process("convert", *args)
    return done.returncode, done.stdout, done.stderr


def assert_main_error(args, exit_code, *fragments):
    code, out, err = run_main(*args)
    one_line_error(code, err, exit_code, *fragments)
    assert out == ""


def test_corrupt_h5_and_unreadable_tflite_files(tmp_path, custom_op_tflite_file, tflite_file):
    h5 = tmp_path / "broken.h5"
    h5.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    assert_main_error([str(h5), "--quiet", "--out", str(tmp_path / "a")], ExitCode.BAD_INPUT, "cannot load")
    not_tflite = tmp_path / "text.tflite"
    not_tflite.write_text("hello")
    assert_main_error(
        [str(not_tflite), "--quiet", "--out", str(tmp_path / "b")], ExitCode.BAD_INPUT, "no TFL3 identifier"
    )
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(tflite_file.read_bytes()[:600])
    assert_main_error(
        [str(truncated), "--quiet", "--out", str(tmp_path / "c")], ExitCode.BAD_INPUT, "truncated or corrupt"
    )
    assert_main_error(
        [str(custom_op_tflite_file), "--quiet", "--out", str(tmp_path / "d")],
        ExitCode.BAD_INPUT,
        "LiteRT rejects this .tflite",
        "Erf",
    )
    assert not any((tmp_path / name).exists() for name in "abcd")


def test_npz_that_does_not_fit(tmp_path, h5_file):
    missing = tmp_path / "missing.npz"
    np.savez(missing, pictures=np.zeros((2, 8, 8, 1)))
    assert_main_error(
        [str(h5_file), "--data", str(missing), "--out", str(tmp_path / "a")], ExitCode.BAD_INPUT, "x_calib"
    )
    wrong_shape = tmp_path / "wrong.npz"
    np.savez(wrong_shape, x_calib=np.zeros((2, 28, 28), np.float32))
    assert_main_error(
        [str(h5_file), "--data", str(wrong_shape), "--quiet", "--out", str(tmp_path / "b")],
        ExitCode.BAD_INPUT,
        "x_calib has shape (2, 28, 28)",
        "(N, 8, 8, 1)",
    )
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_bad_jobs_value(tmp_path, h5_file):
    assert_main_error([str(h5_file), "--jobs", "0", "--out", str(tmp_path)], ExitCode.USAGE, "--jobs", "not a positive integer")


def test_table_names_random_calibration_and_skipped_levels(tmp_path, h5_file):
    code, out, err = run_main(
        str(h5_file), "--levels", "fp32,int8,distilled", "--random-calibration", "--out", str(tmp_path)
    )
    assert code == ExitCode.PARTIAL
    assert "RANDOM CALIBRATION (--random-calibration)" in out
    assert "calibration RANDOM (64 samples)" in out
    assert "distilled: skipped: needs training data" in out
    rows = {line.split()[0]: line.split() for line in out.splitlines() if line.startswith(("fp32 ", "int8 "))}
    assert rows["fp32"][1] == "ok" and rows["int8"][1] == "ok"
    assert f"saved: {tmp_path / 'convert.json'}" in out
    assert "squeezebench: int8: converting" in err or "squeezebench: int8: cached" in err


def test_json_output_is_the_saved_document_and_the_default_out_dir(tmp_path, h5_file, monkeypatch):
    monkeypatch.setenv("SQUEEZEBENCH_RESULTS", str(tmp_path / "results"))
    code, out, err = run_main(str(h5_file), "--levels", "fp32,fp16", "--json", "--quiet")
    assert code == ExitCode.OK and err == ""
    saved = tmp_path / "results" / "convert-tiny" / "convert.json"
    assert json.loads(out) == json.loads(saved.read_text())
    assert (saved.parent / "fp16.tflite").is_file()
