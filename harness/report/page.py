"""The neutral shape of a report, rendered alike to Markdown, HTML and terminal text.

Text in these objects is raw (unescaped): the renderers escape every string, so nothing that came
from a model name, device property or file name can become markup.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Cell:
    text: str
    sort: float | str | None = None  # what the HTML table sorts by (numbers sort as numbers)
    href: str | None = None  # relative link (publish); built by squeezebench from safe slugs
    emphasis: str | None = None  # "bad" (failed, invalid) or "flagged": a CSS class in HTML


@dataclass(frozen=True)
class Table:
    key: str  # unique in its page; the HTML id
    title: str
    headers: list[str]
    rows: list[list[Cell]]
    notes: list[str] = field(default_factory=list)

    def is_numeric_column(self, column: int) -> bool:
        """Every cell that has a sort value sorts as a number: renderers right-align it."""
        sorts = [row[column].sort for row in self.rows if column < len(row) and row[column].sort is not None]
        return bool(sorts) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in sorts)


@dataclass(frozen=True)
class Plot:
    key: str  # file stem under plots/
    title: str
    alt: str
    png: bytes


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    plots: list[Plot] = field(default_factory=list)
    subsections: list[Section] = field(default_factory=list)

    def all_tables(self) -> list[Table]:
        return self.tables + [t for s in self.subsections for t in s.all_tables()]

    def all_plots(self) -> list[Plot]:
        return self.plots + [p for s in self.subsections for p in s.all_plots()]


@dataclass
class Page:
    title: str
    intro: list[str] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    nav: list[tuple[str, str]] = field(default_factory=list)  # (text, relative href)

    def all_tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.all_tables()]

    def all_plots(self) -> list[Plot]:
        return [p for s in self.sections for p in s.all_plots()]
