"""External events as the extension delivers them: buffered until awaited, racing work in ``task_any``
(both orders, against an activity, a timer and a sub-orchestration), and the extension's answers when
the instance is finished or unknown. Gated activities make every ordering deterministic."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.durable_functions import OrchestrationRuntimeStatus as Status

from devhost import DevHost
from devhost.history import EventType
from tests.devhost import patterns
from tests.devhost.support import call, history_events, instance_status

pytestmark = [
    pytest.mark.timeout(60),
    # The Durable SDK warns when an event completes a task twice or arrives before its wait: these
    # tests raise events early, twice and after a timer won, on purpose.
    pytest.mark.filterwarnings("ignore:Potential duplicate Task completion:UserWarning"),
]


def wait_until(check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def scheduled(host: DevHost, instance_id: str, name: str) -> int:
    return sum(
        1
        for e in history_events(host, instance_id)
        if e["EventType"] == EventType.TASK_SCHEDULED and e["Name"] == name
    )


def committed(host: DevHost, instance_id: str, kind: EventType) -> int:
    return sum(1 for e in history_events(host, instance_id) if e["EventType"] == kind)


def raise_event(host: DevHost, instance_id: str, name: str, data: Any) -> None:
    asyncio.run(host.client.raise_event(instance_id, name, data))


def start(host: DevHost, name: str, instance_id: str, spec: Any) -> str:
    return host.engine.start_new(name, instance_id, json.dumps(spec))


def finish(host: DevHost, instance_id: str) -> dict[str, Any]:
    status = host.engine.wait(instance_id, 10)
    assert status is not None and status["runtimeStatus"] in ("Completed", "Failed"), status
    return status


@pytest.fixture
def real_host() -> Iterator[DevHost]:
    with DevHost(patterns.app, clock="real", max_workers=4) as host:
        yield host


def test_an_event_raised_before_the_wait_is_kept_until_the_orchestrator_waits(phost: DevHost) -> None:
    spec = {"activity": "gate", "first": {"key": "buffer-1"}, "second": {"key": "buffer-1"}}
    start(phost, "buffered_event", "buffer-1", spec)
    wait_until(lambda: scheduled(phost, "buffer-1", "gate") == 1)
    raise_event(phost, "buffer-1", "go", {"by": "alice"})
    wait_until(lambda: committed(phost, "buffer-1", EventType.EVENT_RAISED) == 1)  # replayed, not awaited yet
    patterns.release("buffer-1")
    status = finish(phost, "buffer-1")
    assert status["output"] == {
        "first": "passed buffer-1",
        "go": {"by": "alice"},
        "second": "passed buffer-1",
    }
    kinds = [e["EventType"] for e in history_events(phost, "buffer-1")]
    assert kinds.index(EventType.EVENT_RAISED) < kinds.index(EventType.TASK_COMPLETED)


def test_cancel_before_the_activity_finishes_wins_but_the_instance_waits_for_the_activity(
    phost: DevHost,
) -> None:
    start(phost, "race", "race-cancel", {"key": "race-cancel"})
    wait_until(lambda: scheduled(phost, "race-cancel", "gate") == 1)
    raise_event(phost, "race-cancel", "cancel", {"why": "user"})
    wait_until(lambda: instance_status(phost, "race-cancel")["customStatus"] == "cancelled")
    # the orchestrator has returned, but DTFx completes an execution only when no task is open
    assert instance_status(phost, "race-cancel")["runtimeStatus"] == "Running"
    patterns.release("race-cancel")
    status = finish(phost, "race-cancel")
    assert (status["runtimeStatus"], status["output"]) == ("Completed", {"cancelled": {"why": "user"}})


def test_the_activity_finishing_first_wins_and_a_late_cancel_is_gone(phost: DevHost) -> None:
    patterns.release("race-done")
    start(phost, "race", "race-done", {"key": "race-done"})
    assert finish(phost, "race-done")["output"] == {"result": "passed race-done"}
    with pytest.raises(Exception, match="is gone"):  # HTTP 410 from the extension's API
        raise_event(phost, "race-done", "cancel", {"why": "late"})
    with pytest.raises(Exception, match="No instance with ID never-started found"):  # HTTP 404
        raise_event(phost, "never-started", "cancel", None)


def test_raise_event_refuses_a_body_that_is_not_json(phost: DevHost) -> None:
    start(phost, "waits_twice", "not-json", {"key": "not-json", "log": "/dev/null"})
    url = f"{phost.origin}/runtime/webhooks/durabletask/instances/not-json/raiseEvent/x"
    request = urllib.request.Request(
        url, data=b"hello", method="POST", headers={"Content-Type": "text/plain"}
    )
    code, _, body = call_raw(request)
    assert code == 400 and body["Message"] == "Only application/json request content is supported"
    code, _, _ = call("POST", url, {"ok": True})
    assert code == 202
    patterns.release("not-json")


def call_raw(request: urllib.request.Request) -> tuple[int, dict[str, str], Any]:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def test_a_timer_race_in_both_orders(phost: DevHost, real_host: DevHost) -> None:
    assert (
        phost.run_orchestration("timer_race", 24, instance_id="timer-first", timeout=10).output == "timed out"
    )
    start(real_host, "timer_race", "cancel-first", 24)  # a real 24 h timer
    wait_until(lambda: committed(real_host, "cancel-first", EventType.TIMER_CREATED) == 1)
    raise_event(real_host, "cancel-first", "cancel", None)
    status = finish(real_host, "cancel-first")  # the cancelled timer is no open task: done at once
    assert (status["runtimeStatus"], status["output"]) == ("Completed", "cancelled")


@pytest.mark.parametrize(
    ("orchestrator", "cleanup_waits_for_the_step"),
    [("cancellable", False), ("cancellable_shared_wait_broken", True)],
)
def test_a_fresh_cancel_wait_per_race_reacts_at_once(
    phost: DevHost, tmp_path: Path, orchestrator: str, cleanup_waits_for_the_step: bool
) -> None:
    log = tmp_path / "cleanup.log"
    spec = {"steps": 3, "key": orchestrator, "log": str(log)}
    start(phost, orchestrator, orchestrator, spec)
    patterns.release(f"{orchestrator}-0")
    wait_until(lambda: scheduled(phost, orchestrator, "gate") == 2)  # step 1 is running
    raise_event(phost, orchestrator, "cancel", None)
    wait_until(lambda: instance_status(phost, orchestrator)["customStatus"] == {"cancelled_at": 1})
    # the episode that saw the cancel is committed: did the extension schedule the cleanup?
    assert scheduled(phost, orchestrator, "record") == (0 if cleanup_waits_for_the_step else 1)
    if not cleanup_waits_for_the_step:
        wait_until(log.exists)  # the cleanup ran while step 1 is still blocked
    patterns.release(f"{orchestrator}-1")
    status = finish(phost, orchestrator)
    assert (status["runtimeStatus"], status["output"]) == ("Completed", {"cancelled_at": 1})
    assert json.loads(log.read_text()) == {"step": "cleanup-1"}


def test_events_raised_twice_before_two_waits_give_both_waits_the_last_one(
    phost: DevHost, tmp_path: Path
) -> None:
    """SDK 1.7.0 keeps only the last early event per name and never consumes it."""
    start(phost, "waits_twice", "twice-early", {"key": "twice-early", "log": str(tmp_path / "log")})
    raise_event(phost, "twice-early", "x", 1)
    raise_event(phost, "twice-early", "x", 2)
    wait_until(lambda: committed(phost, "twice-early", EventType.EVENT_RAISED) == 2)
    patterns.release("twice-early")
    assert finish(phost, "twice-early")["output"] == {"first": 2, "second": 2, "after": "step-after"}


def test_one_early_event_and_two_waits_blocks_the_extension_until_a_second_event(
    phost: DevHost, tmp_path: Path
) -> None:
    """The SDK answers the second wait with the stale early event; the extension has consumed it and
    waits for another one, so the step after the second wait is not scheduled until it arrives."""
    start(phost, "waits_twice", "twice-once", {"key": "twice-once", "log": str(tmp_path / "log")})
    raise_event(phost, "twice-once", "x", 1)
    wait_until(lambda: committed(phost, "twice-once", EventType.EVENT_RAISED) == 1)
    patterns.release("twice-once")
    wait_until(lambda: committed(phost, "twice-once", EventType.TASK_COMPLETED) == 1)
    assert scheduled(phost, "twice-once", "record") == 0
    assert instance_status(phost, "twice-once")["runtimeStatus"] == "Running"
    raise_event(phost, "twice-once", "x", 3)
    assert finish(phost, "twice-once")["output"] == {"first": 1, "second": 1, "after": "step-after"}


def test_cancel_before_the_sub_orchestration_finishes(phost: DevHost) -> None:
    start(phost, "race", "child-cancel", {"key": "child-cancel", "child": True})
    wait_until(
        lambda: (
            (s := phost.engine.status("child-cancel:child")) is not None and s["runtimeStatus"] == "Running"
        )
    )
    raise_event(phost, "child-cancel", "cancel", "stop")
    wait_until(lambda: instance_status(phost, "child-cancel")["customStatus"] == "cancelled")
    assert instance_status(phost, "child-cancel")["runtimeStatus"] == "Running"  # its child is an open task
    patterns.release("child-cancel")
    status = finish(phost, "child-cancel")
    assert (status["runtimeStatus"], status["output"]) == ("Completed", {"cancelled": "stop"})
    child = phost.get_status_sync("child-cancel:child")
    assert child is not None
    assert child.runtime_status == Status.Completed


def test_the_sub_orchestration_finishing_first_wins(phost: DevHost) -> None:
    patterns.release("child-done")
    start(phost, "race", "child-done", {"key": "child-done", "child": True})
    assert finish(phost, "child-done")["output"] == {"result": "passed child-done"}
    with pytest.raises(Exception, match="is gone"):
        raise_event(phost, "child-done", "cancel", "late")
