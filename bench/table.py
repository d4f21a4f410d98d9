"""A benchmark's table, its columns declared once: the same ``Column`` list prints the live console
rows and renders the Markdown table that ``scripts/figures.py`` writes into the README, so a new column
is one more entry in one list. ``measure`` runs a table's rows against local services, the steps every
such benchmark's ``main`` shares.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from devhost import DevHost
from emulator.launch import EmulatorHandle
from scripts.local_env import local_services

Row = TypeVar("Row")
Spec = TypeVar("Spec")
"""What a benchmark's row is asked to do (its ``Row``); ``Row`` here is what it measured."""


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


class Measured(Protocol):
    """A benchmark's results: the lines it prints after its table, and the JSON ``--json`` writes."""

    def closing_lines(self) -> list[str]: ...

    def model_dump_json(self, *, indent: int | None = None) -> str: ...


Outcome = TypeVar("Outcome", bound=Measured)


def measure(
    name: str,
    specs: Sequence[Spec],
    run: Callable[[DevHost, EmulatorHandle, Spec, str], Row],
    columns: Sequence[Column[Row]],
    *,
    emulator_args: Sequence[str],
    host: Callable[[], DevHost],
    outcome: Callable[[list[Row]], Outcome],
    json_path: Path | None,
    heading: str | None = None,
) -> Outcome:
    """Starts Azurite (in a fresh directory, on free ports: a benchmark may run beside a test suite) and
    the emulator with ``emulator_args``, then ``host``; runs each row, printing it as soon as it is
    measured (a long benchmark shows its progress); prints ``heading`` above the table and the outcome's
    closing lines below it, and writes the outcome to ``json_path``. ``run`` gets a suffix unique to this
    run, for the names it creates on the emulator."""
    with (
        tempfile.TemporaryDirectory(prefix=f"{name}-azurite-") as azurite_dir,
        local_services(*emulator_args, azurite_dir=Path(azurite_dir), default_ports=False) as services,
    ):
        suffix = str(int(time.time()))
        with host() as devhost:
            if heading is not None:
                print(heading)
            print(console_header(columns), flush=True)
            results = []
            for spec in specs:
                results.append(run(devhost, services.emulator, spec, suffix))
                print(console_row(columns, results[-1]), flush=True)
    measured = outcome(results)
    for line in measured.closing_lines():
        print(line)
    if json_path:
        json_path.write_text(measured.model_dump_json(indent=1) + "\n")
    return measured
