"""The cells of a sweep: models x levels x devices x threads x delegates."""

from __future__ import annotations

from harness.store.records import CellStatus
from harness.store.run import cell_id, safe_component


def conversion_summary(document: dict, model_dir: str) -> dict:
    """What run.json keeps of a model's conversion (the full document stays in model_dir)."""
    levels = {}
    for entry in document.get("levels", []):
        levels[entry["level"]] = {
            key: entry.get(key)
            for key in (
                "status", "reason", "file", "sha256", "size_bytes", "gzip_size_bytes",
                "size_ratio_to_fp32", "gzip_ratio_to_fp32", "accuracy", "fidelity", "quality",
                "reference_only", "op_counts", "cached",
            )
        }  # fmt: skip
    model = document.get("model", {})
    return {
        "name": model.get("name"),
        "dir": model_dir,
        "conversion": f"{model_dir}/convert.json",
        "source_kind": model.get("source_kind"),
        "weights": model.get("weights"),
        "source": model.get("source"),
        "licence": model.get("licence"),
        "task_accuracy_available": model.get("task_accuracy_available"),
        "notes": model.get("notes", []),
        "reference_level": document.get("reference_level"),
        "levels": levels,
    }


def plan_cells(models: dict[str, dict], devices: dict[str, tuple[list[int], list[str]]]) -> list[dict]:
    """One cell per (model, level, device, threads, delegate).

    models: model name -> conversion summary; devices: device key -> (thread counts, delegates)
    to run there.
    A level whose conversion failed still gets its cells, skipped with the converter's reason,
    so the report shows the hole and why.
    """
    cells = []
    for model_name, model in models.items():
        for level, info in model["levels"].items():
            if info.get("reference_only"):
                continue
            for serial, (thread_counts, delegates) in devices.items():
                for threads in thread_counts:
                    for delegate in delegates:
                        ok = info.get("status") == "ok"
                        cells.append(
                            {
                                "id": cell_id(model_name, level, serial, threads, delegate),
                                "model": model_name,
                                "level": level,
                                "device": serial,
                                "threads": threads,
                                "delegate": delegate,
                                "mode": "native",
                                "status": CellStatus.PENDING if ok else CellStatus.SKIPPED,
                                "reason": None if ok else f"conversion {info.get('status')}: {info.get('reason')}",
                                "attempts": 0,
                                "dir": cell_dir_name(model_name, level, serial, threads, delegate),
                                "summary": None,
                            }
                        )
    return cells


def cell_dir_name(model: str, level: str, serial: str, threads: int, delegate: str) -> str:
    parts = [safe_component(model), safe_component(level), safe_component(serial), f"t{threads}-{safe_component(delegate)}"]
    return "cells/" + "/".join(parts)
