"""The bundled `benchmark_model`-compatible runner (see benchmark_model.py's docstring).

`RUNNER_PATH` is the one self-contained file pushed to devices that have Python + LiteRT;
`RUNNER_VERSION` is the version it prints, read from that file without importing it (it needs
numpy and ai_edge_litert, which nothing here should load).
"""

from __future__ import annotations

import re
from pathlib import Path

RUNNER_PATH = Path(__file__).resolve().parent / "benchmark_model.py"


def _read_runner_version(path: Path) -> str:
    match = re.search(r'^RUNNER_VERSION = "([^"]+)"$', path.read_text(encoding="utf-8"), re.MULTILINE)
    if not match:
        raise RuntimeError(f"{path} has no RUNNER_VERSION line")  # a broken checkout, not user input
    return match[1]


RUNNER_VERSION = _read_runner_version(RUNNER_PATH)
