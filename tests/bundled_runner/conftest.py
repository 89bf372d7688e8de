"""Fixtures for the bundled runner's tests: a small real .tflite, and a
helper that runs the runner the way devices do (a copy of the one file, stdout+stderr merged)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.bench.logparse import ParsedLog, parse_benchmark_log
from harness.bundled_runner import RUNNER_PATH
from tests.support.tflite_models import SMALL


@pytest.fixture(scope="session")
def small_model(tmp_path_factory) -> Path:
    """Two convolutions and a dense layer on a 64x64x3 float input: a few hundred µs per run,
    enough for timing-based switches to stand out from noise; written without TensorFlow."""
    return SMALL.write(tmp_path_factory.mktemp("models") / "small.tflite")


@pytest.fixture(scope="session")
def device_runner(tmp_path_factory) -> Path:
    """The runner as pushed to a device: the one file, copied alone, under its device name."""
    path = tmp_path_factory.mktemp("device") / "benchmark_model"
    shutil.copyfile(RUNNER_PATH, path)
    return path


@dataclass
class RunnerRun:
    returncode: int
    output: str

    @property
    def parsed(self) -> ParsedLog:
        return parse_benchmark_log(self.output)


@pytest.fixture
def run_runner(device_runner):
    def run(*flags: str, timeout_s: float = 120) -> RunnerRun:
        result = subprocess.run(
            [sys.executable, str(device_runner), *flags],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout_s, check=False,
        )
        return RunnerRun(result.returncode, result.stdout.decode("utf-8", errors="replace"))

    return run
