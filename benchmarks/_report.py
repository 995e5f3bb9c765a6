"""Sections of the one benchmark report: a title, a table and notes, as plain text or Markdown.

Plain text separates columns by at least two spaces and never puts two
spaces inside a cell, so a reader (or a test) can split rows on runs of spaces.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

Cell = str | int | float | None


def fmt(value: Cell, digits: int = 2) -> str:
    """Integers with thousands separators, floats with ``digits`` decimals, None as ``-``."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return re.sub(r"\s{2,}", " ", value)


@dataclass
class Section:
    """One table of the report."""

    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Cell, digits: int = 2) -> None:
        """Append a row; numbers are formatted with :func:`fmt`."""
        self.rows.append([fmt(c, digits) for c in cells])

    def text(self) -> str:
        """Aligned plain text: the first column left-aligned, the others right-aligned."""
        table = [self.headers, *self.rows]
        widths = [max(len(r[i]) for r in table) for i in range(len(self.headers))]

        def line(row: list[str]) -> str:
            pairs = enumerate(zip(row, widths, strict=True))
            cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in pairs]
            return "  ".join(cells).rstrip()

        out = [f"== {self.title} ==", line(self.headers), *(line(r) for r in self.rows)]
        return "\n".join(out + [f"  {n}" for n in self.notes])

    def markdown(self) -> str:
        """A GitHub pipe table under a bold title, notes as a paragraph after it."""
        out = [f"**{self.title}**", "", "| " + " | ".join(self.headers) + " |"]
        out.append("|" + "|".join("---" for _ in self.headers) + "|")
        for row in self.rows:
            cells = [f"`{row[0]}`" if row[0].startswith("/") else row[0], *row[1:]]
            out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        if self.notes:
            out += ["", " ".join(self.notes)]
        return "\n".join(out)

    def render(self, markdown: bool) -> str:
        """:meth:`markdown` or :meth:`text`."""
        return self.markdown() if markdown else self.text()
