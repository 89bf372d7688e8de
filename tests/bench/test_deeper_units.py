"""The pieces of the deeper measurements that need no device: validity presets, the op-profile
summary, the sustained run's throttling rule, between-run noise and the settings they imply."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from harness import stats
from harness.bench.logparse import parse_benchmark_log
from harness.bench.presets import PRESETS, check_preset
from harness.bench.profile_pass import NOT_AVAILABLE, summarize_profile
from harness.bench.settings import BenchSettings, Measurement
from harness.bench.sustained import pinned_cores, throttling
from harness.bench.agent_result import CpuState
from harness.errors import UsageError
from harness.store.records import LatencyStats, SustainedInterval

CORPUS = Path(__file__).resolve().parent.parent / "data" / "benchmark_logs"


# --- presets ------------------------------------------------------------------------------


def test_a_preset_fills_its_settings_and_refuses_a_conflicting_value():
    settings = Measurement.from_options({"preset": "mlperf-single-stream"})
    assert settings.runs == 1024 and settings.min_secs == 60.0
    # As argparse gives them: every option at its default.
    defaults = Measurement()
    quick = Measurement.from_options(argparse.Namespace(preset="quick", runs=defaults.runs,
                                                        idle_baseline_s=defaults.idle_baseline_s, cooldown_s=0.0))
    assert quick.runs == 10 and quick.idle_baseline_s == 0.0
    assert quick.energy is False and quick.suspend_charging is False
    # Read back from run.json, the applied values are the preset's own: accepted.
    assert Measurement.from_options(quick.to_dict()) == quick
    with pytest.raises(UsageError, match="--runs 200 conflicts with --preset quick"):
        Measurement.from_options({"preset": "quick", "runs": 200})
    with pytest.raises(UsageError, match="unknown preset 'fast'"):
        Measurement.from_options({"preset": "fast"})


def test_no_energy_takes_nothing_energy_needs_and_refuses_an_idle_baseline():
    # As argparse gives them: --no-energy with every other option at its default.
    defaults = Measurement()
    settings = Measurement.from_options(argparse.Namespace(energy=False, idle_baseline_s=defaults.idle_baseline_s,
                                                           suspend_charging=True))
    assert (settings.energy, settings.suspend_charging, settings.idle_baseline_s) == (False, False, 0.0)
    assert Measurement.from_options(settings.to_dict()) == settings  # read back from run.json
    assert Measurement(energy=False, idle_baseline_s=5.0).idle_baseline_s == 0.0  # the Python API's too
    with pytest.raises(UsageError, match="--idle-baseline 5 conflicts with --no-energy"):
        Measurement.from_options({"energy": False, "idle_baseline_s": 5.0})


def _latency(count: int, mean_us: float, p90: float | None) -> LatencyStats:
    return LatencyStats(count=count, mean=mean_us, median=mean_us, p90=p90)


def test_mlperf_single_stream_needs_1024_queries_60_s_and_a_p90():
    assert check_preset("mlperf-single-stream", _latency(1100, 60_000, 61_000)).met
    short = check_preset("mlperf-single-stream", _latency(1100, 1_000, 1_100))
    assert not short.met and short.reasons == ("1.1 s of inference, at least 60 s needed",)
    few = check_preset("mlperf-single-stream", _latency(500, 200_000, 210_000))
    assert few.reasons == ("500 queries, at least 1024 needed",)
    summary_only = check_preset("mlperf-single-stream", _latency(2000, 60_000, None))
    assert not summary_only.met and "no p90" in summary_only.reasons[0]
    assert summary_only.headline == "p90" and check_preset("quick", _latency(10, 5, None)).met


def test_every_preset_names_only_measurement_settings():
    names = set(Measurement.__dataclass_fields__)
    assert all(set(preset.settings) <= names for preset in PRESETS.values())


# --- settings -----------------------------------------------------------------------------


def test_sustained_and_repeat_decide_the_runner_starts():
    assert BenchSettings(sustained_s=180, sustained_interval_s=30).runner_starts == 6
    assert BenchSettings(sustained_s=100, sustained_interval_s=30).runner_starts == 4
    assert BenchSettings(repeat=5).runner_starts == 5 and BenchSettings().runner_starts == 1
    flags = BenchSettings(sustained_s=180, sustained_interval_s=30).runner_flags()
    assert "--min_secs=30" in flags and "--max_secs=30" in flags and "--num_runs=1" in flags
    with pytest.raises(UsageError, match="--sustained and --repeat"):
        BenchSettings(sustained_s=60, repeat=3)


# --- op profiles --------------------------------------------------------------------------


def test_a_profile_is_summed_by_node_type_with_delegated_time_apart():
    parsed = parse_benchmark_log((CORPUS / "tf2_4_android_nnapi_op_profile_only.log").read_text())
    summary = summarize_profile(parsed)
    by_type = {row.node_type: row for row in summary.node_types}
    assert summary.available and by_type["TfLiteNnapiDelegate"].delegated
    assert not by_type["STRIDED_SLICE"].delegated
    delegated_ms = sum(row.avg_ms for row in summary.node_types if row.delegated)
    assert summary.delegated_time_share == pytest.approx(delegated_ms / sum(r.avg_ms for r in summary.node_types))


def test_run_order_only_profiles_are_summed_per_node_type():
    parsed = parse_benchmark_log((CORPUS / "tf_android_nnapi_run_order_only.log").read_text())
    rows = parsed.op_profile.runs.run_order
    summary = summarize_profile(parsed)
    for row in summary.node_types:
        mine = [r for r in rows if r.node_type == row.node_type]
        assert row.count == len(mine) and row.avg_ms == pytest.approx(sum(r.avg_ms for r in mine))


def test_a_cut_profile_is_not_available_with_the_reason():
    parsed = parse_benchmark_log((CORPUS / "tf2_rpi_linux_xnnpack_op_profiling.log").read_text())
    summary = summarize_profile(parsed)
    assert not summary.available and summary.reason.startswith(NOT_AVAILABLE) and "cut" in summary.reason
    assert summary.node_types == () and summary.total_us is None


# --- sustained runs -----------------------------------------------------------------------


def _interval(index: int, median_us: float, cap_khz: int | None = 2_000_000) -> SustainedInterval:
    return SustainedInterval(index=index, start_s=30.0 * (index - 1), end_s=30.0 * index, inferences=100,
                             median_us=median_us, p90_us=median_us * 1.1, thermal_status=0, skin_temp_c=None,
                             cpu_temp_c=None, battery_temp_c=None, cpu_freq_khz=cap_khz, cpu_cap_khz=cap_khz,
                             cpu_max_khz=2_000_000, battery_pct=90, energy_per_inference_mj=None)


def test_throttling_begins_where_latency_stays_10_percent_slower_or_at_a_capped_clock():
    assert throttling([_interval(1, 100), _interval(2, 109), _interval(3, 105)]) == (None, None)
    began, why = throttling([_interval(1, 100), _interval(2, 105), _interval(3, 112), _interval(4, 116)])
    assert began == 3 and why == "median 12% above the first interval's, and 14% from here on"
    # One slow interval among fast ones is not throttling.
    assert throttling([_interval(1, 100), _interval(2, 142), _interval(3, 99), _interval(4, 101)]) == (None, None)
    began, why = throttling([_interval(1, 100), _interval(2, 101, cap_khz=1_400_000)])
    assert began == 2 and why == "clocks capped at 1400 of 2000 MHz"


def test_the_pinned_cores_follow_the_taskset_mask():
    cpus = tuple(CpuState(i, True, None, None, None) for i in range(8))
    assert [c.index for c in pinned_cores("f0", cpus)] == [4, 5, 6, 7]
    assert [c.index for c in pinned_cores(None, cpus)] == list(range(8))


# --- between-run noise --------------------------------------------------------------------


def test_the_detectable_change_falls_with_more_repeats_and_less_spread():
    five = stats.detectable_change(0.05, 5, 0.05, 5, 0.01)
    ten = stats.detectable_change(0.05, 10, 0.05, 10, 0.01)
    assert 0 < ten < five
    assert stats.detectable_change(0.01, 5, 0.01, 5, 0.01) == pytest.approx(five / 5)
    # One side of one run borrows the other's spread; without any spread nothing can be said.
    assert stats.detectable_change(None, 1, 0.05, 5, 0.01) > five
    assert stats.detectable_change(None, 1, None, 1, 0.01) is None
    assert stats.relative_std([100.0, 100.0]) == 0 and stats.relative_std([5.0]) is None
