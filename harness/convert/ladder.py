"""One model through its levels: plan, cache lookups, conversions (in-process or in parallel
processes), host evaluation, and the conversion document written after every level.

The reference (fp32, or `as-is` for a .tflite input) is always produced, even when not asked for
(then marked `reference_only`), because ratios and fidelity are measured against it. A level that
fails is recorded with the converter's message and the others go on; bad input (a corrupt model,
data that does not fit it) stops the run with an InputError before anything is written for it.
"""

from __future__ import annotations

import multiprocessing
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from harness.convert import cache, document
from harness.convert import levels as level_names
from harness.convert.data import DataSet, InputSpec, load_npz, no_data
from harness.convert.sources import Source, resolve_source
from harness.digests import sha256_file
from harness.errors import InputError, SqueezebenchError
from harness.jsonfile import write_bytes_atomic, write_json_atomic

Progress = Callable[[str], None]
MAX_REASON_CHARS = 600


class LevelSkipped(Exception):
    """The input cannot have this level (found out only once the model was loaded)."""


# ---------------------------------------------------------------------------------------------
# Planning (no TensorFlow)


def resolve_data(source: Source, data: Path | None, random_calibration: bool) -> DataSet:
    """The user's .npz, else the zoo model's own data, else none; random calibration only on
    request, and only where there is no real calibration data (`run` passes the flag to every
    model of a sweep: the zoo's digits-cnn keeps its own)."""
    if data is not None:
        dataset = load_npz(Path(data))
    elif source.zoo_data is not None:
        dataset = load_npz(source.zoo_data, origin=source.zoo_data_origin)
    else:
        dataset = no_data()
    if random_calibration and dataset.calibration_source() is None:
        return replace(dataset, random_calibration=True)
    return dataset


@dataclass(frozen=True)
class Plan:
    """The levels of one run: the reference first, then the others in the order asked for."""

    levels: list[str]
    requested: frozenset[str]  # the rest is produced only as the reference
    skip_reasons: dict[str, str]  # levels this input cannot have, and why
    notes: list[str]

    @property
    def reference(self) -> str:
        return self.levels[0]


def parse_requested(levels: str | list[str]) -> list[str]:
    return level_names.parse_levels(levels if isinstance(levels, str) else ",".join(levels))


def plan_levels(source: Source, dataset: DataSet, names: list[str]) -> Plan:
    """`all` expanded for this input, the reference added, unsupported levels given their reason."""
    capabilities = level_names.Capabilities(
        is_tflite=source.is_tflite,
        keras_problem=source.keras_problem,
        has_calibration=dataset.has_calibration,
        has_training=dataset.has_training,
    )
    expanded, notes = level_names.expand_levels(names, capabilities)
    reference = level_names.AS_IS if source.is_tflite else level_names.REFERENCE
    ordered = [reference] + [name for name in expanded if name != reference]
    skip_reasons = {
        name: reason
        for name in ordered
        if (reason := level_names.unsupported_reason(level_names.parse_level(name), capabilities))
    }
    requested = set(ordered[1:])
    if reference in names or level_names.ALL in names:
        requested.add(reference)
    return Plan(ordered, frozenset(requested), skip_reasons, notes)


# ---------------------------------------------------------------------------------------------
# Building one level (TensorFlow; runs in this process or in a worker process)


class Workbench:
    """A loaded model plus what several levels share (exported SavedModel, teacher outputs)."""

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


def workbench(source: Source, dataset: DataSet) -> Workbench:
    key = (source.sha256, dataset.sha256, dataset.random_calibration)
    if key not in _workbenches:
        _workbenches.clear()  # one model at a time per process
        _workbenches[key] = Workbench(source, dataset)
    return _workbenches[key]


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


def build_level(source: Source, dataset: DataSet, level: str, scratch: Path) -> dict:
    """Produce one level into `scratch` (model.tflite, outputs.npz). Returns a result dict:
    status ok (details, notes, conversion_s, eval_s) or failed/skipped (reason, details).
    Raises InputError when the input itself is bad."""
    from harness.convert import evaluate, tfenv

    parsed = level_names.parse_level(level)
    if parsed.quantization == level_names.AS_IS:
        model_bytes, details, notes, conversion_s = _read_tflite_input(source)
        spec = tflite_input_spec(model_bytes)
        dataset.check_fits(spec, source.name)
    else:
        bench = workbench(source, dataset)
        spec = bench.input_spec
        start = time.perf_counter()
        error = None
        with tfenv.captured_output() as captured:
            try:
                tfenv.reset_seeds()
                model_bytes, details = _produce(bench, parsed)
                produce_notes = bench.take_load_notes() + _training_notes(parsed, bench)
            except LevelSkipped as e:
                return {"status": document.STATUS_SKIPPED, "reason": str(e), "details": {}}
            except Exception as e:  # the converter and tfmot raise many kinds; each is this level's failure
                error = e
        if error is not None:
            return _failure(error, captured)  # after the capture ends, so its log is complete
        conversion_s = time.perf_counter() - start
        notes = produce_notes + captured.notes()
    start = time.perf_counter()
    try:
        outputs, run_notes = evaluate.run_model(model_bytes, dataset.eval_inputs(spec))
        notes = notes + run_notes
    except evaluate.RejectedModel as e:
        if parsed.quantization == level_names.AS_IS:
            raise InputError(f"{source.text}: LiteRT cannot run this .tflite: {e}", "check the model file") from None
        reason = f"LiteRT rejects the converted model: {e}"
        return {"status": document.STATUS_FAILED, "reason": reason, "details": details}
    except evaluate.UnsupportedModel as e:
        outputs, notes = None, notes + [f"not evaluated on the host: {e}"]
    eval_s = time.perf_counter() - start
    write_bytes_atomic(scratch / cache.TFLITE_NAME, model_bytes)
    np.savez(scratch / cache.OUTPUTS_NAME, *(outputs or []))
    return {
        "status": document.STATUS_OK,
        "details": {**details, "eval_s": round(eval_s, 3)},
        "notes": notes,
        "conversion_s": round(conversion_s, 3),
        "evaluated": outputs is not None,
    }


def _read_tflite_input(source: Source) -> tuple[bytes, dict, list, float]:
    from harness.convert import evaluate
    from harness.convert.inspect import has_tflite_identifier

    model_bytes = source.path.read_bytes()
    if not has_tflite_identifier(model_bytes):
        raise InputError(f"{source.text} is not a TFLite flatbuffer (no TFL3 identifier)", "give a .tflite file")
    try:
        evaluate.open_interpreter(model_bytes)
    except evaluate.RejectedModel as e:
        raise InputError(f"{source.text}: LiteRT rejects this .tflite: {e}", "re-export the model") from None
    return model_bytes, {"converted": False}, [], 0.0


def _produce(bench: Workbench, level: level_names.Level) -> tuple[bytes, dict]:
    from harness.convert import optimize, tflite_convert

    details: dict = {}
    if level.changes_weights:
        if bench.loaded.tf_keras_model is None:
            raise LevelSkipped(bench.loaded.keras_problem)
        model = optimize.clone(bench.loaded.tf_keras_model)
        training = bench.training_data()
        if level.distilled:
            model, details["distillation"] = optimize.distill(model, training)
        if level.sparsity_percent is not None:
            model, details["pruning"] = optimize.prune(model, level.sparsity_percent / 100, training)
        if level.clusters is not None:
            model, details["clustering"] = optimize.cluster(
                model, level.clusters, training, preserve_sparsity=level.sparsity_percent is not None
            )
        converter_input = model
    else:
        converter_input = bench.loaded.saved_model_dir()
    calibration = bench.dataset.calibration_inputs(bench.input_spec) if level.needs_calibration else None
    model_bytes, details["converter_settings"] = tflite_convert.convert(
        converter_input, level.quantization, sparse=level.sparsity_percent is not None, calibration=calibration
    )
    return model_bytes, details


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


def _build_in_worker(source: Source, dataset: DataSet, level: str, scratch: Path) -> dict:
    """Worker-process entry: bad-input errors come back as data (exceptions lose their fix)."""
    try:
        return build_level(source, dataset, level, scratch)
    except SqueezebenchError as e:
        return {"status": "input_error", "problem": e.problem, "fix": e.fix}


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class Ladder:
    source: Source
    dataset: DataSet
    out_dir: Path
    doc: dict
    plan: Plan
    jobs: int
    progress: Progress

    def run(self) -> dict:
        reference = self.plan.reference
        keys = {level: self._key(level) for level in self.plan.levels}
        entries: dict[str, dict] = {}
        to_build = []
        for level in self.plan.levels:
            skip_reason = self.plan.skip_reasons.get(level)
            hit = None if skip_reason else cache.lookup(keys[level])
            if skip_reason:
                self._record(entries, self._entry(level, document.STATUS_SKIPPED, reason=skip_reason))
            elif hit is not None:
                self._record(entries, self._entry_from_cache(level, hit, cached=True))
            else:
                to_build.append(level)
        # Fidelity is measured against the reference's outputs: results that arrive before the
        # reference's (parallel builds) wait for it.
        waiting: dict[str, tuple[dict, Path]] = {}
        outputs = None
        for level, (result, scratch) in self._results(to_build):
            waiting[level] = (result, scratch)
            if reference not in entries and reference in waiting:
                self._record(entries, self._finish(reference, keys[reference], *waiting.pop(reference), None))
            if reference in entries:
                if outputs is None:
                    outputs = self._reference_outputs(entries[reference], keys[reference])
                for ready in list(waiting):
                    self._record(entries, self._finish(ready, keys[ready], *waiting.pop(ready), outputs))
        _workbenches.clear()  # free the model; the next run of the same input is served by the cache
        return self.doc

    def _reference_outputs(self, entry: dict, key: str) -> list[np.ndarray] | None:
        hit = cache.lookup(key) if entry["status"] == document.STATUS_OK else None
        return _load_outputs(hit.outputs_path) if hit else None

    def _record(self, entries: dict[str, dict], entry: dict) -> None:
        entries[entry["level"]] = entry
        self._save(entries)
        self._report(entry)

    def _results(self, to_build: list[str]) -> Iterator[tuple[str, tuple[dict, Path]]]:
        if not to_build:
            return
        if self.jobs <= 1 or len(to_build) == 1:
            for level in to_build:
                self.progress(f"{level}: {'measuring' if level == level_names.AS_IS else 'converting'}")
                scratch = cache.scratch_dir()
                try:
                    result = build_level(self.source, self.dataset, level, scratch)
                except BaseException:
                    shutil.rmtree(scratch, ignore_errors=True)
                    raise
                yield level, (result, scratch)
            return
        yield from self._parallel_results(to_build)

    def _parallel_results(self, to_build: list[str]) -> Iterator[tuple[str, tuple[dict, Path]]]:
        workers = min(self.jobs, len(to_build))
        self.progress(f"converting {len(to_build)} levels in {workers} processes")
        scratches = {level: cache.scratch_dir() for level in to_build}
        context = multiprocessing.get_context("spawn")  # TensorFlow is not fork-safe
        executor = ProcessPoolExecutor(max_workers=workers, mp_context=context)
        try:
            futures = {
                executor.submit(_build_in_worker, self.source, self.dataset, level, scratches[level]): level
                for level in to_build
            }
            remaining = set(futures)
            while remaining:
                done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for future in done:
                    level = futures[future]
                    try:
                        result = future.result()
                    except Exception as e:  # the worker died (crash, out of memory): this level failed
                        result = {"status": document.STATUS_FAILED, "reason": f"worker process failed: {e!r}"}
                    if result["status"] == "input_error":
                        raise InputError(result["problem"], result["fix"])
                    yield level, (result, scratches.pop(level))
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
            for scratch in scratches.values():
                shutil.rmtree(scratch, ignore_errors=True)

    def _key(self, level: str) -> str:
        return cache.level_key(
            model_sha256=self.source.sha256,
            level=level,
            data_sha256=self.dataset.sha256,
            random_calibration=self.dataset.random_calibration,
            versions=self.doc["converter"],
        )

    def _finish(self, level: str, key: str, result: dict, scratch: Path, reference_outputs) -> dict:
        """Evaluate against the reference, commit to the cache, copy into --out."""
        if result["status"] != document.STATUS_OK:
            shutil.rmtree(scratch, ignore_errors=True)
            self.progress(f"{level}: {result['status']}: {result['reason']}")
            return self._entry(level, result["status"], reason=result["reason"], details=result.get("details", {}))
        from harness.convert import evaluate
        from harness.convert.inspect import inspect_tflite

        model_bytes = (scratch / cache.TFLITE_NAME).read_bytes()
        facts = inspect_tflite(model_bytes)
        sparse_count = facts.pop("sparse_tensor_count")
        record = {
            **facts,
            "level": level,
            "status": document.STATUS_OK,
            "conversion_s": result["conversion_s"],
            "accuracy": None,
            "fidelity": None,
            "details": {**result["details"], "sparse_tensor_count": sparse_count},
            "notes": list(result["notes"]),
        }
        if result["evaluated"]:
            outputs = _load_outputs(scratch / cache.OUTPUTS_NAME)
            if self.doc["model"]["task_accuracy_available"]:
                record["accuracy"] = evaluate.accuracy(outputs, self.dataset.eval_labels())
            reference = outputs if level == self.plan.reference else reference_outputs
            if reference is not None:
                record["fidelity"] = evaluate.fidelity(outputs, reference)
            else:
                record["notes"].append("no fidelity: the reference level failed or could not be evaluated")
        entry = cache.commit(key, scratch, record)
        return self._entry_from_cache(level, entry, cached=False)

    def _entry_from_cache(self, level: str, entry: cache.CacheEntry, *, cached: bool) -> dict:
        file_name = level_names.parse_level(level).file_name
        target = self.out_dir / file_name
        if not (target.is_file() and sha256_file(target) == entry.record["sha256"]):
            write_bytes_atomic(target, entry.tflite_path.read_bytes())
        fields = {k: v for k, v in entry.record.items() if k in document.LEVEL_FIELDS and k not in ("level", "status")}
        return self._entry(level, document.STATUS_OK, file=file_name, cached=cached, **fields)

    def _entry(self, level: str, status: str, **fields) -> dict:
        return document.level_entry(level, status, reference_only=level not in self.plan.requested, **fields)

    def _save(self, entries: dict[str, dict]) -> None:
        ordered = [entries[level] for level in self.plan.levels if level in entries]
        reference = entries.get(self.plan.reference)
        for entry in ordered:
            entry["size_ratio_to_fp32"] = _ratio(entry, reference, "size_bytes")
            entry["gzip_ratio_to_fp32"] = _ratio(entry, reference, "gzip_size_bytes")
        self.doc["levels"] = ordered
        write_json_atomic(self.out_dir / document.FILE_NAME, self.doc)

    def _report(self, entry: dict) -> None:
        if entry["status"] == document.STATUS_OK:
            how = "cached" if entry["cached"] else f"done in {entry['conversion_s']:.1f} s"
            self.progress(f"{entry['level']}: {how}")
        elif entry["status"] == document.STATUS_SKIPPED:
            self.progress(f"{entry['level']}: skipped: {entry['reason']}")


def _ratio(entry: dict, reference: dict | None, field: str) -> float | None:
    if not reference or entry["status"] != document.STATUS_OK or reference["status"] != document.STATUS_OK:
        return None
    return round(entry[field] / reference[field], 4)


def _load_outputs(path: Path) -> list[np.ndarray] | None:
    with np.load(path) as npz:
        arrays = [npz[f"arr_{i}"] for i in range(len(npz.files))]
    return arrays or None


# ---------------------------------------------------------------------------------------------


def convert_model(
    source: str,
    levels: str | list[str],
    out_dir: Path,
    *,
    data: Path | None = None,
    random_calibration: bool = False,
    jobs: int = 1,
    progress: Progress | None = None,
) -> dict:
    """Convert `source` (a path or a zoo name) at `levels` into `out_dir`; returns the conversion
    document, also written to out_dir/convert.json. See harness.convert for the contract."""
    progress = progress or (lambda message: None)
    names = parse_requested(levels)
    resolved = resolve_source(source, progress)
    dataset = resolve_data(resolved, data, random_calibration)
    plan = plan_levels(resolved, dataset, names)
    doc = document.new_document(
        model={
            "name": resolved.name,
            "source_kind": resolved.kind,
            "path": str(resolved.path),
            "sha256": resolved.sha256,
            "weights": resolved.weights,
            "task_accuracy_available": resolved.task_accuracy_possible and dataset.eval_labels() is not None,
            "notes": list(resolved.notes),
        },
        data=dataset.summary(),
        converter=cache.converter_versions(),
        reference_level=plan.reference,
        notes=plan.notes + list(dataset.notes),
    )
    return Ladder(resolved, dataset, Path(out_dir), doc, plan, max(1, jobs), progress).run()
