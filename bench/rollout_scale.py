"""Benchmark: the rollout stage at scale against a deployment's rate limit (issues 11 and 20).

Runs the app's rollout stage (orchestrators/rollout_stage.py, driven as the run orchestrator drives
it, bench/stage_driver.py) through devhost (real clock) against the emulator (chat latency 1.0 s,
rate limits at scale 1): N = 24 and 240 tasks on a deployment with a DeveloperTier-sized limit
(capacity 250 of gpt-4.1-mini, the app's DeveloperTier default: 250 RPM), N = 240 and 2,400 on one
with ten times that (2,500 RPM), and two rows of 240 at 250 RPM under pressure (issue 20): a second
consumer sending half the limit the whole time (``shared``), and the same with Azure lowering the
limits to half for the middle third of the stage (``lowered``). Each row gets a fresh deployment, so
no row inherits another's windows. Per row: N, the limit (RPM), the pressure, what bounds the stage,
seconds, achieved RPM (chat calls admitted per minute), utilisation = achieved / limit, utilisation
of what was left to the app (the emulator's own counters, ``/_emulator/ratelimit``: the app's
admitted requests against the requests offered, lowered ones included, less the other consumer's),
429s waited out, failed rollouts (agent errors), throttled rollouts (lost to throttling), rollouts in
flight, history events per iteration (the run orchestrator's, the stage's, a lane's per execution)
and replay ms per history event (of the run orchestrator, the stage, the lanes: each level is
compared with itself across N, because a replay also has a fixed cost, which weighs more per event in
a lane's short histories).

A row is limit-bound when the time the limit needs for its chat calls (the app's own pacing with no
latency: a window's share at once, then as Azure's windows slide) exceeds the time the latency
needs (rounds of rollouts in flight x calls per rollout x chat latency); only those rows count for
utilisation. A pressured row is limit-bound by construction and is judged by the utilisation of what
was left to it. Targets: 0 rollouts lost or scored 0 through throttling at every N; utilisation
>= 0.85 at N >= 240, and >= 0.8 of what is left under pressure; history per iteration flat in N and
replay cost per event at N = 2,400 within 1.5x of N = 240. ``--tasks N`` runs only the rows with that
N; ``--row N@CAPACITY[+shared|+lowered]`` (repeatable) runs those rows instead (the tests run short
ones); ``--json PATH`` writes the results (``ScaleResult``) for ``scripts/figures.py`` and the tests.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any, Literal, cast, get_args

import azure.durable_functions as df
from azure.mgmt.cognitiveservices.models import Deployment, DeploymentModel, DeploymentProperties, Sku
from pydantic import BaseModel, ConfigDict

from bench.stage_driver import DRIVER, StageRun, build_app, stage_instance
from bench.table import Column, cells, markdown, measure
from devhost import DevHost
from devhost.stats import HistoryStats
from emulator.launch import EmulatorHandle
from orchestrators.rollout_stage import LANE_ROLLOUTS_PER_EXECUTION
from shared.agents import get_agent
from shared.agents.traces import parse_jsonl, root_span
from shared.azure.clients import artifact_store, openai_account
from shared.azure.throttling import Pacer
from shared.contracts.payloads import RateBudget
from shared.domain.report import RolloutStats

CHAT_LATENCY = "1.0"
DEVELOPER_TIER_CAPACITY = 250
MODEL_NAME, MODEL_VERSION = "gpt-4.1-mini", "2025-04-14"
ACTIVITY_SLOTS = 128
"""devhost's maxConcurrentActivityFunctions: one instance with room for the 2,500-RPM stage's lanes
(host.json has 32 per instance; in Azure that stage spreads over 4 instances, docs/deploy.md)."""


Pressure = Literal["", "shared", "lowered"]
OTHER_CONSUMER_SHARE = 0.5
"""``shared`` and ``lowered`` rows: a second consumer (another app, production traffic) sends this share
of the deployment's limit for the whole stage (the emulator's background load)."""
LOWERED_TO = 0.5
"""``lowered`` rows: Azure lowers the deployment's limits to this share for the middle of the stage."""
CALLS_PER_ROLLOUT = 1.4
"""The capital agent's chat calls per rollout against the emulator (docs/deploy.md), to place the
lowering in the middle of the stage."""


class Row(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tasks: int
    capacity: int
    pressure: Pressure = ""

    @classmethod
    def parse(cls, text: str) -> Row:
        """``N@CAPACITY`` or ``N@CAPACITY+PRESSURE``, e.g. ``96@250`` or ``240@250+lowered``."""
        row, _, pressure = text.partition("+")
        tasks, _, capacity = row.partition("@")
        if pressure not in get_args(Pressure):
            raise ValueError(f"pressure {pressure!r}: one of shared, lowered")
        return cls(tasks=int(tasks), capacity=int(capacity), pressure=cast(Pressure, pressure))

    @property
    def label(self) -> str:
        return f"{self.tasks}@{self.capacity}" + (f"+{self.pressure}" if self.pressure else "")

    def lowering(self) -> tuple[float, float]:
        """When a ``lowered`` row's lowering starts (seconds after the stage) and how long it lasts: the
        middle third of the stage as long as the other consumer leaves it (half the limit)."""
        expected = self.tasks * CALLS_PER_ROLLOUT / (self.capacity * (1 - OTHER_CONSUMER_SHARE)) * 60
        return expected / 4, expected / 3


ROWS = (
    Row(tasks=24, capacity=DEVELOPER_TIER_CAPACITY),
    Row(tasks=240, capacity=DEVELOPER_TIER_CAPACITY),
    Row(tasks=240, capacity=10 * DEVELOPER_TIER_CAPACITY),
    Row(tasks=2400, capacity=10 * DEVELOPER_TIER_CAPACITY),
    Row(tasks=240, capacity=DEVELOPER_TIER_CAPACITY, pressure="shared"),
    Row(tasks=240, capacity=DEVELOPER_TIER_CAPACITY, pressure="lowered"),
)


class Left(BaseModel):
    """What the emulator counted for the deployment during the stage (``/_emulator/ratelimit``): the
    requests its limits offered (lowered ones included), the other consumer's and the app's."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    offered: float
    others: int
    app: int
    refused: int

    @property
    def utilisation(self) -> float:
        """The app's admitted requests against the capacity the other consumer left."""
        return self.app / max(1.0, self.offered - self.others)

    @classmethod
    def between(cls, before: dict[str, Any], after: dict[str, Any]) -> Left:
        def used(status: dict[str, Any], who: str, what: str) -> int:
            return int(status["usage"][who][what])

        return cls(
            offered=after["offered"]["requests"] - before["offered"]["requests"],
            others=used(after, "background", "admitted") - used(before, "background", "admitted"),
            app=used(after, "app", "admitted") - used(before, "app", "admitted"),
            refused=used(after, "app", "refused") - used(before, "app", "refused"),
        )


class Result(BaseModel):
    """One row's measurement. ``history``: events per iteration of the run orchestrator, the stage and
    a lane's execution; ``replay``: ms per history event replayed, same order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    row: Row
    limit_rpm: int
    seconds: float
    calls: int
    waited_out: int
    failed: int
    throttled: int
    scored_zero_by_throttling: int
    lanes: int
    history: tuple[int, int, float]
    replay: tuple[float, float, float]
    limit_bound: bool
    left: Left | None = None

    @property
    def achieved_rpm(self) -> float:
        return self.calls / self.seconds * 60

    @property
    def utilisation(self) -> float:
        return self.achieved_rpm / self.limit_rpm

    @property
    def measured(self) -> float:
        """The utilisation the row is judged by: of the capacity left to the app when someone else uses
        the deployment or Azure lowered it, else of the limit."""
        return self.left.utilisation if self.row.pressure and self.left is not None else self.utilisation

    @property
    def lost(self) -> int:
        return self.failed + self.throttled + self.scored_zero_by_throttling


def create_deployment(name: str, capacity: int) -> None:
    """A GlobalStandard gpt-4.1-mini deployment of ``capacity`` through the app's ARM client."""

    account = openai_account()
    body = Deployment(
        sku=Sku(name="GlobalStandard", capacity=capacity),
        properties=DeploymentProperties(
            model=DeploymentModel(format="OpenAI", name=MODEL_NAME, version=MODEL_VERSION)
        ),
    )
    account.client.deployments.begin_create_or_update(
        account.resource_group, account.account, name, body
    ).result()


def scored_zero_by_throttling(prefix: str) -> int:
    """Traces under ``prefix`` that ended as an agent failure because of a 429 or another transient
    error: rollouts throttling would have scored 0 (a throttled trace is marked and never scored)."""

    store, count = artifact_store(), 0
    for path in store.list_paths(prefix):
        root = root_span(parse_jsonl(store.read_text(path) or ""))
        message = (root.status_message or "") if root else ""
        transient = any(mark in message for mark in ("429", "RateLimit", "500", "502", "503", "504"))
        if root is not None and root.status == "error" and not message.startswith("throttled") and transient:
            count += 1
    return count


def per_event(stats: list[HistoryStats]) -> float:
    """Replay wall time per history event replayed, over these instances (devhost's HistoryStats)."""
    return sum(item.replay_ms_total for item in stats) / max(1, sum(item.events_replayed for item in stats))


def limit_seconds(stats: RolloutStats) -> float:
    """The least time the limit allows the stage's chat calls, as the app paces them (its own
    ``Pacer`` with no latency: a window's share at once, then as the windows slide)."""

    if stats.limit_rpm is None:
        return 0.0
    budget = RateBudget(rpm=stats.limit_rpm, tpm=stats.limit_tpm, window_seconds=10, source="bench")
    pacer = Pacer(budget, answered=True)  # the plan once Azure has answered: no probe
    return max((pacer.reserve(0, 0.0).slot for _ in range(stats.llm_calls)), default=0.0)


def apply_pressure(emulator: EmulatorHandle, row: Row, deployment: str) -> None:
    """A ``shared`` row's second consumer, and a ``lowered`` row's lowering too, from now on."""
    if row.pressure:
        emulator.background_load(deployment, OTHER_CONSUMER_SHARE)
    if row.pressure == "lowered":
        after, seconds = row.lowering()
        emulator.lower_limits(deployment, LOWERED_TO, seconds, after=after)


def run_row(host: DevHost, emulator: EmulatorHandle, row: Row, suffix: str) -> Result:

    deployment = f"bench-{row.capacity}-{row.tasks}-{row.pressure or 'alone'}-{suffix}"
    create_deployment(deployment, row.capacity)
    apply_pressure(emulator, row, deployment)
    before = emulator.rate_limits()[deployment]
    train_size = len(get_agent("capital_lookup").load_splits(None).train)
    run = StageRun(
        run_id=f"bench-scale-{row.tasks}-{row.capacity}-{row.pressure or 'alone'}-{suffix}",
        group="train",
        deployment=deployment,
        count=row.tasks,
        modulo=train_size,
    )
    started = time.perf_counter()
    status = host.run_orchestration(DRIVER, run.model_dump(), instance_id=run.run_id, timeout=3600)
    seconds = time.perf_counter() - started
    left = Left.between(before, emulator.rate_limits()[deployment])
    emulator.background_load(deployment, 0)
    if status.runtime_status != df.OrchestrationRuntimeStatus.Completed:
        raise RuntimeError(f"{run.run_id} ended {status.runtime_status}: {status.output}")
    stats = RolloutStats.model_validate(status.output)
    driver, child = host.history_stats(run.run_id), host.history_stats(stage_instance(run))
    lanes = [host.history_stats(lane) for lane in child.sub_orchestrations]
    replay = (per_event([driver]), per_event([child]), per_event(lanes))
    per_lane = max(lane.events_all_generations / lane.generations for lane in lanes)
    latency_seconds = (
        math.ceil(row.tasks / stats.concurrency) * stats.llm_calls / row.tasks * float(CHAT_LATENCY)
    )
    return Result(
        row=row,
        limit_rpm=row.capacity,
        seconds=seconds,
        calls=stats.llm_calls,
        waited_out=stats.throttled_retries,
        failed=stats.failed,
        throttled=stats.throttled,
        scored_zero_by_throttling=scored_zero_by_throttling(stats.traces_prefix),
        lanes=stats.concurrency,
        history=(driver.events, child.events, per_lane),
        replay=replay,
        limit_bound=bool(row.pressure) or limit_seconds(stats) > latency_seconds,
        left=left,
    )


def _slashed(values: tuple[float, ...], digits: int) -> str:
    return "/".join(f"{value:.{digits}f}" for value in values)


PRESSURE = {"": "none", "shared": "half used by another", "lowered": "half used, limit halved mid-stage"}

COLUMNS: tuple[Column[Result], ...] = (
    Column("N", lambda r: str(r.row.tasks), 5),
    Column("limit RPM", lambda r: str(r.limit_rpm), 9),
    Column("pressure", lambda r: PRESSURE[r.row.pressure], 32, text=True),
    Column("bound", lambda r: "limit" if r.limit_bound else "latency", 7, text=True),
    Column("seconds", lambda r: f"{r.seconds:.1f}", 7),
    Column("achieved RPM", lambda r: f"{r.achieved_rpm:.0f}", 12),
    Column("utilisation", lambda r: f"{r.utilisation:.2f}", 11),
    Column("of what is left", lambda r: f"{r.left.utilisation:.2f}" if r.left else "-", 15),
    Column("429s waited", lambda r: str(r.waited_out), 11),
    Column("failed", lambda r: str(r.failed), 6),
    Column("throttled", lambda r: str(r.throttled), 9),
    Column("in flight", lambda r: str(r.lanes), 9),
    Column("history run/stage/lane", lambda r: _slashed(r.history, 0), 22),
    Column("replay ms/event run/stage/lanes", lambda r: _slashed(r.replay, 3), 31),
)


def flatness(results: list[Result]) -> str | None:
    """History and replay per event at the largest N against the smallest N >= 240 on the same limit."""

    for large in sorted(results, key=lambda r: -r.row.tasks):
        small = [
            r
            for r in results
            if r.limit_rpm == large.limit_rpm
            and 240 <= r.row.tasks < large.row.tasks
            and not (r.row.pressure or large.row.pressure)
        ]
        if small:
            base = min(small, key=lambda r: r.row.tasks)
            history = "/".join(
                f"{a / b:.2f}" for a, b in zip(large.history[:2], base.history[:2], strict=True)
            )
            replay = "/".join(f"{a / b:.2f}" for a, b in zip(large.replay, base.replay, strict=True))
            return (
                f"N={large.row.tasks} against N={base.row.tasks} at {large.limit_rpm} RPM: history "
                f"x{history} (run/stage), replay ms/event x{replay} (run/stage/lanes; target: within 1.5x); "
                f"a lane's execution holds at most {LANE_ROLLOUTS_PER_EXECUTION} rollouts whatever N "
                f"({base.history[2]:.0f} and {large.history[2]:.0f} events)"
            )
    return None


def summary(results: list[Result]) -> str:
    """The worst row: the most rollouts lost or scored 0, then the lowest utilisation of a limit-bound
    row."""
    worst = max(results, key=lambda r: (r.lost, -r.measured if r.limit_bound else -math.inf))
    utilisation = f"{worst.measured:.2f}" if worst.limit_bound else "n/a (latency-bound)"
    if worst.row.pressure:
        utilisation += f" (of what was left, {worst.row.label})"
    return (
        f"rollout_scale: tasks={worst.row.tasks} failed={worst.failed + worst.throttled} "
        f"throttled_scored_zero={worst.scored_zero_by_throttling} utilisation={utilisation}"
    )


class ScaleResult(BaseModel):
    """Every row the run measured, with what the rows shared."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    chat_latency: float
    activity_slots: int
    results: list[Result]

    def limit_bound_line(self) -> str:
        bound = [f"N={r.row.label}" for r in self.results if r.limit_bound]
        return f"limit-bound rows (utilisation counted): {', '.join(bound) or 'none'}"

    def figures(self) -> list[str]:
        """The README's block: the table, which rows the limit bound, flatness, the summary line."""
        flat = flatness(self.results)
        return [
            *markdown(COLUMNS, cells(COLUMNS, self.results)),
            "",
            f"Chat latency {self.chat_latency} s; one devhost instance, {self.activity_slots} activity "
            f"slots; {self.limit_bound_line()}.",
            *([] if flat is None else ["", f"{flat}."]),
            "",
            f"`{summary(self.results)}`",
        ]

    def closing_lines(self) -> list[str]:
        """What the console shows below the table: the limit-bound rows, flatness, if measured, and the
        summary."""
        flat = flatness(self.results)
        return [self.limit_bound_line(), *([] if flat is None else [flat]), summary(self.results)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tasks", type=int, choices=sorted({row.tasks for row in ROWS}), help="only rows with N"
    )
    parser.add_argument(
        "--row",
        type=Row.parse,
        action="append",
        metavar="N@CAPACITY[+shared|+lowered]",
        help="run this row instead",
    )
    parser.add_argument("--json", type=Path, help="also write the results (ScaleResult) here")
    args = parser.parse_args(argv)
    measure(
        "scale",
        args.row or [row for row in ROWS if args.tasks in (None, row.tasks)],
        run_row,
        COLUMNS,
        emulator_args=(
            "--chat-latency",
            CHAT_LATENCY,
            "--seed",
            "7",
            # The world before the retirements: rows are measured on gpt-4.1-mini deployments and their
            # limits (1 RPM per unit), which no date changes; deploying gpt-4.1-mini is refused since
            # 2026-10-14 in the table's world.
            "--lifecycle",
            "none",
        ),
        host=lambda: DevHost(build_app(), clock="real", max_concurrent_activities=ACTIVITY_SLOTS),
        outcome=lambda results: ScaleResult(
            chat_latency=float(CHAT_LATENCY), activity_slots=ACTIVITY_SLOTS, results=results
        ),
        json_path=args.json,
        heading=f"chat latency {CHAT_LATENCY} s; one devhost instance, {ACTIVITY_SLOTS} activity slots",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
