"""Tidy exports for people who want the numbers, not the tables: CSV (one row per cell, for
pandas/R/spreadsheets) and JSON (the same records plus the runs they come from)."""

from __future__ import annotations

import json
import math

from harness import __version__
from harness.report.load import ResultSet
from harness.jsonfile import utc_now
from harness.schemas import REPORT

LIST_SEPARATOR = ";"


def _plain(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def csv_text(results: ResultSet) -> str:
    frame = results.frame()
    for column in ("flags", "device_flags"):
        frame[column] = frame[column].map(lambda flags: LIST_SEPARATOR.join(flags or []))
    return frame.to_csv(index=False, lineterminator="\n")


def json_document(results: ResultSet) -> dict:
    return {
        **REPORT.stamp(),
        "harness_version": __version__,
        "generated_utc": utc_now(),
        "runs": [
            {
                "run_id": store.run_id,
                "dir": str(store.root),
                "created_utc": store.document.get("created_utc"),
                "finished_utc": store.document.get("finished_utc"),
                "spec": store.document.get("spec"),
                "devices": store.document.get("devices") or {},
            }
            for store in results.stores
        ],
        "cells": [{column: _plain(value) for column, value in record.to_dict().items()} for record in results.records],
    }


def json_text(results: ResultSet) -> str:
    return json.dumps(json_document(results), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
