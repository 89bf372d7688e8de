"""Pages as GitHub-flavoured Markdown, ready to paste into a README or a paper."""

from __future__ import annotations

from urllib.parse import quote

from harness.report.page import Cell, Page, Section, Table
from harness.report.escape import md_inline, md_text


def cell_md(cell: Cell) -> str:
    text = md_inline(cell.text) or " "
    if cell.href:
        return f"[{text}]({quote(cell.href, safe='/#.-_~')})"
    return f"**{text}**" if cell.emphasis == "bad" and cell.text not in ("-", "") else text


def table_md(table: Table) -> str:
    width = len(table.headers)
    lines = [
        "| " + " | ".join(md_inline(h) for h in table.headers) + " |",
        "|" + "|".join("---:" if table.is_numeric_column(i) else "---" for i in range(width)) + "|",
    ]
    for row in table.rows:
        cells = [cell_md(c) for c in row] + [" "] * (width - len(row))
        lines.append("| " + " | ".join(cells[:width]) + " |")
    if not table.rows:
        lines.append("| " + " | ".join(["(no cells)"] + [" "] * (width - 1)) + " |")
    return "\n".join(lines)


def section_md(section: Section, depth: int, plot_paths: dict[str, str]) -> list[str]:
    out = ["#" * depth + " " + md_text(section.title), ""]
    for paragraph in section.paragraphs:
        out += [md_text(paragraph), ""]
    for table in section.tables:
        out += [f"**{md_text(table.title)}**", "", table_md(table), ""]
        out += [f"_{md_text(note)}_" for note in table.notes] + ([""] if table.notes else [])
    for plot in section.plots:
        if plot.key in plot_paths:
            out += [f"![{md_text(plot.alt)}]({quote(plot_paths[plot.key], safe='/.-_~')})", ""]
    for sub in section.subsections:
        out += section_md(sub, min(depth + 1, 6), plot_paths)
    return out


def page_md(page: Page, plot_paths: dict[str, str] | None = None) -> str:
    """plot_paths: plot key -> path relative to the Markdown file, for the plots written beside it."""
    plot_paths = plot_paths or {}
    out = ["# " + md_text(page.title), ""]
    if page.nav:
        out += [" · ".join(f"[{md_text(text)}]({quote(href, safe='/#.-_~')})" for text, href in page.nav), ""]
    for paragraph in page.intro:
        out += [md_text(paragraph), ""]
    for section in page.sections:
        out += section_md(section, 2, plot_paths)
    return "\n".join(out).rstrip() + "\n"
