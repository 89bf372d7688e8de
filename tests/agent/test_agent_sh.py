"""android_app/agent.sh under dash, posh and mksh with toybox as the only userland: what a run records
(energy, rails, the device's state, repeats) and its options. How runs end, and the cool-down before
them: test_agent_sh_endings.py."""

from __future__ import annotations

import subprocess

import numpy
import pytest

from harness.bench.agent_result import AGENT_VERSION, parse_energy_samples
from harness.bench.energy import compute_energy
from harness.bench.energy_rails import parse_rail_energy_mws
from harness.bench.energy_window import mean_over
from tests.agent.support import AGENT, IDLE_CURRENT_UA, SHELLS, VOLTAGE_UV, shell_path

# Arguments a shell would mangle if the agent ever evaluated or split them.
TRICKY_ARGS = ["/data/local/tmp/my model.tflite", "--graph=it's \"quoted\"", "a;b", "$(touch pwned)",
               "`touch pwned`", "${HOME}", "*", "modèle-é-日本", "  two  spaces  ", "", "-n", "line\nbreak"]
LOAD_CURRENT_UA = -450_000
LOAD_S = 1.5


@pytest.mark.parametrize("shell", SHELLS)
def test_a_run_is_recorded_and_its_energy_computes(device, shell):
    run = device.run_agent(
        shell, ["load", *TRICKY_ARGS], "--idle-baseline-s", "0.8", "--sample-interval-ms", "50",
        env={"LOAD_CURRENT": str(LOAD_CURRENT_UA), "LOAD_S": str(LOAD_S)},
    )

    assert run.returncode == 0, run.stderr
    assert run.leftovers == []
    assert (run.out / "done").read_text() == "ok\n"
    assert not (run.out / ".agent-tmp").exists()
    assert not (device.root / "pwned").exists()
    assert device.runner_argv() == TRICKY_ARGS
    result = run.result
    assert result.version == AGENT_VERSION
    assert shell in result.shell
    assert result.runner.status == "ok" and result.runner.exit_code == 0 and result.runner.signal is None
    # runner.argv is for the record; newlines become spaces, everything else survives quoting.
    recorded = [arg.replace("\n", " ") for arg in TRICKY_ARGS]
    assert result.runner.argv[1:] == ("load", *recorded)
    assert result.runner.process_group == "own"
    assert result.start_uptime_s <= result.runner.start_uptime_s < result.runner.end_uptime_s <= result.end_uptime_s
    assert "Inference timings in us" in (run.out / "runner.log").read_text()
    for state in (result.before, result.after):
        assert [cpu.index for cpu in state.cpus] == [0, 1, 2, 3]
        assert state.cpus[0].online is None and state.cpus[1].online is True
        assert state.cpus[2].governor == "schedutil" and state.cpus[3].max_freq_khz == 2_400_000
        assert state.battery.source == "battery" and state.battery.status == "Discharging"
        assert state.battery.temp_c == 30.0 and state.battery.voltage_now == VOLTAGE_UV
        assert state.thermal_status == 0
        assert state.external_power_online == ()
    assert result.cooldown.result == "not-requested"
    assert result.energy.source == "battery-gauge" and result.energy.gauge_path == "battery"
    assert result.extra == {}

    # The gauge samples and their time stamps integrate to the load's energy. (Whether such a
    # gauge's numbers are valid is harness/bench/energy.py's, tested in tests/bench/test_energy.py:
    # this fake gauge repeats one value, which a real one never does.)
    samples = parse_energy_samples((run.out / "energy.csv").read_text())
    assert {s.phase for s in samples} == {"idle", "run"}
    idle, run_points = ([(s.uptime_s, -s.current_now * s.voltage_now / 1e9) for s in samples if s.phase == phase]
                        for phase in ("idle", "run"))
    idle_mw = -IDLE_CURRENT_UA * VOLTAGE_UV / 1e9
    assert mean_over(idle, idle[0][0], idle[-1][0]) == pytest.approx(idle_mw, rel=1e-6)
    window_s = result.runner.end_uptime_s - result.runner.start_uptime_s
    run_mw = mean_over(run_points, result.runner.start_uptime_s, result.runner.end_uptime_s)
    # The load's energy, within what this run's own records allow: when the current really
    # switched, and how far apart the gauge samples around each switch were.
    step_w = (LOAD_CURRENT_UA - IDLE_CURRENT_UA) * -VOLTAGE_UV / 1e12
    switched_on, switched_off = current_switches(device)
    shortest_s, longest_s = switched_off[0] - switched_on[1], switched_off[1] - switched_on[0]
    unresolved_s = gauge_blind_s([s.uptime_s for s in samples if s.phase == "run"],
                                 (result.runner.start_uptime_s, result.runner.end_uptime_s), [switched_on, switched_off])
    measured_j = (run_mw - idle_mw) / 1000 * window_s
    lowest_j, highest_j = step_w * (shortest_s - unresolved_s), step_w * (longest_s + unresolved_s)
    assert lowest_j <= measured_j <= highest_j, (measured_j, lowest_j, highest_j, unresolved_s)


# /proc/uptime counts in hundredths: every time stamp is up to this much early.
UPTIME_RESOLUTION_S = 0.01


def current_switches(device) -> list[tuple[float, float]]:
    """(just before, just after) each change of the battery current by the fake runner."""
    lines = (device.state_dir / "current_switches").read_text().splitlines()
    return [tuple(map(float, line.split())) for line in lines]


def gauge_blind_s(stamps: list[float], window: tuple[float, float], switches: list[tuple[float, float]]) -> float:
    """How much of `window` the gauge samples cannot tell apart from a load step at any moment of
    `switches`. The energy is the line through the samples, held flat past the first and the last;
    each sample read the current after its time stamp and before the next sample's. So a stretch
    between two samples is known exactly unless a switch falls between the first one's stamp and
    the stamp after the second one; the stretches near a switch are what the gauge cannot resolve."""
    start, end = window
    knots = sorted(stamps)
    after = [*knots[1:], float("inf"), float("inf")]
    blind_s = 0.0
    for i in range(-1, len(knots)):
        left = knots[i] if i >= 0 else start
        right = knots[i + 1] if i + 1 < len(knots) else end
        read_by = after[i + 1]  # the stamp after the one of the stretch's last sample
        near = any(before - UPTIME_RESOLUTION_S <= read_by and after_switch + UPTIME_RESOLUTION_S >= left
                   for before, after_switch in switches)
        if near:
            blind_s += max(0.0, min(right, end) - max(left, start))
    return blind_s


RAILS_IDLE_MW = {"[VSYS_PWR_SOC]:SoC": 300.0, "[S2M_VDD_CPUCL2]:CPU(BIG)": 20.0, "[VSYS_PWR_DISPLAY]:Display": 0.0}
RAILS_ACTIVE_MW = {"[VSYS_PWR_SOC]:SoC": 700.0, "[S2M_VDD_CPUCL2]:CPU(BIG)": 1200.0, "[VSYS_PWR_DISPLAY]:Display": 0.0}


def test_power_rails_are_dumped_and_preferred_even_while_charging(device):
    device.state["rails"] = {"idle_mw": RAILS_IDLE_MW, "active_mw": RAILS_ACTIVE_MW}
    device.write_battery(status="Charging", current_now=300_000)
    device.write_supply("usb", online=1)
    run = device.run_agent("dash", ["load", "m.tflite"], "--idle-baseline-s", "1",
                           env={"LOAD_CURRENT": "100000", "LOAD_S": "1"})

    result = run.result
    assert result.energy.source == "power-rails" and result.energy.rails_hal == "2.0"
    # Dumped also once the runner announced its measured runs (the fake runner's load is in them).
    dumps = ("idle_start", "run_start", "measured_start", "run_end")
    assert result.energy.rails_files == tuple(f"rails_{dump}.txt" for dump in dumps)
    assert set(result.energy.rails_uptime_s) == set(dumps)
    rails = {name: (run.out / name).read_text() for name in result.energy.rails_files}
    assert all("PowerStats HAL 2.0 energy meter" in text for text in rails.values())
    samples = parse_energy_samples((run.out / "energy.csv").read_text())
    assert result.before.external_power_online == ("usb",)

    # The measured runs' time as the runner would time them: the rails' window over them.
    measured_s = sum(result.energy.rails_uptime_s["run_end"]) / 2 - sum(result.energy.rails_uptime_s["measured_start"]) / 2
    energy = compute_energy(result, samples, rails, n_inferences=10, measured_s=measured_s, is_virtual=False,
                            charging_suspended=False)
    assert (energy.method, energy.validity) == ("power-rails", "valid"), energy.reason
    assert energy.rails == tuple(sorted(RAILS_IDLE_MW))
    # Exact counters, read at some moment of each dump (a Python start here), which the agent
    # brackets with the uptimes before and after it: the windows between dumps are known to within
    # those brackets, and so is the idle energy taken back out of the run.
    idle_mw = sum(RAILS_IDLE_MW.values())
    half_dump_s = {dump: (end - start) / 2 + UPTIME_RESOLUTION_S for dump, (start, end) in
                   result.energy.rails_uptime_s.items()}  # fmt: skip
    idle_window_s, run_window_s = energy.idle_duration_s, energy.inference_window_s
    idle_uncertain_s = half_dump_s["idle_start"] + half_dump_s["run_start"]
    assert energy.idle_power_mw == pytest.approx(idle_mw, abs=idle_mw * idle_uncertain_s / idle_window_s)
    load_start, load_end = map(float, (device.state_dir / "activity").read_text().split())
    extra_mw = sum(RAILS_ACTIVE_MW.values()) - idle_mw
    expected_j = extra_mw / 1000 * (load_end - load_start)
    run_uncertain_s = half_dump_s["measured_start"] + half_dump_s["run_end"] + idle_uncertain_s * run_window_s / idle_window_s
    # The HAL prints float32 counters: each is off by up to half a float32 step, plus the print's rounding.
    counters_mws = parse_rail_energy_mws(rails["rails_run_end.txt"]).values()
    counter_error_j = sum(float(numpy.spacing(numpy.float32(c))) / 2 + 0.005 for c in counters_mws) / 1000
    counted_error_j = counter_error_j * (2 + 2 * run_window_s / idle_window_s)
    timing_error_j = idle_mw / 1000 * run_uncertain_s
    assert energy.energy_per_inference_j * 10 == pytest.approx(expected_j, abs=timing_error_j + counted_error_j)
    # The battery gauge alone would have refused this run.
    gauge_only = compute_energy(result, samples, None, n_inferences=10, measured_s=measured_s, is_virtual=False,
                                charging_suspended=False)
    assert gauge_only.validity == "invalid: charging" and gauge_only.energy_per_inference_j is None


POWER_STATS = "android.hardware.power.stats.IPowerStats/default"


@pytest.mark.parametrize("shell", SHELLS)
def test_without_a_cooldown_the_thermal_status_is_read_once_per_snapshot(device, shell):
    device.state["thermal_status"] = [1, 0]
    run = device.run_agent(shell, ["ok"], "--idle-baseline-s", "0.3")

    assert device.dumpsys_calls().count("thermalservice") == 2  # before and after, nothing else
    assert run.result.cooldown.thermal_status_at_start == run.result.before.thermal_status == 1
    assert run.result.after.thermal_status == 0


@pytest.mark.parametrize("shell", SHELLS)
@pytest.mark.parametrize(("hint", "source", "power_stats_calls"), [
    (None, "power-rails", 4),  # probed, then dumped at idle start, run start and run end
    ("2.0", "power-rails", 3),  # known from an earlier run: dumped only
    # (and at the measured runs' start when the agent saw the runner announce them before it ended)
    ("none", "battery-gauge", 0),  # known to have none: not asked
])
def test_the_rails_hal_hint_replaces_the_probe(device, shell, hint, source, power_stats_calls):
    device.state["rails"] = {"idle_mw": RAILS_IDLE_MW, "active_mw": RAILS_ACTIVE_MW}
    options = ["--rails-hal", hint] if hint else []
    run = device.run_agent(shell, ["ok"], "--idle-baseline-s", "0.1", *options)  # a window to dump at its start

    assert run.returncode == 0, run.stderr
    assert run.result.energy.source == source
    seen_measured = "rails_measured_start.txt" in run.result.energy.rails_files
    assert device.dumpsys_calls().count(POWER_STATS) == power_stats_calls + seen_measured
    dumps = ("idle_start", "run_start") + ("measured_start",) * seen_measured + ("run_end",)
    expected_files = tuple(f"rails_{dump}.txt" for dump in dumps) if power_stats_calls else ()
    assert run.result.energy.rails_files == expected_files
    assert run.result.energy.rails_hal == (None if hint == "none" else "2.0")


def test_without_an_idle_baseline_there_is_no_idle_phase(device):
    device.state["rails"] = {"idle_mw": RAILS_IDLE_MW, "active_mw": RAILS_ACTIVE_MW}
    run = device.run_agent("mksh", ["ok"], "--idle-baseline-s", "0", "--rails-hal", "2.0",
                           "--sample-interval-ms", "20")

    assert run.result.energy.rails_files in (("rails_run_start.txt", "rails_run_end.txt"),
                                             ("rails_run_start.txt", "rails_measured_start.txt", "rails_run_end.txt"))
    assert not (run.out / "rails_idle_start.txt").exists()
    samples = parse_energy_samples((run.out / "energy.csv").read_text())
    assert samples and {s.phase for s in samples} == {"run"}


@pytest.mark.parametrize("shell", SHELLS)
def test_samplers_stop_at_once_rather_than_at_their_next_sample(device, shell):
    """A 20 s sample interval: waiting for the sampler's nap to end would hold the agent 20 s
    after the idle phase and again after the runner."""
    run = device.run_agent(shell, ["ok"], "--idle-baseline-s", "0.3", "--sample-interval-ms", "20000")

    assert run.returncode == 0, run.stderr
    assert run.leftovers == []
    result = run.result
    assert result.runner.start_uptime_s - result.start_uptime_s < 10
    assert result.end_uptime_s - result.runner.end_uptime_s < 10
    samples = parse_energy_samples((run.out / "energy.csv").read_text())
    assert [s.phase for s in samples] == ["idle", "run"]  # one each, whole lines


def test_without_sysfs_battery_dumpsys_battery_fills_in(device):
    for entry in device.battery_dir.iterdir():
        entry.unlink()
    device.battery_dir.rmdir()
    device.state["battery"] = {"level": 64, "status": 2, "temperature": 312, "usb": True, "updates_stopped": True}
    run = device.run_agent("mksh", ["ok"], "--idle-baseline-s", "0", "--cooldown-s", "1", "--cooldown-temp-c", "31")

    result = run.result
    battery = result.before.battery
    assert (battery.source, battery.capacity_pct, battery.status, battery.temp_c) == ("dumpsys", 64, "Charging", 31.2)
    assert battery.current_now is None and battery.updates_stopped is True
    assert "dumpsys-usb" in result.before.external_power_online
    assert result.energy.source == "none" and result.energy.samples_file is None
    assert not (run.out / "energy.csv").exists()
    assert result.cooldown.result == "timeout"  # 31.2 °C from BatteryService is above 31
    energy = compute_energy(result, [], None, n_inferences=10, measured_s=1.0, is_virtual=False, charging_suspended=None)
    assert (energy.method, energy.validity, energy.energy_per_inference_j) == (None, "invalid: no energy source", None)


def test_taskset_pins_the_runner(device):
    run = device.run_agent("posh", ["affinity"], "--idle-baseline-s", "0", "--taskset", "1")

    assert run.result.runner.taskset_mask == "1"
    assert "Cpus_allowed_list:\t0\n" in (run.out / "runner.log").read_text()


def test_a_rerun_in_the_same_directory_leaves_nothing_of_the_first(device):
    device.state["rails"] = {"idle_mw": RAILS_IDLE_MW, "active_mw": RAILS_ACTIVE_MW}
    first = device.run_agent("dash", ["ok"], "--idle-baseline-s", "0")
    assert (first.out / "rails_run_end.txt").exists()
    device.state["rails"] = None
    second = device.run_agent("dash", ["fail"], "--idle-baseline-s", "0")

    assert second.result.runner.status == "failed"
    assert sorted(p.name for p in second.out.iterdir()) == ["clocks.csv", "done", "energy.csv", "result.txt", "runner.log"]


@pytest.mark.parametrize(("arguments", "message"), [
    (["--out", "OUT", "--bogus", "--", "runner"], "unknown option '--bogus'"),
    (["--out", "OUT", "--cooldown-s", "soon", "--", "runner"], "--cooldown-s needs seconds like 2 or 0.5, got 'soon'"),
    (["--out", "OUT", "--cooldown-temp-c", "hot", "--", "runner"], "--cooldown-temp-c needs degrees Celsius"),
    (["--out", "OUT", "--taskset", "0xfg", "--", "runner"], "--taskset needs a hex CPU mask"),
    (["--out", "OUT", "--sample-interval-ms", "5", "--", "runner"], "at least 10"),
    (["--out", "OUT", "--", ], "no runner given after --"),
    (["--", "runner"], "--out DIR is required"),
    (["--out", "OUT", "--timeout-s"], "--timeout-s needs a value"),
    (["--out", "OUT", "--rails-hal", "3.0", "--", "runner"], "--rails-hal needs none, 1.0 or 2.0, got '3.0'"),
    (["--out", "OUT", "--repeat", "0", "--", "runner"], "--repeat must be at least 1"),
])
def test_bad_options_are_one_line_errors(device, arguments, message):
    out = device.root / "never"
    completed = subprocess.run(
        [shell_path("posh"), str(AGENT), *[str(out) if a == "OUT" else a for a in arguments]],
        env={"PATH": str(device.userland)}, capture_output=True, text=True, timeout=30,
    )

    assert completed.returncode == 2
    first_line = completed.stderr.splitlines()[0]
    assert first_line.startswith("agent.sh: error: ") and message in first_line
    assert not out.exists()


@pytest.mark.parametrize(("shell", "missing"), [("dash", "sleep"), ("posh", "kill")])
def test_a_missing_tool_is_named(device, tmp_path, shell, missing):
    empty_bin = tmp_path / "empty-bin"
    empty_bin.mkdir()
    completed = subprocess.run(
        [shell_path(shell), str(AGENT), "--out", str(tmp_path / "out"), "--", "runner"],
        env={"PATH": str(empty_bin)}, capture_output=True, text=True, timeout=30,
    )

    assert completed.returncode == 1
    assert completed.stderr == f"agent.sh: error: '{missing}' is missing: the agent needs it from the shell or toybox\n"


@pytest.mark.parametrize("shell", SHELLS)
def test_repeated_runs_each_leave_their_log_and_the_device_after_them(device, shell):
    cap = device.sysroot / "sys/devices/system/cpu/cpu2/cpufreq/scaling_max_freq"
    cap.write_text("1200000\n")
    run = device.run_agent(shell, ["ok", "m.tflite"], "--idle-baseline-s", "0", "--repeat", "3")

    assert run.returncode == 0, run.stderr
    result = run.result
    assert (result.runner.repeat, result.runner.runs) == (3, 3)
    assert [r.index for r in result.runs] == [1, 2, 3] and all(r.status == "ok" for r in result.runs)
    for record in result.runs:
        assert result.runner.start_uptime_s <= record.start_uptime_s <= record.end_uptime_s <= result.runner.end_uptime_s
        assert record.state.cpus[2].scaling_max_khz == 1_200_000 and record.state.cpus[1].scaling_max_khz is None
        assert (run.out / record.state.thermal_dump).is_file()
    for directory in (run.out, run.out / "run_2", run.out / "run_3"):
        assert "Inference timings in us" in (directory / "runner.log").read_text()
    assert result.extra == {}


def test_repeats_stop_at_the_first_failed_run(device):
    run = device.run_agent("dash", ["fail", "m.tflite"], "--idle-baseline-s", "0", "--repeat", "3")

    result = run.result
    assert result.runner.status == "failed" and result.runner.runs == 1
    assert [r.status for r in result.runs] == ["failed"]
    assert not (run.out / "run_2").exists()
