"""The extension model's rules, one by one, on hand-written histories (see devhost/shim.py for sources)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devhost import shim
from devhost.history import Event, EventType, format_time, make_event

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def context() -> shim.ExtensionContext:
    return shim.ExtensionContext(
        instance_id="i",
        parent_instance_id=None,
        execution_id="e" * 32,
        activities=frozenset({"a", "b"}),
        orchestrators=frozenset({"child"}),
        entities=frozenset({"Counter"}),
    )


def activity(name: str, retry: bool = False) -> dict[str, Any]:
    action: dict[str, Any] = {"actionType": 1 if retry else 0, "functionName": name, "input": "1"}
    if retry:
        action["retryOptions"] = {"firstRetryIntervalInMilliseconds": 5000, "maxNumberOfAttempts": 2}
    return action


def entity(target: str = "@counter@k", signal: bool = False) -> dict[str, Any]:
    """The SDK's CallEntityAction / SignalEntityAction (``input`` is the SDK's JSON text)."""
    return {"actionType": 9 if signal else 7, "instanceId": target, "operation": "add", "input": "5"}


def sent(task_id: int, name: str = "op") -> Event:
    return make_event(EventType.EVENT_SENT, T0, task_id, InstanceId="@counter@k", Name=name, Input="{}")


def when_any(*children: dict[str, Any]) -> dict[str, Any]:
    return {"actionType": 11, "compoundActions": list(children)}


def start(at: datetime = T0) -> list[Event]:
    return [
        make_event(EventType.ORCHESTRATOR_STARTED, at),
        make_event(EventType.EXECUTION_STARTED, at, Name="o"),
    ]


def replay(history: list[Event], actions: list[dict[str, Any]], done: bool = False) -> shim.Outcome:
    return shim.replay(history, context(), "o", shim.SdkState(actions=actions, done=done, output="out"))


def scheduled(task_id: int, name: str = "a") -> Event:
    return make_event(EventType.TASK_SCHEDULED, T0, task_id, Name=name)


def completed(task_id: int, failed: bool = False) -> Event:
    kind = EventType.TASK_FAILED if failed else EventType.TASK_COMPLETED
    return make_event(kind, T0, TaskScheduledId=task_id)


def test_the_walk_waits_for_each_action_before_the_next() -> None:
    # the SDK yielded WhenAny(a, b), then (after b finished) a refill WhenAny(a) holding only the new task
    actions = [when_any(activity("a"), activity("b")), when_any(activity("a"))]
    outcome = replay([*start(), scheduled(0), scheduled(1, "b"), completed(1)], actions)
    assert [(w.task_id, w.name) for w in outcome.new_work] == [(2, "a")]
    # one more refill: not scheduled while the previous refill (task 2) is still running
    actions.append(when_any(activity("b")))
    history = [*start(), scheduled(0), scheduled(1, "b"), completed(1), scheduled(2), completed(0)]
    assert replay(history, actions).new_work == []
    assert [w.task_id for w in replay([*history, completed(2)], actions).new_work] == [3]


def test_a_cancelled_timer_completes_its_action_at_once_but_is_still_created() -> None:
    timer = {"actionType": 5, "fireAt": format_time(T0), "isCanceled": True}
    outcome = replay(start(), [when_any(activity("a"), timer), activity("b")])
    assert [(w.kind, w.task_id) for w in outcome.new_work] == [("activity", 0), ("timer", 1), ("activity", 2)]


def test_retries_number_timers_and_attempts_when_failures_arrive() -> None:
    later = T0 + timedelta(seconds=3)
    first = replay(
        [*start(), scheduled(0), make_event(EventType.ORCHESTRATOR_STARTED, later), completed(0, True)],
        [activity("a", retry=True)],
    )
    [timer] = first.new_work
    assert (timer.kind, timer.task_id, timer.fire_at) == ("timer", 1, later + timedelta(seconds=5))
    history = [
        *start(),
        scheduled(0),
        completed(0, True),
        make_event(EventType.TIMER_CREATED, T0, 1, FireAt=format_time(T0)),
        make_event(EventType.TIMER_FIRED, T0, TimerId=1),
    ]
    [attempt] = replay(history, [activity("a", retry=True)]).new_work
    assert (attempt.kind, attempt.task_id) == ("activity", 2)
    # the last attempt fails: one more timer, firing at once, then the failure
    history += [scheduled(2), completed(2, True)]
    [final] = replay(history, [activity("a", retry=True)]).new_work
    assert (final.kind, final.task_id, final.fire_at) == ("timer", 3, T0)


def test_waiters_are_a_stack_and_early_events_a_queue() -> None:
    ctx = context()
    raised = make_event(EventType.EVENT_RAISED, T0, Name="Go", Input="1")
    ctx.raise_event(raised)  # nobody waits: buffered
    early = ctx.wait_for_event("go")  # names are case-insensitive for the extension
    assert early.done
    older, newer = ctx.wait_for_event("go"), ctx.wait_for_event("go")
    ctx.raise_event(raised)
    assert (older.done, newer.done) == (False, True)


def test_events_after_continue_as_new_are_carried_over() -> None:
    raised = make_event(EventType.EVENT_RAISED, T0, Name="x", Input="1")
    actions = [activity("a"), {"actionType": 4, "input": '{"n": 2}'}]
    outcome = replay([*start(), scheduled(0), completed(0), raised], actions, done=True)
    assert (outcome.status, outcome.output, outcome.carried_over) == ("continued", '{"n": 2}', [raised])


def test_an_execution_ends_only_without_open_tasks() -> None:
    timer = {"actionType": 5, "fireAt": format_time(T0 + timedelta(hours=1)), "isCanceled": False}
    waiting = {"actionType": 6, "externalEventName": "go"}
    history = [*start(), scheduled(0), make_event(EventType.TIMER_CREATED, T0, 1, FireAt=format_time(T0))]
    history.append(make_event(EventType.EVENT_RAISED, T0, Name="go", Input="1"))
    # the event won the race and the orchestrator returned, but the timer (not cancelled) and the
    # activity are still open tasks
    assert replay(history, [when_any(activity("a"), timer, waiting)], done=True).status == "running"
    history += [completed(0), make_event(EventType.TIMER_FIRED, T0, TimerId=1)]
    assert replay(history, [when_any(activity("a"), timer, waiting)], done=True).status == "completed"


RENAMED = (
    "named 'b' with sequence number 0, but the current orchestration replay instead scheduled a task named"
)


@pytest.mark.parametrize(
    ("history_event", "action", "message"),
    [
        (
            scheduled(0, "b"),
            activity("a"),
            RENAMED,
        ),
        (
            scheduled(0),
            {"actionType": 5, "fireAt": format_time(T0)},
            "instead produced a CreateTimerOrchestratorAction action",
        ),
        (
            scheduled(1),
            activity("a"),
            "with sequence ID 1, but the current replay execution hasn't (yet?) scheduled this task",
        ),
        (
            scheduled(0),
            entity(),
            "instead produced a SendEventOrchestratorAction action",
        ),
        (
            sent(0),
            activity("a"),
            "send event task with sequence ID 0, type 'EventSent', name 'op', instance ID '@counter@k', "
            "but the current orchestration replay instead scheduled a ScheduleTaskOrchestratorAction task",
        ),
        (
            sent(1),
            entity(),
            "send event task with sequence ID 1, type 'EventSent' name 'op', instance ID '@counter@k', "
            "but the current replay execution hasn't (yet?) scheduled this task",
        ),
    ],
)
def test_non_determinism_is_dtfx_s(history_event: Event, action: dict[str, Any], message: str) -> None:
    with pytest.raises(shim.NonDeterminismError, match="Non-Deterministic workflow detected: ") as caught:
        replay([*start(), history_event], [action])
    assert message in str(caught.value)


def test_an_entity_call_is_an_event_sent_under_the_next_task_id_and_waits_for_its_response() -> None:
    actions = [entity(), activity("a")]
    [message] = replay(start(), actions).new_work
    assert (message.kind, message.task_id, message.name, message.instance_id) == (
        "message",
        0,
        "op",
        "@counter@k",
    )
    # NewGuid: v5 UUID of "{instance}_{now:o}_{counter}" in GuidManager.UrlNamespaceValue
    request_id = str(
        uuid.uuid5(uuid.UUID("9e952959-5e33-4daf-827f-2fa12937b875"), "i_2026-01-01T00:00:00.0000000Z_0")
    )
    assert json.loads(message.input or "") == {
        "op": "add",
        "input": '"5"',  # the extension serializes the SDK's JSON text once more
        "id": request_id,
        "parent": "i",
        "parentExecution": "e" * 32,
    }
    response = make_event(EventType.EVENT_RAISED, T0, Name=request_id, Input=json.dumps({"result": "5"}))
    [next_work] = replay([*start(), sent(0), response], actions).new_work
    assert (next_work.kind, next_work.task_id) == ("activity", 1)


def test_a_signal_completes_at_once() -> None:
    outcome = replay(start(), [entity(signal=True), activity("a")])
    assert [(work.kind, work.task_id) for work in outcome.new_work] == [("message", 0), ("activity", 1)]
    assert json.loads(outcome.new_work[0].input or "")["signal"] is True


def test_entities_the_app_does_not_have_are_refused_a_call_as_a_hang_a_signal_as_a_failure() -> None:
    refused = "Orchestrator function 'o' failed: The function 'nope' doesn't exist, is disabled, or is not an"
    call = replay(start(), [entity("@nope@k")])
    assert (call.status, call.output.startswith(refused)) == ("failed", True)
    assert "In Azure the extension drops this call" in call.output
    signal = replay(start(), [entity("@nope@k", signal=True)])
    assert (signal.status, signal.output.startswith(refused)) == ("failed", True)
    assert "In Azure" not in signal.output


def test_default_child_ids_and_refused_calls() -> None:
    child = {"actionType": 2, "functionName": "child", "input": None, "instanceId": None}
    [work] = replay(start(), [when_any(activity("a"), child)]).new_work[1:]
    assert work.instance_id == f"{'e' * 32}:1"
    outcome = replay(start(), [activity("missing")])
    assert outcome.status == "failed"
    assert outcome.output.startswith("Orchestrator function 'o' failed: The function 'missing' doesn't exist")
    assert "In Azure the extension drops this call" in outcome.output
    own_id = {**child, "instanceId": "I"}  # the parent's own id, compared case-insensitively
    assert "must be different than the instance ID of a parent" in replay(start(), [own_id]).output
