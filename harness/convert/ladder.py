"""One model through its levels: plan, cache lookups, conversions (harness/convert/build.py, in
this process or in worker processes: harness/convert/workers.py), evaluation against the
reference, and the conversion document written after every level.

The reference (fp32, or `as-is` for a .tflite input) is always produced, even when not asked for
(then marked `reference_only`), because ratios and fidelity are measured against it. A level that
fails is recorded with the converter's message and the others go on; bad input (a corrupt model,
data that does not fit it) stops the run with an InputError before anything is written for it.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from harness.convert import cache, document, quality
from harness.convert import levels as level_names
from harness.convert.build import BuildRequest
from harness.convert.data import DataSet, load_npz, no_data
from harness.convert.progress import Progress, Tracker
from harness.convert.sources import Source, resolve_source
from harness.convert.workers import Builders
from harness.digests import sha256_file
from harness.jsonfile import write_bytes_atomic, write_json_atomic


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


def evaluation_data(source: str, data: Path | None) -> tuple | None:
    """The real evaluation inputs a conversion of `source` measured quality on (`data`'s x_eval,
    else the zoo model's own), for checking outputs on devices: (x_eval, class labels or None,
    where they come from); None when there are none (fidelity then used random inputs)."""
    dataset = resolve_data(resolve_source(source), data, random_calibration=False)
    inputs = dataset.get("x_eval")
    if inputs is None:
        return None
    return inputs, dataset.eval_labels(), dataset.eval_label


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
        tflite_ladder=source.is_tflite and source.origin != "user",
        broken_levels=source.broken_levels,
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
# The run


@dataclass
class Ladder:
    source: Source
    dataset: DataSet
    out_dir: Path
    doc: dict
    plan: Plan
    builders: Builders
    tracker: Tracker

    def run(self) -> dict:
        reference = self.plan.reference
        keys = {level: self._key(level) for level in self.plan.levels}
        entries: dict[str, dict] = {}
        to_build = []
        for level in self.plan.levels:
            skip_reason = self.plan.skip_reasons.get(level)
            hit = None if skip_reason else cache.lookup(keys[level])
            if skip_reason:
                self._record(entries, self._entry(level, document.STATUS_SKIPPED, reason=skip_reason), save=False)
            elif hit is not None:
                self._record(entries, self._entry_from_cache(level, hit, cached=True), save=False)
            else:
                to_build.append(level)
        if entries:  # once for the levels known at once: each save is an fsync'd rewrite
            self._save(entries)
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
        return self.doc

    def _reference_outputs(self, entry: dict, key: str) -> list[np.ndarray] | None:
        hit = cache.lookup(key) if entry["status"] == document.STATUS_OK else None
        return _load_outputs(hit.outputs_path) if hit else None

    def _record(self, entries: dict[str, dict], entry: dict, *, save: bool = True) -> None:
        entries[entry["level"]] = entry
        if save:
            self._save(entries)
        self._report(entry)

    def _results(self, to_build: list[str]):
        """(level, (result, scratch)) as each level is built: the reference first (every other
        level is compared with it), then the longest levels, so that parallel workers finish
        together."""
        if not to_build:
            return
        shared_dir = cache.scratch_dir()
        requests = [
            BuildRequest(self.source, self.dataset, level, cache.scratch_dir(), shared_dir)
            for level in sorted(to_build, key=lambda level: (level != self.plan.reference, -_expected_work(level)))
        ]
        try:
            for request, result in self.builders.results(requests):
                yield request.level, (result, request.scratch)
        finally:
            # A finished level's scratch was renamed into the cache; what is left is unfinished.
            for path in [shared_dir] + [request.scratch for request in requests]:
                shutil.rmtree(path, ignore_errors=True)

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
            return self._entry(level, result["status"], reason=result["reason"], details=result.get("details", {}))
        from harness.convert import evaluate
        from harness.convert.inspect import inspect_tflite, xnnpack_sparse_inference

        model_bytes = (scratch / cache.TFLITE_NAME).read_bytes()
        facts = inspect_tflite(model_bytes)
        sparse_count = facts.pop("sparse_tensor_count")
        if sparse_count:
            result["details"]["xnnpack_sparse_inference"] = xnnpack_sparse_inference(model_bytes)
        record = {
            **facts,
            "level": level,
            "status": document.STATUS_OK,
            "conversion_s": result["conversion_s"],
            "accuracy": None,
            "fidelity": None,
            "quality": None,
            "details": {**result["details"], "sparse_tensor_count": sparse_count},
            "notes": list(result["notes"]),
        }
        if result["evaluated"]:
            outputs = _load_outputs(scratch / cache.OUTPUTS_NAME)
            if self.doc["model"]["task_accuracy_available"]:
                record["accuracy"] = evaluate.accuracy(outputs, self.dataset.eval_labels())
            reference = outputs if level == self.plan.reference else reference_outputs
            task = self.doc["model"]["quality_task"]
            labels = self.dataset.eval_labels() if self.source.task_accuracy_possible else None
            record["quality"] = quality.measure(outputs, reference, labels, task, self.plan.reference)
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
            _link_or_copy(entry.tflite_path, target)
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
        took_s = self.tracker.finished(entry["level"])
        if entry["status"] == document.STATUS_OK:
            how = "cached" if entry["cached"] else f"done in {took_s or entry['conversion_s']:.1f} s"
            self.tracker.message(f"{entry['level']}: {how}")
        else:
            self.tracker.message(f"{entry['level']}: {entry['status']}: {entry['reason']}")


def _link_or_copy(cached: Path, target: Path) -> None:
    """A cached level's file in the output directory: a hard link where the file system allows
    one (cache entries are only ever replaced whole, never changed in place), else a copy."""
    staged = target.with_name(f".{target.name}.link")
    try:
        staged.unlink(missing_ok=True)
        os.link(cached, staged)
        os.replace(staged, target)
    except OSError:
        staged.unlink(missing_ok=True)
        write_bytes_atomic(target, cached.read_bytes())


def _ratio(entry: dict, reference: dict | None, field: str) -> float | None:
    if not reference or entry["status"] != document.STATUS_OK or reference["status"] != document.STATUS_OK:
        return None
    return round(entry[field] / reference[field], 4)


def _expected_work(level: str) -> int:
    """A rank, not a time: training > calibration > plain conversion."""
    parsed = level_names.parse_level(level)
    return 2 * parsed.changes_weights + parsed.needs_calibration


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
    jobs: int | None = None,
    progress: Progress | None = None,
) -> dict:
    """Convert `source` (a path or a zoo name) at `levels` into `out_dir`; returns the conversion
    document, also written to out_dir/convert.json. See harness.convert for the contract."""
    names = parse_requested(levels)
    with Tracker(_console_writer(progress)) as tracker, Builders(jobs, tracker) as builders:
        resolved = resolve_source(source, builders.build_zoo)
        dataset = resolve_data(resolved, data, random_calibration)
        plan = plan_levels(resolved, dataset, names)
        doc = document.new_document(
            model={
                "name": resolved.name,
                "source_kind": resolved.kind,
                "path": str(resolved.path),
                "sha256": resolved.sha256,
                "weights": resolved.weights,
                "task_accuracy_available": resolved.task_accuracy_possible
                and dataset.eval_labels() is not None
                and resolved.quality_task == quality.AUTO,
                "quality_task": resolved.quality_task,
                "source": resolved.origin,
                "licence": resolved.licence,
                "notes": list(resolved.notes),
            },
            data=dataset.summary(),
            converter=cache.converter_versions(),
            reference_level=plan.reference,
            notes=plan.notes + list(dataset.notes),
        )
        return Ladder(resolved, dataset, Path(out_dir), doc, plan, builders, tracker).run()


def _console_writer(progress: Progress | None) -> Progress:
    """`progress`, reaching the console even while TensorFlow's output is captured here."""
    if progress is None:
        return lambda message: None
    from harness.convert import tfenv

    def write(message: str) -> None:
        with tfenv.console():
            progress(message)

    return write
