"""Escaping of every string that comes from outside squeezebench's own code.

Model names, device properties, file names and runner messages end up in HTML pages and
Markdown tables. Each renderer passes such text through one of these functions, so that a model
called `<script>alert(1)</script>` is shown as text and a device model `A|B*` keeps a Markdown
table's columns.
"""

from __future__ import annotations

import html
import re

# CommonMark lets any ASCII punctuation be backslash-escaped; these are the characters that
# start emphasis, code, links, HTML, strikethrough or (in GitHub tables) a new column.
_MD_SPECIAL = re.compile(r"([\\`*\[\]<>|~&!#])")
_MD_UNDERSCORES = re.compile(r"_+")
# At the start of a line these make a list item or a heading underline, or a numbered item.
_MD_LINE_MARK = re.compile(r"^([-+=])")
_MD_NUMBERED = re.compile(r"^(\d+)([.)])")
_WHITESPACE_RUN = re.compile(r"\s+")


def one_line(text: object) -> str:
    """Newlines, tabs and other control whitespace collapse to single spaces."""
    return _WHITESPACE_RUN.sub(" ", str(text)).strip()


def html_text(text: object) -> str:
    """Text for an HTML element's content or a quoted attribute value."""
    return html.escape(str(text), quote=True)


def _underscores(match: re.Match) -> str:
    # A run of underscores between two letters or digits (x_train) cannot open or close emphasis;
    # leaving it bare keeps pasted Markdown readable. Any other run is escaped whole.
    text, start, end = match.string, match.start(), match.end()
    inside_word = start > 0 and end < len(text) and text[start - 1].isalnum() and text[end].isalnum()
    return match.group() if inside_word else "\\_" * len(match.group())


def md_inline(text: object) -> str:
    """Text for a Markdown table cell: literal, on one line."""
    return _MD_UNDERSCORES.sub(_underscores, _MD_SPECIAL.sub(r"\\\1", one_line(text)))


def md_text(text: object) -> str:
    """Text for a Markdown paragraph or heading: also never a list item or a heading underline."""
    escaped = _MD_LINE_MARK.sub(r"\\\1", md_inline(text))
    return _MD_NUMBERED.sub(r"\1\\\2", escaped)


def truncate(text: str, max_chars: int) -> str:
    """Long runner messages are cut for tables (the full text stays in CSV/JSON)."""
    return text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"
