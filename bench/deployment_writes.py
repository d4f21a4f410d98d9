"""Benchmark: what serialized deployment writes cost in wall time (issue 20).

    python -m bench.deployment_writes [--lineages N] [--deployments K] [--json PATH]

Azure takes one deployment write (create, update, delete) at a time per account and answers any other
with 409 ``RequestConflict``; the emulator does the same (``--serialize-deployment-writes``, on through
the app's launcher), with its provisioning and deletion times (8 s and 2 s at ``--time-scale`` 1; Azure
takes minutes). The app's writes take turns at the account's gate (orchestrators/account.py), so
lineages that deploy at the same moment wait for each other instead of failing.

Each lineage here is a driver orchestration that does what a run's deploy and clean-up do, with the
app's own code (``orchestrators.deployment.provision`` then ``delete``, through the gate) for
``--deployments`` base-model deployments: create each and wait until ARM settles, then delete each and
wait until it is gone. Rows: one lineage alone, then N lineages at once and the same N one after
another, through devhost (real clock) against the emulator. Per row: lineages, how they ran, the
writes, the wall seconds, the seconds the writes waited for their turn (``account.write_wait_seconds``
of the lineages' reports, summed; and the longest single wait), the writes that waited for another
(``queued``) and the 409s the emulator answered (0: the app never sends a write out of turn).

The wall time of N at once against one alone is the cost: with writes in turn, N lineages' deployment
phases take about N times one's, not one's. ``--lineages N`` (repeatable) sets the N of the paired
rows; ``--json PATH`` writes the results (``WritesResult``) for ``scripts/figures.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from pydantic import BaseModel, ConfigDict, Field

from activities.deployments import bp as deployment_activities
from bench.table import Column, cells, markdown, measure
from devhost import DevHost
from emulator.launch import EmulatorHandle
from orchestrators.account import bp as account_orchestrators
from orchestrators.deployment import delete, provision
from orchestrators.orchestration import Orchestration, Step
from shared.contracts.payloads import RunState
from shared.domain.account import AccountUse
from shared.domain.settings import get_settings

WRITE_DRIVER = "write_driver"
MODEL = "gpt-4.1-mini-2025-04-14"
SKU = ("GlobalStandard", 10)
TIME_SCALE = "1"
"""The emulator's own durations: provisioning 8 s, deletion 2 s."""
POLL_SECONDS = 1.0
"""The lineages' ``deployment_poll_seconds``: how often a write looks at ARM, and a waiting one asks
the gate again (a run's default is 30 s against Azure's minutes)."""
DEFAULT_LINEAGES = (5,)
DEFAULT_DEPLOYMENTS = 1


class Lineage(BaseModel):
    """One driver's work: create, then delete, these deployments through the account's gate."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    deployments: list[str]
    settings: dict[str, Any] = Field(default_factory=dict, description="RunSettings overrides")


def build_app() -> df.DFApp:
    """The deployment activities, the account gate, and the driver that writes as a lineage does."""
    app = df.DFApp()
    app.register_functions(deployment_activities)
    app.register_functions(account_orchestrators)

    @app.orchestration_trigger(context_name="context", orchestration=WRITE_DRIVER)
    def write_driver(context: df.DurableOrchestrationContext) -> Step[dict[str, Any]]:
        lineage = Lineage.model_validate(context.get_input())
        settings = get_settings().run_settings(lineage.settings)
        state = RunState(run_id=lineage.run_id, settings=settings, started_at="driver")
        orch = Orchestration(context, state)
        for name in lineage.deployments:
            yield from provision(orch, name, MODEL, sku=SKU)
        for name in lineage.deployments:
            reason = yield from delete(orch, name)
            if reason is not None:
                raise RuntimeError(f"{name} not deleted: {reason}")
        return state.account.model_dump(mode="json")

    return app


class Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    lineages: int
    together: bool

    @property
    def how(self) -> str:
        if self.lineages == 1:
            return "alone"
        return "at once" if self.together else "one at a time"


class Result(BaseModel):
    """One row's measurement: the lineages' ``AccountUse`` (their reports' ``account``), the wall time
    and the 409s the emulator answered meanwhile."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    row: Row
    deployments: int
    seconds: float
    uses: list[AccountUse]
    conflicts: int

    @property
    def writes(self) -> int:
        return sum(use.writes for use in self.uses)

    @property
    def waited(self) -> float:
        return sum(use.write_wait_seconds for use in self.uses)

    @property
    def longest(self) -> float:
        return max(use.longest_write_wait_seconds for use in self.uses)

    @property
    def queued(self) -> int:
        return sum(use.queued for use in self.uses)


COLUMNS: tuple[Column[Result], ...] = (
    Column("lineages", lambda r: str(r.row.lineages), 8),
    Column("how", lambda r: r.row.how, 13, text=True),
    Column("writes", lambda r: str(r.writes), 6),
    Column("seconds", lambda r: f"{r.seconds:.1f}", 7),
    Column("write wait s", lambda r: f"{r.waited:.1f}", 12),
    Column("longest wait s", lambda r: f"{r.longest:.1f}", 14),
    Column("queued writes", lambda r: str(r.queued), 13),
    Column("409s", lambda r: str(r.conflicts), 4),
)


def run_row(host: DevHost, emulator: EmulatorHandle, row: Row, deployments: int, suffix: str) -> Result:
    """Runs the row's lineages (all started before any is awaited, or each after the last ended)."""
    settings = {"deployment_poll_seconds": POLL_SECONDS}
    lineages = [
        Lineage(
            run_id=f"writes-{row.lineages}-{row.how.replace(' ', '-')}-{n}-{suffix}",
            deployments=[
                f"w{row.lineages}{'t' if row.together else 's'}{n}d{d}-{suffix}" for d in range(deployments)
            ],
            settings=settings,
        )
        for n in range(row.lineages)
    ]
    rules = emulator.account_rules()
    if not rules["serialize_deployment_writes"]:
        raise RuntimeError("the emulator must take one deployment write at a time, as Azure does")
    conflicts = int(rules["request_conflicts"])
    timeout = 600.0 * row.lineages * deployments

    async def drive(batch: list[Lineage]) -> list[DurableOrchestrationStatus]:
        for lineage in batch:
            await host.client.start_new(WRITE_DRIVER, lineage.run_id, lineage.model_dump())
        return [await host.wait_for_completion(lineage.run_id, timeout=timeout) for lineage in batch]

    started = time.perf_counter()
    if row.together:
        statuses = asyncio.run(drive(lineages))
    else:
        statuses = [status for lineage in lineages for status in asyncio.run(drive([lineage]))]
    seconds = time.perf_counter() - started
    for lineage, status in zip(lineages, statuses, strict=True):
        if status.runtime_status != df.OrchestrationRuntimeStatus.Completed:
            raise RuntimeError(f"{lineage.run_id} ended {status.runtime_status}: {status.output}")
    return Result(
        row=row,
        deployments=deployments,
        seconds=seconds,
        uses=[AccountUse.model_validate(status.output) for status in statuses],
        conflicts=int(emulator.account_rules()["request_conflicts"]) - conflicts,
    )


def cost_line(results: list[Result]) -> str | None:
    """N lineages at once against one alone and against the same N one after another: with writes in
    turn, at once is no faster than in a row, and each lineage's writes wait for the others'."""
    alone = next((r for r in results if r.row.lineages == 1), None)
    if alone is None:
        return None
    lines = []
    for together in (r for r in results if r.row.lineages > 1 and r.row.together):
        in_turn = next(
            (r for r in results if r.row == Row(lineages=together.row.lineages, together=False)), None
        )
        against = "" if in_turn is None else f", one after another {in_turn.seconds:.1f} s"
        lines.append(
            f"{together.row.lineages} lineages at once took {together.seconds:.1f} s, "
            f"{together.seconds / alone.seconds:.1f}x one alone's {alone.seconds:.1f} s{against}; "
            f"their writes waited {together.waited:.1f} s for their turn in all"
        )
    return "; ".join(lines) or None


def summary(results: list[Result]) -> str:
    worst = max(results, key=lambda r: r.longest)
    return (
        f"deployment_writes: writes={sum(r.writes for r in results)} "
        f"conflicts={sum(r.conflicts for r in results)} longest_wait_seconds={worst.longest:.1f} "
        f"(N={worst.row.lineages} {worst.row.how})"
    )


class WritesResult(BaseModel):
    """Every row the run measured, with the emulator's time scale and the lineages' poll."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    time_scale: float
    poll_seconds: float
    results: list[Result]

    def figures(self) -> list[str]:
        """The README's block: the table, the cost line, the summary line."""
        cost = cost_line(self.results)
        return [
            *markdown(COLUMNS, cells(COLUMNS, self.results)),
            "",
            f"Emulator time scale {self.time_scale:g} (provisioning 8 s, deletion 2 s at scale 1), one write "
            f"at a time per account; lineages poll every {self.poll_seconds:g} s; one devhost instance.",
            *([] if cost is None else ["", f"{cost}."]),
            "",
            f"`{summary(self.results)}`",
        ]

    def closing_lines(self) -> list[str]:
        """What the console shows below the table: the cost line, if any, and the summary."""
        cost = cost_line(self.results)
        return [*([] if cost is None else [cost]), summary(self.results)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--lineages", type=int, action="append", help=f"N of the paired rows (default {DEFAULT_LINEAGES})"
    )
    parser.add_argument(
        "--deployments", type=int, default=DEFAULT_DEPLOYMENTS, help="deployments each lineage writes"
    )
    parser.add_argument("--json", type=Path, help="also write the results (WritesResult) here")
    args = parser.parse_args(argv)
    rows = [Row(lineages=1, together=True)] + [
        Row(lineages=n, together=together)
        for n in args.lineages or DEFAULT_LINEAGES
        for together in (True, False)
    ]
    measure(
        "writes",
        rows,
        lambda host, emulator, row, suffix: run_row(host, emulator, row, args.deployments, suffix),
        COLUMNS,
        # gpt-4.1-mini deployments, as bench.rollout_scale makes them
        emulator_args=("--time-scale", TIME_SCALE, "--lifecycle", "none"),
        host=lambda: DevHost(build_app(), clock="real"),
        outcome=lambda results: WritesResult(
            time_scale=float(TIME_SCALE), poll_seconds=POLL_SECONDS, results=results
        ),
        json_path=args.json,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
