"""One model on one device: push what is missing, run the agent, pull the raw output, measure.

Every outcome ends in a `BenchResult` (bench.json) with a status and a reason; the raw runner
output, agent result and energy samples are kept beside it (harness/store/cell_files.py).
Nothing is made up: a number the raw material cannot support is None, with the reason.
"""

from __future__ import annotations

import posixpath
import time
from dataclasses import replace
from pathlib import Path

from harness import stats
from harness.bench.agent import agent_argv, new_cell_dir, reap_orphans
from harness.bench.outcome import cell_flags, classify_outcome, extra_flags, tail
from harness.bench.session import DeviceSession, LentBaseline
from harness.bench.settings import BenchSettings
from harness.digests import sha256_file
from harness.errors import DeviceError, DeviceGoneError
from harness.jsonfile import write_json_atomic
from harness.store import cell_files
from harness.device.cpus import ONLINE_CPUS_PATH, check_taskset
from harness.store.records import BenchResult, CellStatus, LatencyStats, Measurements, RunnerRef, Thermal

# What a peak measured in its own pass is (benchmark_model's periodic VmRSS monitor).
PEAK_LABEL = "CPU-side RSS, own pass"

# adb's own transport may add this much after the agent's watchdog has fired.
HOST_TIMEOUT_MARGIN_S = 30.0
AGENT_OUTPUT_TAIL_CHARS = 2000


def run_benchmark(
    session: DeviceSession,
    model_path: Path,
    settings: BenchSettings,
    out_dir: Path,
    *,
    model_info: dict | None = None,
    cell_id: str | None = None,
) -> BenchResult:
    """Benchmark one model file on one device; always returns (and writes) a BenchResult.
    `cell_id` names the benchmark where its idle baseline is lent to later ones."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sha256 = (model_info or {}).get("sha256") or sha256_file(model_path)
    result = _new_result(session, model_path, sha256, settings, model_info)
    timing: dict[str, float] = {}
    try:
        started = time.monotonic()
        session.ensure_tools()
        remote_model = session.ensure_model(model_path, sha256)
        timing["push_s"] = time.monotonic() - started
        device_dir = new_cell_dir()
        argv = _runner_argv(session, settings.runner_flags(), remote_model, device_dir)
        result = replace(result, runner={**result.runner, "argv": argv, "graph": remote_model})
        result = _run_and_measure(session, settings, argv, device_dir, out_dir, result, timing, cell_id)
        if settings.peak_memory and result.ok and result.measurements.memory_mb is not None:
            result = _with_peak_memory(session, settings, remote_model, out_dir, result, timing)
    except DeviceGoneError as e:
        result = result.failed(CellStatus.DEVICE_LOST, e.one_line())
    except DeviceError as e:
        result = result.failed(CellStatus.FAILED, e.one_line())
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


def _runner_argv(session: DeviceSession, flags: list[str], remote_model: str, device_dir: str) -> list[str]:
    argv = session.runner_argv() + [f"--graph={remote_model}"] + flags
    if session.runner.kind == "bundled-litert-python":
        argv.append(f"--squeezebench_latencies_file={posixpath.join(device_dir, cell_files.LATENCIES_FILE)}")
    return argv


def _run_and_measure(session, settings, runner_argv, device_dir, out_dir, result, timing, cell_id) -> BenchResult:
    from harness.bench.agent_result import AgentResultError, parse_agent_result

    device = session.device
    if settings.taskset:
        check_taskset(settings.taskset, device.shell(["cat", ONLINE_CPUS_PATH], check=False).stdout)
    # A note of charging left suspended (or the screen kept on) by a squeezebench that died is
    # only taken up while this session holds none of its own (harness/device/charging.py).
    reap_orphans(device, restore_charging=not session.charging_held, restore_stay_awake=not session.stay_awake_held)
    session.hold_charging_suspended(settings.suspend_charging)
    session.hold_stay_awake()
    borrowed = session.baseline_to_borrow(settings)
    agent_settings = replace(settings, idle_baseline_s=0) if borrowed else settings
    agent_started_s = time.monotonic()
    try:
        agent = _agent_pass(session, agent_settings, runner_argv, device_dir, out_dir, timing, "")
    finally:
        if not session.keep_charging_suspended:
            session.restore_charging()
            session.restore_stay_awake()
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


def _agent_pass(session: DeviceSession, settings: BenchSettings, runner_argv: list[str], device_dir: str,
                out_dir: Path, timing: dict, prefix: str):
    """Run the agent once and pull its directory into `out_dir`; the agent's shell result."""
    device = session.device
    host_timeout_s = (
        settings.derived_timeout_s + settings.cooldown_s + settings.idle_baseline_s + HOST_TIMEOUT_MARGIN_S
    )
    started = time.monotonic()
    argv = agent_argv(settings, device_dir, runner_argv, rails_hal=session.rails_hal)
    agent = device.shell(argv, timeout_s=host_timeout_s, check=False)
    timing[f"{prefix}agent_s"] = time.monotonic() - started
    started = time.monotonic()
    device.pull_dir(device_dir, out_dir)
    device.shell(["rm", "-rf", device_dir], check=False)
    timing[f"{prefix}pull_s"] = time.monotonic() - started
    return agent


def _with_peak_memory(session: DeviceSession, settings: BenchSettings, remote_model: str, out_dir: Path,
                      result: BenchResult, timing: dict) -> BenchResult:
    """Peak memory from a pass of its own with benchmark_model's memory monitor, whose polling
    thread the timed pass ran without. It is CPU-side RSS: GPU buffers are mostly missing."""
    from harness.bench.logparse import parse_benchmark_log

    device_dir = new_cell_dir()
    pass_dir = out_dir / cell_files.MEMORY_PASS_DIR
    argv = _runner_argv(session, settings.memory_pass_flags(), remote_model, device_dir)
    _agent_pass(session, replace(settings, idle_baseline_s=0, cooldown_s=0), argv, device_dir, pass_dir, timing, "memory_")
    peak = parse_benchmark_log(cell_files.read_text(pass_dir, cell_files.RUNNER_LOG_FILE)).memory_mb
    memory = replace(result.measurements.memory_mb, peak=peak.peak if peak else None)
    label = PEAK_LABEL if memory.peak is not None else None
    return replace(result, measurements=replace(result.measurements, memory_mb=memory, memory_peak_label=label),
                   runner={**result.runner, "memory_pass_argv": argv})


def _measured(result: BenchResult, session: DeviceSession, settings: BenchSettings, out_dir: Path,
              agent_result, borrowed):
    """The result with everything the raw material supports, and the energy (to learn from)."""
    from harness.bench.clocks import clocks_of_run
    from harness.bench.conditions import run_conditions
    from harness.bench.energy import compute_energy
    from harness.bench.logparse import parse_benchmark_log

    log_text = cell_files.read_text(out_dir, cell_files.RUNNER_LOG_FILE)
    parsed = parse_benchmark_log(log_text)
    runner = agent_result.runner
    status, reason = classify_outcome(runner.status, runner.exit_code, runner.timeout_s, list(parsed.errors),
                                      parsed.complete, log_text)
    latency = _latency(parsed.latency_us, cell_files.read_latency_samples(out_dir))
    # Energy per inference over the measured runs only; the start-up apart (harness/bench/energy.py).
    energy = compute_energy(
        agent_result,
        cell_files.read_text(out_dir, cell_files.ENERGY_SAMPLES_FILE),
        cell_files.read_rails(out_dir),
        n_inferences=(latency.count or 0) if latency else 0,
        measured_s=latency.count * latency.mean / 1e6 if latency and latency.count and latency.mean else None,
        is_virtual=session.passport.is_virtual,
        charging_suspended=settings.suspend_charging,
        idle_baseline=borrowed,
        idle_baseline_max_age_s=session.idle_baseline_reuse_s,
        remembered_current_unit=session.current_unit,
    )
    thermal = _thermal(agent_result)
    clocks = clocks_of_run(agent_result, cell_files.read_text(out_dir, cell_files.CLOCKS_FILE), settings.taskset)
    conditions = run_conditions(agent_result, settings, session.passport.build.get("sdk"))
    measurements = Measurements(
        latency_us=latency,
        warmup_us=parsed.warmup_us,
        init_us=parsed.init_us,
        first_inference_us=parsed.first_inference_us,
        memory_mb=parsed.memory_mb,
        energy=energy,
        delegation=parsed.delegation,
        thermal=thermal,
        flags=cell_flags(session.passport, settings.delegate, latency, energy, thermal, parsed.delegation)
        + extra_flags(clocks, conditions),
        runner=RunnerRef.from_dict(result.runner),
        clocks=clocks,
        conditions=conditions,
    )
    measured = replace(
        result, status=status, reason=reason, measurements=measurements, parsed=parsed.to_dict(),
        agent=agent_result.to_dict(), raw=cell_files.raw_files_present(out_dir),
    )  # fmt: skip
    return measured, energy


def _latency(summary, samples_us: list[float]) -> LatencyStats | None:
    """From per-iteration samples when the runner wrote them, else from its stats line."""
    if samples_us:
        return LatencyStats(**stats.summarize_samples(samples_us), source="samples")
    if summary.count:
        intervals = stats.summary_intervals(summary.mean, summary.std, summary.count)
        return LatencyStats(**summary.to_dict(), **intervals, source="runner-summary")
    return None


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
    from harness.bench.energy import IdleBaseline, PowerConditions
    from harness.bench.energy_window import INVALID_BORROWED_BASELINE

    if agent_result.energy.source is not None:
        session.rails_hal = agent_result.energy.rails_hal or "none"
    if energy.is_valid and energy.current_unit_from in ("idle phase", "run phase"):
        session.current_unit = energy.current_unit
    session.last_conditions = PowerConditions.at(agent_result, "after", settings.suspend_charging)
    if borrowed is None:
        own = IdleBaseline.from_cell(energy, agent_result, settings.suspend_charging, taken_in=f"cell {cell_id}")
        session.lent_baseline = own and LentBaseline(own, agent_started_s, settings.idle_key())
    elif energy.validity == INVALID_BORROWED_BASELINE:
        session.lent_baseline = None
