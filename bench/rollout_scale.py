"""Benchmark: the rollout stage at scale against a deployment's rate limit (issue 11).

Runs the app's rollout stage (orchestrators/rollout_stage.py, driven as the run orchestrator drives
it, bench/stage_driver.py) through devhost (real clock) against the emulator (chat latency 1.0 s,
rate limits at scale 1): N = 24 and 240 tasks on a deployment with a DeveloperTier-sized limit
(capacity 250 of gpt-4.1-mini, the app's DeveloperTier default: 250 RPM), N = 240 and 2,400 on one
with ten times that (2,500 RPM). Each row gets a fresh deployment, so no row inherits another's
windows. Per row: N, the limit (RPM), what bounds the stage, seconds, achieved RPM (chat calls
admitted per minute), utilisation = achieved / limit, 429s waited out, failed rollouts (agent
errors), throttled rollouts (lost to throttling), rollouts in flight, history events per iteration
(the run orchestrator's, the stage's, a lane's per execution) and replay ms per history event (of
the run orchestrator, the stage, the lanes: each level is compared with itself across N, because a
replay also has a fixed cost, which weighs more per event in a lane's short histories).

A row is limit-bound when the time the limit needs for its chat calls (the app's own pacing with no
latency: a window's share at once, then as Azure's windows slide) exceeds the time the latency
needs (rounds of rollouts in flight x calls per rollout x chat latency); only those rows count for
utilisation. Targets: 0 rollouts lost or scored 0 through throttling at every N; utilisation
>= 0.85 at N >= 240; history per iteration flat in N and replay cost per event at N = 2,400 within
1.5x of N = 240. ``--tasks N`` runs only the rows with that N.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from typing import Any

import azure.durable_functions as df
from azure.mgmt.cognitiveservices.models import Deployment, DeploymentModel, DeploymentProperties, Sku

from bench.stage_driver import DRIVER, StageRun, build_app, stage_instance
from devhost import DevHost
from orchestrators.rollout_stage import LANE_ROLLOUTS_PER_EXECUTION
from scripts.local_env import local_services
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


@dataclass(frozen=True)
class Row:
    tasks: int
    capacity: int


ROWS = (
    Row(24, DEVELOPER_TIER_CAPACITY),
    Row(240, DEVELOPER_TIER_CAPACITY),
    Row(240, 10 * DEVELOPER_TIER_CAPACITY),
    Row(2400, 10 * DEVELOPER_TIER_CAPACITY),
)


@dataclass(frozen=True)
class Result:
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

    @property
    def achieved_rpm(self) -> float:
        return self.calls / self.seconds * 60

    @property
    def utilisation(self) -> float:
        return self.achieved_rpm / self.limit_rpm

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


def per_event(stats: list[Any]) -> float:
    """Replay wall time per history event replayed, over these instances (devhost's HistoryStats)."""
    return sum(item.replay_ms_total for item in stats) / max(1, sum(item.events_replayed for item in stats))


def limit_seconds(stats: Any) -> float:
    """The least time the limit allows the stage's chat calls, as the app paces them (its own
    ``Pacer`` with no latency: a window's share at once, then as the windows slide)."""

    if stats.limit_rpm is None:
        return 0.0
    budget = RateBudget(rpm=stats.limit_rpm, tpm=stats.limit_tpm, window_seconds=10, source="bench")
    pacer = Pacer(budget)
    return max((pacer.reserve(0, 0.0).slot for _ in range(stats.llm_calls)), default=0.0)


def run_row(host: Any, row: Row, suffix: str) -> Result:

    deployment = f"bench-{row.capacity}-{row.tasks}-{suffix}"
    create_deployment(deployment, row.capacity)
    train_size = len(get_agent("capital_lookup").load_splits(None).train)
    run = StageRun(
        run_id=f"bench-scale-{row.tasks}-{row.capacity}-{suffix}",
        group="train",
        deployment=deployment,
        count=row.tasks,
        modulo=train_size,
    )
    started = time.perf_counter()
    status = host.run_orchestration(DRIVER, run.model_dump(), instance_id=run.run_id, timeout=3600)
    seconds = time.perf_counter() - started
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
        limit_bound=limit_seconds(stats) > latency_seconds,
    )


HEADER = (
    f"{'N':>6}{'limit RPM':>11}{'bound':>9}{'seconds':>9}{'achieved RPM':>14}{'utilisation':>13}"
    f"{'429s waited':>13}{'failed':>8}{'throttled':>11}{'in flight':>11}{'history run/stage/lane':>24}"
    f"{'replay ms/event run/stage/lanes':>33}"
)


def line(result: Result) -> str:
    run, stage, lane = result.history
    bound = "limit" if result.limit_bound else "latency"
    return (
        f"{result.row.tasks:>6}{result.limit_rpm:>11}{bound:>9}{result.seconds:>9.1f}{result.achieved_rpm:>14.0f}"
        f"{result.utilisation:>13.2f}{result.waited_out:>13}{result.failed:>8}{result.throttled:>11}"
        f"{result.lanes:>11}{f'{run}/{stage}/{lane:.0f}':>24}"
        f"{'/'.join(f'{ms:.3f}' for ms in result.replay):>33}"
    )


def flatness(results: list[Result]) -> str | None:
    """History and replay per event at the largest N against the smallest N >= 240 on the same limit."""

    for large in sorted(results, key=lambda r: -r.row.tasks):
        small = [
            r for r in results if r.limit_rpm == large.limit_rpm and 240 <= r.row.tasks < large.row.tasks
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
    worst = max(results, key=lambda r: (r.lost, -r.utilisation if r.limit_bound else -math.inf))
    utilisation = f"{worst.utilisation:.2f}" if worst.limit_bound else "n/a (latency-bound)"
    return (
        f"rollout_scale: tasks={worst.row.tasks} failed={worst.failed + worst.throttled} "
        f"throttled_scored_zero={worst.scored_zero_by_throttling} utilisation={utilisation}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--tasks", type=int, choices=sorted({row.tasks for row in ROWS}), help="only rows with N"
    )
    args = parser.parse_args(argv)
    rows = [row for row in ROWS if args.tasks in (None, row.tasks)]
    with local_services("--chat-latency", CHAT_LATENCY, "--seed", "7"):
        suffix = str(int(time.time()))
        with DevHost(build_app(), clock="real", max_concurrent_activities=ACTIVITY_SLOTS) as host:
            print(f"chat latency {CHAT_LATENCY} s; one devhost instance, {ACTIVITY_SLOTS} activity slots")
            print(HEADER, flush=True)
            results = []
            for row in rows:
                results.append(run_row(host, row, suffix))
                print(line(results[-1]), flush=True)
    bound = [f"N={r.row.tasks}@{r.limit_rpm}" for r in results if r.limit_bound]
    print(f"limit-bound rows (utilisation counted): {', '.join(bound) or 'none'}")
    flat = flatness(results)
    if flat:
        print(flat)
    print(summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
