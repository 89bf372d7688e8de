"""Run directories -> one flat record per cell, joined with the model's conversion data.

Reads only what `squeezebench run` wrote (docs/results-format.md), through the store API. Every
field a run may lack (an interrupted run, a level that failed to convert, a device that gave no
energy reading) becomes None, never an exception: reports show "-" or the reason.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InputError
from harness.paths import results_dir
from harness.store.run import RunStore, find_run

REFERENCE_LEVEL = "fp32"
# Passport flags that concern every cell measured on the device. `charging` and `throttled` are
# judged per cell by the bench layer (charging may be suspended, a device may cool down), so a
# cell without a summary inherits only these.
DEVICE_WIDE_FLAGS = ("virtual", "emulator", "low_battery", "debuggable")
# Conditions that make numbers unfit for publishing next to real phones' (publish hides them
# unless --include-flagged).
UNPUBLISHABLE_FLAGS = ("virtual", "emulator", "charging", "throttled")
LATENCY_SAMPLES_FILE = "latencies.txt"


@dataclass
class ResultSet:
    """The runs a report covers and one record per cell of all of them."""

    stores: list[RunStore]
    records: list[dict]

    def frame(self):
        """The records as a pandas DataFrame (tidy: one row per cell)."""
        import pandas as pd

        return pd.DataFrame(self.records, columns=list(RECORD_COLUMNS))

    def store(self, run_id: str) -> RunStore:
        return next(s for s in self.stores if s.run_id == run_id)

    def filtered(self, keep) -> ResultSet:
        return ResultSet(self.stores, [r for r in self.records if keep(r)])


def open_run_ref(ref: Path | str) -> RunStore:
    """A run by directory, or by id under the results directory (./results)."""
    return find_run(results_dir(), str(ref))


def open_runs(paths: Sequence[Path | str]) -> list[RunStore]:
    """Open run directories, refusing the same run given twice (its cells would count double)."""
    if not paths:
        raise InputError("no run directory given", "pass one or more directories such as results/<run-id>")
    stores, seen = [], {}
    for path in paths:
        store = open_run_ref(path)
        if store.run_id in seen:
            raise InputError(
                f"run {store.run_id} given twice ({seen[store.run_id]} and {path})", "pass each run directory once"
            )
        seen[store.run_id] = path
        stores.append(store)
    return stores


def load_results(paths: Sequence[Path | str]) -> ResultSet:
    return result_set(open_runs(paths))


def result_set(stores: list[RunStore]) -> ResultSet:
    records = [record for store in stores for record in run_records(store)]
    assign_labels(records)
    return ResultSet(stores, records)


def run_records(store: RunStore) -> list[dict]:
    document = store.document
    devices = document.get("devices") or {}
    models = document.get("models") or {}
    identities = device_identities(devices, [cell["device"] for cell in store.cells])
    records = [
        cell_record(
            store,
            cell,
            models.get(cell.get("model")) or {},
            devices.get(cell.get("device")) or {},
            identities.get(cell.get("device"), str(cell.get("device"))),
        )
        for cell in store.cells
    ]
    add_speedups(records)
    return records


# --- devices -----------------------------------------------------------------------------


def is_virtual_device(device_record: dict) -> bool:
    passport = device_record.get("passport") or {}
    flags = passport.get("flags") or {}
    return bool(flags.get("virtual")) or (passport.get("props") or {}).get("ro.squeezebench.virtual") == "1"


def device_base_identity(serial: str, device_record: dict) -> str:
    """What stays the same when the same device comes back under another serial.

    A virtual device is its profile (its serial is a loopback address and port that may change
    between runs); a phone or emulator is its manufacturer and model (a Wi-Fi serial changes with
    the network). Without a passport, only the serial is known.
    """
    props = (device_record.get("passport") or {}).get("props") or {}
    if is_virtual_device(device_record):
        profile = device_record.get("profile") or props.get("ro.squeezebench.profile") or "unknown-profile"
        return f"virtual:{profile}"
    name = " ".join(p for p in (props.get("ro.product.manufacturer"), props.get("ro.product.model")) if p)
    return name or serial


def device_identities(devices: dict, serials: Sequence[str]) -> dict[str, str]:
    """serial -> identity, unique within one run: two devices of the same kind in one run keep
    their serial in the identity so that they are not merged."""
    known = list(dict.fromkeys(list(devices) + list(serials)))
    base = {serial: device_base_identity(serial, devices.get(serial) or {}) for serial in known}
    counts = Counter(base.values())
    return {serial: (ident if counts[ident] == 1 else f"{ident}@{serial}") for serial, ident in base.items()}


def device_name(serial: str, device_record: dict) -> str:
    props = (device_record.get("passport") or {}).get("props") or {}
    return str(device_record.get("friendly_name") or props.get("ro.product.model") or serial)


def device_flags(device_record: dict) -> list[str]:
    flags = (device_record.get("passport") or {}).get("flags") or {}
    return [name for name in DEVICE_WIDE_FLAGS if flags.get(name)]


# --- models and levels -------------------------------------------------------------------


def quality_kind(model: dict) -> str | None:
    """accuracy when the model has labelled data (any level has it), else fidelity to fp32."""
    levels = (model.get("levels") or {}).values()
    if any(_get(level, "accuracy", "top1") is not None for level in levels):
        return "accuracy"
    if any(_get(level, "fidelity", "top1_agreement") is not None for level in levels):
        return "fidelity"
    return None


def quality_value(level: dict, kind: str | None) -> float | None:
    if kind == "accuracy":
        return _get(level, "accuracy", "top1")
    if kind == "fidelity":
        return _get(level, "fidelity", "top1_agreement")
    return None


def reference_quality(model: dict, kind: str | None) -> float | None:
    reference = (model.get("levels") or {}).get(REFERENCE_LEVEL) or {}
    value = quality_value(reference, kind)
    # Fidelity is measured against fp32, so fp32 agrees with itself by definition.
    return 1.0 if value is None and kind == "fidelity" else value


def level_order(model: dict) -> dict[str, int]:
    return {name: index for index, name in enumerate(model.get("levels") or {})}


# --- one cell ----------------------------------------------------------------------------


def _get(data, *keys):
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _interval(latency: dict) -> tuple[float | None, float | None, str | None]:
    for key, of in (("ci95_median", "median"), ("ci95_mean", "mean")):
        ci = latency.get(key)
        if isinstance(ci, (list, tuple)) and len(ci) == 2 and all(_number(v) is not None for v in ci):
            return float(ci[0]), float(ci[1]), of
    return None, None, None


def cell_flags(cell: dict, device_record: dict) -> list[str]:
    summary = cell.get("summary")
    if isinstance(summary, dict) and isinstance(summary.get("flags"), list):
        flags = [str(f) for f in summary["flags"]]
    else:
        flags = []
    return list(dict.fromkeys(device_flags(device_record) + flags))


def cell_record(store: RunStore, cell: dict, model: dict, device_record: dict, identity: str) -> dict:
    summary = cell.get("summary") if isinstance(cell.get("summary"), dict) else {}
    level = (model.get("levels") or {}).get(cell.get("level")) or {}
    kind = quality_kind(model)
    quality = _number(quality_value(level, kind))
    reference = _number(reference_quality(model, kind))
    latency = summary.get("latency_us") if isinstance(summary.get("latency_us"), dict) else {}
    ci_low, ci_high, ci_of = _interval(latency)
    energy = summary.get("energy") if isinstance(summary.get("energy"), dict) else {}
    delegation = summary.get("delegation") if isinstance(summary.get("delegation"), dict) else {}
    delegated, total = _number(delegation.get("nodes_delegated")), _number(delegation.get("nodes_total"))
    thermal = summary.get("thermal") if isinstance(summary.get("thermal"), dict) else {}
    serial = str(cell.get("device"))
    return {
        "run_id": store.run_id,
        "model": str(cell.get("model")),
        "model_weights": model.get("weights"),
        "quality_kind": kind,
        "level": str(cell.get("level")),
        "level_index": level_order(model).get(cell.get("level"), len(level_order(model))),
        "device": serial,
        "device_id": identity,
        "device_name": device_name(serial, device_record),
        "device_label": None,  # set by assign_labels once every run is loaded
        "series_label": None,
        "device_flags": device_flags(device_record),
        # One device at one setting in one run: what a per-device table or a plot series covers.
        "setup": f"{store.run_id}|{serial}|t{cell.get('threads')}|{cell.get('delegate')}",
        "threads": cell.get("threads"),
        "delegate": cell.get("delegate"),
        "mode": cell.get("mode"),
        "status": str(cell.get("status") or "pending"),
        "reason": cell.get("reason"),
        "flags": cell_flags(cell, device_record),
        "attempts": cell.get("attempts"),
        "size_bytes": _number(level.get("size_bytes")),
        "gzip_size_bytes": _number(level.get("gzip_size_bytes")),
        "size_ratio_to_fp32": _number(level.get("size_ratio_to_fp32")),
        "gzip_ratio_to_fp32": _number(level.get("gzip_ratio_to_fp32")),
        "quality": quality,
        "quality_drop_pp": None if quality is None or reference is None else 100 * (reference - quality),
        "accuracy_top1": _number(_get(level, "accuracy", "top1")),
        "fidelity_top1_agreement": _number(_get(level, "fidelity", "top1_agreement")),
        "fidelity_cosine_similarity": _number(_get(level, "fidelity", "cosine_similarity")),
        "latency_median_us": _number(latency.get("median")),
        "latency_p5_us": _number(latency.get("p5")),
        "latency_p95_us": _number(latency.get("p95")),
        "latency_ci_low_us": ci_low,
        "latency_ci_high_us": ci_high,
        "latency_ci_of": ci_of,
        "latency_mean_us": _number(latency.get("mean")),
        "latency_std_us": _number(latency.get("std")),
        "latency_cv": _number(latency.get("cv")),
        "latency_count": latency.get("count"),
        "latency_source": latency.get("source"),
        "init_us": _number(summary.get("init_us")),
        "first_inference_us": _number(summary.get("first_inference_us")),
        "speedup_vs_fp32": None,  # set by add_speedups
        "memory_peak_mb": _number(_get(summary, "memory_mb", "peak")),
        "memory_overall_mb": _number(_get(summary, "memory_mb", "overall")),
        "memory_init_mb": _number(_get(summary, "memory_mb", "init")),
        "energy_mj_per_inference": _number(energy.get("energy_per_inference_mj")),
        "energy_method": energy.get("method"),
        "energy_validity": energy.get("validity"),
        "net_power_mw": _number(energy.get("net_power_mw")),
        "delegate_used": delegation.get("delegate"),
        "delegated_nodes": delegated,
        "total_nodes": total,
        "delegation_coverage": delegated / total if delegated is not None and total else None,
        "delegate_fell_back": delegation.get("fallback_to_cpu"),
        "thermal_status_before": thermal.get("status_before"),
        "thermal_status_after": thermal.get("status_after"),
        "battery_temp_c_before": _number(thermal.get("battery_temp_c_before")),
        "battery_temp_c_after": _number(thermal.get("battery_temp_c_after")),
        "runner_kind": _get(summary, "runner", "kind"),
        "cell_dir": cell.get("dir"),
    }


RECORD_COLUMNS = tuple(
    cell_record(RunStore(Path("."), {"run_id": ""}), {}, {}, {}, "").keys()  # the one place columns are named
)


def add_speedups(records: list[dict]) -> None:
    fp32_median = {
        (r["setup"], r["model"]): r["latency_median_us"]
        for r in records
        if r["level"] == REFERENCE_LEVEL and r["status"] == "ok" and r["latency_median_us"]
    }
    for record in records:
        reference = fp32_median.get((record["setup"], record["model"]))
        median = record["latency_median_us"]
        if reference and median and record["status"] == "ok":
            record["speedup_vs_fp32"] = reference / median


def assign_labels(records: list[dict]) -> None:
    """Names people read: the friendly name, plus the serial when two devices share it, plus the
    run when one device appears in several runs, plus the setting when settings vary."""
    names_by_id = {r["device_id"]: r["device_name"] for r in records}
    ids_by_name = defaultdict(set)
    for ident, name in names_by_id.items():
        ids_by_name[name].add(ident)
    runs_by_id = defaultdict(set)
    for r in records:
        runs_by_id[r["device_id"]].add(r["run_id"])
    several_settings = len({(r["threads"], r["delegate"]) for r in records}) > 1
    for r in records:
        label = r["device_name"]
        if len(ids_by_name[label]) > 1:
            label += f" ({r['device']})"
        if len(runs_by_id[r["device_id"]]) > 1:
            label += f" [run {r['run_id']}]"
        r["device_label"] = label
        r["series_label"] = f"{label} t{r['threads']} {r['delegate']}" if several_settings else label


def latency_samples(store: RunStore, record: dict) -> list[float] | None:
    """The per-iteration latencies (µs) kept beside a cell, when its runner wrote them."""
    from harness.bench.ondevice import read_latency_samples

    if not record.get("cell_dir"):
        return None
    samples = read_latency_samples(store.contained(record["cell_dir"]) / LATENCY_SAMPLES_FILE)
    return samples or None


def is_publishable(record: dict) -> bool:
    return not any(flag in UNPUBLISHABLE_FLAGS for flag in record["flags"])
