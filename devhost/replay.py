"""One orchestrator episode: the SDK replays the history, then the extension model decides what happens.

The registered orchestrator handler is ``Orchestrator.create(fn)``; it builds a
``DurableOrchestrationContext`` from the JSON context and runs ``Orchestrator(fn).handle(context)``.
devhost performs those same two calls with the context JSON the extension sends
(``OrchestrationTriggerAttributeBindingProvider.OrchestrationContextToString``: schema fields and the
Azure Storage provider's long-timer settings), so the replay and the returned state are the SDK's own.
What the extension then does with that state (which actions get scheduled, with which ids, whether the
execution ends, non-determinism) is modelled in ``shim``.

devhost adds one check the extension does not make: the SDK and DTFx number tasks independently, and
every task the extension schedules must be the task the SDK knows under that number. When they
disagree (``task_any`` over tasks it yielded before, plus new work, while a retry is in flight:
azure-functions-durable-python#603) Azure hangs or hands a result to the wrong task; devhost fails the
instance with a message that says so.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from azure.durable_functions.models.actions.CallActivityAction import CallActivityAction
from azure.durable_functions.models.actions.CallActivityWithRetryAction import CallActivityWithRetryAction
from azure.durable_functions.models.actions.CallEntityAction import CallEntityAction
from azure.durable_functions.models.actions.CallSubOrchestratorAction import CallSubOrchestratorAction
from azure.durable_functions.models.actions.CallSubOrchestratorWithRetryAction import (
    CallSubOrchestratorWithRetryAction,
)
from azure.durable_functions.models.actions.CreateTimerAction import CreateTimerAction
from azure.durable_functions.models.actions.NoOpAction import NoOpAction
from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext
from azure.durable_functions.models.Task import RetryAbleTask, TaskBase
from azure.durable_functions.orchestrator import Orchestrator

from . import shim
from .history import Event, EventType
from .store import Instance

ERROR_LABEL = "\n\n$OutOfProcData$:"
#: Azure Storage provider: ``MaximumDelayTime`` 6 days, ``LongRunningTimerIntervalLength`` 3 days
#: (AzureStorageDurabilityProvider.cs), sent as .NET TimeSpan strings.
MAXIMUM_SHORT_TIMER = "6.00:00:00"
LONG_TIMER_INTERVAL = "3.00:00:00"
DESYNC_HELP = (
    "The extension replays the SDK's actions one at a time and numbers tasks itself; the two disagree when "
    "an orchestrator yields new work while an earlier task_any/task_all action is still pending for the "
    "extension and a *_with_retry call allocates ids in between (azure-functions-durable-python#603, "
    "closed as won't fix). In Azure this instance would hang or hand a result to the wrong task. Schedule "
    "new work only as described in devhost/README.md ('Bounded fan-out')."
)


class DesyncError(Exception):
    """The extension would schedule a task under an id the SDK uses for another task."""


@dataclass
class Episode:
    """The outcome of one replay."""

    outcome: shim.Outcome
    custom_status: Any
    replay_seconds: float  # SDK time: context parsing, the replay, the state JSON


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
        "upperSchemaVersion": 1,  # SchemaVersion.V2
        "upperSchemaVersionNew": 2,  # SchemaVersion.V3
        "longRunningTimerIntervalDuration": LONG_TIMER_INTERVAL,
        "maximumShortTimerDuration": MAXIMUM_SHORT_TIMER,
        "defaultHttpAsyncRequestSleepTimeMillseconds": 30000,
    }
    return json.dumps(body)


def _replay_sdk(handler: Any, context_json: str) -> tuple[DurableOrchestrationContext, shim.SdkState, Any]:
    """Run the SDK on the context; returns its context object, its state and the custom status."""
    context = DurableOrchestrationContext.from_json(context_json)
    context._input_expected_type = getattr(handler, "_df_input_type", None)
    error = None
    try:
        state = json.loads(Orchestrator(handler.orchestrator_function).handle(context))
    except Exception as failure:  # noqa: BLE001 - the SDK reports orchestrator failures as a bare Exception
        message = str(failure)
        state_text = message.split(ERROR_LABEL, 1)[1] if ERROR_LABEL in message else None
        state = json.loads(state_text) if state_text else {}
        error = message.split(ERROR_LABEL, 1)[0]
    nested = state.get("actions") or [[]]
    actions = [a for group in nested for a in (group if isinstance(group, list) else [group])]
    sdk = shim.SdkState(
        actions=actions, done=bool(state.get("isDone")), output=state.get("output"), error=error
    )
    return context, sdk, state.get("customStatus")


Signature = tuple[str, str, str | None]  # (kind, function name, input JSON)


def _sdk_task_signature(task: TaskBase) -> Signature:
    """What an open SDK task stands for, comparable with ``shim.Work``."""
    action = task.action_repr[0] if isinstance(task.action_repr, list) else task.action_repr
    if isinstance(action, NoOpAction):  # a retry's timer or re-attempt, created by RetryAbleTask
        parent = task.parent
        if not isinstance(parent, RetryAbleTask) or parent.is_waiting_on_timer:
            return ("timer", "", None)
        action = parent.actions[0] if isinstance(parent.actions, list) else parent.actions
    if isinstance(action, CreateTimerAction):
        return ("timer", "", None)
    if isinstance(action, CallActivityAction | CallActivityWithRetryAction):
        return ("activity", action.function_name.casefold(), action.input_)
    if isinstance(action, CallSubOrchestratorAction | CallSubOrchestratorWithRetryAction):
        return ("suborchestration", action.function_name.casefold(), action._input)
    if isinstance(action, CallEntityAction):  # the only action of type CALL_ENTITY
        return ("entity call", f"{action.instance_id} {action.operation}", action.input_)
    return (type(action).__name__, "", None)


def _work_signature(work: shim.Work) -> Signature:
    if work.kind == "message" and work.request is not None:
        request = work.request
        sdk_input = None if request.input is None else json.loads(request.input)  # undo the extension's
        return ("entity call", f"{work.instance_id} {request.operation}", sdk_input)
    return (work.kind, work.name.casefold(), None if work.kind == "timer" else work.input)


def check_agreement(context: DurableOrchestrationContext, new_work: list[shim.Work]) -> None:
    """Every task the extension schedules now must be the SDK's open task with the same id (same kind,
    function and input): otherwise its result would reach another task. (An entity call's response is
    matched through its ``EventSent``, whose ``EventId`` must be the SDK's task id; a signal has no task.)"""
    known: dict[int, Signature] = {}
    for key, entry in context.open_tasks.items():
        if isinstance(key, int):
            for task in entry if isinstance(entry, list) else [entry]:
                known[key] = _sdk_task_signature(task)
    for work in new_work:
        if work.request is not None and work.request.signal:
            continue
        found = known.get(work.task_id)
        if found != _work_signature(work):
            sdk_view = f"{found[0]} '{found[1]}' with input {found[2]}" if found else "no open task"
            raise DesyncError(
                f"devhost: the Durable extension would schedule task {work.task_id} as {work.kind} "
                f"'{work.name}' with input {work.input}, but the Python SDK has {sdk_view} under that id. "
                f"{DESYNC_HELP}"
            )


def run_episode(
    handler: Any,
    instance: Instance,
    episode_history: list[Event],
    activities: frozenset[str],
    orchestrators: frozenset[str],
    entities: frozenset[str] = frozenset(),
) -> Episode:
    """Replay ``episode_history`` (past episodes + a new OrchestratorStarted + new events) once.

    Raises ``shim.NonDeterminismError`` or ``DesyncError``; the caller fails the instance.
    """
    context_json = build_context(instance, episode_history)
    started = time.perf_counter()
    context, sdk, custom_status = _replay_sdk(handler, context_json)
    replay_seconds = time.perf_counter() - started
    extension = shim.ExtensionContext(
        instance_id=instance.instance_id,
        parent_instance_id=instance.parent["instance_id"] if instance.parent else None,
        execution_id=instance.execution_id,
        activities=activities,
        orchestrators=orchestrators,
        entities=entities,
    )
    outcome = shim.replay(episode_history, extension, instance.name, sdk)
    check_agreement(context, outcome.new_work)
    return Episode(outcome=outcome, custom_status=custom_status, replay_seconds=replay_seconds)
