"""Bounded in-flight fan-out: keep K tasks pending with ``task_any``, refill, until N are done.

What the extension schedules is read from the committed history: after every episode that scheduled new
work, how many work items are in flight (scheduled, not finished). See devhost/README.md ("Bounded
fan-out") for why the obvious refill loop runs one refill at a time in Azure and why retries break it.
"""

from __future__ import annotations

from typing import Any

import pytest
from azure.durable_functions import OrchestrationRuntimeStatus as Status

from devhost import DevHost
from devhost.history import EventType
from tests.devhost import patterns
from tests.devhost.support import history_events

pytestmark = pytest.mark.timeout(60)
SECONDS = [0.3, 0.1, 0.5, 0.2, 0.25, 0.15]


def in_flight_after_scheduling(host: DevHost, instance_id: str, activity: str = "work") -> list[int]:
    """For each episode that scheduled ``activity`` calls: how many were in flight when it ended."""
    return [running for running, _ in scheduling_episodes(host, instance_id, activity)]


def scheduling_episodes(host: DevHost, instance_id: str, activity: str = "work") -> list[tuple[int, int]]:
    """For each episode that scheduled ``activity`` calls: (in flight when it ended, done before it)."""
    history = history_events(host, instance_id)
    names = {e["EventId"]: e["Name"] for e in history if e["EventType"] == EventType.TASK_SCHEDULED}
    running, done, scheduled_now, counts = 0, 0, False, []
    for event in history:
        kind = event["EventType"]
        if kind == EventType.TASK_SCHEDULED and event["Name"] == activity:
            running, scheduled_now = running + 1, True
        elif (
            kind in (EventType.TASK_COMPLETED, EventType.TASK_FAILED)
            and names[event["TaskScheduledId"]] == activity
        ):
            running, done = running - 1, done + 1
        elif kind == EventType.ORCHESTRATOR_COMPLETED:
            if scheduled_now:
                counts.append((running, done))
            scheduled_now = False
    return counts


def run(host: DevHost, name: str, instance_id: str, **spec: Any) -> Any:
    patterns.RUNNING.reset()
    return host.run_orchestration(name, {"seconds": SECONDS, **spec}, instance_id=instance_id, timeout=30)


def test_bounded_fan_out_keeps_k_in_flight_until_all_are_done(phost: DevHost) -> None:
    status = run(phost, "window", "win-1", n=12, k=3)
    assert status.runtime_status == Status.Completed, status.output
    assert status.output == list(range(12))
    assert patterns.RUNNING.peak == 3
    # the first episode schedules 3; every refill episode tops the window up at once, to 3 or to what
    # is left. On a loaded machine two completions can reach one episode, which then refills two: fewer
    # episodes, each still ending with the window full.
    episodes = scheduling_episodes(phost, "win-1")
    assert [running for running, done in episodes] == [min(3, 12 - done) for _, done in episodes]
    assert 4 <= len(episodes) <= 10


def test_failed_items_are_reported_not_raised(phost: DevHost) -> None:
    status = run(phost, "window", "win-fail", n=5, k=2, failing=[1, 3])
    assert status.runtime_status == Status.Completed
    assert status.output[0] == 0 and status.output[2] == 2 and status.output[4] == 4
    assert status.output[1].startswith("failed: Activity function 'work' failed: ConnectionError")
    assert status.output[3].startswith("failed: ")


def test_naive_refill_runs_one_refill_at_a_time(phost: DevHost) -> None:
    """The extension waits for each refill's WhenAny before it looks at the next one."""
    status = run(phost, "window_naive", "naive-1", n=12, k=3)
    assert status.runtime_status == Status.Completed
    assert status.output == list(range(12))  # correct, but:
    lagging = in_flight_after_scheduling(phost, "naive-1")
    assert lagging[0] == 3 and min(lagging) == 1, lagging


def test_naive_refill_with_retries_is_refused_as_in_azure_it_hangs(phost: DevHost) -> None:
    status = run(phost, "window_naive_retry_broken", "naive-retry", n=12, k=3, failing=[0, 3, 6])
    assert status.runtime_status == Status.Failed
    assert status.output.startswith("devhost: the Durable extension would schedule task ")
    assert "azure-functions-durable-python#603" in status.output


def test_refill_with_retries_is_non_deterministic_on_replay(phost: DevHost) -> None:
    status = run(phost, "window_retry_broken", "barrier-retry", n=12, k=3, failing=[0, 3, 6])
    assert status.runtime_status == Status.Failed
    assert status.output.startswith("Non-Deterministic workflow detected: A previous execution")


def test_bounded_fan_out_of_sub_orchestrations_that_retry(phost: DevHost) -> None:
    status = run(phost, "window_of_items", "win-items", n=8, k=3, failing=[0, 3, 6])
    assert status.runtime_status == Status.Completed, status.output
    assert status.output == list(range(8))
    assert patterns.RUNNING.peak == 3
    assert [patterns.CALLS[f"win-items-{i}"] for i in range(8)] == [2, 1, 1, 2, 1, 1, 2, 1]
    assert in_flight_after_scheduling(phost, "win-items") == []  # no activities of its own
    child = phost.get_status_sync("win-items:item-3")
    assert child is not None and child.runtime_status == Status.Completed and child.output == 3


def test_task_any_over_finished_tasks_and_a_failed_one(phost: DevHost) -> None:
    status = phost.run_orchestration("any_of_done", instance_id="any-done", timeout=10)
    assert status.output == {"winner": 2, "failed": True, "same": True}
    history = history_events(phost, "any-done")
    scheduled = [e["EventId"] for e in history if e["EventType"] == EventType.TASK_SCHEDULED]
    assert scheduled == [0, 1, 2]  # the task_any over finished tasks scheduled nothing
