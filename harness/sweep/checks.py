"""What each model's outputs are checked with on the devices of a sweep: the evaluation data its
conversion used (a zoo model's own, or --data's x_eval), and its reference level's file."""

from __future__ import annotations

from pathlib import Path


def check_data_for(spec, source: str, model: dict, run_root: Path, say) -> object | None:
    """A harness.bench.output_pass.CheckData, or None when outputs are not checked: not wanted
    (--no-check-outputs), or no real evaluation data (then said, when it was asked for)."""
    from harness.bench.output_pass import CheckData
    from harness.convert import evaluation_data

    wanted = spec.measurement.check_outputs
    if wanted is False:
        return None
    found = evaluation_data(source, Path(spec.data) if spec.data else None)
    if found is None:
        if wanted:
            say(f"{model['name']}: no evaluation data, outputs not checked on devices "
                "(give --data with x_eval, and y_eval for accuracy)")
        return None
    inputs, labels, origin = found
    reference = model.get("reference_level")
    level = (model.get("levels") or {}).get(reference) or {}
    reference_file = run_root / model["dir"] / level["file"] if level.get("status") == "ok" else None
    count = min(len(inputs), spec.measurement.check_samples)
    return CheckData(inputs, labels, f"{origin} evaluation data, {count} samples", reference_file)
