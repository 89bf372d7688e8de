"""Run directories -> one `CellRecord` per cell, joined with the model's conversion data.

Reads only what `squeezebench run` wrote (docs/results-format.md), through the store API. Every
field a run may lack (an interrupted run, a level that failed to convert, a device that gave no
energy reading) becomes None, never an exception: reports show "-" or the reason.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path

from harness.errors import InputError
from harness.paths import results_dir
from harness.store.cell_files import read_latency_samples
from harness.report.deeper_fields import deeper_fields
from harness.store.records import CellStatus, Delegation, LatencyStats, Measurements, MemoryMB, Thermal
from harness.store.run import RunStore, find_run

REFERENCE_LEVEL = "fp32"  # a converted model's reference; a .tflite input's is its `as-is` level
# Passport flags that concern every cell measured on the device. `charging` and `throttled` are
# judged per cell by the bench layer (charging may be suspended, a device may cool down), so a
# cell without a summary inherits only these.
DEVICE_WIDE_FLAGS = ("virtual", "emulator", "low_battery", "debuggable")
# Conditions that make numbers unfit for publishing next to real phones' (publish hides them
# unless --include-flagged).
UNPUBLISHABLE_FLAGS = ("virtual", "emulator", "charging", "throttled", "numerics", "preset-not-met")


@dataclass
class ResultSet:
    """The runs a report covers and one record per cell of all of them."""

    stores: list[RunStore]
    records: list[CellRecord]

    def frame(self):
        """The records as a pandas DataFrame (tidy: one row per cell)."""
        import pandas as pd

        return pd.DataFrame([r.to_dict() for r in self.records], columns=list(RECORD_COLUMNS))

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
    return ResultSet(stores, with_labels([record for store in stores for record in run_records(store)]))


def run_records(store: RunStore) -> list[CellRecord]:
    document = store.document
    devices = document.get("devices") or {}
    models = document.get("models") or {}
    identities = device_identities(devices, [cell["device"] for cell in store.cells])
    records = [
        derive_record(
            store.run_id,
            cell,
            models.get(cell.get("model")) or {},
            devices.get(cell.get("device")) or {},
            identities.get(cell.get("device"), str(cell.get("device"))),
        )
        for cell in store.cells
    ]
    return with_speedups(records)


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


# The generic quality figure's metric (convert.json levels[].quality) -> what the report calls
# it; other metrics (snr_db, note_accuracy, ...) keep their own names.
QUALITY_KIND_OF_METRIC = {"top1_accuracy": "accuracy", "top1_agreement": "fidelity"}


def level_quality(level: dict) -> tuple[str, float, str] | None:
    """(kind, value, unit) of a level's quality: the generic figure, else (older documents)
    accuracy with labels, else fidelity to fp32."""
    figure = level.get("quality")
    if isinstance(figure, dict) and isinstance(figure.get("metric"), str) and _number(figure.get("value")) is not None:
        metric = figure["metric"]
        return QUALITY_KIND_OF_METRIC.get(metric, metric), float(figure["value"]), str(figure.get("unit") or "fraction")
    for kind, keys in (("accuracy", ("accuracy", "top1")), ("fidelity", ("fidelity", "top1_agreement"))):
        value = _number(_get(level, *keys))
        if value is not None:
            return kind, value, "fraction"
    return None


def quality_kind(model: dict) -> str | None:
    """What a model's quality column shows: a task metric when any level has one (accuracy with
    labels, note accuracy, ...), else fidelity to fp32 or signal-to-noise against it."""
    kinds = [q[0] for level in (model.get("levels") or {}).values() if isinstance(level, dict) and (q := level_quality(level))]
    return next((kind for kind in kinds if kind != "fidelity"), kinds[0] if kinds else None)


def quality_of(level: dict, kind: str | None) -> tuple[float | None, str | None]:
    """The level's value and unit for the model's quality kind."""
    quality = level_quality(level) if isinstance(level, dict) else None
    if quality is None or quality[0] != kind:
        return None, None
    return quality[1], quality[2]


def reference_level(model: dict) -> str:
    """The level every ratio and drop is relative to (convert.json's reference_level)."""
    return model.get("reference_level") or REFERENCE_LEVEL


def reference_quality(model: dict, kind: str | None) -> float | None:
    reference = (model.get("levels") or {}).get(reference_level(model)) or {}
    value, _unit = quality_of(reference, kind)
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


def cell_measurements(cell: dict) -> Measurements:
    """A cell's summary as the typed record; a cell not yet measured (or a damaged summary) has none."""
    summary = cell.get("summary")
    try:
        return Measurements.from_dict(summary) if isinstance(summary, dict) else Measurements()
    except (TypeError, ValueError, AttributeError):  # a hand-edited or damaged summary: shown as not measured
        return Measurements()


@dataclass(frozen=True)
class CellRecord:
    """One row of a report: a cell of a run with its model's conversion entry and its device,
    flattened (the CSV's columns, in this order). Derived by `derive_record` from the run's
    cell, its `Measurements` and the conversion summary; `None` wherever the run lacks a value."""

    run_id: str
    model: str
    model_weights: str | None
    model_source: str | None  # where a zoo model's weights come from
    reference_level: str  # what `*_to_fp32`, `speedup_vs_fp32` and drops compare with: fp32, or as-is
    quality_kind: str | None  # accuracy, fidelity, snr_db, note_accuracy, ...
    level: str
    level_index: int
    device: str
    device_id: str
    device_name: str
    device_label: str | None  # set by assign_labels once every run is loaded
    series_label: str | None
    device_flags: tuple[str, ...]
    setup: str  # one device at one setting in one run: what a per-device table or a plot series covers
    threads: int | None
    delegate: str | None
    mode: str | None
    status: str
    reason: str | None
    flags: tuple[str, ...]
    attempts: int | None
    size_bytes: float | None
    gzip_size_bytes: float | None
    size_ratio_to_fp32: float | None
    gzip_ratio_to_fp32: float | None
    quality: float | None
    quality_unit: str | None  # "fraction" (shown as %), "dB", ...
    quality_drop_pp: float | None  # fractions only: percentage points below fp32
    quality_drop: float | None  # below fp32, in the quality's own unit
    accuracy_top1: float | None
    fidelity_top1_agreement: float | None
    fidelity_cosine_similarity: float | None
    latency_median_us: float | None
    latency_p5_us: float | None
    latency_p95_us: float | None
    latency_p90_us: float | None  # with per-iteration samples only
    latency_ci_low_us: float | None
    latency_ci_high_us: float | None
    latency_ci_of: str | None
    latency_mean_us: float | None
    latency_std_us: float | None
    latency_cv: float | None
    latency_count: int | None
    latency_source: str | None
    init_us: float | None
    first_inference_us: float | None
    speedup_vs_fp32: float | None  # set by add_speedups
    memory_peak_mb: float | None
    memory_overall_mb: float | None
    memory_init_mb: float | None
    energy_mj_per_inference: float | None
    energy_method: str | None
    energy_validity: str | None
    energy_window: str | None  # what the energy per inference covers (bench.json 2: measured runs)
    net_power_mw: float | None
    delegate_used: str | None
    delegated_nodes: float | None
    total_nodes: float | None
    delegation_coverage: float | None
    delegate_fell_back: bool | None
    thermal_status_before: int | None
    thermal_status_after: int | None
    battery_temp_c_before: float | None
    battery_temp_c_after: float | None
    runner_kind: str | None
    cell_dir: str | None
    repeat_count: int | None  # --repeat: runner processes whose medians were kept
    repeat_spread: float | None  # their medians' relative standard deviation
    preset: str | None
    preset_met: bool | None
    preset_reasons: str | None  # what was not met, "; "-separated
    op_profile: str | None  # "measured", or why there is none ("op profile: not available ...")
    op_profile_total_us: float | None  # node time per profiled run
    delegated_time_share: float | None  # profiled node time inside delegates
    device_top1_agreement_fp32: float | None  # outputs checked on the device vs the host's fp32
    device_top1_agreement_level: float | None  # vs the same level on the host
    device_accuracy: float | None  # top-1 on the device, where the check inputs have labels
    host_check_accuracy: float | None  # the same level on the host, same inputs
    output_max_abs_error: float | None
    output_max_rel_error: float | None
    output_check_samples: int | None
    output_check: str | None  # the verdict, or why outputs were not checked
    numerics: bool | None  # the device disagrees with the same level on the host beyond tolerance
    numerics_worst_index: int | None
    sustained_p90_us: float | None  # over the whole sustained run
    sustained_throttled: bool | None
    sustained_throttle_began_s: float | None  # start of the first throttled interval
    sustained_slowdown: float | None  # worst interval median / first interval median

    @property
    def ok(self) -> bool:
        return self.status == CellStatus.OK

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


RECORD_COLUMNS = tuple(f.name for f in fields(CellRecord))


def cell_flags(cell: dict, device_record: dict, measured: Measurements) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*device_flags(device_record), *map(str, measured.flags or ())]))


def derive_record(run_id: str, cell: dict, model: dict, device_record: dict, identity: str) -> CellRecord:
    measured = cell_measurements(cell)
    level = (model.get("levels") or {}).get(cell.get("level")) or {}
    kind = quality_kind(model)
    quality, quality_unit = quality_of(level, kind)
    reference = reference_quality(model, kind)
    drop = None if quality is None or reference is None else reference - quality
    latency = measured.latency_us or LatencyStats()
    (ci_low, ci_high), ci_of = (latency.ci95[0] or (None, None)), latency.ci95[1]
    energy = measured.energy
    delegation = measured.delegation or Delegation()
    thermal = measured.thermal or Thermal()
    memory = measured.memory_mb or MemoryMB()
    serial = str(cell.get("device"))
    order = level_order(model)
    return CellRecord(
        run_id=run_id,
        model=str(cell.get("model")),
        model_weights=model.get("weights"),
        model_source=model.get("source"),
        reference_level=reference_level(model),
        quality_kind=kind,
        level=str(cell.get("level")),
        level_index=order.get(cell.get("level"), len(order)),
        device=serial,
        device_id=identity,
        device_name=device_name(serial, device_record),
        device_label=None,
        series_label=None,
        device_flags=tuple(device_flags(device_record)),
        setup=f"{run_id}|{serial}|t{cell.get('threads')}|{cell.get('delegate')}",
        threads=cell.get("threads"),
        delegate=cell.get("delegate"),
        mode=cell.get("mode"),
        status=str(CellStatus.read(cell.get("status"))),
        reason=cell.get("reason"),
        flags=cell_flags(cell, device_record, measured),
        attempts=cell.get("attempts"),
        size_bytes=_number(level.get("size_bytes")),
        gzip_size_bytes=_number(level.get("gzip_size_bytes")),
        size_ratio_to_fp32=_number(level.get("size_ratio_to_fp32")),
        gzip_ratio_to_fp32=_number(level.get("gzip_ratio_to_fp32")),
        quality=quality,
        quality_unit=quality_unit,
        quality_drop_pp=100 * drop if drop is not None and quality_unit == "fraction" else None,
        quality_drop=drop,
        accuracy_top1=_number(_get(level, "accuracy", "top1")),
        fidelity_top1_agreement=_number(_get(level, "fidelity", "top1_agreement")),
        fidelity_cosine_similarity=_number(_get(level, "fidelity", "cosine_similarity")),
        latency_median_us=_number(latency.median),
        latency_p5_us=_number(latency.p5),
        latency_p95_us=_number(latency.p95),
        latency_ci_low_us=_number(ci_low),
        latency_ci_high_us=_number(ci_high),
        latency_ci_of=ci_of,
        latency_mean_us=_number(latency.mean),
        latency_std_us=_number(latency.std),
        latency_cv=_number(latency.cv),
        latency_count=latency.count,
        latency_source=latency.source,
        init_us=_number(measured.init_us),
        first_inference_us=_number(measured.first_inference_us),
        speedup_vs_fp32=None,
        memory_peak_mb=_number(memory.peak),
        memory_overall_mb=_number(memory.overall),
        memory_init_mb=_number(memory.init),
        energy_mj_per_inference=_number(energy.energy_per_inference_mj) if energy else None,
        energy_method=energy.method if energy else None,
        energy_validity=energy.validity if energy else None,
        energy_window=energy.window if energy else None,
        net_power_mw=_number(energy.net_power_mw) if energy else None,
        delegate_used=delegation.delegate,
        delegated_nodes=_number(delegation.nodes_delegated),
        total_nodes=_number(delegation.nodes_total),
        delegation_coverage=delegation.coverage,
        delegate_fell_back=delegation.fallback_to_cpu,
        thermal_status_before=thermal.status_before,
        thermal_status_after=thermal.status_after,
        battery_temp_c_before=_number(thermal.battery_temp_c_before),
        battery_temp_c_after=_number(thermal.battery_temp_c_after),
        runner_kind=measured.runner.kind if measured.runner else None,
        cell_dir=cell.get("dir"),
        **deeper_fields(measured),
    )


def with_speedups(records: list[CellRecord]) -> list[CellRecord]:
    fp32_median = {
        (r.setup, r.model): r.latency_median_us
        for r in records
        if r.level == r.reference_level and r.ok and r.latency_median_us
    }
    return [
        replace(r, speedup_vs_fp32=fp32_median[(r.setup, r.model)] / r.latency_median_us)
        if r.ok and r.latency_median_us and fp32_median.get((r.setup, r.model)) else r
        for r in records
    ]


def with_labels(records: list[CellRecord]) -> list[CellRecord]:
    """Names people read: the friendly name, plus the serial when two devices share it, plus the
    run when one device appears in several runs, plus the setting when settings vary."""
    names_by_id = {r.device_id: r.device_name for r in records}
    ids_by_name = defaultdict(set)
    for ident, name in names_by_id.items():
        ids_by_name[name].add(ident)
    runs_by_id = defaultdict(set)
    for r in records:
        runs_by_id[r.device_id].add(r.run_id)
    several_settings = len({(r.threads, r.delegate) for r in records}) > 1
    labelled = []
    for r in records:
        label = r.device_name
        if len(ids_by_name[label]) > 1:
            label += f" ({r.device})"
        if len(runs_by_id[r.device_id]) > 1:
            label += f" [run {r.run_id}]"
        series = f"{label} t{r.threads} {r.delegate}" if several_settings else label
        labelled.append(replace(r, device_label=label, series_label=series))
    return labelled


def latency_samples(store: RunStore, record: CellRecord) -> list[float] | None:
    """The per-iteration latencies (µs) kept beside a cell, when its runner wrote them."""
    if not record.cell_dir:
        return None
    return read_latency_samples(store.contained(record.cell_dir)) or None


def cell_measurements_of(results: ResultSet, record: CellRecord) -> Measurements:
    """The typed summary of the cell a record was derived from (for the tables that need more
    than a flat row: time by node type, sustained intervals)."""
    cell = next((c for c in results.store(record.run_id).cells if c.get("dir") == record.cell_dir), {})
    return cell_measurements(cell)


def is_publishable(record: CellRecord) -> bool:
    return not any(flag in UNPUBLISHABLE_FLAGS for flag in record.flags)
