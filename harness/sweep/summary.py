"""The table printed at the end of `squeezebench run`: per model, level x device."""

from __future__ import annotations

from harness import texttable
from harness.units import fmt_bytes, fmt_energy_mj, fmt_pct, fmt_ratio, fmt_us


def _setting_key(cell: dict) -> tuple:
    return (cell["device"], cell["threads"], cell["delegate"])


def _column_title(key: tuple, devices: dict, several_settings: bool) -> str:
    serial, threads, delegate = key
    name = (devices.get(serial) or {}).get("friendly_name") or serial
    return f"{name} t{threads} {delegate}" if several_settings else name


def _quality(level: dict) -> str:
    accuracy = level.get("accuracy")
    if accuracy and accuracy.get("top1") is not None:
        return f"acc {fmt_pct(accuracy['top1'])}"
    fidelity = level.get("fidelity")
    if fidelity and fidelity.get("top1_agreement") is not None:
        return f"agree {fmt_pct(fidelity['top1_agreement'])}"
    return "-"


def _median(cell: dict | None):
    if not cell or cell["status"] != "ok":
        return None
    return ((cell.get("summary") or {}).get("latency_us") or {}).get("median")


def _cell_text(cell: dict | None, fp32_median: float | None) -> str:
    if cell is None:
        return "-"
    if cell["status"] != "ok":
        return cell["status"]
    median = _median(cell)
    speedup = f" ({fmt_ratio(fp32_median / median)})" if median and fp32_median else ""
    energy = ((cell.get("summary") or {}).get("energy") or {})
    energy_text = ""
    if energy.get("energy_per_inference_mj") is not None:
        marker = "" if energy.get("validity") == "valid" else "*"
        energy_text = f", {fmt_energy_mj(energy['energy_per_inference_mj'])}{marker}"
    return f"{fmt_us(median)}{speedup}{energy_text}"


def summary_tables(document: dict) -> str:
    devices = document.get("devices", {})
    keys = sorted({_setting_key(c) for c in document["cells"]})
    several_settings = len({k[1:] for k in keys}) > 1
    out = []
    for model_name, model in document.get("models", {}).items():
        cells = {(_setting_key(c), c["level"]): c for c in document["cells"] if c["model"] == model_name}
        headers = ["level", "size", "vs fp32", "quality"] + [_column_title(k, devices, several_settings) for k in keys]
        rows = []
        for level_name, level in model["levels"].items():
            if level.get("reference_only"):
                continue
            row = [level_name, fmt_bytes(level.get("size_bytes")), fmt_ratio(level.get("size_ratio_to_fp32")), _quality(level)]
            for key in keys:
                fp32_median = _median(cells.get((key, "fp32")))
                row.append(_cell_text(cells.get((key, level_name)), fp32_median))
            rows.append(row)
        note = " (random weights: quality is agreement with fp32)" if model.get("weights") == "random" else ""
        out.append(f"{model_name}{note}\n" + texttable.render(headers, rows))
    out.append("latency: median (speedup vs fp32), energy per inference; * energy not valid (see report)")
    return "\n\n".join(out)
