"""The Durable extension's side of an orchestrator episode, as its sources define it.

A Python orchestrator does not schedule anything itself. Each episode the extension sends it the whole
history; the SDK replays the generator and returns the list of every action the code produced
(schema V2+: one flat list, compound ``task_all``/``task_any`` as WhenAll/WhenAny actions holding only
the tasks not scheduled before). The extension then replays that list on a DTFx orchestration
(``OutOfProcOrchestrationShim.ProcessAsyncActionsV2``), one action after the other, **awaiting each one
before it looks at the next**, while DTFx processes the history events that complete those awaits. Only
actions the shim reaches become new history (``TaskScheduled``, ``TimerCreated``,
``SubOrchestrationInstanceCreated``), numbered by DTFx's own counter. This module models that walk, so
devhost schedules exactly what the extension would, with the ids it would use:

- The shim walks the actions in order and blocks on the first one whose task is not complete; later
  actions wait, even if the SDK already considers their tasks running (``task_any`` over a list that
  mixes old and new tasks: only the new ones are in the new WhenAny action).
- DTFx task ids: one counter per replay, consumed by activities, timers and sub-orchestrations in the
  order the shim invokes them (``TaskOrchestrationContext.ScheduleTaskInternal``/``CreateTimer``/
  ``CreateSubOrchestrationInstanceCore``); a sub-orchestration without an instance id gets
  ``{parent execution id}:{task id}``.
- Retries (``*_with_retry``) run in DTFx's ``RetryInterceptor``: after a failure a timer for
  ``firstRetryInterval * backoffCoefficient^attempt`` (capped by ``maxRetryInterval``), then a new
  attempt with a new id; after the last failure one more timer that fires at once, then the failure.
- Timers with ``isCanceled`` are created (the ``TimerCreated`` is written and the timer still fires) and
  then cancelled, which completes their task at once.
- External events: the extension's context keeps waiters per name (case-insensitive) as a stack (the
  newest waiter gets the event) and buffers events nobody waits for, FIFO per name
  (``DurableOrchestrationContext.WaitForExternalEvent``/``RaiseEvent``). Events raised after the walk
  reached ``ContinueAsNew`` are carried over to the next execution (``HandleEventRaisedEvent``).
- Non-determinism: a scheduling event in history whose id the shim has not (yet) produced, or produced
  as another kind of action, or (activities, sub-orchestrations) with another name, is DTFx's
  ``NonDeterministicOrchestrationException``.
- The execution ends only when the shim has walked every action, the SDK reported it done (or failed),
  and DTFx has no open task left (``TaskOrchestrationExecutor.ExecuteCore``: ``if
  (!this.context.HasOpenTasks)``): an orchestrator that returns while an activity, a sub-orchestration or
  an uncancelled timer is still pending stays Running until that task completes.
- Entities (``CallDurableTaskFunctionAsync`` with ``FunctionType.Entity``): a call or a signal draws a
  deterministic request id (``NewGuid``), counts as an action and becomes a DTFx ``SendEvent`` (an
  ``EventSent`` with the next task id, ``Name`` ``op``, the ``RequestMessage`` as ``Input``); a call then
  waits for the external event named by the request id (``WaitForEntityResponse``), a signal is complete
  at once. Neither is an open task for DTFx, so an execution can end while a call is unanswered.
- A call the extension refuses (a function the app does not have: ``ThrowIfFunctionDoesNotExist``; a
  sub-orchestration id equal to the caller's or its parent's; more than ``MaxOrchestrationActions``
  actions) throws inside an async method, so the shim gets a faulted task, swallows it and moves on:
  nothing is scheduled and the orchestration waits forever (Azure/azure-functions-durable-js#197 reports
  the hang). devhost fails the instance instead, with the extension's message and a note, so the mistake
  shows up in a test rather than as a stuck instance. A refused *signal* throws synchronously
  (``SignalEntity`` waits on the call), so there the extension itself fails the orchestration.

Sources: Azure/azure-functions-durable-extension ``Listener/OutOfProcOrchestrationShim.cs``,
``Listener/TaskOrchestrationShim.cs``, ``ContextImplementations/DurableOrchestrationContext.cs``,
``DurableTaskExtension.cs``; Azure/durabletask ``src/DurableTask.Core/TaskOrchestrationContext.cs``,
``TaskOrchestrationExecutor.cs``, ``RetryInterceptor.cs``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from . import entities
from .history import Event, EventType, parse_time
from .store import EntityRequest

# OutOfProcOrchestrationShim.AsyncActionType
CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY, CALL_SUB, CALL_SUB_WITH_RETRY = 0, 1, 2, 3
CONTINUE_AS_NEW, CREATE_TIMER, WAIT_FOR_EVENT = 4, 5, 6
CALL_ENTITY, SIGNAL_ENTITY = 7, 9
WHEN_ANY, WHEN_ALL = 11, 12
#: 10 (ScheduledSignalEntity) exists in the extension, but azure-functions-durable 1.7.0 never sends it.
UNSUPPORTED = {8: "call_http", 10: "signal_entity with a scheduled time"}

#: DTFx action class names, used in its non-determinism messages.
ACTION_CLASS = {
    "activity": "ScheduleTaskOrchestratorAction",
    "timer": "CreateTimerOrchestratorAction",
    "suborchestration": "CreateSubOrchestrationAction",
    "message": "SendEventOrchestratorAction",
}
#: History events that record an action under its task id (``EventId``), by the kind of ``Work`` they record.
SCHEDULED_KIND = {
    EventType.TASK_SCHEDULED: "activity",
    EventType.TIMER_CREATED: "timer",
    EventType.SUB_ORCHESTRATION_CREATED: "suborchestration",
    EventType.EVENT_SENT: "message",
}
CHANGED = "Was a change made to the orchestrator code after this instance had already started running?"


class NonDeterminismError(Exception):
    """DTFx's NonDeterministicOrchestrationException: history and the replayed actions disagree."""

    def __init__(self, details: str) -> None:
        super().__init__(f"Non-Deterministic workflow detected: {details}")


class ExtensionError(Exception):
    """The extension refused an action. ``hangs``: in Azure the call is dropped and the orchestration
    hangs (the refusal faults an async call); otherwise the refusal fails the orchestration there too."""

    def __init__(self, message: str, hangs: bool = True) -> None:
        super().__init__(message)
        self.hangs = hangs


#: ``DurableTaskOptions.MaxOrchestrationActions`` default.
MAX_ORCHESTRATION_ACTIONS = 100_000
AZURE_HANGS = (
    " (In Azure the extension drops this call without failing the orchestration, which then waits "
    "forever; devhost fails it so that the mistake shows.)"
)


@dataclass
class Work:
    """One action DTFx adds to history at the end of the episode (and the host then carries out)."""

    kind: str  # "activity" | "timer" | "suborchestration" | "message" (an entity request: SendEvent)
    task_id: int
    name: str = ""  # the function, or for a message the event name (``op``)
    input: str | None = None  # JSON text (for a message: the RequestMessage)
    fire_at: datetime | None = None
    instance_id: str | None = None  # a sub-orchestration's id, or a message's target entity
    request: EntityRequest | None = None  # a message's request


class Pending:
    """A .NET ``Task`` stand-in. DTFx runs continuations synchronously while it processes history
    (``SynchronousTaskScheduler``), so callbacks run as soon as the task settles."""

    def __init__(self) -> None:
        self.done = False
        self.failed = False
        self._callbacks: list[Callable[[], None]] = []

    def then(self, callback: Callable[[], None]) -> None:
        if self.done:
            callback()
        else:
            self._callbacks.append(callback)

    def settle(self, failed: bool = False) -> None:
        if self.done:
            return
        self.done, self.failed = True, failed
        callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()


def settled() -> Pending:
    task = Pending()
    task.settle()
    return task


def when_any(children: list[Pending]) -> Pending:
    """The SDK never sends an empty WhenAny (it omits compound actions whose tasks are all scheduled)."""
    combined = Pending()
    for child in children:
        child.then(combined.settle)
    return combined


def when_all(children: list[Pending]) -> Pending:
    """Completes when every child has completed, failed or not (``Task.WhenAll``)."""
    combined = Pending()
    remaining = [len(children)]

    def one_done() -> None:
        remaining[0] -= 1
        if remaining[0] == 0:
            combined.settle()

    if not children:
        combined.settle()
    for child in children:
        child.then(one_done)
    return combined


@dataclass
class RetryPolicy:
    """The retry options of a ``*_with_retry`` action (extension ``RetryOptions`` defaults)."""

    first_interval: timedelta
    max_attempts: int
    backoff: float = 1.0
    max_interval: timedelta | None = None
    timeout: timedelta | None = None

    @classmethod
    def from_action(cls, options: dict[str, Any]) -> RetryPolicy:
        def millis(key: str) -> timedelta | None:
            value = options.get(key)
            return None if value is None else timedelta(milliseconds=value)

        first = millis("firstRetryIntervalInMilliseconds")
        if first is None or first <= timedelta(0):
            raise ExtensionError("The value firstRetryInterval must be greater than TimeSpan.Zero.")
        return cls(
            first_interval=first,
            max_attempts=int(options.get("maxNumberOfAttempts", 1)),
            backoff=float(options.get("backoffCoefficient") or 1.0),
            max_interval=millis("maxRetryIntervalInMilliseconds"),
            timeout=millis("retryTimeoutInMilliseconds"),
        )

    def delay(self, attempt: int, first_attempt: datetime, now: datetime) -> timedelta:
        """``RetryInterceptor.ComputeNextDelay``; zero means: give up now."""
        if self.timeout is not None and now >= first_attempt + self.timeout:
            return timedelta(0)
        delay = self.first_interval * self.backoff**attempt
        return min(delay, self.max_interval) if self.max_interval is not None else delay


class RetryInterceptor:
    """DTFx's retry loop around one call: attempt, timer, attempt, ..., final timer, failure."""

    def __init__(
        self, context: ExtensionContext, policy: RetryPolicy, attempt: Callable[[], Pending]
    ) -> None:
        self.result = Pending()
        self._context, self._policy, self._attempt = context, policy, attempt
        self._first_attempt = context.now
        self._count = 0
        self._try()

    def _try(self) -> None:
        call = self._attempt()
        call.then(lambda: self._after(call))

    def _after(self, call: Pending) -> None:
        if not call.failed:
            self.result.settle()
            return
        now = self._context.now
        if self._count + 1 >= self._policy.max_attempts:
            timer = self._context.create_timer(now, cancelled=False)  # "Dummy timer for back-compat"
            timer.then(lambda: self.result.settle(failed=True))
            return
        delay = self._policy.delay(self._count, self._first_attempt, now)
        if delay <= timedelta(0):
            self.result.settle(failed=True)
            return
        self._context.create_timer(now + delay, cancelled=False).then(self._next)

    def _next(self) -> None:
        self._count += 1
        self._try()


@dataclass
class ExtensionContext:
    """DTFx's ``TaskOrchestrationContext`` plus the extension's event waiters, for one replay."""

    instance_id: str
    parent_instance_id: str | None
    execution_id: str
    activities: frozenset[str]
    orchestrators: frozenset[str]
    entities: frozenset[str] = frozenset()  # entity function names as registered (matched case-insensitively)
    now: datetime = field(default_factory=lambda: datetime.min)
    actions: dict[int, Work] = field(default_factory=dict)  # produced, not yet matched by history
    open: dict[int, Pending] = field(default_factory=dict)  # DTFx openTasks
    continued: bool = False
    carried_over: list[Event] = field(default_factory=list)
    _next_id: int = 0
    _action_count: int = 0
    _guid_counter: int = 0  # the extension context's ``newGuidCounter``
    _waiters: dict[str, list[Pending]] = field(default_factory=dict)
    _buffered: dict[str, deque[Any]] = field(default_factory=dict)

    # ---- scheduling, as the shim's InvokeAPIFromAction reaches actions
    def _new_task(self, work: Work, track: bool = True) -> Pending:
        self.actions[work.task_id] = work
        task = Pending()
        if track:
            self.open[work.task_id] = task
        return task

    def _take_id(self) -> int:
        task_id, self._next_id = self._next_id, self._next_id + 1
        return task_id

    def count_action(self, hangs: bool = True) -> None:
        """``IncrementActionsOrThrowException``: once per call the orchestrator makes (not per retry)."""
        if self._action_count >= MAX_ORCHESTRATION_ACTIONS:
            raise ExtensionError(
                f"Maximum amount of orchestration actions ({MAX_ORCHESTRATION_ACTIONS}) has been reached. "
                "This value can be configured in host.json file as MaxOrchestrationActions.",
                hangs,
            )
        self._action_count += 1

    def schedule_activity(self, name: str, input_json: str | None) -> Pending:
        return self._new_task(Work("activity", self._take_id(), name=name, input=input_json))

    def create_timer(self, fire_at: datetime, cancelled: bool) -> Pending:
        task_id = self._take_id()
        task = self._new_task(Work("timer", task_id, fire_at=fire_at))
        if cancelled:
            del self.open[task_id]
            task.settle()
        return task

    def create_sub_orchestration(self, name: str, instance_id: str | None, input_json: str | None) -> Pending:
        task_id = self._take_id()
        child_id = instance_id or f"{self.execution_id}:{task_id}"
        return self._new_task(
            Work("suborchestration", task_id, name=name, input=input_json, instance_id=child_id)
        )

    def check_function(self, name: str, kind: str) -> None:
        """``DurableTaskExtension.ThrowIfFunctionDoesNotExist``."""
        known = self.activities if kind == "activity" else self.orchestrators
        if name not in known:
            raise ExtensionError(missing_function_message(name, kind, known))

    def check_child_id(self, instance_id: str | None) -> None:
        if instance_id is None:
            return
        own = {self.instance_id.casefold()} | (
            {self.parent_instance_id.casefold()} if self.parent_instance_id else set()
        )
        if instance_id.casefold() in own:
            raise ExtensionError(
                "The instance ID of a sub-orchestration must be different than the instance ID of a parent "
                "orchestration."
            )
        if instance_id.startswith("@"):
            raise ExtensionError("Orchestration instance ids must not start with @ (Parameter 'instanceId')")

    def send_entity_message(
        self, target: str, operation: str, input_json: str | None, signal: bool
    ) -> Pending:
        """``CallEntityAsync`` / ``SignalEntity``: check the entity function, draw the request id, count the
        action, ``SendEvent`` under the next task id; a call then waits for the response event."""
        try:
            entity = entities.EntityRef.parse(target)
        except ValueError as error:
            raise ExtensionError(str(error), hangs=not signal) from error
        if entity.name not in {known.lower() for known in self.entities}:
            raise ExtensionError(missing_function_message(entity.name, "entity", self.entities), not signal)
        request_id = entities.request_id(self.instance_id, self.now, self._guid_counter)
        self._guid_counter += 1
        self.count_action(hangs=not signal)
        request = EntityRequest(
            id=request_id,
            operation=operation,
            signal=signal,
            input=entities.input_from_action(input_json),
            parent=self.instance_id,
            parent_execution=self.execution_id,
        )
        work = Work(
            "message",
            self._take_id(),
            name=entities.REQUEST_EVENT,
            input=entities.request_message(request),
            instance_id=entity.scheduler_id,
            request=request,
        )
        self._new_task(work, track=False)  # EventSent completes nothing: not an open task
        return settled() if signal else self.wait_for_event(request_id)

    def continue_as_new(self) -> Pending:
        self.continued = True
        return settled()

    # ---- external events (the extension's DurableOrchestrationContext)
    def wait_for_event(self, name: str) -> Pending:
        waiter = Pending()
        self._waiters.setdefault(name.casefold(), []).append(waiter)
        queue = self._buffered.get(name.casefold())
        if queue:
            queue.popleft()
            self._deliver(name)
        return waiter

    def raise_event(self, event: Event) -> None:
        if self.continued:
            self.carried_over.append(event)
            return
        name = event.get("Name") or ""
        if self._waiters.get(name.casefold()):
            self._deliver(name)
        else:
            self._buffered.setdefault(name.casefold(), deque()).append(event.get("Input"))

    def _deliver(self, name: str) -> None:
        stack = self._waiters[name.casefold()]
        waiter = stack.pop()  # the newest waiter: abandoned older ones are skipped
        if not stack:
            del self._waiters[name.casefold()]
        waiter.settle()

    # ---- history events
    def on_scheduled(self, event: Event) -> None:
        """DTFx's HandleTaskScheduledEvent / HandleTimerCreatedEvent / HandleSubOrchestrationCreatedEvent /
        HandleEventSentEvent: the history event must match the action the replay produced under its id."""
        task_id = event["EventId"]
        kind = SCHEDULED_KIND[event["EventType"]]
        produced = self.actions.get(task_id)
        if kind == "message":
            _check_sent(event, produced)
        else:
            _check_scheduled(kind, event, produced)
        del self.actions[task_id]

    def on_completed(self, task_id: int, failed: bool) -> None:
        task = self.open.pop(task_id, None)
        if task is not None:  # otherwise DTFx logs a duplicate event and ignores it
            task.settle(failed)


def missing_function_message(name: str, kind: str, known: frozenset[str]) -> str:
    """``GetInvalidActivityFunctionMessage`` / ``GetInvalidOrchestratorFunctionMessage``."""
    listing = "', '".join(sorted(known))
    return (
        f"The function '{name}' doesn't exist, is disabled, or is not an {kind} function. Additional info: "
        f"The following are the known {kind} functions: '{listing}'."
    )


def _check_scheduled(kind: str, event: Event, produced: Work | None) -> None:
    task_id = event["EventId"]
    earlier = f"A previous execution of this orchestration scheduled {_describe(kind, event)} with sequence"
    if produced is None:
        raise NonDeterminismError(
            f"{earlier} ID {task_id}, but the current replay execution hasn't (yet?) scheduled this "
            f"task. {CHANGED}"
        )
    if produced.kind != kind:
        raise NonDeterminismError(
            f"{earlier} number {task_id}, but the current orchestration replay instead produced a "
            f"{ACTION_CLASS[produced.kind]} action with this sequence number. {CHANGED}"
        )
    if kind != "timer" and produced.name.casefold() != (event.get("Name") or "").casefold():
        raise NonDeterminismError(
            f"{earlier} number {task_id}, but the current orchestration replay instead scheduled a task "
            f"named '{produced.name}' with this sequence number.  {CHANGED}"
        )


def _check_sent(event: Event, produced: Work | None) -> None:
    """``HandleEventSentEvent`` (its messages verbatim, typos included)."""
    task_id, name = event["EventId"], event.get("Name")
    earlier = (
        f"A previous execution of this orchestration scheduled a send event task with sequence ID {task_id}"
    )
    target = f"instance ID '{event.get('InstanceId')}'"
    if produced is None:
        raise NonDeterminismError(
            f"{earlier}, type 'EventSent' name '{name}', {target}, but the current replay execution hasn't "
            f"(yet?) scheduled this task. {CHANGED}"
        )
    if produced.kind != "message":
        raise NonDeterminismError(
            f"{earlier}, type 'EventSent', name '{name}', {target}, but the current orchestration replay "
            f"instead scheduled a {ACTION_CLASS[produced.kind]} task at this sequence number. {CHANGED}"
        )
    if produced.name.casefold() != (name or "").casefold():
        raise NonDeterminismError(
            f"{earlier}, type 'EventSent', name '{name}', {target}), but the current orchestration replay "
            f"instead scheduled a send event task with name {produced.name}at this sequence number. {CHANGED}"
        )


def _describe(kind: str, event: Event) -> str:
    if kind == "timer":
        return "a timer task"
    noun = "an activity task" if kind == "activity" else "a sub-orchestration task"
    return f"{noun} named '{event.get('Name')}'"


@dataclass
class SdkState:
    """What the SDK returned for this replay (the orchestrator state JSON)."""

    actions: list[dict[str, Any]]
    done: bool
    output: Any = None
    error: str | None = None


@dataclass
class Outcome:
    """What the extension does at the end of the episode."""

    status: str  # "running" | "completed" | "failed" | "continued"
    new_work: list[Work]
    output: Any = None  # completed: the output; failed: the reason; continued: the new input (JSON)
    carried_over: list[Event] = field(default_factory=list)


class Shim:
    """``OutOfProcOrchestrationShim``: invokes the SDK's actions one by one, awaiting each in turn."""

    def __init__(self, context: ExtensionContext, name: str, sdk: SdkState) -> None:
        self.context, self.name, self.sdk = context, name, sdk
        self._index = 0
        self.walked = False
        self.fault: str | None = None
        self.continue_input: str | None = None

    def start(self) -> None:
        """ExecutionStarted: the orchestration's Execute runs and starts the walk."""
        self._advance()

    def _advance(self) -> None:
        actions = self.sdk.actions
        while self._index < len(actions):
            action = actions[self._index]
            self._index += 1
            try:
                task = self._invoke(action)
            except ExtensionError as error:
                note = AZURE_HANGS if error.hangs else ""
                self.fault = f"Orchestrator function '{self.name}' failed: {error}{note}"
                return
            if not task.done:
                task.then(self._advance)
                return
        self.walked = True

    def _invoke(self, action: dict[str, Any]) -> Pending:
        kind = action.get("actionType")
        context = self.context
        if kind in (WHEN_ANY, WHEN_ALL):
            children = [self._invoke(child) for child in action.get("compoundActions") or []]
            return when_any(children) if kind == WHEN_ANY else when_all(children)
        if kind in (CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY):
            name, input_json = action["functionName"], action.get("input")
            context.check_function(name, "activity")
            context.count_action()
            if kind == CALL_ACTIVITY:
                return context.schedule_activity(name, input_json)
            policy = RetryPolicy.from_action(action.get("retryOptions") or {})
            return RetryInterceptor(
                context, policy, lambda: context.schedule_activity(name, input_json)
            ).result
        if kind in (CALL_SUB, CALL_SUB_WITH_RETRY):
            name, input_json, child_id = action["functionName"], action.get("input"), action.get("instanceId")
            context.check_child_id(child_id)
            context.check_function(name, "orchestrator")
            context.count_action()
            if kind == CALL_SUB:
                return context.create_sub_orchestration(name, child_id, input_json)
            policy = RetryPolicy.from_action(action.get("retryOptions") or {})
            return RetryInterceptor(
                context, policy, lambda: context.create_sub_orchestration(name, child_id, input_json)
            ).result
        if kind == CREATE_TIMER:
            context.count_action()
            return context.create_timer(parse_time(action["fireAt"]), bool(action.get("isCanceled")))
        if kind == WAIT_FOR_EVENT:
            return context.wait_for_event(action.get("externalEventName") or "")
        if kind in (CALL_ENTITY, SIGNAL_ENTITY):
            return context.send_entity_message(
                action.get("instanceId") or "",
                action.get("operation") or "",
                action.get("input"),
                signal=kind == SIGNAL_ENTITY,
            )
        if kind == CONTINUE_AS_NEW:
            self.continue_input = action.get("input")
            return context.continue_as_new()
        feature = UNSUPPORTED.get(kind if isinstance(kind, int) else -1, f"action type {kind}")
        raise NotImplementedError(f"devhost does not support {feature}")

    def outcome(self) -> Outcome:
        """``ScheduleDurableTaskEvents`` + ``ExecuteCore``'s completion rule, after all events."""
        context = self.context
        new_work = sorted(context.actions.values(), key=lambda work: work.task_id)
        if self.fault is not None:
            return Outcome("failed", new_work, self.fault)
        if context.open:
            return Outcome("running", new_work)
        if not self.walked:
            return Outcome("running", new_work)
        if self.sdk.error is not None:
            return Outcome(
                "failed", new_work, f"Orchestrator function '{self.name}' failed: {self.sdk.error}"
            )
        if not self.sdk.done:
            return Outcome("running", new_work)  # Task.Delay(Timeout.Infinite): waits for more events
        if context.continued:
            return Outcome("continued", new_work, self.continue_input, context.carried_over)
        return Outcome("completed", new_work, self.sdk.output)


def replay(history: list[Event], context: ExtensionContext, name: str, sdk: SdkState) -> Outcome:
    """Process ``history`` (past episodes, a new OrchestratorStarted, new events) as DTFx does."""
    shim = Shim(context, name, sdk)
    for event in history:
        kind = event["EventType"]
        if kind == EventType.ORCHESTRATOR_STARTED:
            context.now = parse_time(event["Timestamp"])
        elif kind == EventType.EXECUTION_STARTED:
            shim.start()
        elif kind in SCHEDULED_KIND:
            context.on_scheduled(event)
        elif kind in (EventType.TASK_COMPLETED, EventType.SUB_ORCHESTRATION_COMPLETED):
            context.on_completed(event["TaskScheduledId"], failed=False)
        elif kind in (EventType.TASK_FAILED, EventType.SUB_ORCHESTRATION_FAILED):
            context.on_completed(event["TaskScheduledId"], failed=True)
        elif kind == EventType.TIMER_FIRED:
            context.on_completed(event["TimerId"], failed=False)
        elif kind == EventType.EVENT_RAISED:
            context.raise_event(event)
    return shim.outcome()
