"""What every user mistake must produce: exactly one stderr line, "squeezebench: error: ...",
naming the problem and the fix, with the documented exit code."""

from __future__ import annotations


def one_line_error(code: int, stderr: str, exit_code: int, *fragments: str) -> str:
    """The error line, after checking the exit code, that it is the only line, and that it holds
    every fragment."""
    assert code == exit_code, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("squeezebench: error: "), stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
