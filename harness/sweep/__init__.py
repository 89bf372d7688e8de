"""The sweep behind `squeezebench run`, and the same thing as a Python API:

    import harness
    outcome = harness.run(["digits-cnn"], levels="fp32,int8", threads=[1, 4])
    outcome.store.root, outcome.counts, outcome.exit_code

Keyword arguments are the fields of `harness.sweep.spec.SweepSpec` (runs=, delegates=, devices=,
cooldown_s=, adb_server=, ...), plus results_root= and resume=.
"""

from __future__ import annotations

from pathlib import Path


def run(models=(), *, results_root: Path | None = None, resume: str | None = None, progress: bool = False, **settings):
    from harness.sweep.engine import run_sweep
    from harness.sweep.progress import Reporter
    from harness.sweep.spec import SweepSpec

    spec = None
    if not resume:
        for name in ("devices", "threads", "delegates", "runner_args"):
            if isinstance(settings.get(name), (list, str)):
                value = settings[name]
                settings[name] = tuple(value.split(",") if isinstance(value, str) else value)
        spec = SweepSpec(models=tuple([models] if isinstance(models, str) else models), **settings)
    return run_sweep(
        spec,
        results_root=results_root,
        command_line=["harness.run(...)"],
        resume=resume,
        reporter=Reporter(quiet=not progress),
    )
