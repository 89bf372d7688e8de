"""Building one level: the model loaded once per process, the level's steps applied, the result
converted and run on the evaluation inputs. Runs in the converting process or in a worker process
(harness/convert/workers.py), reporting its steps as it goes (harness/convert/progress.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from harness.convert import cache, document
from harness.convert import levels as level_names
from harness.convert.data import DataSet, InputSpec
from harness.convert.progress import StepReport, ignore_steps
from harness.convert.sources import Source
from harness.errors import InputError
from harness.jsonfile import write_bytes_atomic

MAX_REASON_CHARS = 600


class LevelSkipped(Exception):
    """The input cannot have this level (found out only once the model was loaded)."""


@dataclass(frozen=True)
class BuildRequest:
    """One level to build; picklable, so that a worker process can build it."""

    source: Source
    dataset: DataSet
    level: str
    scratch: Path  # receives model.tflite and outputs.npz
    shared_dir: Path  # what the levels of one run share across processes (the SavedModel export)


class Workbench:
    """A loaded model plus what several levels share (teacher outputs for fine-tuning)."""

    def __init__(self, source: Source, dataset: DataSet):
        from harness.convert.sources import load_source

        self.source = source
        self.dataset = dataset
        self.loaded = load_source(source)
        dataset.check_fits(self.loaded.input_spec, source.name)
        self._training = None
        self._load_notes = list(self.loaded.notes)

    def take_load_notes(self) -> list[str]:
        """Warnings from loading the model, given to the first level built from it."""
        notes, self._load_notes = self._load_notes, []
        return notes

    @property
    def input_spec(self) -> InputSpec:
        return self.loaded.input_spec

    def training_data(self):
        from harness.convert import optimize

        if self._training is None and self.dataset.has_training:
            from harness.convert.data import class_ids

            self._training = optimize.training_data(
                self.loaded.tf_keras_model, self.dataset.get("x_train"), class_ids(self.dataset.get("y_train"))
            )
        return self._training


_workbenches: dict[tuple, Workbench] = {}


def workbench(source: Source, dataset: DataSet, report: StepReport) -> Workbench:
    """This process's Workbench for the input, loading the model the first time."""
    key = (source.sha256, dataset.sha256, dataset.random_calibration)
    if key not in _workbenches:
        _workbenches.clear()  # one model at a time per process
        report("loading the model")
        _workbenches[key] = Workbench(source, dataset)
    return _workbenches[key]


def forget_models() -> None:
    """Free this process's loaded model; the next run of the same input is served by the cache."""
    _workbenches.clear()


def tflite_input_spec(model_bytes: bytes) -> InputSpec:
    from harness.convert.inspect import io_tensors

    inputs, _outputs = io_tensors(model_bytes)
    if len(inputs) != 1:
        raise InputError(
            f"the .tflite has {len(inputs)} inputs; squeezebench evaluates single-input models",
            "give a model with one input tensor",
        )
    shape = tuple(None if d < 0 else d for d in inputs[0]["shape_signature"])
    return InputSpec(shape, inputs[0]["dtype"])


def build_level(request: BuildRequest, report: StepReport = ignore_steps) -> dict:
    """Produce one level into request.scratch (model.tflite, outputs.npz). Returns a result dict:
    status ok (details, notes, conversion_s, evaluated) or failed/skipped (reason, details).
    Raises InputError when the input itself is bad."""
    from harness.convert import evaluate, tfenv

    source, dataset = request.source, request.dataset
    parsed = level_names.parse_level(request.level)
    if source.is_tflite:
        report("reading the .tflite")
        input_bytes = _read_tflite_input(source)
        spec = tflite_input_spec(input_bytes)
        dataset.check_fits(spec, source.name)
        produce = partial(_from_tflite, input_bytes, parsed, dataset, spec, report)
    else:
        bench = workbench(source, dataset, report)
        spec = bench.input_spec
        produce = partial(_produce, bench, parsed, request.shared_dir, report)
    start = time.perf_counter()
    error = None
    with tfenv.captured_output() as captured:
        try:
            tfenv.reset_seeds()
            model_bytes, details, produce_notes = produce()
        except LevelSkipped as e:
            return {"status": document.STATUS_SKIPPED, "reason": str(e), "details": {}}
        except Exception as e:  # the converter, tfmot and the quantizer raise many kinds; each is this level's failure
            error = e
    if error is not None:
        return _failure(error, captured)  # after the capture ends, so its log is complete
    conversion_s = 0.0 if parsed.name == level_names.AS_IS else time.perf_counter() - start
    notes = produce_notes + captured.notes()
    start = time.perf_counter()
    try:
        outputs, run_notes = evaluate.run_model(model_bytes, dataset.eval_inputs(spec), report)
        notes = notes + run_notes
    except evaluate.RejectedModel as e:
        if parsed.name == level_names.AS_IS:
            raise InputError(f"{source.text}: LiteRT cannot run this .tflite: {e}", "check the model file") from None
        reason = f"LiteRT rejects the converted model: {e}"
        return {"status": document.STATUS_FAILED, "reason": reason, "details": details}
    except evaluate.UnsupportedModel as e:
        outputs, notes = None, notes + [f"not evaluated on the host: {e}"]
    eval_s = time.perf_counter() - start
    write_bytes_atomic(request.scratch / cache.TFLITE_NAME, model_bytes)
    np.savez(request.scratch / cache.OUTPUTS_NAME, *(outputs or []))
    return {
        "status": document.STATUS_OK,
        "details": {**details, "eval_s": round(eval_s, 3)},
        "notes": notes,
        "conversion_s": round(conversion_s, 3),
        "evaluated": outputs is not None,
    }


def _read_tflite_input(source: Source) -> bytes:
    from harness.convert import evaluate
    from harness.convert.inspect import has_tflite_identifier

    model_bytes = source.path.read_bytes()
    if not has_tflite_identifier(model_bytes):
        raise InputError(f"{source.text} is not a TFLite flatbuffer (no TFL3 identifier)", "give a .tflite file")
    try:
        evaluate.open_interpreter(model_bytes)
    except evaluate.RejectedModel as e:
        raise InputError(f"{source.text}: LiteRT rejects this .tflite: {e}", "re-export the model") from None
    return model_bytes


def _from_tflite(
    model_bytes: bytes, level: level_names.Level, dataset: DataSet, spec: InputSpec, report: StepReport
) -> tuple[bytes, dict, list[str]]:
    """A .tflite input's level: the file itself, or the file through a quantizer recipe."""
    if level.recipe is None:
        return model_bytes, {"converted": False}, []
    return *_apply_recipe(model_bytes, level.recipe, dataset, spec, report), []


def _apply_recipe(
    model_bytes: bytes, recipe: str, dataset: DataSet, spec: InputSpec, report: StepReport
) -> tuple[bytes, dict]:
    from harness.convert import aeq

    samples = dataset.calibration_inputs(spec)
    if samples is None:  # only validation needs samples here; calibration was checked when planning
        samples = dataset.eval_inputs(spec)
    try:
        quantized, details = aeq.quantize(model_bytes, recipe, samples, report)
    except aeq.RecipeError as e:
        raise LevelSkipped(str(e)) from None
    return quantized, {"ai_edge_quantizer": details}


def _produce(
    bench: Workbench, level: level_names.Level, shared_dir: Path, report: StepReport
) -> tuple[bytes, dict, list[str]]:
    """A converted level: Keras steps, the TFLite converter, then a quantizer recipe."""
    from harness.convert import optimize, restructure, tflite_convert

    details: dict = {}
    if level.changes_weights:
        if bench.loaded.tf_keras_model is None:
            raise LevelSkipped(bench.loaded.keras_problem)
        model = optimize.clone(bench.loaded.tf_keras_model)
        if bench.dataset.has_training:
            report("computing the original model's outputs for fine-tuning")
        training = bench.training_data()
        try:
            model = optimize.apply_keras_steps(model, level, training, report, details)
        except restructure.RestructureError as e:
            raise LevelSkipped(str(e)) from None
        converter_input = model
    else:
        report("exporting a SavedModel")
        converter_input = bench.loaded.saved_model_dir(shared_dir)
    calibration = bench.dataset.calibration_inputs(bench.input_spec) if level.needs_calibration else None
    report("converting")
    model_bytes, details["converter_settings"] = tflite_convert.convert(
        converter_input,
        level.quantization,
        # The quantizer reads dense weights only: a pruned model it quantizes keeps its zeros dense.
        sparse=level.sparsity_percent is not None and level.recipe is None,
        calibration=calibration,
        report=report,
    )
    if level.recipe is not None:
        model_bytes, recipe_details = _apply_recipe(model_bytes, level.recipe, bench.dataset, bench.input_spec, report)
        details.update(recipe_details)
    return model_bytes, details, bench.take_load_notes() + _training_notes(level, bench)


def _training_notes(level: level_names.Level, bench: Workbench) -> list[str]:
    if level.changes_weights and not bench.dataset.has_training:
        return ["not fine-tuned after pruning/clustering: no training data (x_train in --data)"]
    return []


def _failure(error: BaseException, captured) -> dict:
    message = " ".join(str(error).split()) or type(error).__name__
    # MLIR converter errors put the useful part on a line "<location>: error: <what>".
    for line in str(error).splitlines():
        if "error:" in line:
            message = line[line.index("error:") :].strip()
            break
    return {
        "status": document.STATUS_FAILED,
        "reason": f"{type(error).__name__}: {message}"[:MAX_REASON_CHARS],
        "details": {"message": str(error)[:4000], "log_tail": captured.tail()},
    }
