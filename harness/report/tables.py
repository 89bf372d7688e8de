"""Report tables from the tidy cell frame: per model and device, across devices, and the
conditions (runs, device passports) every number was taken under."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from harness.errors import UsageError
from harness.report.page import Cell, Table
from harness.report.escape import truncate
from harness.report.load import device_flags
from harness.units import Scale, energy_scale, fmt_pct, fmt_ratio, latency_scale, size_scale

REASON_MAX_CHARS = 160
EMPTY = Cell("-")
MEMORY_SCALE = Scale("MB", 1.0, 1)

# What each quality kind is called in headers and axis labels (others show their own name).
QUALITY_NAMES = {
    "accuracy": "accuracy top-1",
    "fidelity": "fidelity: top-1 agreement with {reference}",
    "snr_db": "SNR against {reference}'s outputs",
    "note_accuracy": "note accuracy",
    None: "accuracy",
}


@dataclass(frozen=True)
class QualityColumn:
    """How a model's quality shows: fractions as percentages, other units as they are."""

    kind: str | None
    unit: str | None
    reference: str = "fp32"  # the level drops are measured from

    @classmethod
    def of(cls, kinds, units, reference: str = "fp32") -> "QualityColumn":
        """The first kind a row has (a model has one), with its unit."""
        pairs = [(plain(k), plain(u)) for k, u in zip(kinds, units)]
        return cls(*next(((k, u) for k, u in pairs if k), (None, "fraction")), reference)

    @property
    def shown_unit(self) -> str:
        return "%" if self.unit in (None, "fraction") else str(self.unit)

    @property
    def header(self) -> str:
        return f"{self.name} ({self.shown_unit})"

    @property
    def name(self) -> str:
        return QUALITY_NAMES.get(self.kind, str(self.kind)).format(reference=self.reference)

    @property
    def drop_header(self) -> str:
        return f"drop from {self.reference} ({'pp' if self.shown_unit == '%' else self.shown_unit})"

    def shown(self, value) -> float | None:
        """A value in the unit the column shows (a fraction as a percentage)."""
        value = plain(value)
        if value is None:
            return None
        return 100 * value if self.shown_unit == "%" else value

    def value_cell(self, value) -> Cell:
        shown = self.shown(value)
        return EMPTY if shown is None else Cell(f"{shown:.1f}", sort=shown)

    def drop_cell(self, drop) -> Cell:
        return drop_cell(self.shown(drop))


def quality_note(kind: str | None, weights: str | None, reference: str = "fp32") -> str | None:
    if kind == "fidelity":
        origin = "random weights" if weights == "random" else "no labelled data"
        return (
            f"Model with {origin}: task accuracy is not measured; quality is fidelity, the share of inputs "
            f"on which the level's top-1 prediction agrees with {reference} (on the host)."
        )
    if kind == "snr_db":
        return ("Model without a task metric on its bundled inputs: quality is the signal-to-noise ratio of "
                f"each level's outputs against {reference}'s on the same inputs (on the host; higher is closer).")
    if kind is None:
        return "No accuracy or fidelity was measured for this model."
    return None


# --- cells -------------------------------------------------------------------------------


def plain(x):
    """A frame value as a plain Python number or None (pandas gives NaN for missing numbers)."""
    if x is None:
        return None
    try:
        if x != x:  # NaN
            return None
    except (TypeError, ValueError):
        return x
    return x


def number_cell(value, scale=None, text=None) -> Cell:
    value = plain(value)
    if value is None:
        return EMPTY
    shown = scale.value(value) if scale else value
    return Cell(text if text is not None else scale.text(value), sort=shown)


def level_cell(row) -> Cell:
    # A zero-padded string sorts levels in ladder order and keeps the column left-aligned.
    return Cell(row["level"], sort=f"{int(row['level_index']):03d}")


def status_cell(row) -> Cell:
    if row["status"] == "ok":
        return Cell("ok", sort="ok")
    reason = plain(row["reason"])
    text = f"{row['status']}: {truncate(str(reason), REASON_MAX_CHARS)}" if reason else row["status"]
    return Cell(text, sort=row["status"], emphasis="bad")


def flags_cell(flags) -> Cell:
    flags = list(flags or [])
    return Cell(", ".join(flags), sort=", ".join(flags), emphasis="flagged" if flags else None)


def interval_cell(low, high, scale, suffix: str = "") -> Cell:
    low, high = plain(low), plain(high)
    if low is None or high is None:
        return EMPTY
    return Cell(f"{scale.text(low)}–{scale.text(high)}{suffix}", sort=scale.value(low))


def energy_cells(row, scale) -> tuple[Cell, Cell]:
    value, method, validity = (
        plain(row["energy_mj_per_inference"]),
        plain(row["energy_method"]),
        plain(row["energy_validity"]),
    )
    if value is None:
        return EMPTY, Cell("not measured" if row["status"] == "ok" else "-")
    valid = validity == "valid"
    value_cell = Cell(
        scale.text(value) + ("" if valid else " (invalid)"), sort=scale.value(value), emphasis=None if valid else "bad"
    )
    method_text = f"{method or 'unknown method'}; {validity or 'validity unknown'}"
    return value_cell, Cell(method_text, emphasis=None if valid else "bad")


def delegation_cell(row) -> Cell:
    delegated, total = plain(row["delegated_nodes"]), plain(row["total_nodes"])
    if delegated is None or not total:
        return EMPTY
    text = f"{int(delegated)}/{int(total)} ({fmt_pct(delegated / total, 0)})"
    if row["delegate_fell_back"] is True:
        return Cell(text + ", fell back to CPU", sort=delegated / total, emphasis="bad")
    return Cell(text, sort=delegated / total)


def drop_cell(value) -> Cell:
    value = plain(value)
    if value is None:
        return EMPTY
    value = round(value, 1) + 0.0  # no "-0.0"
    return Cell(f"{value:.1f}", sort=value)


# --- per model and device ----------------------------------------------------------------


def ordered(frame, by):
    return frame.sort_values(by, kind="stable")


def setup_table(rows, key: str, title: str) -> Table:
    """One device at one setting: one row per level."""
    rows = ordered(rows, "level_index")
    lat = latency_scale(rows["latency_median_us"].tolist() + rows["latency_p95_us"].tolist())
    energy = energy_scale(rows["energy_mj_per_inference"].tolist())
    size = size_scale(rows["size_bytes"].tolist())
    reference = rows["reference_level"].iloc[0] if len(rows) else "fp32"
    quality = QualityColumn.of(rows["quality_kind"], rows["quality_unit"], reference)
    headers = [
        "level", f"size ({size.unit})", f"size vs {reference}", quality.header, quality.drop_header,
        f"median latency ({lat.unit})", f"p5–p95 ({lat.unit})", f"95% CI ({lat.unit})", f"speedup vs {reference}",
        "peak memory (MB)", f"energy ({energy.unit}/inference)", "energy method; validity",
        "delegated nodes", "status", "flags",
    ]  # fmt: skip
    body = []
    for _, row in rows.iterrows():
        ci_suffix = " (of mean)" if row["latency_ci_of"] == "mean" else ""
        energy_value, energy_method = energy_cells(row, energy)
        body.append(
            [
                level_cell(row),
                number_cell(row["size_bytes"], size),
                number_cell(row["size_ratio_to_fp32"], text=fmt_ratio(plain(row["size_ratio_to_fp32"]))),
                quality.value_cell(row["quality"]),
                quality.drop_cell(row["quality_drop"]),
                number_cell(row["latency_median_us"], lat),
                interval_cell(row["latency_p5_us"], row["latency_p95_us"], lat),
                interval_cell(row["latency_ci_low_us"], row["latency_ci_high_us"], lat, ci_suffix),
                number_cell(row["speedup_vs_fp32"], text=fmt_ratio(plain(row["speedup_vs_fp32"]))),
                number_cell(row["memory_peak_mb"], MEMORY_SCALE),
                energy_value,
                energy_method,
                delegation_cell(row),
                status_cell(row),
                flags_cell(row["flags"]),
            ]
        )
    return Table(key, title, headers, body)


def setup_title(row, several_runs: bool) -> str:
    # A missing value makes pandas store the column as floats with NaN: show 4, not 4.0 or nan.
    threads = plain(row["threads"])
    threads_text = "?" if threads is None else str(int(threads))
    title = (
        f"{row['model']} on {row['device_label']}, {threads_text} thread(s), delegate {plain(row['delegate']) or '?'}"
    )
    return title + (f" (run {row['run_id']})" if several_runs and "[run " not in row["device_label"] else "")


def setups_in_order(frame) -> list[str]:
    return list(dict.fromkeys(frame["setup"]))


def setup_rows(frame, setup: str):
    return frame[frame["setup"] == setup]


def model_setup_tables(model_frame, key_prefix: str) -> list[Table]:
    several_runs = model_frame["run_id"].nunique() > 1
    tables = []
    for index, setup in enumerate(setups_in_order(model_frame)):
        rows = setup_rows(model_frame, setup)
        tables.append(setup_table(rows, f"{key_prefix}-setup{index}", setup_title(rows.iloc[0], several_runs)))
    return tables


# --- across devices ----------------------------------------------------------------------


def resolve_baseline(frame, wanted: str | None) -> str | None:
    """The device (id) others are compared with: --baseline-device as serial, identity or name."""
    if frame.empty:
        return None
    if not wanted:
        return frame["device_id"].iloc[0]
    for column in ("device", "device_id", "device_name", "device_label"):
        match = frame.loc[frame[column] == wanted, "device_id"]
        if not match.empty:
            return match.iloc[0]
    known = ", ".join(dict.fromkeys(frame["device"]))
    raise UsageError(f"--baseline-device {wanted!r} is not in these results", f"use one of: {known}")


def _series_header(row) -> str:
    flags = f" [{', '.join(row['device_flags'])}]" if len(row["device_flags"]) else ""
    return f"{row['series_label']}{flags}"


def _median_with_flags(row, scale) -> Cell:
    if row["status"] != "ok":
        return Cell(row["status"], sort=None, emphasis="bad")
    extra = [f for f in row["flags"] if f not in row["device_flags"]]
    text = scale.text(plain(row["latency_median_us"])) + (f" [{', '.join(extra)}]" if extra else "")
    return Cell(text, sort=scale.value(plain(row["latency_median_us"])), emphasis="flagged" if extra else None)


def cross_device_table(model_frame, baseline_id: str | None, key: str) -> Table | None:
    """The same model and level side by side on every device, as a ratio to the baseline."""
    setups = setups_in_order(model_frame)
    if len(setups) < 2:
        return None
    per_setup = {setup: setup_rows(model_frame, setup) for setup in setups}
    baseline = next((s for s in setups if per_setup[s]["device_id"].iloc[0] == baseline_id), setups[0])
    lat = latency_scale(model_frame["latency_median_us"].tolist())
    baseline_label = per_setup[baseline]["series_label"].iloc[0]
    headers = ["level"]
    for setup in setups:
        first = per_setup[setup].iloc[0]
        headers.append(f"{_series_header(first)} median ({lat.unit})")
        if setup != baseline:
            headers.append(f"{first['series_label']} ÷ {baseline_label}")
    levels = ordered(model_frame.drop_duplicates("level"), "level_index")
    body = []
    for _, level_row in levels.iterrows():
        row_cells = [level_cell(level_row)]
        base = per_setup[baseline][per_setup[baseline]["level"] == level_row["level"]]
        base_median = plain(base["latency_median_us"].iloc[0]) if len(base) and base["status"].iloc[0] == "ok" else None
        for setup in setups:
            match = per_setup[setup][per_setup[setup]["level"] == level_row["level"]]
            row = match.iloc[0] if len(match) else None
            row_cells.append(_median_with_flags(row, lat) if row is not None else EMPTY)
            if setup != baseline:
                median = plain(row["latency_median_us"]) if row is not None and row["status"] == "ok" else None
                relative = median / base_median if median and base_median else None
                row_cells.append(number_cell(relative, text=fmt_ratio(relative)))
        body.append(row_cells)
    note = f"Baseline: {baseline_label}. A ratio above 1.00x means slower than the baseline."
    if baseline_id and per_setup[baseline]["device_id"].iloc[0] != baseline_id:
        note += " (The chosen baseline device has no results for this model; the first device is used.)"
    return Table(key, f"{model_frame['model'].iloc[0]}: median latency across devices", headers, body, [note])


# --- conditions --------------------------------------------------------------------------


def runs_table(stores, key: str = "runs") -> Table:
    headers = ["run", "created (UTC)", "finished (UTC)", "harness", "host", "cells"]
    body = []
    for store in stores:
        doc = store.document
        counts = Counter(str(cell.get("status")) for cell in store.cells)
        finished = doc.get("finished_utc") or "not finished (interrupted or running)"
        host = doc.get("host") or {}
        body.append(
            [
                Cell(store.run_id),
                Cell(str(doc.get("created_utc") or "-")),
                Cell(str(finished), emphasis=None if doc.get("finished_utc") else "bad"),
                Cell(str(doc.get("harness_version") or "-")),
                Cell(" ".join(str(host.get(k) or "") for k in ("hostname", "machine")).strip() or "-"),
                Cell(
                    ", ".join(f"{n} {status}" for status, n in counts.most_common()) or "none",
                    sort=sum(counts.values()),
                ),
            ]
        )
    return Table(key, "Runs", headers, body)


def _passport_text(passport: dict) -> dict[str, str]:
    props = passport.get("props") or {}
    battery = passport.get("battery") or {}
    soc = (
        " ".join(p for p in (props.get("ro.soc.manufacturer"), props.get("ro.soc.model")) if p)
        or props.get("ro.board.platform")
        or "-"
    )
    android = props.get("ro.build.version.release")
    sdk = props.get("ro.build.version.sdk")
    level_pct = battery.get("level_pct")
    temp_c = battery.get("temperature_c")
    return {
        "device": " ".join(p for p in (props.get("ro.product.manufacturer"), props.get("ro.product.model")) if p)
        or "-",
        "soc": soc,
        "android": f"{android or '?'} (API {sdk or '?'})" if android or sdk else "-",
        "abi": passport.get("abi") or props.get("ro.product.cpu.abi") or "-",
        "battery": (
            f"{level_pct if level_pct is not None else '?'}% {battery.get('status') or ''}"
            + (f", {temp_c:.1f} °C" if isinstance(temp_c, (int, float)) else "")
        ).strip(),
        "thermal": str(passport.get("thermal_status")) if passport.get("thermal_status") is not None else "-",
    }


def devices_table(stores, records, key: str = "devices") -> Table:
    headers = ["device", "serial", "run", "manufacturer and model", "SoC", "Android", "ABI", "battery at start",
               "thermal status at start", "runner", "flags"]  # fmt: skip
    labels = {(r.run_id, r.device): r.device_label for r in records}
    body = []
    for store in stores:
        for serial, device in (store.document.get("devices") or {}).items():
            passport = device.get("passport") or {}
            text = _passport_text(passport)
            runner = device.get("runner") or {}
            body.append(
                [
                    Cell(labels.get((store.run_id, serial)) or device.get("friendly_name") or serial),
                    Cell(serial),
                    Cell(store.run_id),
                    Cell(text["device"]),
                    Cell(text["soc"]),
                    Cell(text["android"]),
                    Cell(text["abi"]),
                    Cell(text["battery"]),
                    Cell(text["thermal"]),
                    Cell(" ".join(str(runner.get(k)) for k in ("kind", "version") if runner.get(k)) or "-"),
                    # Charging and throttling are judged per cell (a sweep suspends charging after
                    # this snapshot): the battery and thermal columns show them as they were.
                    flags_cell(device_flags(device)),
                ]
            )
    return Table(key, "Devices and the conditions at the start of each run", headers, body)
