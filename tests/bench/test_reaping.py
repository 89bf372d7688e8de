"""The reaping of a dead squeezebench's agents (harness/bench/agent.py) against what runs beside
it: toybox's own `pgrep -f` (the matching `pkill -f` does) on real processes of this host, whose
command lines are those a device's shell would have."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from harness.bench.agent import REAPED_COMMAND_LINES, agent_argv
from harness.bench.settings import BenchSettings
from harness.device.connection import held_files_script, quote_command
from harness.device.workdir import AGENT_PATH, MODELS_DIR, RUNNER_DIR

RUNNER = f"{RUNNER_DIR}/benchmark_model.py"
MODEL = f"{MODELS_DIR}/0123456789abcdef/fp32.tflite"


def matched(command_line: str) -> list[bool]:
    """Whether each reaping pattern matches a live process with this text in its command line."""
    toybox = shutil.which("toybox")
    if toybox is None:
        pytest.fail("toybox is not installed (./scripts/setup installs it)")
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "sh", "-c", command_line])
    try:
        return [str(process.pid) in subprocess.run([toybox, "pgrep", "-f", pattern], capture_output=True,
                                                   text=True).stdout.split()
                for pattern in REAPED_COMMAND_LINES]
    finally:
        process.kill()
        process.wait()


def test_the_file_check_beside_the_reaping_is_not_reaped():
    assert matched(held_files_script([AGENT_PATH, RUNNER, MODEL])) == [False, False]


def test_an_agent_and_its_runner_are_reaped():
    settings = BenchSettings(threads=1, delegate="cpu")
    runner_argv = ["/system/bin/python3", RUNNER, f"--graph={MODEL}"]
    assert matched(quote_command(agent_argv(settings, "/data/local/tmp/squeezebench/cells/x", runner_argv))) == [True, True]
    assert matched(quote_command(runner_argv)) == [False, True]
