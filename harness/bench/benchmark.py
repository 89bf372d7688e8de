"""One model on one device: push what is missing, run the agent, pull the raw output, measure.

Every outcome ends in a `BenchResult` (bench.json) with a status and a reason; the raw runner
output, agent result and energy samples are kept beside it (harness/store/cell_files.py).
Nothing is made up: a number the raw material cannot support is None, with the reason.

The measured pass is one runner process, or several back to back under one agent (`--repeat N`
for between-run noise, or a sustained run's intervals). After it, when asked: the op-profiling
pass (harness/bench/profile_pass.py) and the outputs checked on the device (output_pass.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from harness.background import alongside
from harness.bench.agent import new_cell_dir, pulled_agent_output, reaping_script, run_agent
from harness.bench.agent_result import AgentResultError, parse_agent_result, parse_energy_samples
from harness.bench.clocks import clocks_of_run
from harness.bench.conditions import run_conditions
from harness.bench.energy import IdleBaseline, PowerConditions, compute_energy, not_measured
from harness.bench.energy_window import INVALID_BORROWED_BASELINE
from harness.bench.logparse import parse_benchmark_log
from harness.bench.outcome import cell_flags, classify_outcome, extra_flags, tail
from harness.bench.presets import check_preset
from harness.bench.runs import pooled_latency, read_runs, repeats_record
from harness.bench.session import DeviceSession, FileToPush, LentBaseline
from harness.bench.settings import BenchSettings
from harness.digests import sha256_file
from harness.errors import DeviceError, DeviceGoneError
from harness.jsonfile import write_json_atomic
from harness.store import cell_files
from harness.device.cpus import ONLINE_CPUS_PATH, check_taskset
from harness.store.records import BenchResult, CellStatus, Measurements, RunnerRef, Thermal

# What a peak measured in its own pass is (benchmark_model's periodic VmRSS monitor).
PEAK_LABEL = "CPU-side RSS, own pass"
AGENT_OUTPUT_TAIL_CHARS = 2000


def run_benchmark(
    session: DeviceSession,
    model_path: Path,
    settings: BenchSettings,
    out_dir: Path,
    *,
    model_info: dict | None = None,
    cell_id: str | None = None,
    check_data=None,
) -> BenchResult:
    """Benchmark one model file on one device; always returns (and writes) a BenchResult.
    `cell_id` names the benchmark where its idle baseline is lent to later ones; `check_data`
    (harness.bench.output_pass.CheckData): real inputs to check the outputs with on the device."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sha256 = (model_info or {}).get("sha256") or sha256_file(model_path)
    result = _new_result(session, model_path, sha256, settings, model_info)
    timing: dict[str, float] = {}
    try:
        started = time.monotonic()
        remote_model = session.model_device_path(model_path, sha256)
        if settings.taskset:  # refused before anything on the device is changed
            check_taskset(settings.taskset, session.device.shell(["cat", ONLINE_CPUS_PATH], check=False).stdout)
        # A note of charging left suspended (or the screen kept on) by a squeezebench that died is
        # only taken up while this session holds none of its own (harness/device/charging.py).
        reaping = reaping_script(restore_charging=not session.charging_held,
                                 restore_stay_awake=not session.stay_awake_held)
        session.ensure_files([*session.tool_files(), FileToPush(model_path, remote_model, sha256)],
                             while_pushing=lambda: session.prepare_device(reaping))
        timing["push_s"] = time.monotonic() - started
        argv = _runner_argv(session, settings.runner_flags(), remote_model)
        result = replace(result, runner={**result.runner, "argv": argv, "graph": remote_model})
        result = _run_and_measure(session, settings, argv, out_dir, result, timing, cell_id)
        if result.ok:
            result = _extra_passes(session, settings, model_path, remote_model, out_dir, result, timing,
                                   check_data, (model_info or {}).get("level"))
    except DeviceGoneError as e:
        result = result.failed(CellStatus.DEVICE_LOST, e.one_line())
    except DeviceError as e:
        result = result.failed(CellStatus.FAILED, e.one_line())
    finally:
        if not session.keep_charging_suspended:
            session.restore_held()  # put back already while the output was read, unless it failed before
    result = replace(result, timing=timing)
    write_json_atomic(out_dir / cell_files.BENCH_FILE, result.to_dict())
    return result


def _new_result(session, model_path, sha256, settings, model_info) -> BenchResult:
    return BenchResult(
        status=CellStatus.RUNNING,
        reason=None,
        model={
            "file": Path(model_path).name,
            "path": str(model_path),
            "sha256": sha256,
            "size_bytes": Path(model_path).stat().st_size,
            **(model_info or {}),
        },
        settings=settings.to_dict(),
        runner={**session.runner.to_dict(), "argv": None, "graph": None},
        device=session.passport.to_dict(),
    )


def _runner_argv(session: DeviceSession, flags: list[str], remote_model: str) -> list[str]:
    argv = session.runner_argv() + [f"--graph={remote_model}"] + flags
    if session.runner.kind == "bundled-litert-python":
        # Relative: the agent starts each run in its own directory (android_app/agent.sh).
        argv.append(f"--squeezebench_latencies_file={cell_files.LATENCIES_FILE}")
    return argv


def _run_and_measure(session, settings, runner_argv, out_dir, result, timing, cell_id) -> BenchResult:
    session.hold_charging_suspended(settings.suspend_charging)
    borrowed = session.baseline_to_borrow(settings)
    agent_settings = replace(settings, idle_baseline_s=0) if borrowed else settings
    agent_started_s = time.monotonic()
    agent, device_dir = _run_agent(session, agent_settings, runner_argv, timing, "")
    # Charging and the screen are put back while the output is pulled and read: on a phone
    # `settings` is a Java program of 0.1-0.3 s, longer than the pull and the parsing together.
    with alongside(None if session.keep_charging_suspended else session.restore_held):
        with _pulled_output(session, device_dir, out_dir, timing, ""):
            return _read_output(session, settings, out_dir, result, agent, borrowed, agent_started_s, cell_id)


def _read_output(session, settings, out_dir, result, agent, borrowed, agent_started_s, cell_id) -> BenchResult:
    if not (out_dir / cell_files.DONE_FILE).exists():
        output = tail(agent.stderr or agent.stdout, AGENT_OUTPUT_TAIL_CHARS)
        return result.failed(CellStatus.FAILED, f"agent did not finish (exit {agent.exit_code}): {output}")
    try:
        agent_result = parse_agent_result(cell_files.read_text(out_dir, cell_files.AGENT_RESULT_FILE))
    except AgentResultError as e:  # an agent or device this version does not understand: this cell fails
        return result.failed(CellStatus.FAILED, e.one_line())
    result, energy = _measured(result, session, settings, out_dir, agent_result, borrowed)
    _learn_from(session, settings, agent_result, energy, borrowed, agent_started_s, cell_id or result.created_utc)
    return result


def _run_agent(session: DeviceSession, settings: BenchSettings, runner_argv: list[str], timing: dict,
               prefix: str):
    """The agent run once in a new cell directory on the device: its shell result and that directory."""
    device_dir = new_cell_dir()
    started = time.monotonic()
    agent = run_agent(session.device, settings, device_dir, runner_argv, rails_hal=session.rails_hal)
    timing[f"{prefix}agent_s"] = time.monotonic() - started
    return agent, device_dir


@contextmanager
def _pulled_output(session: DeviceSession, device_dir: str, out_dir: Path, timing: dict, prefix: str) -> Iterator[None]:
    started = time.monotonic()
    with pulled_agent_output(session.device, device_dir, out_dir):
        timing[f"{prefix}pull_s"] = time.monotonic() - started
        yield


def _measured(result: BenchResult, session: DeviceSession, settings: BenchSettings, out_dir: Path,
              agent_result, borrowed):
    """The result with everything the raw material supports, and the energy (to learn from)."""
    runs = read_runs(out_dir, agent_result)
    last = runs[-1]
    runner = agent_result.runner
    status, reason = classify_outcome(runner.status, runner.exit_code, runner.timeout_s, list(last.parsed.errors),
                                      last.parsed.complete, last.log_text)
    first = runs[0].parsed
    latency = pooled_latency(runs)
    energy_of = _energy_function(session, settings, out_dir, agent_result, borrowed)
    energy = _energy_of_runs(energy_of, agent_result, runs)
    thermal = _thermal(agent_result)
    sustained = _sustained(session, settings, out_dir, runs, agent_result, energy_of) if settings.sustained_s else None
    clocks = clocks_of_run(agent_result, cell_files.read_text(out_dir, cell_files.CLOCKS_FILE), settings.taskset)
    conditions = run_conditions(agent_result, settings, session.passport.build.get("sdk"))
    flags = (cell_flags(session.passport, settings.delegate, latency, energy, thermal, first.delegation)
             + extra_flags(clocks, conditions))
    preset = check_preset(settings.preset, latency) if settings.preset else None
    if sustained is not None and sustained.throttled and "throttled" not in flags:
        flags += ("throttled",)
    if preset is not None and not preset.met:
        flags += ("preset-not-met",)
    measurements = Measurements(
        latency_us=latency,
        warmup_us=first.warmup_us,
        init_us=first.init_us,
        first_inference_us=first.first_inference_us,
        memory_mb=first.memory_mb,
        energy=energy,
        delegation=first.delegation,
        thermal=thermal,
        flags=flags,
        runner=RunnerRef.from_dict(result.runner),
        clocks=clocks,
        conditions=conditions,
        repeats=repeats_record(runs) if settings.repeat > 1 else None,
        sustained=sustained,
        preset=preset,
    )
    measured = replace(
        result, status=status, reason=reason, measurements=measurements, parsed=first.to_dict(),
        agent=agent_result.to_dict(), raw=cell_files.raw_files_present(out_dir),
    )  # fmt: skip
    return measured, energy


def _energy_function(session, settings, out_dir, agent_result, borrowed):
    """energy(agent result with its runner window, the run whose measured runs end that window,
    with rails or not) for this benchmark's samples."""
    text = cell_files.read_text(out_dir, cell_files.ENERGY_SAMPLES_FILE)
    try:
        samples = parse_energy_samples(text) if text.strip() else []
    except AgentResultError:
        samples = text  # compute_energy reports the bad samples
    rails = cell_files.read_rails(out_dir)

    def energy(window_result, run, *, with_rails: bool):
        latency = run.latency
        if not settings.energy:
            return not_measured((latency.count or 0) if latency else 0)
        return compute_energy(
            window_result, samples, rails if with_rails else None,
            n_inferences=(latency.count or 0) if latency else 0,
            measured_s=latency.count * latency.mean / 1e6 if latency and latency.count and latency.mean else None,
            is_virtual=session.passport.is_virtual, charging_suspended=settings.suspend_charging,
            idle_baseline=borrowed, idle_baseline_max_age_s=session.idle_baseline_reuse_s,
            remembered_current_unit=session.current_unit,
        )

    return energy


def _energy_of_runs(energy_of, agent_result, runs):
    """Energy per inference over the measured runs, the start-up apart (harness/bench/energy.py).
    With several runner processes it is the last one's: its measured runs end the window, and the
    agent's rails dump at their start is that run's (android_app/agent.sh); the earlier runs'
    energy is not start-up, so no start-up energy is given."""
    from harness.bench.sustained import interval_window

    last = runs[-1]
    if last.record is None:  # one runner process: the agent's window is its own
        return energy_of(agent_result, last, with_rails=True)
    return replace(energy_of(interval_window(agent_result, last), last, with_rails=True), startup_energy_j=None)


def _sustained(session, settings, out_dir, runs, agent_result, energy_of):
    """The sustained run's intervals; each interval's energy from the gauge samples of its window
    (rail dumps are only taken around the last interval's measured runs)."""
    from harness.bench.sustained import interval_window, sustained_record

    return sustained_record(
        out_dir, runs, agent_result, duration_s=settings.sustained_s, interval_s=settings.sustained_interval_s,
        is_virtual=session.passport.is_virtual,
        interval_energy=lambda run: energy_of(interval_window(agent_result, run), run, with_rails=False),
    )


def _extra_passes(session, settings, model_path, remote_model, out_dir, result, timing, check_data, level):
    """The peak-memory pass, the op-profiling pass and the outputs checked on the device, when asked for."""
    from harness.bench.output_pass import check_outputs
    from harness.bench.profile_pass import profile_settings, run_profile_pass

    if settings.peak_memory and result.measurements.memory_mb is not None:
        result = _with_peak_memory(session, settings, remote_model, out_dir, result, timing)
    measurements, passes = result.measurements, dict(result.passes or {})
    if settings.op_profile:
        started = time.monotonic()
        argv = _runner_argv(session, profile_settings(settings).runner_flags(), remote_model)
        summary, passes["op_profile"] = run_profile_pass(session, settings, argv, out_dir)
        measurements = replace(measurements, op_profile=summary)
        timing["op_profile_s"] = time.monotonic() - started
    if check_data is not None:
        started = time.monotonic()
        summary, passes["output_check"] = check_outputs(session, model_path, settings, check_data, out_dir,
                                                        remote_model=remote_model, level=level,
                                                        model_sha256=result.model["sha256"],
                                                        runner_version=(result.parsed or {}).get("runner_version"))
        flags = measurements.flags + (("numerics",) if summary.numerics else ())
        measurements = replace(measurements, output_check=summary, flags=flags)
        timing["check_outputs_s"] = time.monotonic() - started
    return replace(result, measurements=measurements, passes=passes, raw=cell_files.raw_files_present(out_dir))


def _with_peak_memory(session: DeviceSession, settings: BenchSettings, remote_model: str, out_dir: Path,
                      result: BenchResult, timing: dict) -> BenchResult:
    """Peak memory from a pass of its own (one runner process) with benchmark_model's memory
    monitor, whose polling thread the timed pass ran without. It is CPU-side RSS: GPU buffers are
    mostly missing."""
    pass_settings = replace(settings, idle_baseline_s=0, cooldown_s=0, repeat=1, sustained_s=0.0)
    pass_dir = out_dir / cell_files.MEMORY_PASS_DIR
    argv = _runner_argv(session, pass_settings.memory_pass_flags(), remote_model)
    _, device_dir = _run_agent(session, pass_settings, argv, timing, "memory_")
    with _pulled_output(session, device_dir, pass_dir, timing, "memory_"):
        peak = parse_benchmark_log(cell_files.read_text(pass_dir, cell_files.RUNNER_LOG_FILE)).memory_mb
    memory = replace(result.measurements.memory_mb, peak=peak.peak if peak else None)
    label = PEAK_LABEL if memory.peak is not None else None
    return replace(result, measurements=replace(result.measurements, memory_mb=memory, memory_peak_label=label),
                   runner={**result.runner, "memory_pass_argv": argv})


def _thermal(agent_result) -> Thermal:
    before, after = agent_result.before, agent_result.after
    return Thermal(
        status_before=before.thermal_status,
        status_after=after.thermal_status,
        battery_temp_c_before=before.battery_temp_c,
        battery_temp_c_after=after.battery_temp_c,
        cooldown=agent_result.cooldown.to_dict() if agent_result.cooldown else None,
    )


def _learn_from(session, settings, agent_result, energy, borrowed, agent_started_s: float, cell_id: str) -> None:
    """What the next benchmarks on this device reuse from this one: the power-stats HAL, the
    device's state, and the idle baseline (one measured here replaces the one lent so far; a
    borrowed one that did not hold is not lent again)."""
    if settings.energy and agent_result.energy.source is not None:  # else the agent was told "none"
        session.rails_hal = agent_result.energy.rails_hal or "none"
    if energy.is_valid and energy.current_unit_from in ("idle phase", "run phase"):
        session.current_unit = energy.current_unit
    session.last_conditions = PowerConditions.at(agent_result, "after", settings.suspend_charging)
    if borrowed is None:
        own = IdleBaseline.from_cell(energy, agent_result, settings.suspend_charging, taken_in=f"cell {cell_id}")
        session.lent_baseline = own and LentBaseline(own, agent_started_s, settings.idle_key())
    elif energy.validity == INVALID_BORROWED_BASELINE:
        session.lent_baseline = None
