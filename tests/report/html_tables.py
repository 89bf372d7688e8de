"""Reads tables, links and tags back out of HTML (from our pages, or from Markdown rendered by a
real CommonMark parser), so tests check what a reader would see."""

from __future__ import annotations

from html.parser import HTMLParser


class PageContents(HTMLParser):
    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tables: list[dict] = []  # {"id", "headers", "rows"}
        self.tags: list[str] = []
        self.links: list[str] = []  # href and src values
        self.attributes: list[str] = []  # every attribute name, e.g. to find event handlers
        self._texts: list[str] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_head = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        self.attributes += list(attrs)
        for name in ("href", "src"):
            if attrs.get(name) is not None:
                self.links.append(attrs[name])
        if tag == "table":
            self.tables.append({"id": attrs.get("id"), "headers": [], "rows": []})
        elif tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            table = self.tables[-1]
            if self._in_head:
                table["headers"] = self._row
            else:
                table["rows"].append(self._row)
            self._row = None
        elif tag == "thead":
            self._in_head = False

    def handle_data(self, data):
        self._texts.append(data)
        if self._cell is not None:
            self._cell.append(data)

    @property
    def text(self) -> str:
        """What a reader sees, markup gone."""
        return "".join(self._texts)

    def table(self, table_id: str) -> dict:
        return next(t for t in self.tables if t["id"] == table_id)


def markdown_to_html(text: str) -> str:
    """CommonMark with GitHub tables; raw HTML passes through, as on many Markdown hosts."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark").enable("table").render(text)


def split_markdown_row(line: str) -> list[str]:
    """A GitHub table row split on its unescaped pipes."""
    cells, current, escaped = [], [], False
    for char in line.strip()[1:-1]:
        if char == "|" and not escaped:
            cells.append("".join(current))
            current = []
        else:
            current.append(char)
        escaped = char == "\\" and not escaped
    return cells + ["".join(current)]
