"""Benchmark: one iteration's rollout stage (24 tasks) through devhost against the emulator.

Prints a table: the stage as the app runs it (bench/stage_driver.py: the stage sub-orchestration,
its lanes, the paced rollout activity), one rollout alone, and the same 24 rollouts one at a time
(``max_concurrent_rollouts`` 1). The target: the stage takes at most 1.5x one rollout. Each chat
completion takes ``--chat-latency`` seconds (1.0 by default), like a slow Azure call.

The stage runs 24 rollouts at once only on a deployment whose limit admits them: the emulator's base
deployment gets capacity ``CAPACITY`` here (1,000 RPM of gpt-4.1-mini: 167 requests per 10 s window,
and the stage sizes 48 lanes for it, so all 24 rollouts start together). On the app's DeveloperTier
default (250 RPM) it runs 12 at a time; ``python -m bench.rollout_scale`` measures stages that the
limit bounds. ``--json PATH`` writes the results (``StageResult``) for ``scripts/figures.py``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import azure.durable_functions as df
from pydantic import BaseModel, ConfigDict

from bench.stage_driver import DRIVER, StageRun, build_app
from bench.table import Column, cells, console_header, console_row, markdown
from devhost import DevHost
from scripts.local_env import local_services
from shared.agents import get_agent

TASKS = 24
CAPACITY = 1_000
DEPLOYMENT = "gpt-4.1-mini"


class Timing(BaseModel):
    """One row: what was timed, its seconds, and those as a multiple of one rollout alone."""

    model_config = ConfigDict(frozen=True)

    what: str
    seconds: float
    ratio: float


COLUMNS: tuple[Column[Timing], ...] = (
    Column("what", lambda t: t.what, 42, text=True),
    Column("seconds", lambda t: f"{t.seconds:.2f}", 7),
    Column("x one rollout", lambda t: f"{t.ratio:.2f}", 13),
)


class StageResult(BaseModel):
    """Seconds for the stage as the app runs it, one rollout alone, and the rollouts one at a time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chat_latency: float
    tasks: int
    capacity: int
    stage: float
    one: float
    serial: float

    @property
    def timings(self) -> list[Timing]:
        rows = (
            (f"rollout stage, {self.tasks} in parallel (the app)", self.stage),
            ("one rollout alone", self.one),
            (f"{self.tasks} rollouts one at a time", self.serial),
        )
        return [Timing(what=what, seconds=seconds, ratio=seconds / self.one) for what, seconds in rows]

    def verdict(self) -> str:
        verdict = "meets" if self.stage <= 1.5 * self.one else "MISSES"
        return f"target: stage <= 1.5 x one rollout: {verdict} ({self.stage / self.one:.2f}x)"

    def figures(self) -> list[str]:
        """The README's block: the table and the verdict."""
        return [*markdown(COLUMNS, cells(COLUMNS, self.timings)), "", f"{self.verdict()}."]


def timed(host: DevHost, run_id: str, count: int, **settings: Any) -> float:

    train_size = len(get_agent("capital_lookup").load_splits(None).train)
    run = StageRun(
        run_id=run_id, group="train", deployment=DEPLOYMENT, count=count, modulo=train_size, settings=settings
    )
    started = time.perf_counter()
    status = host.run_orchestration(DRIVER, run.model_dump(), instance_id=run_id, timeout=600)
    elapsed = time.perf_counter() - started
    if status.runtime_status != df.OrchestrationRuntimeStatus.Completed:
        raise RuntimeError(f"{run_id} ended {status.runtime_status}: {status.output}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chat-latency", default="1.0")
    parser.add_argument("--json", type=Path, help="also write the results (StageResult) here")
    args = parser.parse_args(argv)
    # The world before the retirements (--lifecycle none): the stage is timed on gpt-4.1-mini's base
    # deployment and its limits, which no date changes.
    emulator = (
        *("--chat-latency", args.chat_latency, "--seed", "7", "--base-capacity", str(CAPACITY)),
        *("--lifecycle", "none"),
    )
    with (
        tempfile.TemporaryDirectory(prefix="stage-azurite-") as azurite_dir,
        local_services(*emulator, azurite_dir=Path(azurite_dir), default_ports=False),
    ):
        with DevHost(build_app(), clock="real") as host:
            suffix = str(int(time.time()))
            one = timed(host, f"bench-one-{suffix}", 1)
            stage = timed(host, f"bench-stage-{suffix}", TASKS)
            serial = timed(host, f"bench-serial-{suffix}", TASKS, max_concurrent_rollouts=1)
    latency = float(args.chat_latency)
    result = StageResult(
        chat_latency=latency, tasks=TASKS, capacity=CAPACITY, stage=stage, one=one, serial=serial
    )
    print(f"chat latency {args.chat_latency} s per completion, {TASKS} tasks")
    print(
        f"deployment {DEPLOYMENT}: GlobalStandard capacity {CAPACITY:,} ({CAPACITY:,} RPM), enough for "
        f"{TASKS} rollouts at once (at 250 RPM, the DeveloperTier default, 12 run at a time: see "
        "bench.rollout_scale)"
    )
    print(console_header(COLUMNS))
    for row in result.timings:
        print(console_row(COLUMNS, row))
    print(result.verdict())
    if args.json:
        args.json.write_text(result.model_dump_json(indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
