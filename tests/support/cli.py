"""Running the CLI as users run it, and what every user mistake must produce: exactly one stderr
line, "squeezebench: error: ...", naming the problem and the fix, with the documented exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def one_line_error(code: int, stderr: str, exit_code: int, *fragments: str) -> str:
    """The error line, after checking the exit code, that it is the only line, and that it holds
    every fragment."""
    assert code == exit_code, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("squeezebench: error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def run_cli(*args: str, timeout_s: float = 600, check: bool = False, cwd: Path | None = None):
    done = subprocess.run(
        [str(VENV_BIN / "squeezebench"), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        cwd=cwd,
    )
    if check and done.returncode != 0:
        raise AssertionError(f"squeezebench {' '.join(map(str, args))} exited {done.returncode}:\n{done.stderr}")
    return done
