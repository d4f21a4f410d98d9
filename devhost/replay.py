"""One orchestrator episode: replay the whole history through the SDK and read off what it wants next.

The registered orchestrator handler is ``Orchestrator.create(fn)``; it builds a
``DurableOrchestrationContext`` from the JSON context and runs ``Orchestrator(fn).handle(context)``. devhost
performs those same two calls (so the JSON context, the replay and the returned JSON state are the SDK's),
keeping a reference to the context so it can also read which task ids the SDK assigned to the tasks
still open. That is how devhost writes ``EventId``s that match the SDK's sequence exactly, including the
retry timers and re-scheduled attempts that ``call_activity_with_retry`` creates on the fly.

Non-determinism: the V2 action list holds every action the code produced in this replay, so the list
from the previous episode must be a prefix of this one (devhost compares action type and name), and a
completion in history must match a task the code created.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from azure.durable_functions.models.actions.CallActivityAction import CallActivityAction
from azure.durable_functions.models.actions.CallActivityWithRetryAction import CallActivityWithRetryAction
from azure.durable_functions.models.actions.CallSubOrchestratorAction import CallSubOrchestratorAction
from azure.durable_functions.models.actions.CallSubOrchestratorWithRetryAction import (
    CallSubOrchestratorWithRetryAction,
)
from azure.durable_functions.models.actions.CreateTimerAction import CreateTimerAction
from azure.durable_functions.models.actions.NoOpAction import NoOpAction
from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext
from azure.durable_functions.models.Task import RetryAbleTask, TaskBase
from azure.durable_functions.orchestrator import Orchestrator

from .history import SCHEDULING_EVENTS, Event, EventType, format_time, make_event
from .store import Instance

ERROR_LABEL = "\n\n$OutOfProcData$:"
ACTION_NAMES = {
    0: "CallActivity",
    1: "CallActivityWithRetry",
    2: "CallSubOrchestrator",
    3: "CallSubOrchestratorWithRetry",
    4: "ContinueAsNew",
    5: "CreateTimer",
    6: "WaitForExternalEvent",
    7: "CallEntity",
    8: "CallHttp",
    9: "SignalEntity",
}


class NonDeterminismError(Exception):
    """The orchestrator's actions no longer match its history."""


@dataclass
class Work:
    """Something an episode asks the host to do, keyed by the SDK task id."""

    kind: str  # "activity" | "timer" | "suborchestration"
    task_id: int
    name: str = ""
    input: str | None = None  # JSON text
    fire_at: datetime | None = None
    instance_id: str | None = None

    def scheduling_event(self, at: datetime) -> Event:
        if self.kind == "activity":
            return make_event(EventType.TASK_SCHEDULED, at, self.task_id, Name=self.name, Input=self.input)
        if self.kind == "timer":
            assert self.fire_at is not None
            return make_event(EventType.TIMER_CREATED, at, self.task_id, FireAt=format_time(self.fire_at))
        return make_event(
            EventType.SUB_ORCHESTRATION_CREATED,
            at,
            self.task_id,
            Name=self.name,
            Input=self.input,
            InstanceId=self.instance_id,
        )


@dataclass
class Episode:
    """The outcome of one replay."""

    done: bool = False
    outcome: str = "running"  # "running" | "completed" | "failed" | "continued"
    output: Any = None
    error: str | None = None
    continue_input: str | None = None
    custom_status: Any = None
    new_work: list[Work] = field(default_factory=list)
    cancelled_timers: list[int] = field(default_factory=list)
    action_signatures: list[list[Any]] = field(default_factory=list)


def build_context(instance: Instance, episode_history: list[Event]) -> str:
    """The JSON context the extension sends: history with ``IsPlayed`` set for past episodes."""
    boundary = max(
        i for i, e in enumerate(episode_history) if e["EventType"] == EventType.ORCHESTRATOR_STARTED
    )
    history = [{**event, "IsPlayed": index < boundary} for index, event in enumerate(episode_history)]
    parent = instance.parent["instance_id"] if instance.parent else None
    body = {
        "history": history,
        "input": instance.input,
        "instanceId": instance.instance_id,
        "isReplaying": boundary > 1,
        "parentInstanceId": parent,
        "upperSchemaVersion": 2,
    }
    return json.dumps(body)


def _flatten(actions: list[Any]) -> list[list[Any]]:
    flat: list[list[Any]] = []
    for action in actions:
        if isinstance(action, list):
            flat.extend(_flatten(action))
        elif "compoundActions" in action:
            flat.extend(_flatten(action["compoundActions"]))
        else:
            name = action.get("functionName") or action.get("externalEventName") or ""
            flat.append([action.get("actionType"), name])
    return flat


def _describe(signature: list[Any]) -> str:
    kind = ACTION_NAMES.get(signature[0], f"action {signature[0]}")
    return f"{kind} {signature[1]!r}" if signature[1] else kind


def check_determinism(name: str, previous: list[list[Any]], current: list[list[Any]]) -> None:
    for index, expected in enumerate(previous):
        got = current[index] if index < len(current) else None
        if got != expected:
            produced = _describe(got) if got else "nothing"
            raise NonDeterminismError(
                f"Non-deterministic orchestrator '{name}': at action #{index} the history has "
                f"{_describe(expected)} but the code now produced {produced}. Orchestrator code must make "
                "the same calls in the same order on every replay (use context.current_utc_datetime and "
                "context.new_uuid(), not the wall clock, random values or I/O)."
            )


def _retry_delay(parent: RetryAbleTask) -> timedelta:
    options = parent.retry_options
    first = options.first_retry_interval_in_milliseconds / 1000.0
    coefficient = float(getattr(options, "backoff_coefficient", 1.0) or 1.0)
    delay = first * coefficient ** max(parent.num_attempts - 1, 0)
    ceiling = getattr(options, "max_retry_interval_in_milliseconds", None)
    if ceiling:
        delay = min(delay, ceiling / 1000.0)
    return timedelta(seconds=delay)


def _work_for(task: TaskBase, task_id: int, instance_id: str, now: datetime) -> Work:
    """Translate one open SDK task into the work the host must start for it."""
    action = task.action_repr[0] if isinstance(task.action_repr, list) else task.action_repr
    if isinstance(action, NoOpAction):
        parent = task.parent
        if not isinstance(parent, RetryAbleTask):
            raise RuntimeError(f"devhost: unexpected anonymous task {task_id}")
        if parent.is_waiting_on_timer:
            return Work("timer", task_id, fire_at=now + _retry_delay(parent))
        action = parent.actions[0] if isinstance(parent.actions, list) else parent.actions
    if isinstance(action, CreateTimerAction):
        return Work("timer", task_id, fire_at=action.fire_at)
    if isinstance(action, CallActivityAction | CallActivityWithRetryAction):
        return Work("activity", task_id, name=action.function_name, input=action.input_)
    if isinstance(action, CallSubOrchestratorAction | CallSubOrchestratorWithRetryAction):
        child_id = action.instance_id or f"{instance_id}:{task_id:04d}"
        return Work(
            "suborchestration", task_id, name=action.function_name, input=action._input, instance_id=child_id
        )
    raise NotImplementedError(f"devhost does not support {type(action).__name__} (entities and call_http)")


def run_episode(handler: Any, instance: Instance, episode_history: list[Event], now: datetime) -> Episode:
    """Replay ``episode_history`` (past episodes + a new OrchestratorStarted + new events) once."""
    context = DurableOrchestrationContext.from_json(build_context(instance, episode_history))
    context._input_expected_type = getattr(handler, "_df_input_type", None)
    function = handler.orchestrator_function
    episode = Episode()
    try:
        state = json.loads(Orchestrator(function).handle(context))
    except Exception as error:  # noqa: BLE001 - the SDK reports orchestrator failures as a bare Exception
        message = str(error)
        state_text = message.split(ERROR_LABEL, 1)[1] if ERROR_LABEL in message else None
        state = json.loads(state_text) if state_text else {}
        episode.error = message.split(ERROR_LABEL, 1)[0]

    episode.custom_status = state.get("customStatus")
    episode.action_signatures = _flatten(state.get("actions") or [])
    check_determinism(instance.name, instance.action_signatures, episode.action_signatures)
    stray = sorted(k for k in context.deferred_tasks if isinstance(k, int))
    if stray:
        raise NonDeterminismError(
            f"Non-deterministic orchestrator '{instance.name}': the history completes task(s) {stray} "
            "that the code did not create on replay."
        )

    if episode.error is not None:
        episode.done, episode.outcome = True, "failed"
        return episode
    if context.will_continue_as_new:
        episode.done, episode.outcome = True, "continued"
        flat = [
            a for group in state.get("actions") or [] for a in (group if isinstance(group, list) else [group])
        ]
        episode.continue_input = next((a.get("input") for a in flat if a.get("actionType") == 4), None)
        return episode
    if state.get("isDone"):
        episode.done, episode.outcome, episode.output = True, "completed", state.get("output")
        return episode

    scheduled = {e["EventId"] for e in episode_history if e["EventType"] in SCHEDULING_EVENTS}
    for key, entry in context.open_tasks.items():
        if not isinstance(key, int):
            continue  # external events are keyed by name and need no scheduling
        for task in entry if isinstance(entry, list) else [entry]:
            action = task.action_repr[0] if isinstance(task.action_repr, list) else task.action_repr
            if isinstance(action, CreateTimerAction) and action.is_cancelled:
                episode.cancelled_timers.append(key)
            if key not in scheduled:
                episode.new_work.append(_work_for(task, key, instance.instance_id, now))
    episode.new_work.sort(key=lambda work: work.task_id)
    return episode
