"""squeezebench's Python API: run a sweep, load a run's results, compare two runs.

    import squeezebench

    outcome = squeezebench.run(["digits-cnn"], levels="fp32,int8", threads=[1], runs=20)
    results = squeezebench.load(outcome.run_dir)   # one typed CellRecord per cell
    for cell in results.records:
        print(cell.level, cell.status, cell.latency_median_us, cell.quality)
    frame = results.frame()                        # the same records as a pandas DataFrame
    comparison = squeezebench.compare(run_a, run_b, fail_on="median:5%")
    comparison.exit_code, [c.regressions for c in comparison.cells]

The keyword arguments of `run` are the options of `squeezebench run`, named as the fields of
`harness.sweep.spec.SweepSpec` (levels, devices, threads, delegates, data, adb_servers,
virtual_profile, auto_virtual, ...) and of `harness.bench.settings.Measurement` (runs,
warmup_runs, min_secs, max_secs, cooldown_s, taskset, suspend_charging, idle_baseline_s, ...).
Errors are `harness.errors.SqueezebenchError` subclasses with `problem`, `fix` and `exit_code`.

`harness` is the implementation package; this module is the stable surface. Nothing heavy is
imported until a function is called.
"""

from __future__ import annotations

from pathlib import Path

from harness import __version__

__all__ = ["__version__", "run", "load", "compare"]


def run(models=(), *, results_root: Path | str | None = None, resume: Path | str | None = None,
        progress: bool = False, **options):
    """Sweep `models` (zoo names or model files) x levels x devices x settings, as `squeezebench
    run` does; returns the outcome (`run_dir`, `counts` by status, `exit_code`, `store`)."""
    from dataclasses import fields

    from harness.bench.settings import Measurement
    from harness.sweep.engine import run_sweep
    from harness.sweep.progress import Reporter
    from harness.sweep.spec import SweepSpec

    spec = None
    if not resume:
        for name in ("devices", "threads", "delegates", "adb_servers", "runner_args"):
            value = options.get(name)
            if isinstance(value, (list, str)):
                options[name] = tuple(value.split(",") if isinstance(value, str) else value)
        measurement_names = {f.name for f in fields(Measurement)}
        measurement = Measurement(**{k: options.pop(k) for k in list(options) if k in measurement_names})
        models = (models,) if isinstance(models, (str, Path)) else models
        spec = SweepSpec(models=tuple(str(m) for m in models), measurement=measurement, **options)
    return run_sweep(
        spec,
        results_root=Path(results_root) if results_root else None,
        command_line=["squeezebench.run(...)"],
        resume=str(resume) if resume else None,
        reporter=Reporter(quiet=not progress),
    )


def load(*runs: Path | str):
    """The results of one or more runs (directories, or ids under ./results): a ResultSet whose
    `records` are typed CellRecords (harness/report/load.py) and whose `frame()` is a DataFrame."""
    from harness.report.load import load_results

    return load_results(list(runs))


def compare(run_a: Path | str, run_b: Path | str, *, fail_on: str | None = None):
    """Every cell the two runs share, what changed and whether it is beyond noise, as `squeezebench
    compare` decides; `exit_code` is what the CLI would exit with."""
    from harness.report.compare import compare_runs, parse_fail_on
    from harness.report.load import open_run_ref

    return compare_runs(open_run_ref(run_a), open_run_ref(run_b), parse_fail_on(fail_on))
