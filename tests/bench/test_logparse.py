"""The benchmark_model output parser: the corpus of real public logs, every variant of the
format, and the `squeezebench parse-log` command."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from harness.bench.logparse import CUT_OUTPUT_ERROR, parse_benchmark_log
from harness.cli import main as cli_main
from harness.errors import ExitCode

CORPUS = Path(__file__).resolve().parent.parent / "data" / "benchmark_logs"
CORPUS_LOGS = sorted(CORPUS.glob("*.log"))
REAL_LOGS = [log for log in CORPUS_LOGS if not log.name.startswith("synthetic")]

WARMUP_HEADER = "Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds."
MEASURED_HEADER = "Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds."
WARMUP_STATS = "count=3 first=9000 curr=7000 min=7000 max=9000 avg=7666.67 std=942"
MEASURED_STATS = "count=50 first=7100 curr=6900 min=6800 max=7400 avg=7012.5 std=120 p5=6850 median=7000 p95=7300"


def run_text(*, prefix: str = "", warmup: str = WARMUP_STATS, measured: str = MEASURED_STATS, tail=()) -> str:
    lines = ["STARTING!", "Num threads: [4]", "Graph: [m.tflite]", "Initialized session in 12.5ms.",
             WARMUP_HEADER, warmup, "", MEASURED_HEADER, measured, "",
             "Inference timings in us: Init: 12500, First inference: 9000, Warmup (avg): 7666.67, Inference (avg): 7012.5",
             *tail]
    return "".join(f"{prefix}{line}\n" if line else "\n" for line in lines)


# --- the corpus ------------------------------------------------------------------------------


def test_the_corpus_has_real_logs_of_many_kinds_and_the_crash_and_hang_cases():
    assert len(REAL_LOGS) >= 6
    names = {log.stem for log in CORPUS_LOGS}
    assert {"synthetic_crash_truncated", "synthetic_hang_killed"} <= names
    for log in CORPUS_LOGS:
        source = log.with_name(log.stem + ".source.md").read_text()
        assert ("SYNTHETIC" in source) == log.name.startswith("synthetic")
        if not log.name.startswith("synthetic"):
            assert "https://github.com/" in source, f"{log.name}: its source must be cited"


@pytest.mark.parametrize("log", CORPUS_LOGS, ids=lambda p: p.stem)
def test_every_field_of_every_corpus_log_matches_the_values_read_by_hand(log):
    expected = json.loads(log.with_name(log.stem + ".expected.json").read_text())
    parsed = parse_benchmark_log(log.read_text(encoding="utf-8")).to_dict()
    assert set(expected) == set(parsed), "the expected file must list every field"
    for field, value in expected.items():
        assert parsed[field] == value, field


# --- prefixes and layout ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix",
    [
        "",
        "INFO: ",
        "VERBOSE: ",
        "   ",
        "07-14 13:14:52.097 22838 22838 I tflite  : ",
        "I/tflite  (22838): ",
        "2023-04-04 17:24:18.428 19036-19036 tflite                  pid-19036                            I  ",
    ],
    ids=["none", "info", "verbose", "indented", "logcat-threadtime", "logcat-brief", "android-studio"],
)
def test_every_line_prefix_gives_the_same_parse(prefix):
    parsed = parse_benchmark_log(run_text(prefix=prefix))
    assert parsed.complete
    assert parsed.latency_us.count == 50 and parsed.latency_us.median == 7000 and parsed.latency_us.mean == 7012.5
    assert parsed.warmup_us.count == 3 and parsed.warmup_us.first == 9000
    assert parsed.settings["Num threads"] == "4"
    assert parsed.init_us == 12500


def test_logcat_lines_of_other_tags_are_ignored_but_crash_reports_are_errors():
    text = run_text(prefix="07-14 13:14:52.097 22838 22838 I tflite  : ") + (
        "07-14 13:14:52.097  1000  1000 E SomeOtherApp: count=1 curr=5\n"
        "07-14 13:14:53.000 22838 22838 F libc    : Fatal signal 11 (SIGSEGV), code 1\n"
    )
    parsed = parse_benchmark_log(text)
    assert parsed.latency_us.count == 50
    assert parsed.errors == ("Fatal signal 11 (SIGSEGV), code 1",)


def test_blank_lines_and_windows_line_ends_do_not_matter():
    text = run_text().replace("\n", "\r\n\r\n")
    parsed = parse_benchmark_log(text)
    assert parsed.complete and parsed.latency_us.p95 == 7300


# --- stats lines ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, expected",
    [
        ("count=7 curr=1000(all same)", dict(count=7, first=1000, min=1000, max=1000, mean=1000, std=0, median=1000, curr=1000)),
        ("count=7 curr=1000(all same) p5=1000 median=1000 p95=1000", dict(count=7, mean=1000, p95=1000)),
        ("count=1 curr=3512391", dict(count=1, first=3512391, mean=3512391, std=0)),
        ("count=0", dict(count=0, mean=None, median=None)),
        ("count=0 p5=0 median=0 p95=0", dict(count=0, mean=None, p5=None)),
        ("count=50 first=1249964 curr=1240143 min=1238588 max=1252566 avg=1.24027e+06 std=2565",
         dict(mean=1240270.0, min=1238588, median=None)),
        ("curr=250889 count=50 first=249042 min=247067 max=254474 avg=249684 std=1442",
         dict(count=50, first=249042, curr=250889, mean=249684)),
    ],
    ids=["all-same", "all-same-percentiles", "single", "empty", "empty-percentiles", "scientific", "curr-before-count"],
)
def test_every_stats_line_form(line, expected):
    parsed = parse_benchmark_log(run_text(measured=line))
    latency = parsed.latency_us.to_dict()
    for key, value in expected.items():
        assert latency[key] == value, key
    assert parsed.errors == ()


@pytest.mark.parametrize(
    "line",
    ["count=50 first=7100 curr=6900 min=6800 max=7400",  # cut before avg/std
     "count=50 first=7100 curr=6900 min=6800 max=7400 avg=7012.5 std=120 p5=6850 median=7000",  # p95 missing
     "count=abc curr=5"],
)
def test_an_incomplete_stats_line_is_reported_and_never_used(line):
    parsed = parse_benchmark_log(run_text(measured=line))
    assert parsed.latency_us.count is None and parsed.latency_us.min is None
    assert parsed.latency_us.mean == 7012.5  # the summary line's average is still true
    assert any(line in error for error in parsed.errors)


def test_the_op_profiler_timings_line_is_not_taken_for_the_run_statistics():
    profiler = [
        "Operator-wise Profiling Info for Regular Benchmark Runs:",
        "============================== Run Order ==============================",
        "\t                 CONV_2D\t            0.066\t   87.754\t   60.957\t  2.066%\t  2.066%\t     0.000\t        1\t[conv]:0",
        "Timings (microseconds): count=50 first=1 curr=2 min=1 max=3 avg=2 std=1",
        "count=99 first=1 curr=2 min=1 max=3 avg=2 std=1",
        "Memory (bytes): count=0",
    ]
    parsed = parse_benchmark_log(run_text(tail=profiler))
    assert parsed.latency_us.count == 50 and parsed.latency_us.max == 7400


def test_old_builds_without_phase_headers_or_summary_still_give_both_phases():
    text = "count=4 first=130565 curr=120829 min=117370 max=130565 avg=122373 std=4930\n\ncount=50 first=119212 curr=118055 min=113737 max=124776 avg=119375 std=1948\n"
    parsed = parse_benchmark_log(text)
    assert parsed.warmup_us.count == 4 and parsed.latency_us.count == 50 and parsed.complete


# --- summary, memory, delegation -----------------------------------------------------------


def test_memory_lines_old_new_and_periodic_peak():
    parsed = parse_benchmark_log(run_text(tail=[
        "Memory footprint delta from the start of the tool (MB): init=4.21094 overall=46.0859",
        "Overall peak memory footprint (MB) via periodic monitoring: 52.1",
        "Memory status at the end of exeution:",
        "- VmRSS              : 53 MB",
    ]))
    assert parsed.memory_mb.to_dict() == {"init": 4.21094, "overall": 46.0859, "peak": 52.1}
    old = parse_benchmark_log(run_text(tail=["Peak memory footprint (MB): init=4.92969 overall=138.809"]))
    assert (old.memory_mb.init, old.memory_mb.overall, old.memory_mb.peak) == (4.92969, 138.809, None)


def test_old_summary_line_gives_init_and_averages():
    text = run_text().replace(
        "Inference timings in us: Init: 12500, First inference: 9000, Warmup (avg): 7666.67, Inference (avg): 7012.5",
        "Average inference timings in us: Warmup: 7666.67, Init: 12400, Inference: 7012.5",
    )
    parsed = parse_benchmark_log(text)
    assert parsed.init_us == 12400 and parsed.first_inference_us == 9000 and parsed.complete


def top_level(delegation) -> dict:
    return {key: value for key, value in delegation.to_dict().items() if key != "by_delegate"}


def test_replacing_lines_are_summed_over_subgraphs_for_the_delegate_that_was_applied():
    parsed = parse_benchmark_log(run_text(tail=[
        "Replacing 539 out of 548 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 19 partitions for subgraph 0.",
        "Replacing 10 out of 12 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 2 partitions for subgraph 1.",
    ]))
    assert top_level(parsed.delegation) == {"delegate": "XNNPACK", "nodes_delegated": 549, "nodes_total": 560,
                                            "partitions": 21, "fallback_to_cpu": False, "fully_delegated": False}
    assert parsed.delegation.by_delegate["XNNPACK"].nodes_delegated == 549
    gpu = parse_benchmark_log(run_text(tail=[
        "VERBOSE: Replacing 58 out of 58 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 1 partitions for the whole graph.",
        "INFO: Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate.",
    ]))
    assert top_level(gpu.delegation) == {"delegate": "GPU", "nodes_delegated": 58, "nodes_total": 58,
                                         "partitions": 1, "fallback_to_cpu": False, "fully_delegated": True}
    assert gpu.delegation.by_delegate["GPU"].outcome == "full"


# Forms seen in public logs; the expected values are the line's own numbers.
@pytest.mark.parametrize("line, nodes, total, partitions", [
    # ArmDeveloperEcosystem/arm-learning-paths litert-sme/4-benchmark.md (LiteRT 2.x): the subgraph named
    ("VERBOSE: Replacing 1 out of 1 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions for subgraph 0.", 1, 1, 1),
    # TF 2.x interpreter (core/subgraph.cc) on a model with one subgraph: the whole graph
    ("VERBOSE: Replacing 58 out of 58 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions for the whole graph.", 58, 58, 1),
    # asus4/tf-lite-unity-sample#214, logcat (TF 2.8): no "out of", no subgraph
    ("05-10 14:58:14.957 12439 12461 I tflite  : Replacing 269 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 13 partitions.", 269, None, 13),
    # google-ai-edge/LiteRT litert/vendors/examples/cmake_example README: a LiteRT accelerator, no partitions clause
    ("Replacing 66 out of 66 node(s) with delegate (LITERT_OPENGL) node", 66, 66, None),
    # the same TF 2.x line under an INFO prefix, without its period
    ("INFO: Replacing 294 out of 297 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 2 partitions", 294, 297, 2),
], ids=["subgraph-named", "whole-graph", "old-no-total", "litert-accelerator", "no-period"])
def test_every_form_of_the_replacing_line(line, nodes, total, partitions):
    delegation = parse_benchmark_log(run_text(tail=[line])).delegation
    share = next(iter(delegation.by_delegate.values()))
    assert (share.nodes_delegated, share.nodes_total, share.partitions) == (nodes, total, partitions)
    assert (delegation.nodes_delegated, delegation.nodes_total, delegation.partitions) == (nodes, total, partitions)
    assert delegation.fully_delegated is (nodes == total if total is not None else None)


def test_partial_gpu_delegation_counts_only_the_gpu_nodes():
    parsed = parse_benchmark_log(run_text(tail=[
        "Replacing 40 out of 48 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 3 partitions for subgraph 0.",
        "Explicitly applied GPU delegate, and the model graph will be partially executed by the delegate w/ 3 delegate kernels.",
        "Replacing 6 out of 11 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 2 partitions for subgraph 0.",
    ]))
    assert (parsed.delegation.delegate, parsed.delegation.nodes_delegated, parsed.delegation.partitions) == ("GPU", 40, 3)
    assert parsed.delegation.fully_delegated is False and parsed.delegation.fallback_to_cpu is False
    xnnpack = parsed.delegation.by_delegate["XNNPACK"]
    assert (xnnpack.nodes_delegated, xnnpack.nodes_total, xnnpack.partitions, xnnpack.outcome) == (6, 11, 2, None)


def test_two_delegates_applied_one_after_the_other_keep_their_shares_and_fallbacks_apart():
    # The GPU delegate is applied first and takes nothing; XNNPACK then takes the whole graph.
    parsed = parse_benchmark_log(run_text(prefix="07-14 13:14:52.097 22838 22838 I tflite  : ", tail=[
        "Created TensorFlow Lite delegate for GPU.",
        "Though GPU delegate is explicitly applied, the model graph will not be executed by the delegate.",
        "Created TensorFlow Lite XNNPACK delegate for CPU.",
        "Replacing 31 out of 31 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions for subgraph 0.",
        "Explicitly applied XNNPACK delegate, and the model graph will be completely executed by the delegate.",
    ]))
    delegation = parsed.delegation
    assert (delegation.delegate, delegation.fallback_to_cpu, delegation.nodes_delegated) == ("GPU", True, None)
    gpu, xnnpack = delegation.by_delegate["GPU"], delegation.by_delegate["XNNPACK"]
    assert (gpu.outcome, gpu.fallback_to_cpu, gpu.fully_delegated, gpu.partitions) == ("none", True, False, 0)
    assert (xnnpack.outcome, xnnpack.fallback_to_cpu, xnnpack.fully_delegated) == ("full", False, True)
    assert (xnnpack.nodes_delegated, xnnpack.nodes_total, xnnpack.partitions) == (31, 31, 1)
    assert list(delegation.to_dict()["by_delegate"]) == ["GPU", "XNNPACK"]


def test_without_an_explicit_delegate_the_first_that_took_nodes_is_reported_with_its_own_counts():
    parsed = parse_benchmark_log(run_text(tail=[
        "Replacing 294 out of 297 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 2 partitions for subgraph 0.",
        "Replacing 2 out of 5 node(s) with delegate (TfLiteXNNPackDelegate) node, yielding 1 partitions for subgraph 0.",
    ]))
    assert top_level(parsed.delegation) == {"delegate": "GPU", "nodes_delegated": 294, "nodes_total": 297,
                                            "partitions": 2, "fallback_to_cpu": False, "fully_delegated": False}


@pytest.mark.parametrize(
    "line",
    ["Though GPU delegate is explicitly applied, the model graph will not be executed by the delegate.",
     "WARN: GPU acceleration is unsupported on this platform."],
)
def test_a_delegate_that_runs_nothing_is_reported_as_cpu_fallback(line):
    parsed = parse_benchmark_log(run_text(tail=[line]))
    assert parsed.delegation.delegate == "GPU"
    assert parsed.delegation.fallback_to_cpu is True and parsed.delegation.fully_delegated is False
    assert parsed.complete  # the run itself finished, on the CPU


# --- op profiles -----------------------------------------------------------------------------

PROFILED_LOGS = [log for log in CORPUS_LOGS if parse_benchmark_log(log.read_text()).op_profile is not None]


def test_the_corpus_has_op_profiles_in_every_layout():
    profiles = {log.stem: parse_benchmark_log(log.read_text()).op_profile for log in PROFILED_LOGS}
    assert len(profiles) >= 5
    rows = [row for profile in profiles.values() for row in profile.runs.run_order]
    assert any(row.start_ms is not None for row in rows) and any(row.start_ms is None for row in rows)
    assert any(profile.init is not None for profile in profiles.values())
    node_types = {row.node_type for row in rows}
    assert {"TfLiteNnapiDelegate", "Fully Connected (NC, PF32) GEMM", "CONV_2D"} <= node_types


def profile_of(text: str) -> dict:
    return parse_benchmark_log(text).to_dict()["op_profile"]


@pytest.mark.parametrize("log", PROFILED_LOGS, ids=lambda p: p.stem)
def test_tables_whose_tabs_became_spaces_read_the_same(log):
    # Pastes in issue trackers and some LiteRT summarizers separate the cells with spaces only.
    text = log.read_text()
    assert "\t" in text
    assert profile_of(text.replace("\t", "   ")) == profile_of(text)


def test_logcat_prefixed_tables_read_the_same():
    text = (CORPUS / "tflite2_linux_riscv_op_profiling.log").read_text()
    prefixed = "".join(f"07-14 13:14:52.097 22838 22838 I tflite  : {line}\n" for line in text.splitlines())
    assert profile_of(prefixed) == profile_of(text)


def test_parse_log_json_gives_every_node_type_with_count_avg_and_share_and_the_run_order(capsys):
    log = CORPUS / "tf2_4_android_nnapi_op_profile_only.log"
    cli_main(["parse-log", str(log), "--json"])
    runs = json.loads(capsys.readouterr().out)["op_profile"]["runs"]
    # The log's "Summary by node type", read by hand.
    assert [(row["node_type"], row["count"], row["avg_ms"], row["percent"]) for row in runs["by_node_type"]] == [
        ("TfLiteNnapiDelegate", 3, 149.483, 94.187), ("STRIDED_SLICE", 6, 8.347, 5.259),
        ("RESIZE_NEAREST_NEIGHBOR", 2, 0.879, 0.554)]
    assert len(runs["run_order"]) == runs["nodes_observed"] == 11
    assert runs["run_order"][6] == {
        "node_type": "TfLiteNnapiDelegate", "start_ms": 8.377, "first_ms": 78.701, "avg_ms": 79.01, "percent": 49.781,
        "cdf_percent": 55.042, "mem_kb": 0.0, "times_called": 1,
        "name": "[model/tf.nn.silu_16/mul, model/tf.nn.silu_26/mul, model/tf.nn.silu_35/mul]:231"}
    # The profiler's own per-run total, never taken for the benchmark's latency.
    assert runs["timings_us"]["count"] == 50 and runs["timings_us"]["mean"] == 158715


def test_parse_log_summary_shows_time_by_node_type(capsys):
    cli_main(["parse-log", str(CORPUS / "tflite2_linux_riscv_op_profiling.log")])
    out = capsys.readouterr().out
    assert "op profile, time by node type" in out
    assert re.search(r"CONV_2D\s+15\s+2651\.85\d*\s+89\.897%", out), out


def test_subgraph_and_delegate_internal_sections_of_older_builds():
    # The layout of profile_summary_formatter.cc in builds that did not name subgraphs.
    header = "\t[node type]\t[first]\t[avg ms]\t[%]\t[cdf%]\t[mem KB]\t[times called]\t[Name]"
    text = run_text(tail=[
        "Operator-wise Profiling Info for Regular Benchmark Runs:",
        "Primary graph profile:",
        "============================== Run Order ==============================", header,
        "\tWHILE\t0.500\t0.400\t80.000%\t80.000%\t0.000\t1\t[out]:0",
        "\tADD\t0.100\t0.100\t20.000%\t100.000%\t0.000\t1\t[sum]:1",
        "Timings (microseconds): count=2 first=600 curr=400 min=400 max=600 avg=500 std=100",
        "Memory (bytes): count=0", "2 nodes observed",
        "Subgraph (index: 1) profile:",
        "============================== Run Order ==============================", header,
        "\tLESS\t0.010\t0.010\t100.000%\t100.000%\t0.000\t3\t[cond]:0",
        "Subgraph (index: 1) Timings (microseconds): count=2 curr=30(all same)",
        "Memory (bytes): count=0", "1 nodes observed",
        "Delegate internal: ",
        "============================== Run Order ==============================", header,
        "\tDelegateOpInvoke\t0.200\t0.250\t100.000%\t100.000%\t0.000\t1\tDelegate/Conv:0",
        "Timings (microseconds): count=2 first=200 curr=300 min=200 max=300 avg=250 std=50",
        "Memory (bytes): count=0", "1 nodes observed",
    ])
    runs = parse_benchmark_log(text).op_profile.runs
    assert [row.node_type for row in runs.run_order] == ["WHILE", "ADD"] and runs.timings_us.count == 2
    condition = runs.subgraphs["1"]
    assert (condition.run_order[0].name, condition.run_order[0].times_called, condition.timings_us.mean) == ("[cond]:0", 3, 30)
    internal = runs.delegate_internal
    assert (internal.run_order[0].name, internal.timings_us.mean, internal.nodes_observed) == ("Delegate/Conv:0", 250, 1)
    assert parse_benchmark_log(text).latency_us.count == 50  # none of the profiler's count= lines


def test_a_percentage_of_a_zero_total_is_no_number():
    header = "\t[node type]\t[first]\t[avg ms]\t[%]\t[cdf%]\t[mem KB]\t[times called]\t[Name]"
    text = run_text(tail=["============================== Run Order ==============================", header,
                          "\tAllocateTensors\t0.000\t0.000\t-nan%\t-nan%\t0.000\t1\tAllocateTensors/0"])
    row = parse_benchmark_log(text).op_profile.runs.run_order[0]
    assert (row.percent, row.cdf_percent, row.times_called) == (None, None, 1)
    assert json.loads(json.dumps(parse_benchmark_log(text).to_dict(), allow_nan=False))


def test_a_table_with_unknown_columns_is_reported_not_guessed():
    text = run_text(tail=["============================== Run Order ==============================",
                          "\t[node type]\t[first]\t[p99 ms]\t[Name]", "\tCONV_2D\t1.000\t2.000\t[x]:0"])
    parsed = parse_benchmark_log(text)
    assert parsed.op_profile is None
    assert any("columns this parser does not know" in error for error in parsed.errors)


def test_the_bundled_runners_not_available_line_is_the_reason_for_no_profile():
    line = ("op profiling is not available in the squeezebench-litert-runner: "
            "LiteRT's C library cannot be loaded (libLiteRt.so: cannot open shared object file)")
    parsed = parse_benchmark_log(run_text(tail=["Enable op profiling: [1]", f"WARN: {line}"]))
    assert parsed.op_profile is None and parsed.op_profile_unavailable == line
    assert parsed.complete and line in parsed.warnings


@pytest.mark.parametrize("cut_after, reason", [
    ("Inference timings in us", "op profile tables (printed last: was it cut?)"),
    ("Profiling Info for Benchmark Initialization:", "stops right after the op profile's header"),
])
def test_an_enabled_profile_missing_from_the_output_says_why(cut_after, reason):
    text = (CORPUS / "tflite2_linux_riscv_op_profiling.log").read_text()
    cut = text[: text.index("\n", text.index(cut_after)) + 1]
    parsed = parse_benchmark_log(cut)
    assert parsed.op_profile is None and reason in parsed.op_profile_unavailable
    assert parse_benchmark_log(run_text()).op_profile_unavailable is None  # profiling not asked for


# --- failures, cut output, several runs ----------------------------------------------------


def test_output_cut_in_the_middle_of_a_number_reports_what_came_before_and_no_made_up_number():
    text = run_text()
    cut = text[: text.index("median=7000") + len("median=70")]
    parsed = parse_benchmark_log(cut)
    assert not parsed.complete
    assert parsed.latency_us.to_dict() == dict.fromkeys(parsed.latency_us.to_dict())
    assert parsed.warmup_us.count == 3
    assert any("middle of a line" in error for error in parsed.errors)


def test_output_that_stops_after_a_phase_header_is_incomplete_with_a_reason():
    text = run_text()
    parsed = parse_benchmark_log(text[: text.index(MEASURED_HEADER) + len(MEASURED_HEADER) + 1])
    assert not parsed.complete and parsed.errors == (CUT_OUTPUT_ERROR,)
    assert parsed.latency_us.count is None and parsed.warmup_us.count == 3


def test_error_lines_are_kept_in_order_and_explain_the_failure():
    text = ("STARTING!\nGraph: [m.tflite]\nERROR: Node number 57 (BATCH_MATMUL) failed to prepare.\n"
            "ERROR: Failed to allocate tensors!\nERROR: Benchmarking failed.\n")
    parsed = parse_benchmark_log(text)
    assert parsed.errors == ("Node number 57 (BATCH_MATMUL) failed to prepare.", "Failed to allocate tensors!",
                             "Benchmarking failed.")
    assert not parsed.complete


def test_a_capture_with_several_runs_is_read_for_the_last_one():
    first = run_text(measured=MEASURED_STATS.replace("median=7000", "median=6999"))
    last = run_text(prefix="INFO: ").replace("Num threads: [4]", "Num threads: [1]")
    parsed = parse_benchmark_log(first + "$ ./benchmark_model --num_threads=1\n" + last)
    assert parsed.runs_in_log == 2
    assert parsed.settings["Num threads"] == "1" and parsed.latency_us.median == 7000


def test_flag_warnings_between_starting_and_the_parameters_belong_to_the_run():
    text = run_text().replace("STARTING!\n", "STARTING!\nWARN: Unconsumed cmdline flags: --bogus=1\n"
                                             "Log parameter values verbosely: [0]\n")
    parsed = parse_benchmark_log(text)
    assert parsed.runs_in_log == 1 and parsed.warnings == ("Unconsumed cmdline flags: --bogus=1",)
    assert parsed.settings["Log parameter values verbosely"] == "0"


def test_the_bundled_runner_version_line_is_recorded():
    text = run_text().replace("STARTING!\n", "STARTING!\nINFO: squeezebench-litert-runner 0.1.0 (LiteRT 2.3.0)\n")
    parsed = parse_benchmark_log(text)
    assert parsed.runner_version == "squeezebench-litert-runner 0.1.0 (LiteRT 2.3.0)"
    assert parsed.runs_in_log == 1


def test_the_result_is_immutable_and_its_dict_is_json():
    parsed = parse_benchmark_log(run_text())
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.complete = False  # type: ignore[misc]
    with pytest.raises(TypeError):
        parsed.settings["Graph"] = "other"  # type: ignore[index]
    assert json.loads(json.dumps(parsed.to_dict())) == parsed.to_dict()


# --- squeezebench parse-log ------------------------------------------------------------------


def test_parse_log_json_prints_the_parse(capsys):
    log = CORPUS / "litert2_linux_arm_cpu_percentiles.log"
    assert cli_main(["parse-log", str(log), "--json"]) == ExitCode.OK
    assert json.loads(capsys.readouterr().out) == parse_benchmark_log(log.read_text()).to_dict()


def test_parse_log_summary_names_the_silent_fallback_and_exits_partial_for_an_incomplete_run(capsys):
    code = cli_main(["parse-log", str(CORPUS / "tf2_9_apk_logcat_nnapi_silent_fallback.log")])
    out = capsys.readouterr().out
    assert code == ExitCode.PARTIAL
    assert "INCOMPLETE" in out and "silent fallback" in out and "NNAPI" in out


def test_parse_log_reads_standard_input():
    log = CORPUS / "tf1_android_old_summary.log"
    result = subprocess.run([sys.executable, "-m", "harness", "parse-log", "-", "--json"],
                            input=log.read_bytes(), capture_output=True, check=False)
    assert result.returncode == ExitCode.OK, result.stderr
    assert json.loads(result.stdout)["latency_us"]["count"] == 15


@pytest.mark.parametrize("make_path, problem", [
    (lambda tmp: tmp / "missing.log", "no such file"),
    (lambda tmp: tmp, "is a directory"),
    (lambda tmp: (tmp / "notes.txt", (tmp / "notes.txt").write_text("hello\n"))[0], "no benchmark_model output"),
])
def test_parse_log_bad_input_is_one_line_with_a_fix(tmp_path, capsys, make_path, problem):
    code = cli_main(["parse-log", str(make_path(tmp_path))])
    err = capsys.readouterr().err
    assert code == ExitCode.BAD_INPUT
    assert problem in err and err.count("\n") == 1 and "Traceback" not in err
