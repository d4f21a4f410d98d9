"""Benchmark: one iteration's rollout stage (24 tasks) through devhost against the emulator.

Prints a table: the stage as the app runs it (a parallel fan-out of async activities), one rollout
alone, and the same 24 rollouts one at a time. The target: the stage takes at most 1.5x one rollout.
Each chat completion takes ``--chat-latency`` seconds (1.0 by default), like a slow Azure call.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import azure.durable_functions as df

from activities.rollouts import bp as rollout_activities
from devhost import DevHost
from orchestrators.orchestration import Orchestration, Step
from orchestrators.rollouts import roll_out
from scripts.local_env import local_services
from shared.contracts import RunState
from shared.settings import get_settings

TASKS = 24


def build_app() -> df.DFApp:
    """The app's own rollout activity plus bench orchestrators that use the app's own fan-out."""
    app = df.DFApp()
    app.register_functions(rollout_activities)

    @app.orchestration_trigger(context_name="context")
    def bench_rollouts(context: df.DurableOrchestrationContext) -> Step[int]:
        spec: dict[str, Any] = context.get_input()
        settings = get_settings().run_settings()
        state = RunState(run_id=spec["run_id"], settings=settings, started_at="bench", iteration=1)
        orch = Orchestration(context, state)
        deployment = state.settings.base_deployment or ""
        if spec["sequential"]:
            for index in spec["indices"]:
                yield from roll_out(orch, "train", [index], deployment)
        else:
            yield from roll_out(orch, "train", spec["indices"], deployment)
        return len(spec["indices"])

    return app


def timed(host: DevHost, run_id: str, indices: list[int], sequential: bool) -> float:
    started = time.perf_counter()
    status = host.run_orchestration(
        "bench_rollouts", {"run_id": run_id, "indices": indices, "sequential": sequential}, timeout=600
    )
    elapsed = time.perf_counter() - started
    if status.runtime_status != df.OrchestrationRuntimeStatus.Completed:
        raise RuntimeError(f"{run_id} ended {status.runtime_status}: {status.output}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chat-latency", default="1.0")
    args = parser.parse_args(argv)
    with local_services("--chat-latency", args.chat_latency, "--seed", "7"):
        with DevHost(build_app(), clock="real") as host:
            suffix = str(int(time.time()))
            one = timed(host, f"bench-one-{suffix}", [0], sequential=False)
            stage = timed(host, f"bench-stage-{suffix}", list(range(TASKS)), sequential=False)
            serial = timed(host, f"bench-serial-{suffix}", list(range(TASKS)), sequential=True)
    rows = [
        ("rollout stage, 24 in parallel (the app)", stage, stage / one),
        ("one rollout alone", one, 1.0),
        ("24 rollouts one at a time", serial, serial / one),
    ]
    print(f"chat latency {args.chat_latency} s per completion, {TASKS} tasks")
    print(f"{'what':<42}{'seconds':>10}{'x one rollout':>16}")
    for name, seconds, ratio in rows:
        print(f"{name:<42}{seconds:>10.2f}{ratio:>16.2f}")
    verdict = "meets" if stage <= 1.5 * one else "MISSES"
    print(f"target: stage <= 1.5 x one rollout: {verdict} ({stage / one:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
