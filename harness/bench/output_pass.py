"""Outputs checked on the device (`--check-outputs`): real inputs are pushed once (as value
files, by content), the runner computes them with `--input_layer_value_files` and dumps its
outputs with `--output_filepath` (the official flags), and the host compares them with the same
level on the host and with the host's reference (fp32) model (harness/bench/outputs.py,
output_check.py). The value files and dumps are kept in the benchmark's `outputs/`."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness.bench.agent import new_cell_dir
from harness.bench.outputs import OutputCheckError
from harness.bench.session import FileToPush
from harness.digests import sha256_file
from harness.device.workdir import DEVICE_ROOT
from harness.errors import DeviceError, DeviceGoneError, InputError
from harness.store import cell_files
from harness.store.records import OutputCheckSummary

INPUTS_DIR = f"{DEVICE_ROOT}/inputs"  # inputs/<sha256 prefix>/<file>: pushed once per content
CHECK_TIMEOUT_S = 300.0
_LEVEL_NAMES = ("fp32", "fp16", "int8-dynamic", "int8", "int16x8")


@dataclass
class CheckData:
    """The real inputs outputs are checked with: `samples` as outputs.prepare_inputs takes them
    (one array, a list per input, or arrays by input name), labels where known, where they come
    from, and the host reference model (fp32) when there is one. The host's side of each model
    file's check is computed once (harness/bench/host_outputs.py) and kept here for the next
    device or delegate."""

    samples: object
    labels: object | None
    source: str
    reference_model: Path | None = None
    _host: dict = field(default_factory=dict, repr=False)
    _digests: dict = field(default_factory=dict, repr=False)

    def host_side(self, model_path: Path, count: int, model_sha256: str | None = None):
        """The host side (host_outputs.HostSide) of checking `model_path` with the first `count` samples."""
        from harness.bench.host_outputs import compute_host_side, samples_digest

        file = Path(model_path).stat()
        key = (str(model_path), file.st_size, file.st_mtime_ns, count)
        if key not in self._host:
            samples = _first(self.samples, count)
            if count not in self._digests:
                self._digests[count] = samples_digest(samples)
            self._host[key] = compute_host_side(Path(model_path), model_sha256 or sha256_file(model_path), samples,
                                                self._digests[count])
        return self._host[key]


def load_check_inputs(path: Path) -> CheckData:
    """`bench --inputs FILE.npz`: `x_eval` (or `x`) for a model with one input, else one array
    per input named after it; `y_eval` (or `y`) class labels, optional."""
    import zipfile

    import numpy as np

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file", "give a .npz written with numpy.savez")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise InputError(f"{path}: not a readable .npz file ({e})", "write it with numpy.savez") from None
    labels = arrays.pop("y_eval", arrays.pop("y", None))
    single = arrays.pop("x_eval", arrays.pop("x", None))
    if single is None and not arrays:
        raise InputError(f"{path} holds no inputs", "save them as x_eval (one input) or under the model's input names")
    return CheckData(single if single is not None else arrays, labels, f"npz:{path.name}")


def level_of(model_path: Path, level: str | None, io) -> str:
    """The level that decides the tolerance: the sweep's, else the converter's file name
    (<level>.tflite), else int8 for a model with quantized outputs and fp32 otherwise."""
    stem = Path(model_path).stem
    if level:
        return level
    if stem in _LEVEL_NAMES or "+" in stem:
        return stem
    return "int8" if all(spec.quantized for spec in io.outputs) else "fp32"


def check_outputs(session, model_path: Path, settings, data: CheckData, out_dir: Path, *,
                  remote_model: str, level: str | None, model_sha256: str | None = None,
                  runner_version: str | None = None) -> tuple[OutputCheckSummary, dict]:
    """The verdict in short, and the comparison whole (for bench.json); never raises for what the
    model or data cannot do: the summary then says why nothing was checked. `runner_version`:
    what the measured run's runner printed of itself (device_outputs.py keys on it)."""
    from harness.bench.output_check import compare_outputs

    model_sha256 = model_sha256 or sha256_file(model_path)
    try:
        host = data.host_side(model_path, settings.check_samples, model_sha256)
        count = len(host.inputs[0])
        device, computed_before = _outputs_of_device(session, model_path, settings, host, out_dir, remote_model,
                                                     model_sha256, runner_version)
        reference = (data.host_side(data.reference_model, settings.check_samples).outputs
                     if data.reference_model else None)
        labels = None if data.labels is None else data.labels[:count]
        check = compare_outputs(host.io, device, host.outputs, level=level_of(model_path, level, host.io),
                                delegate=settings.delegate, host_fp32=reference, labels=labels)
    except OutputCheckError as e:
        return OutputCheckSummary(available=False, reason=f"outputs not checked: {e.one_line()}"), {}
    summary = summary_of(check, data.source)
    if computed_before is not None:
        summary = replace(summary, device_outputs_from=computed_before,
                          verdict=f"{summary.verdict}; the device's outputs were computed at "
                                  f"{computed_before['computed_utc']} and reused")
    return summary, {**check.to_dict(), "device_outputs_from": computed_before}


def _outputs_of_device(session, model_path, settings, host, out_dir, remote_model, model_sha256,
                       runner_version) -> tuple[list, dict | None]:
    """The device's outputs, and where they were computed when that was before this check
    (harness/bench/device_outputs.py); computed now, they are kept for the next check."""
    from harness.bench import device_outputs

    def computed_now() -> list:
        return _device_outputs(session, model_path, settings, host.io, host.inputs, host.batch_size, out_dir,
                               remote_model)

    if not device_outputs.reusable(session, settings):
        return computed_now(), None
    entry = device_outputs.entry_for(session, settings, host, model_sha256, runner_version)
    stored = None if settings.recheck_outputs else device_outputs.stored_outputs(entry, host)
    if stored is not None:
        return stored
    computed = computed_now()
    device_outputs.keep_outputs(entry, computed, session, out_dir)
    return computed, None


def _first(samples, count: int):
    if isinstance(samples, dict):
        return {name: array[:count] for name, array in samples.items()}
    if isinstance(samples, (list, tuple)):
        return [array[:count] for array in samples]
    return samples[:count]


def _device_outputs(session, model_path, settings, io, inputs, size, out_dir, remote_model) -> list:
    """Every batch computed on the device; a batch the device refuses (some delegates do not
    resize) is taken again one sample at a time."""
    from harness.bench import outputs

    local = Path(out_dir) / cell_files.OUTPUTS_DIR
    remote_dir = new_cell_dir()
    parts = []
    try:
        session.device.shell(["mkdir", "-p", remote_dir])
        for batch in outputs.batches(len(inputs[0]), size):
            try:
                parts.append(_device_batch(session, settings, io, inputs, batch, local, remote_dir, remote_model))
            except OutputCheckError:
                if batch.size == 1:
                    raise
                parts += [_device_batch(session, settings, io, inputs, outputs.Batch(batch.start + i, 1), local,
                                        remote_dir, remote_model) for i in range(batch.size)]
    except DeviceGoneError:
        raise
    except DeviceError as e:
        raise OutputCheckError(f"the device could not compute the inputs: {e.one_line()}") from None
    finally:
        session.device.shell(["rm", "-rf", remote_dir], check=False)
    return outputs.concatenate(parts)


def _device_batch(session, settings, io, inputs, batch, local: Path, remote_dir: str, remote_model: str) -> list:
    from harness.bench import outputs

    files = []
    for path in outputs.write_value_files(io, inputs, batch, local):
        digest = sha256_file(path)
        files.append(FileToPush(path, f"{INPUTS_DIR}/{digest[:16]}/{path.name}", digest))
    session.ensure_files(files)
    device_paths = [f.remote for f in files]
    dump_name = f"outputs_{batch.start}_{batch.size}.bin"
    remote_dump = posixpath.join(remote_dir, dump_name)
    argv = (session.runner_argv() + [f"--graph={remote_model}", f"--num_threads={settings.threads}",
            *outputs.CHECK_RUN_FLAGS, *settings.model_flags(),
            *outputs.runner_flags(io, batch, device_paths, remote_dump)])
    run = session.device.shell(argv, timeout_s=CHECK_TIMEOUT_S, check=False)
    (local / f"runner_{batch.start}_{batch.size}.log").write_text(run.stdout + run.stderr)
    if not run.ok:
        raise OutputCheckError(f"the runner failed on {batch.size} sample(s) (exit {run.exit_code}): "
                               f"{(run.stderr or run.stdout).strip()[-200:]}")
    try:
        session.device.pull(remote_dump, local / dump_name)
    except DeviceGoneError:
        raise
    except DeviceError as e:
        raise OutputCheckError(f"the runner left no output dump for {batch.size} sample(s): {e.one_line()}") from None
    return outputs.read_output_dump(io, (local / dump_name).read_bytes(), batch)


def summary_of(check, source: str) -> OutputCheckSummary:
    level, fp32 = check.vs_host_level, check.vs_host_fp32
    return OutputCheckSummary(
        available=True, samples=check.samples, source=source,
        top1_agreement_fp32=fp32.top1_agreement if fp32 else None,
        top1_agreement_level=level.top1_agreement,
        max_abs_error=level.max_abs_error, max_rel_error=level.max_rel_error, max_step_error=level.max_step_error,
        device_accuracy=check.accuracy, host_accuracy=check.host_accuracy,
        tolerance={"relative": check.tolerance.relative, "steps": check.tolerance.steps, "why": check.tolerance.why},
        numerics=check.numerics, worst_index=level.worst_index, verdict=check.verdict,
    )
