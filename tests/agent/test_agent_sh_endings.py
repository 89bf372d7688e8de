"""android_app/agent.sh under dash, posh and mksh with toybox as the only userland: how a run ends
(crashes, hangs, timeouts, signals) and the cool-down before it. In a file of its own beside
test_agent_sh.py so that a suite run spreads the two over its workers: most of their time is the
agent's own waiting."""

from __future__ import annotations

import signal

import pytest

from tests.agent.support import SHELLS, finish
from tests.support.polling import wait_for


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(
    ("mode", "timeout_s", "status", "exit_code", "signal_number"),
    [("crash", 0, "killed", 139, 11),
     # ignores TERM: killed after the agent's grace period, 3 s in all
     pytest.param("stubborn", 1, "timeout", 137, 9, marks=pytest.mark.slow)],
)
def test_crashes_and_hangs_end_with_the_right_status(device, shell, mode, timeout_s, status, exit_code,
                                                    signal_number):
    run = device.run_agent(shell, [mode], "--idle-baseline-s", "0", "--timeout-s", str(timeout_s))

    assert run.returncode == 0, run.stderr
    assert run.leftovers == []
    runner = run.result.runner
    assert (runner.status, runner.exit_code, runner.signal) == (status, exit_code, signal_number)
    assert runner.timeout_s == timeout_s
    assert (run.out / "done").read_text() == f"{status}\n"


@pytest.mark.parametrize(
    ("mode", "timeout_s", "status", "exit_code", "log_text"),
    [
        ("fail", 0, "failed", 3, "Could not open"),
        ("hang", 1, "timeout", 143, "started"),
        ("daemon", 0, "ok", 0, "Inference timings"),
    ],
)
def test_failures_timeouts_and_stray_children(device, mode, timeout_s, status, exit_code, log_text):
    run = device.run_agent("dash", [mode, "model.tflite"], "--idle-baseline-s", "0", "--timeout-s", str(timeout_s))

    assert run.leftovers == []  # "daemon" left a sleep behind in its process group
    assert (run.result.runner.status, run.result.runner.exit_code) == (status, exit_code)
    assert log_text in (run.out / "runner.log").read_text()


def test_a_missing_runner_is_a_failed_run(device):
    run = device.run_agent("dash", [], "--idle-baseline-s", "0", runner=device.root / "no such runner")

    assert run.returncode == 0, run.stderr
    assert (run.result.runner.status, run.result.runner.exit_code) == ("failed", 127)


@pytest.mark.parametrize(("shell", "sent", "agent_exit", "mode", "runner_exit"), [
    ("dash", signal.SIGTERM, 143, "stubborn", 137),  # ignores TERM: KILL after the grace period
    ("posh", signal.SIGTERM, 143, "hang", 143),
    ("mksh", signal.SIGTERM, 143, "hang", 143),
    ("dash", signal.SIGHUP, 129, "hang", 143),
])
def test_a_signal_to_the_agent_stops_everything_and_keeps_the_record(device, shell, sent, agent_exit, mode,
                                                                     runner_exit):
    process = device.run_agent(shell, [mode], "--idle-baseline-s", "0", wait=False)
    wait_for_text(process.out / "runner.log", "started")
    process.send_signal(sent)
    run = finish(process)

    assert run.returncode == agent_exit, run.stderr
    assert run.leftovers == []
    result = run.result
    assert result.interrupted == sent.name.removeprefix("SIG")
    assert result.runner.status == "killed" and result.runner.exit_code == runner_exit
    assert result.after.battery.status == "Discharging"  # the after snapshot was still taken
    assert (run.out / "done").read_text() == "killed\n"


@pytest.mark.parametrize("shell", SHELLS)
def test_a_signal_before_the_runner_starts_leaves_it_not_run(device, shell):
    process = device.run_agent(shell, ["ok"], "--idle-baseline-s", "30", "--sample-interval-ms", "50", wait=False)
    wait_for_text(process.out / "energy.csv", ",idle,")
    process.send_signal(signal.SIGTERM)
    run = finish(process)

    assert run.returncode == 143, run.stderr
    assert run.leftovers == []
    assert (run.result.runner.status, run.result.runner.exit_code) == ("not-run", None)
    assert run.result.cooldown.result == "not-requested" and run.result.after.uptime_s is not None
    assert not (device.state_dir / "argv").exists()  # the runner never ran
    assert (run.out / "done").read_text() == "not-run\n"


def test_a_signal_during_cooldown_is_recorded(device):
    device.state["thermal_status"] = [3]
    process = device.run_agent("mksh", ["ok"], "--cooldown-s", "60", wait=False)
    wait_for_text(process.out / "result.txt", "cooldown.battery_temp_dC_at_start=")
    process.send_signal(signal.SIGTERM)
    run = finish(process)

    assert run.returncode == 143 and run.leftovers == []
    assert run.result.cooldown.result == "interrupted" and run.result.runner.status == "not-run"


def test_cooldown_waits_for_thermal_status_zero(device):
    device.state["thermal_status"] = [2, 2, 2, 0]  # the first call is the `before` snapshot
    run = device.run_agent("dash", ["ok"], "--idle-baseline-s", "0", "--cooldown-s", "30")

    cooldown = run.result.cooldown
    assert cooldown.result == "cool"
    assert cooldown.thermal_status_at_start == 2 and cooldown.thermal_status_at_end == 0
    assert cooldown.waited_s >= 1.0  # polled once a second until status 0 (third poll)
    assert run.result.before.thermal_status == 2 and run.result.after.thermal_status == 0


def test_cooldown_gives_up_after_its_limit(device):
    device.state["thermal_status"] = [3]
    run = device.run_agent("mksh", ["ok"], "--idle-baseline-s", "0", "--cooldown-s", "0.5")

    cooldown = run.result.cooldown
    assert (cooldown.result, cooldown.requested_s, cooldown.thermal_status_at_end) == ("timeout", 0.5, 3)
    assert cooldown.waited_s >= 0.5
    assert run.result.runner.status == "ok"  # the run happens anyway; the host flags it


@pytest.mark.parametrize(("limit_c", "result"), [("29.9", "timeout"), ("30.1", "cool")])
def test_cooldown_gates_on_battery_temperature(device, limit_c, result):
    run = device.run_agent("posh", ["ok"], "--idle-baseline-s", "0", "--cooldown-s", "1",
                           "--cooldown-temp-c", limit_c)

    cooldown = run.result.cooldown
    assert cooldown.result == result
    assert cooldown.temp_limit_c == float(limit_c)
    assert cooldown.battery_temp_c_at_start == 30.0


def test_cooldown_is_recorded_when_not_requested(device):
    device.state["thermal_status"] = [4]
    run = device.run_agent("dash", ["ok"], "--idle-baseline-s", "0")

    cooldown = run.result.cooldown
    assert (cooldown.result, cooldown.waited_s, cooldown.thermal_status_at_start) == ("not-requested", 0.0, 4)


def wait_for_text(path, text, limit_s=30.0):
    wait_for(lambda: path.exists() and text in path.read_text(), f"{text!r} in {path}", timeout_s=limit_s, interval_s=0.05)
