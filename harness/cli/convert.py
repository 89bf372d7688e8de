"""squeezebench convert: one .tflite per compression level, measured on the host."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from harness.cli.common import positive_int
from harness.units import fmt_bytes

HELP = "convert a model to TFLite at every compression level and measure each on the host"
DESCRIPTION = """\
Convert MODEL (a .keras, .h5 or .tflite file, a SavedModel directory, or a zoo name: see
'squeezebench zoo') to one .tflite per level, and
measure each: file size, gzip size, ratios to fp32, sha256, input/output tensors, operator counts,
conversion time, and accuracy (when labels exist) and fidelity against fp32 with LiteRT.

Levels: fp32, fp16, int8-dynamic, int8, int16x8, pruned-N (e.g. pruned-50, pruned-75),
clustered-N (e.g. clustered-16), distilled, qat-int8, channels-N, lowrank-R, and the AI Edge
Quantizer's int8-weight, int4-weight, int4-weight-bN, w8a16, int4-weight-mixed; compose with '+'
(pruned-75+int8, pruned-50+int4-weight); 'all' is the classic ladder the input supports,
'extended' the newer levels. Details and the --data array names (x_calib, x_train/y_train,
x_eval/y_eval): docs/levels.md. Results: OUT/convert.json + OUT/<level>.tflite; conversions are
cached, so converting the same thing again does no work."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", help="model file, SavedModel directory, or zoo name")
    parser.add_argument(
        "--levels", default="all", metavar="LIST", help="comma-separated levels (default: all), e.g. fp32,int8"
    )
    parser.add_argument(
        "--data", type=Path, metavar="FILE.npz", help="calibration/training/evaluation arrays (see docs/levels.md)"
    )
    parser.add_argument(
        "--random-calibration",
        action="store_true",
        help="calibrate int8/int16x8 on random inputs when there is no data (accuracy becomes meaningless)",
    )
    parser.add_argument("--out", type=Path, metavar="DIR", help="output directory (default: results/convert-<model>)")
    parser.add_argument("--json", action="store_true", help="print the conversion document as JSON instead of a table")
    parser.add_argument("--quiet", action="store_true", help="no progress messages")
    parser.add_argument(
        "--jobs",
        type=positive_int,
        metavar="N",
        help="build levels in N worker processes (default: one per core, up to 4; 1 converts in this process)",
    )


def run(args: argparse.Namespace) -> int:
    from harness import paths
    from harness.convert import convert_model, document
    from harness.convert.levels import parse_levels
    from harness.convert.sources import model_name

    levels = parse_levels(args.levels)
    out_dir = args.out or paths.results_dir() / f"convert-{model_name(args.model)}"
    progress = None if args.quiet else _print_progress
    doc = convert_model(
        args.model,
        levels,
        out_dir,
        data=args.data,
        random_calibration=args.random_calibration,
        jobs=args.jobs,
        progress=progress,
    )
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(format_report(doc, out_dir))
    return int(document.exit_code(doc))


def _print_progress(message: str) -> None:
    print(f"squeezebench: {message}", file=sys.stderr, flush=True)


COLUMNS = (
    ("level", "<"),
    ("status", "<"),
    ("size", ">"),
    ("gzip", ">"),
    ("x fp32", ">"),
    ("gz x fp32", ">"),
    ("quality", ">"),
    ("accuracy", ">"),
    ("top-1 agree", ">"),
    ("max abs err", ">"),
    ("cosine", ">"),
    ("convert s", ">"),
    ("", "<"),
)


def format_report(doc: dict, out_dir: Path) -> str:
    """The table a user reads: header facts, one row per level, then reasons and notes."""
    model, data = doc["model"], doc["data"]
    lines = [f"model: {model['name']} ({model['source_kind']}, {_weights_text(model)})"]
    lines.append(f"data: {_data_text(data)}")
    if model["weights"] == "random":
        lines.append("RANDOM WEIGHTS: task accuracy is not measured; fidelity is against fp32")
    if data.get("random_calibration"):
        lines.append("RANDOM CALIBRATION (--random-calibration): int8/int16x8 accuracy is not representative")
    lines.append("")
    rows = [[title for title, _ in COLUMNS]] + [_row(entry) for entry in doc["levels"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    for row in rows:
        cells = [f"{cell:{align}{width}}" for cell, (_, align), width in zip(row, COLUMNS, widths)]
        lines.append("  ".join(cells).rstrip())
    lines.append("")
    for entry in doc["levels"]:
        if entry["status"] != "ok":
            lines.append(f"{entry['level']}: {entry['status']}: {entry['reason']}")
    for note in doc["notes"] + model["notes"]:
        lines.append(f"note: {note}")
    for entry in doc["levels"]:
        for note in entry["notes"]:
            lines.append(f"note: {entry['level']}: {note}")
    produced = sum(1 for entry in doc["levels"] if entry["file"])
    lines.append(f"saved: {out_dir / 'convert.json'} and {produced} .tflite file(s) in {out_dir}")
    return "\n".join(lines)


def _weights_text(model: dict) -> str:
    return {"trained": "trained weights", "pretrained": "pretrained weights", "random": "random weights",
            "user": "your weights"}[model["weights"]]  # fmt: skip


def _data_text(data: dict) -> str:
    if data["random_calibration"]:
        calibration = f"calibration RANDOM ({data['n_calib']} samples)"
    elif data["calibration"]:
        calibration = f"calibration {data['calibration']} ({data['n_calib']} samples)"
    else:
        calibration = "no calibration data"
    labelled = ", labelled" if data["labels"] else ""
    if data["eval"] == "random":
        evaluation = f"evaluation on {data['n_eval']} seeded random inputs (fidelity only)"
    else:
        evaluation = f"evaluation {data['eval']} ({data['n_eval']} samples{labelled})"
    return f"{calibration}; {evaluation}"


def _row(entry: dict) -> list[str]:
    if entry["status"] != "ok":
        return [entry["level"], entry["status"]] + ["-"] * (len(COLUMNS) - 2)
    fidelity = entry["fidelity"] or {}
    accuracy = (entry["accuracy"] or {}).get("top1")
    agreement = fidelity.get("top1_agreement")
    marks = [m for m, on in (("cached", entry["cached"]), ("reference only", entry["reference_only"])) if on]
    return [
        entry["level"],
        entry["status"],
        fmt_bytes(entry["size_bytes"]),
        fmt_bytes(entry["gzip_size_bytes"]),
        _number(entry["size_ratio_to_fp32"], "{:.3f}"),
        _number(entry["gzip_ratio_to_fp32"], "{:.3f}"),
        quality_text(entry.get("quality")),
        _number(None if accuracy is None else accuracy * 100, "{:.2f}%"),
        _number(None if agreement is None else agreement * 100, "{:.1f}%"),
        _number(fidelity.get("max_abs_error"), "{:.3g}"),
        _number(fidelity.get("cosine_similarity"), "{:.6f}"),
        _number(entry["conversion_s"], "{:.1f}"),
        ", ".join(marks),
    ]


def quality_text(figure: dict | None) -> str:
    """`top1_accuracy 99.07%`, `snr_db 42.1 dB`."""
    if not figure:
        return "-"
    if figure["unit"] == "fraction":
        return f"{figure['metric']} {figure['value'] * 100:.2f}%"
    return f"{figure['metric']} {figure['value']:.1f} {figure['unit']}"


def _number(value, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)
