"""Sub-orchestrations: children that continue as new (the parent gets only the final output), explicit
and default child instance ids, and ``call_sub_orchestrator_with_retry``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.durable_functions import OrchestrationRuntimeStatus as Status

from devhost import DevHost
from devhost.history import EventType
from tests.devhost.support import history_events

pytestmark = pytest.mark.timeout(60)


def test_children_continue_as_new_and_the_parent_gets_only_their_final_output(
    phost: DevHost, tmp_path: Path
) -> None:
    log = tmp_path / "steps.log"
    spec = {"log": str(log), "steps": 10, "lanes": 2, "batch": 2}
    status = phost.run_orchestration("lanes", spec, instance_id="lanes-1", timeout=20)
    assert status.runtime_status == Status.Completed, status.output
    assert status.output == [
        {"done": [f"step-{n}" for n in (0, 2, 4, 6, 8)], "generations": 3},
        {"done": [f"step-{n}" for n in (1, 3, 5, 7, 9)], "generations": 3},
    ]
    assert sorted(json.loads(line)["step"] for line in log.read_text().splitlines()) == list(range(10))
    finished = [
        e for e in history_events(phost, "lanes-1") if e["EventType"] == EventType.SUB_ORCHESTRATION_COMPLETED
    ]
    # one result per child (by task id: lane 0 is task 0), the one of its last execution
    assert {e["TaskScheduledId"]: json.loads(e["Result"]) for e in finished} == dict(enumerate(status.output))
    assert len(finished) == 2
    for lane in (0, 1):
        child = phost.engine.status(f"lanes-1:lane-{lane}")
        assert child is not None and child["runtimeStatus"] == "Completed"
        assert child["output"] == status.output[lane]
        assert child["input"]["generation"] == 3  # the input of its last execution
        assert phost.history_stats(f"lanes-1:lane-{lane}").generations == 3
    # a continued child keeps its parent: its last execution's ExecutionStarted still names it
    started = history_events(phost, "lanes-1:lane-0")[1]
    assert started["EventType"] == EventType.EXECUTION_STARTED
    assert started["ParentInstance"]["OrchestrationInstance"]["InstanceId"] == "lanes-1"


def test_a_child_without_an_instance_id_gets_the_dtfx_default_id(vhost: DevHost) -> None:
    vhost.run_orchestration("parent", instance_id="parent-ids", timeout=10)
    events = history_events(vhost, "parent-ids")
    execution_id = events[1]["OrchestrationInstance"]["ExecutionId"]
    created = [e for e in events if e["EventType"] == EventType.SUB_ORCHESTRATION_CREATED]
    assert [(e["EventId"], e["InstanceId"]) for e in created] == [
        (0, f"{execution_id}:0"),  # {parent execution id}:{task id}, as DTFx names it
        (1, "fixed-child-id"),
    ]
    child = vhost.get_status_sync(f"{execution_id}:0")
    assert child is not None and child.output == {"child": 42, "parent": "parent-ids"}


def test_sub_orchestrator_with_retry_without_an_id_starts_a_new_child_per_attempt(phost: DevHost) -> None:
    status = phost.run_orchestration("retried_child", {}, instance_id="retry-anon", timeout=20)
    assert status.runtime_status == Status.Completed and status.output == 7
    events = history_events(phost, "retry-anon")
    execution_id = events[1]["OrchestrationInstance"]["ExecutionId"]
    kinds = [(e["EventType"], e["EventId"]) for e in events if e["EventId"] >= 0]
    # attempt 1 (task 0) fails, a 5 s retry timer (task 1), attempt 2 (task 2) succeeds
    assert kinds == [
        (EventType.SUB_ORCHESTRATION_CREATED, 0),
        (EventType.TIMER_CREATED, 1),
        (EventType.SUB_ORCHESTRATION_CREATED, 2),
    ]
    first, second = (phost.get_status_sync(f"{execution_id}:{n}") for n in (0, 2))
    assert first is not None and first.runtime_status == Status.Failed
    assert second is not None and second.runtime_status == Status.Completed


def test_sub_orchestrator_with_retry_reuses_an_explicit_id(phost: DevHost) -> None:
    status = phost.run_orchestration(
        "retried_child", {"child_id": "the-child"}, instance_id="retry-id", timeout=20
    )
    assert status.runtime_status == Status.Completed and status.output == 7
    created = [
        e for e in history_events(phost, "retry-id") if e["EventType"] == EventType.SUB_ORCHESTRATION_CREATED
    ]
    assert [e["InstanceId"] for e in created] == ["the-child", "the-child"]
    child = phost.get_status_sync("the-child")
    assert child is not None and child.runtime_status == Status.Completed  # the failed attempt was replaced
