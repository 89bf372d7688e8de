"""`squeezebench compare A B`: matching, the noise test, thresholds and exit codes."""

from __future__ import annotations

import dataclasses
import json

import pytest

from harness import stats
from harness.errors import ExitCode, UsageError
from harness.report.compare import compare_runs, parse_fail_on
from harness.store.records import OutputCheckSummary, Repeats, Sustained
from harness.store.run import open_run
from tests.report.report_runs import DIGITS, MOBILENET, PIXEL, VIRTUAL, FakeModel, build_run
from tests.support.cli import one_line_error, run_cli_in_process


def compare_json(*argv) -> tuple[int, dict]:
    done = run_cli_in_process("compare", *argv, "--json")
    return done.returncode, json.loads(done.stdout)


def compare_text(*argv) -> str:
    done = run_cli_in_process("compare", *argv)
    assert done.returncode == ExitCode.OK, done.stderr
    return done.stdout


def ok_cells(document: dict) -> list[dict]:
    return [c for c in document["cells"] if c["status_a"] == "ok" and c["status_b"] == "ok"]


def test_same_sweep_twice_on_a_virtual_device_is_within_noise(virtual_pair):
    first, second, _ = virtual_pair
    code, document = compare_json(first.root, second.root, "--fail-on", "median:20%")
    assert code == 0 and document["regression_count"] == 0
    cells = ok_cells(document)
    assert len(cells) == 4  # matched across serials 127.0.0.1:6520 and :6523
    assert all(c["metrics"]["median"]["beyond_noise"] is False for c in cells)
    assert all("Mann-Whitney" in c["metrics"]["median"]["noise"] for c in cells)
    assert compare_text(first.root, second.root).count("within noise") >= 4


def test_a_threshold_below_the_noise_floor_is_inconclusive_with_its_own_exit_code(virtual_pair):
    first, second, _ = virtual_pair
    code, document = compare_json(first.root, second.root, "--fail-on", "median:5%")
    assert code == ExitCode.INCONCLUSIVE and document["regression_count"] == 0
    assert document["inconclusive_count"] == len(ok_cells(document)) == 4
    for cell in ok_cells(document):
        median = cell["metrics"]["median"]
        assert median["inconclusive"] and median["floor"] > 0.05 and cell["inconclusive"] == ["median"]
    done = run_cli_in_process("compare", first.root, second.root, "--fail-on", "median:5%")
    assert done.returncode == ExitCode.INCONCLUSIVE
    floor = ok_cells(document)[0]["metrics"]["median"]["floor"]
    assert f"inconclusive at 5% (floor {100 * floor:.0f}%)" in done.stdout and "--repeat N" in done.stdout


def test_slowed_runner_is_a_regression_with_exit_2(virtual_pair):
    first, _, slowed = virtual_pair
    code, document = compare_json(first.root, slowed.root, "--fail-on", "median:5%")
    assert code == 2
    for cell in ok_cells(document):
        median = cell["metrics"]["median"]
        assert median["beyond_noise"] is True and median["change"] == pytest.approx(0.25, abs=0.06)
        assert cell["regressions"] == ["median"]
    # The same change under a looser threshold, or with no threshold, is reported but passes.
    assert compare_json(first.root, slowed.root, "--fail-on", "median:40%")[0] == 0
    assert "slower" in compare_text(first.root, slowed.root)


def test_without_samples_the_confidence_intervals_decide(results_root):
    a = build_run(results_root, "2026-01-04T000000Z-ns01", [PIXEL], [DIGITS], seed=21, with_samples=False)
    b = build_run(results_root, "2026-01-04T000000Z-ns02", [PIXEL], [DIGITS], seed=22, with_samples=False)
    c = build_run(results_root, "2026-01-04T000000Z-ns03", [PIXEL], [DIGITS], seed=23, with_samples=False, slowdown=1.3)
    same = compare_runs(a, b, {"median": 0.10})
    slower = compare_runs(a, c, {"median": 0.10})
    medians = [cell.metrics["median"] for cell in same.cells if "median" in cell.metrics]
    assert medians and all(m.beyond_noise is False and "CIs of the mean overlap" in m.noise for m in medians)
    assert same.exit_code == 0 and slower.exit_code == 2


def test_a_cell_that_starts_failing_is_a_regression(results_root):
    a = build_run(results_root, "2026-01-04T000000Z-st01", [PIXEL], [DIGITS], seed=31)

    def int8_crashes(model, level, device):
        return ("crashed", "runner killed by signal 11") if level == "int8" else ("ok", None)

    b = build_run(results_root, "2026-01-04T000000Z-st02", [PIXEL], [DIGITS], seed=32, outcome=int8_crashes)
    code, document = compare_json(a.root, b.root, "--fail-on", "size:1%")
    crashed = next(c for c in document["cells"] if c["level"] == "int8")
    assert code == 2 and crashed["regressions"] == ["status"] and crashed["reason_b"] == "runner killed by signal 11"
    assert compare_json(a.root, b.root)[0] == 0  # no --fail-on: a report, not a gate


def test_size_memory_and_energy_thresholds(results_root):
    bigger = FakeModel("digits-cnn", levels={**DIGITS.levels, "int8": (0.30, 0.968, 0.55, None)})
    a = build_run(results_root, "2026-01-04T000000Z-sz01", [PIXEL], [DIGITS], seed=41)
    b = build_run(results_root, "2026-01-04T000000Z-sz02", [PIXEL], [bigger], seed=42)
    comparison = compare_runs(a, b, {"size": 0.01, "memory": 0.05, "energy": 0.5})
    regressed = {(cell.level, tuple(cell.regressions)) for cell in comparison.regressions}
    assert regressed == {("int8", ("size",))}
    int8 = next(c for c in comparison.cells if c.level == "int8")
    assert int8.metrics["size"].change == pytest.approx(0.30 / 0.26 - 1, rel=1e-3)
    assert int8.metrics["memory"].change == 0 and int8.metrics["energy"].noise == "no spread recorded"


def test_invalid_energy_is_not_compared(results_root):
    charging = dataclasses.replace(PIXEL, charging=True, energy_method="battery-gauge")
    a = build_run(results_root, "2026-01-04T000000Z-en01", [PIXEL], [DIGITS], seed=51)
    b = build_run(results_root, "2026-01-04T000000Z-en02", [charging], [DIGITS], seed=52, slowdown=2.0)
    comparison = compare_runs(a, b, {"energy": 0.01})
    energy = next(c for c in comparison.cells if c.level == "fp32").metrics["energy"]
    assert energy.change is None and energy.noise.startswith("not comparable") and not energy.regression


def as_format_1(store):
    """The run as squeezebench wrote it before bench/run format 2, energy without its window, read
    back (through the migrations)."""
    path = store.root / "run.json"
    document = json.loads(path.read_text())
    document["schema_version"] = 1
    for cell in document["cells"]:
        if cell["summary"] and cell["summary"]["energy"]:
            del cell["summary"]["energy"]["window"]
    path.write_text(json.dumps(document))
    for bench in store.root.rglob("bench.json"):
        document = json.loads(bench.read_text())
        document["schema_version"] = 1
        if document.get("energy"):
            del document["energy"]["window"]
        bench.write_text(json.dumps(document))
    return open_run(store.root)


def test_energy_over_another_window_is_not_compared(results_root):
    a = build_run(results_root, "2026-01-04T000000Z-ew01", [PIXEL], [DIGITS], seed=53)
    b = build_run(results_root, "2026-01-04T000000Z-ew02", [PIXEL], [DIGITS], seed=54, slowdown=2.0)
    assert compare_runs(a, b, {"energy": 0.01}).regressions  # same window: compared
    comparison = compare_runs(as_format_1(a), b, {"energy": 0.01})
    energy = next(c for c in comparison.cells if c.level == "fp32").metrics["energy"]
    assert energy.change is None and not energy.regression
    assert energy.noise.startswith("not comparable: A covers the runner's whole life")


def test_runs_without_common_cells_and_bad_thresholds(mixed_run, results_root):
    other = build_run(
        results_root, "2026-01-04T000000Z-oth1", [VIRTUAL], [dataclasses.replace(MOBILENET, name="other")]
    )
    for exit_code, argv in [
        (ExitCode.NOTHING_RAN, [mixed_run.root, other.root]),
        (ExitCode.USAGE, [mixed_run.root, mixed_run.root, "--fail-on", "median:five"]),
        (ExitCode.BAD_INPUT, [mixed_run.root, results_root / "missing"]),
    ]:
        done = run_cli_in_process("compare", *argv)
        one_line_error(done.returncode, done.stderr, exit_code)


def test_parse_fail_on():
    assert parse_fail_on("median:5%,energy:10%, memory:2.5,size:0%") == {
        "median": 0.05,
        "energy": 0.10,
        "memory": 0.025,
        "size": 0.0,
    }
    assert parse_fail_on("agreement:1%,sustained-p90:10%") == {"agreement": 0.01, "sustained-p90": 0.10}
    for bad in ("median", "p99:5%", "median:-1%", "median:x", "median:nan"):
        with pytest.raises(UsageError):
            parse_fail_on(bad)


def test_a_significant_shift_inside_the_spread_is_within_noise(results_root):
    """Thousands of samples make a 4% shift 'significant'; it is still smaller than the drift
    between identical runs (half the p5-p95 spread), so it is within noise and fails no gate."""
    a = build_run(results_root, "2026-01-04T000000Z-fl01", [PIXEL], [DIGITS], seed=61, cv=0.10, n_samples=3000)
    b = build_run(
        results_root, "2026-01-04T000000Z-fl02", [PIXEL], [DIGITS], seed=62, cv=0.10, n_samples=3000, slowdown=1.04
    )
    comparison = compare_runs(a, b, {"median": 0.03})
    medians = [cell.metrics["median"] for cell in comparison.cells if "median" in cell.metrics]
    # The gate cannot see 3% through a floor of about 16%: it says so rather than passing.
    assert medians and comparison.exit_code == ExitCode.INCONCLUSIVE and not comparison.regressions
    for median in medians:
        assert median.change == pytest.approx(0.04, abs=0.015)
        p = float(median.noise.split("p=")[1].split(",")[0])
        assert p < 0.01 and median.beyond_noise is False and "within noise" in median.noise


def with_repeats(spread: float, count: int = 5):
    """extend= for build_run: each cell measured in `count` runner processes whose medians spread
    by `spread` (relative standard deviation) around the cell's median."""

    def extend(cell, measured, rng):
        median = measured.latency_us.median
        medians = tuple(median * (1 + rng.gauss(0.0, spread)) for _ in range(count))
        return dataclasses.replace(measured, repeats=Repeats(count, medians, stats.relative_std(medians)))

    return extend


def test_repeated_runs_give_a_floor_low_enough_for_a_5_percent_gate(results_root):
    """Samples spread 10% (a half p5-p95 floor of about 16%), but five runner processes per cell
    agree within 0.5%: their t-test resolves about 1%, so a 5% gate can see, and a 25% slowdown fails."""
    kwargs = dict(cv=0.10, n_samples=2000, extend=with_repeats(0.005))
    a = build_run(results_root, "2026-01-04T000000Z-rp01", [PIXEL], [DIGITS], seed=71, **kwargs)
    b = build_run(results_root, "2026-01-04T000000Z-rp02", [PIXEL], [DIGITS], seed=72, **kwargs)
    c = build_run(results_root, "2026-01-04T000000Z-rp03", [PIXEL], [DIGITS], seed=73, slowdown=1.25, **kwargs)
    same = compare_runs(a, b, {"median": 0.05})
    assert same.exit_code == ExitCode.OK and not same.inconclusive
    measured = [cell for cell in same.cells if "median" in cell.metrics]
    assert measured
    for cell in measured:
        median = cell.metrics["median"]
        assert median.floor < 0.05 and "5/5 repeated runs" in median.noise and not median.regression
    slower = compare_runs(a, c, {"median": 0.05})
    assert slower.exit_code == ExitCode.REGRESSION
    assert all(cell.regressions == ["median"] for cell in slower.cells if "median" in cell.metrics)


def _checked(agreement_by_level: dict[str, float], numerics_levels=(), sustained_p90_us=None):
    def extend(cell, measured, rng):
        agreement = agreement_by_level.get(cell["level"], 1.0)
        check = OutputCheckSummary(available=True, samples=64, top1_agreement_fp32=agreement,
                                   top1_agreement_level=1.0, numerics=cell["level"] in numerics_levels,
                                   worst_index=3 if cell["level"] in numerics_levels else None, verdict="v")
        sustained = None
        if sustained_p90_us:
            sustained = Sustained(duration_s=60, interval_s=30, intervals=(), p90_us=sustained_p90_us, median_us=None,
                                  throttled=False, began_interval=None, began_s=None, why=None, slowdown=None,
                                  min_cap_fraction=None, clocks=None)
        return dataclasses.replace(measured, output_check=check, sustained=sustained)

    return extend


def test_gates_on_device_agreement_and_numerics_and_on_sustained_p90(results_root):
    a = build_run(results_root, "2026-01-04T000000Z-ag01", [PIXEL], [DIGITS], seed=81,
                  extend=_checked({"int8": 0.98}, sustained_p90_us=1000.0))
    b = build_run(results_root, "2026-01-04T000000Z-ag02", [PIXEL], [DIGITS], seed=82,
                  extend=_checked({"int8": 0.95}, numerics_levels=("fp16",), sustained_p90_us=1150.0))
    code, document = compare_json(a.root, b.root, "--fail-on", "agreement:1%")
    regressed = {c["level"]: c["regressions"] for c in document["cells"] if c["regressions"]}
    assert code == ExitCode.REGRESSION and regressed == {"int8": ["agreement"], "fp16": ["agreement"]}
    int8 = next(c for c in document["cells"] if c["level"] == "int8")["metrics"]["agreement"]
    assert int8["change"] == pytest.approx(-0.03)
    fp16 = next(c for c in document["cells"] if c["level"] == "fp16")["metrics"]["agreement"]
    assert "B flagged numerics" in fp16["noise"]
    assert compare_json(a.root, b.root, "--fail-on", "agreement:5%")[1]["regression_count"] == 1  # numerics
    code, document = compare_json(a.root, b.root, "--fail-on", "sustained-p90:10%")
    assert code == ExitCode.REGRESSION and all(c["regressions"] == ["sustained-p90"] for c in ok_cells(document))
    assert compare_json(a.root, b.root, "--fail-on", "sustained-p90:20%")[0] == ExitCode.OK
