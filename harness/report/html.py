"""Pages as one self-contained HTML file each: plots embedded as data: URIs, CSS and a small
sortable-table script inline, no request to anything outside the file.

A Content-Security-Policy allows only the page's own style and script (by hash) and data:
images: even if some text escaped the escaping, it could neither run nor fetch anything.
"""

from __future__ import annotations

import base64
import hashlib

from harness import __version__
from harness.report.page import Cell, Page, Plot, Section, Table
from harness.report.escape import html_text

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto;
       max-width: 1400px; padding: 1rem 1.5rem 3rem; color: #1a1a1a; background: #fff; }
h1 { font-size: 1.6rem; } h2 { margin-top: 2.2rem; border-bottom: 1px solid #ddd; } h3 { margin-top: 1.6rem; }
nav a { margin-right: 1rem; }
.table-wrap { overflow-x: auto; margin: 0.5rem 0 1.2rem; }
table { border-collapse: collapse; font-size: 0.88rem; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 0.3rem 0; }
th, td { border: 1px solid #d0d0d0; padding: 0.25rem 0.5rem; vertical-align: top; }
th { background: #f3f5f7; cursor: pointer; user-select: none; white-space: nowrap; }
th[aria-sort="ascending"]::after { content: " \\25B2"; } th[aria-sort="descending"]::after { content: " \\25BC"; }
td { white-space: nowrap; } td.num { text-align: right; }
td .long { white-space: normal; min-width: 18rem; max-width: 30rem; }
td.bad { color: #a33a00; } td.flagged { background: #fff4d6; }
tbody tr:nth-child(even) { background: #fafafa; }
.note { color: #444; font-size: 0.88rem; font-style: italic; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #444; font-size: 0.88rem; }
footer { margin-top: 3rem; color: #666; font-size: 0.8rem; }
"""

# Sorts a table by the clicked column: numbers as numbers, missing values ("-") always last,
# a second click reverses. Array.prototype.sort is stable, so earlier sorts break ties.
SORT_JS = """
(function () {
  function key(cell) {
    if (!cell || !cell.hasAttribute("data-sort")) { return null; }
    var text = cell.getAttribute("data-sort");
    var number = Number(text);
    return text !== "" && isFinite(number) ? number : text.toLowerCase();
  }
  function order(a, b) {
    if (typeof a !== typeof b) { return typeof a === "number" ? -1 : 1; }
    return a < b ? -1 : a > b ? 1 : 0;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (th, column) {
      th.addEventListener("click", function () {
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        headers.forEach(function (other) { other.setAttribute("aria-sort", "none"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (r1, r2) {
          var a = key(r1.cells[column]), b = key(r2.cells[column]);
          if (a === null || b === null) { return (a === null) - (b === null); }
          return ascending ? order(a, b) : -order(a, b);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
"""


LONG_TEXT_CHARS = 40


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; img-src data:; style-src {_csp_hash(CSS)}; script-src {_csp_hash(SORT_JS)}; "
    "base-uri 'none'; form-action 'none'"
)


def _sort_value(cell: Cell) -> str | None:
    if cell.sort is not None:
        return str(cell.sort)
    return None if cell.text in ("-", "") else cell.text


def cell_html(cell: Cell, numeric: bool) -> str:
    classes = [c for c in ("num" if numeric else None, cell.emphasis) if c]
    attrs = f' class="{" ".join(classes)}"' if classes else ""
    sort = _sort_value(cell)
    if sort is not None:
        attrs += f' data-sort="{html_text(sort)}"'
    content = html_text(cell.text)
    if len(cell.text) > LONG_TEXT_CHARS:
        # Short cells never wrap; long ones (reasons) wrap into a paragraph, not a column of words.
        content = f'<div class="long">{content}</div>'
    if cell.href:
        content = f'<a href="{html_text(cell.href)}">{content}</a>'
    return f"<td{attrs}>{content}</td>"


def table_html(table: Table) -> str:
    numeric = [table.is_numeric_column(i) for i in range(len(table.headers))]
    head = "".join(f'<th scope="col" aria-sort="none">{html_text(h)}</th>' for h in table.headers)
    rows = []
    for row in table.rows:
        cells = [cell_html(c, numeric[i]) for i, c in enumerate(row)]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    notes = "".join(f'<p class="note">{html_text(n)}</p>' for n in table.notes)
    return (
        f'<div class="table-wrap"><table class="sortable" id="{html_text(table.key)}">'
        f"<caption>{html_text(table.title)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>{notes}"
    )


def plot_html(plot: Plot) -> str:
    data = base64.b64encode(plot.png).decode("ascii")
    return (
        f'<figure id="{html_text(plot.key)}"><img src="data:image/png;base64,{data}" alt="{html_text(plot.alt)}">'
        f"<figcaption>{html_text(plot.title)}</figcaption></figure>"
    )


def section_html(section: Section, depth: int) -> str:
    tag = f"h{min(depth, 6)}"
    parts = [f"<section><{tag}>{html_text(section.title)}</{tag}>"]
    parts += [f"<p>{html_text(p)}</p>" for p in section.paragraphs]
    parts += [table_html(t) for t in section.tables]
    parts += [plot_html(p) for p in section.plots]
    parts += [section_html(s, depth + 1) for s in section.subsections]
    parts.append("</section>")
    return "\n".join(parts)


def page_html(page: Page) -> str:
    nav = ""
    if page.nav:
        nav = (
            "<nav>"
            + "".join(f'<a href="{html_text(href)}">{html_text(text)}</a>' for text, href in page.nav)
            + "</nav>"
        )
    intro = "".join(f"<p>{html_text(p)}</p>" for p in page.intro)
    body = "\n".join(section_html(s, 2) for s in page.sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">
<meta name="referrer" content="no-referrer">
<title>{html_text(page.title)}</title>
<link rel="icon" href="data:,">
<style>{CSS}</style>
</head>
<body>
{nav}
<header><h1>{html_text(page.title)}</h1>{intro}</header>
<main>
{body}
</main>
<footer>Generated by squeezebench {html_text(__version__)} from result files only; this page makes no network
requests. Click a column header to sort.</footer>
<script>{SORT_JS}</script>
</body>
</html>
"""
