"""Tables as aligned plain text for a terminal: the third renderer of the report's Table model,
beside Markdown and HTML, used by every table the CLI prints (run's summary, compare, parse-log,
zoo, ...). Numeric columns are right-aligned; text from outside squeezebench is kept on one line
so that a name with a newline cannot break the columns."""

from __future__ import annotations

from harness.report.escape import one_line
from harness.report.page import Table

COLUMN_GAP = "  "


def table_text(table: Table, *, with_title: bool = False) -> str:
    headers = [one_line(h) for h in table.headers]
    rows = [[one_line(cell.text) for cell in row] + [""] * (len(headers) - len(row)) for row in table.rows]
    widths = [max([len(h)] + [len(row[i]) for row in rows]) for i, h in enumerate(headers)]
    right = [table.is_numeric_column(i) for i in range(len(headers))]

    def line(cells: list[str]) -> str:
        return COLUMN_GAP.join(
            cell.rjust(widths[i]) if right[i] else cell.ljust(widths[i]) for i, cell in enumerate(cells)
        ).rstrip()

    lines = ([one_line(table.title)] if with_title and table.title else [])
    lines += [line(headers), line(["-" * w for w in widths])] + [line(row) for row in rows]
    lines += [one_line(note) for note in table.notes]
    return "\n".join(lines)
