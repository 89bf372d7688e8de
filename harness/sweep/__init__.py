"""The sweep behind `squeezebench run`, and the same thing as a Python API:

    import harness
    outcome = harness.run(["digits-cnn"], levels="fp32,int8", threads=[1, 4])
    outcome.store.root, outcome.counts, outcome.exit_code

Keyword arguments are the fields of `harness.sweep.spec.SweepSpec` (levels=, devices=, threads=,
delegates=, adb_servers=, ...) and of `harness.bench.ondevice.Measurement` (runs=, min_secs=,
cooldown_s=, ...), plus results_root= and resume=.
"""

from __future__ import annotations

from pathlib import Path


def run(models=(), *, results_root: Path | None = None, resume: str | None = None, progress: bool = False, **settings):
    from dataclasses import fields

    from harness.bench.ondevice import Measurement
    from harness.sweep.engine import run_sweep
    from harness.sweep.progress import Reporter
    from harness.sweep.spec import SweepSpec

    spec = None
    if not resume:
        for name in ("devices", "threads", "delegates", "adb_servers", "runner_args"):
            if isinstance(settings.get(name), (list, str)):
                value = settings[name]
                settings[name] = tuple(value.split(",") if isinstance(value, str) else value)
        measurement_names = {f.name for f in fields(Measurement)}
        measurement = Measurement(**{k: settings.pop(k) for k in list(settings) if k in measurement_names})
        spec = SweepSpec(
            models=tuple([models] if isinstance(models, str) else models), measurement=measurement, **settings
        )
    return run_sweep(
        spec,
        results_root=results_root,
        command_line=["harness.run(...)"],
        resume=resume,
        reporter=Reporter(quiet=not progress),
    )
