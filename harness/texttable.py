"""Aligned plain-text tables for terminal output (reports use pandas; this stays import-light)."""

from __future__ import annotations


def render(headers: list[str], rows: list[list[str]], *, right_align_from: int = 1) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(widths[i]) if i >= right_align_from else cell.ljust(widths[i]) for i, cell in enumerate(cells)
        ).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])
