"""A benchmark's table, its columns declared once: the same ``Column`` list prints the live console
rows and renders the Markdown table that ``scripts/figures.py`` writes into the README, so a new column
is one more entry in one list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

Row = TypeVar("Row")


@dataclass(frozen=True)
class Column(Generic[Row]):
    """One column: its header, how a row shows in it, its console width, and whether it holds text
    (left-aligned) or a number (right-aligned)."""

    header: str
    cell: Callable[[Row], str]
    width: int
    text: bool = False

    def pad(self, value: str) -> str:
        return value.ljust(self.width) if self.text else value.rjust(self.width)


def console_header(columns: Sequence[Column[Row]]) -> str:
    return "  ".join(column.pad(column.header) for column in columns).rstrip()


def console_row(columns: Sequence[Column[Row]], row: Row) -> str:
    return "  ".join(column.pad(column.cell(row)) for column in columns).rstrip()


def cells(columns: Sequence[Column[Row]], rows: Sequence[Row]) -> list[list[str]]:
    return [[column.cell(row) for column in columns] for row in rows]


def collapse_repeats(table: list[list[str]]) -> list[list[str]]:
    """Consecutive rows equal in every cell but the first (a week, say) become one row whose first
    cell is the range ``first-last``: 52 weeks of a steady state take one line, and nothing is lost."""
    collapsed: list[list[str]] = []
    first: list[str] | None = None
    for row in table:
        last = collapsed[-1] if collapsed else None
        if last is not None and first is not None and last[1:] == row[1:]:
            last[0] = f"{first[0]}-{row[0]}"
        else:
            first = row
            collapsed.append(list(row))
    return collapsed


def markdown(columns: Sequence[Column[Row]], table: list[list[str]]) -> list[str]:
    """A Markdown table of already-rendered cells (``cells``, perhaps ``collapse_repeats``)."""
    header = "| " + " | ".join(column.header for column in columns) + " |"
    rule = "| " + " | ".join("---" if column.text else "---:" for column in columns) + " |"
    return [header, rule, *("| " + " | ".join(row) + " |" for row in table)]


def fixed(digits: int) -> Callable[[float | None], str]:
    """A number with ``digits`` decimals, ``-`` for none."""
    return lambda value: "-" if value is None else f"{value:.{digits}f}"
