"""Benchmark: one iteration's rollout stage (24 tasks) through devhost against the emulator.

Prints a table: the stage as the app runs it (bench/stage_driver.py: the stage sub-orchestration,
its lanes, the paced rollout activity), one rollout alone, and the same 24 rollouts one at a time
(``max_concurrent_rollouts`` 1). The target: the stage takes at most 1.5x one rollout. Each chat
completion takes ``--chat-latency`` seconds (1.0 by default), like a slow Azure call.

The stage runs 24 rollouts at once only on a deployment whose limit admits them: the emulator's base
deployment gets capacity ``CAPACITY`` here (1,000 RPM of gpt-4.1-mini: 167 requests per 10 s window,
and the stage sizes 48 lanes for it, so all 24 rollouts start together). On the app's DeveloperTier
default (250 RPM) it runs 12 at a time; ``python -m bench.rollout_scale`` measures stages that the
limit bounds.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import azure.durable_functions as df

from bench.stage_driver import DRIVER, StageRun, build_app
from devhost import DevHost
from scripts.local_env import local_services
from shared.agents import get_agent

TASKS = 24
CAPACITY = 1_000
DEPLOYMENT = "gpt-4.1-mini"


def timed(host: Any, run_id: str, count: int, **settings: Any) -> float:

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
    args = parser.parse_args(argv)
    emulator = ("--chat-latency", args.chat_latency, "--seed", "7", "--base-capacity", str(CAPACITY))
    with local_services(*emulator):
        with DevHost(build_app(), clock="real") as host:
            suffix = str(int(time.time()))
            one = timed(host, f"bench-one-{suffix}", 1)
            stage = timed(host, f"bench-stage-{suffix}", TASKS)
            serial = timed(host, f"bench-serial-{suffix}", TASKS, max_concurrent_rollouts=1)
    rows = [
        (f"rollout stage, {TASKS} in parallel (the app)", stage, stage / one),
        ("one rollout alone", one, 1.0),
        (f"{TASKS} rollouts one at a time", serial, serial / one),
    ]
    print(f"chat latency {args.chat_latency} s per completion, {TASKS} tasks")
    print(
        f"deployment {DEPLOYMENT}: GlobalStandard capacity {CAPACITY:,} ({CAPACITY:,} RPM), enough for "
        f"{TASKS} rollouts at once (at 250 RPM, the DeveloperTier default, 12 run at a time: see "
        "bench.rollout_scale)"
    )
    print(f"{'what':<42}{'seconds':>10}{'x one rollout':>16}")
    for name, seconds, ratio in rows:
        print(f"{name:<42}{seconds:>10.2f}{ratio:>16.2f}")
    verdict = "meets" if stage <= 1.5 * one else "MISSES"
    print(f"target: stage <= 1.5 x one rollout: {verdict} ({stage / one:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
