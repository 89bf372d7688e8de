"""`run.json`: the versioned record of one sweep, and the directory around it."""

from __future__ import annotations

import os
import platform
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness import __version__
from harness.errors import ResultsError
from harness.jsonfile import utc_now, write_json_atomic
from harness.schemas import RUN
from harness.store.cell_files import load_bench
from harness.store.records import BenchResult, CellStatus


RUN_FILE = "run.json"


def new_run_id() -> str:
    return time.strftime("%Y-%m-%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(2)


def safe_component(text: str, max_len: int = 60) -> str:
    """A file name component that cannot climb out of its directory or clash by case tricks."""
    cleaned = re.sub(r"[^A-Za-z0-9._+-]", "_", text).strip("._") or "x"
    return cleaned[:max_len]


def host_info() -> dict:
    return {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
    }


def cell_id(model: str, level: str, device: str, threads: int, delegate: str) -> str:
    return f"{model}|{level}|{device}|t{threads}|{delegate}"


def load_run_document(path: Path) -> dict:
    document = RUN.load(path)
    check_run_structure(path, document)
    return document


# What the store relies on in run.json: section -> type, and the string fields of every cell.
_RUN_SECTIONS = {"run_id": str, "spec": dict, "devices": dict, "models": dict, "cells": list}
_CELL_STRINGS = ("id", "status", "dir")


def check_run_structure(path: Path, document: dict) -> None:
    """Refuse a run.json that has the right kind and version but not the shape readers rely on
    (edited by hand, or written by something else), in one line naming what is wrong."""

    def refuse(what: str) -> ResultsError:
        return ResultsError(f"{path}: {what}", "the file is damaged; restore it or start a new run")

    for key, kind in _RUN_SECTIONS.items():
        if not isinstance(document.get(key), kind):
            raise refuse(f"'{key}' is missing or not a {kind.__name__}")
    for index, cell in enumerate(document["cells"]):
        if not isinstance(cell, dict) or not all(isinstance(cell.get(key), str) for key in _CELL_STRINGS):
            raise refuse(f"cell {index} lacks one of {', '.join(_CELL_STRINGS)}")
    for name, model in document["models"].items():
        if not isinstance(model, dict) or not isinstance(model.get("dir"), str):
            raise refuse(f"model {name!r} has no 'dir'")


@dataclass
class RunStore:
    """A run directory. Mutations go through methods that save atomically under a lock,
    because device queues run in parallel threads."""

    root: Path
    document: dict
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def run_id(self) -> str:
        return self.document["run_id"]

    @property
    def cells(self) -> list[dict]:
        return self.document["cells"]

    def save(self) -> None:
        with self._lock:
            self._save_locked()

    def _save_locked(self) -> None:
        self.document["updated_utc"] = utc_now()
        write_json_atomic(self.root / RUN_FILE, self.document)

    def cell(self, cell_id_: str) -> dict:
        for cell in self.cells:
            if cell["id"] == cell_id_:
                return cell
        raise KeyError(cell_id_)

    def update_cell(self, cell_id_: str, **fields) -> dict:
        with self._lock:
            cell = self.cell(cell_id_)
            cell.update(fields)
            self._save_locked()
            return cell

    def update(self, section: str, key: str, value) -> None:
        """Set document[section][key] (e.g. a device passport, a model's conversion summary)."""
        with self._lock:
            self.document.setdefault(section, {})[key] = value
            self._save_locked()

    def mutate(self, change) -> None:
        """Apply change(document) and save, atomically with respect to the other threads."""
        with self._lock:
            change(self.document)
            self._save_locked()

    def set(self, key: str, value) -> None:
        with self._lock:
            self.document[key] = value
            self._save_locked()

    def add_cells(self, cells: list[dict]) -> None:
        with self._lock:
            known = {c["id"] for c in self.cells}
            self.cells.extend(c for c in cells if c["id"] not in known)
            self._save_locked()

    def finish(self) -> None:
        with self._lock:
            self.document["finished_utc"] = utc_now()
            self._save_locked()

    def cell_dir(self, cell: dict) -> Path:
        return self.contained(cell["dir"])

    def contained(self, relative: str) -> Path:
        """A path named inside run.json, refused if it (or a symlink on the way) leaves the run."""
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root.resolve()):
            raise ResultsError(
                f"{self.root / RUN_FILE}: path {relative!r} points outside the run directory",
                "restore run.json, or replace the symlink in the run directory with the files themselves",
            )
        return candidate

    def check_paths(self) -> None:
        """Every directory run.json names stays inside the run: a damaged or hostile run.json, or
        a symlink in the run directory, must never make squeezebench read, write or delete
        files elsewhere."""
        for model in self.document["models"].values():
            self.contained(model["dir"])
        for cell in self.cells:
            self.contained(cell["dir"])

    def load_bench(self, cell: dict) -> BenchResult | None:
        return load_bench(self.cell_dir(cell))

    def pending_cells(self) -> list[dict]:
        """The cells `--resume` does: pending, running when the process died, device-lost."""
        return [c for c in self.cells if not CellStatus.read(c["status"]).is_finished]


def create_run(results_root: Path, spec: dict, command_line: list[str], run_id: str | None = None) -> RunStore:
    run_id = run_id or new_run_id()
    root = Path(results_root) / run_id
    root.mkdir(parents=True, exist_ok=False)
    document = {
        **RUN.stamp(),
        "run_id": run_id,
        "harness_version": __version__,
        "created_utc": utc_now(),
        "updated_utc": utc_now(),
        "finished_utc": None,
        "host": host_info(),
        "command_line": list(command_line),
        "spec": spec,
        "devices": {},
        "models": {},
        "cells": [],
    }
    store = RunStore(root, document)
    store.save()
    return store


def open_run(path: Path) -> RunStore:
    root = Path(path)
    if not root.is_dir():
        raise ResultsError(f"{root} is not a directory", "pass a run directory such as results/<run-id>")
    run_file = root / RUN_FILE
    if not run_file.is_file():
        raise ResultsError(f"{root} is not a squeezebench run (no {RUN_FILE})", "pass a directory written by 'squeezebench run'")
    store = RunStore(root, load_run_document(run_file))
    store.check_paths()
    return store


def find_run(results_root: Path, ref: str) -> RunStore:
    """A run by path, or by id under the results directory."""
    path = Path(ref)
    if path.is_dir():
        return open_run(path)
    if "/" in ref or ref in (".", ".."):
        raise ResultsError(f"no run directory {ref}", "check the path")
    candidate = Path(results_root) / ref
    if candidate.is_dir():
        return open_run(candidate)
    raise ResultsError(f"no run {ref!r} under {results_root}", "list them with 'ls results/'")
