"""The scheduler: instances, their inboxes, durable timers and the dispatch of work.

One engine thread runs orchestrator episodes one at a time (each replays the full history through the
SDK and then through the model of the extension, see ``replay`` and ``shim``), commits the new history to
the store and only then dispatches the work the extension would schedule. Completions (activity results,
fired timers, raised events, child results) are appended to the instance's inbox and saved before the
instance is marked runnable. With the on-disk store this gives the
DTFx contract: after a crash, committed steps are never redone and in-flight work is dispatched again.
Entities (queues, batches, the messages between them and orchestrations) are run by ``entity_scheduler``
under the same lock.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .activities import ActivityResult, ActivityRunner
from .clock import Clock
from .entities import EMPTY_KEY_SYMBOL, EntityRef, check_signal_key
from .entity_scheduler import EntityScheduler
from .history import Event, EventType, format_time, make_event, open_work, parse_time
from .limits import Limits
from .registry import Registry
from .replay import DesyncError, Episode, run_episode
from .shim import NonDeterminismError, Work, missing_function_message
from .stats import HistoryStats
from .store import EntityRecord, EntityRequest, EntityResponse, FileStore, Instance, MemoryStore, Outgoing

log = logging.getLogger("devhost")


class UnknownOrchestratorError(LookupError):
    """start_new named a function that is not an orchestrator of this app (the extension answers 400)."""


class InstanceExistsError(RuntimeError):
    """start_new reused the id of an instance that is still running (the extension answers 409)."""


class HostStoppedError(RuntimeError):
    """A client operation reached a host that is shutting down (the HTTP API answers 503)."""


class UnknownEntityError(LookupError):
    """A client signalled an entity the app has no function for (the extension answers 400)."""


#: The history event DTFx writes for each kind of new action (timers aside).
SCHEDULING_EVENT = {
    "activity": EventType.TASK_SCHEDULED,
    "suborchestration": EventType.SUB_ORCHESTRATION_CREATED,
    "message": EventType.EVENT_SENT,  # an entity request: InstanceId is the entity, Name "op"
}


def scheduling_event(work: Work, at: datetime) -> Event:
    """The history event DTFx writes for a new action (``EventId`` = the task id)."""
    if work.kind == "timer":
        assert work.fire_at is not None
        return make_event(EventType.TIMER_CREATED, at, work.task_id, FireAt=format_time(work.fire_at))
    fields: dict[str, Any] = {"Name": work.name, "Input": work.input}
    if work.instance_id is not None:  # the sub-orchestration's id, or the entity a message goes to
        fields["InstanceId"] = work.instance_id
    return make_event(SCHEDULING_EVENT[work.kind], at, work.task_id, **fields)


def status_time(moment: str) -> str:
    """The extension's status timestamps: ``DateTime.ToString("s") + "Z"`` (whole seconds)."""
    return parse_time(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


class Engine:
    def __init__(
        self,
        registry: Registry,
        clock: Clock,
        store: MemoryStore | FileStore,
        max_workers: int,
        limits: Limits,
    ) -> None:
        self.registry = registry
        self.clock = clock
        self.store = store
        self.limits = limits
        self.runner = ActivityRunner(max_workers)
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._instances: dict[str, Instance] = {}
        self._runnable: deque[str] = deque()
        self._timers: list[tuple[datetime, int, str, str, int]] = []
        self._sequence = itertools.count()
        self._activities_in_flight = 0  # dispatched and not finished: queued or running
        self._activities_running = 0
        self._activity_queue: deque[tuple[str, str, Work]] = deque()
        self._busy_at = time.monotonic()  # last time something happened (for the virtual clock)
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.entities = EntityScheduler(
            registry, store, self.runner, limits, self._changed, self._deliver_entity_response
        )

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Load what the store holds, re-dispatch in-flight work, start the engine thread."""
        with self._lock:
            for instance in self.store.load_all():
                self._instances[instance.instance_id] = instance
            for instance in list(self._instances.values()):
                if instance.is_terminal:
                    continue
                if instance.inbox or not instance.history:
                    self._mark_runnable(instance.instance_id)
                for task_id, event in sorted(open_work(instance.history, instance.inbox).items()):
                    self._redispatch(instance, task_id, event)
            self.entities.load()  # entities first: requests delivered again below are checked against them
            for instance in list(self._instances.values()):
                self._send_entity_requests(instance)  # committed before a crash, maybe not delivered
            self.entities.start_batches()
        self._thread = threading.Thread(target=self._run, name="devhost-engine", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop committing and dispatching, then cancel or abandon the activities in flight.

        Taking the lock waits for an episode in progress, so no store write is cut short; from then on
        nothing is saved, and activity results that still arrive are dropped: that work was never
        committed, so it is dispatched again when a host next starts on the same store.
        """
        with self._lock:
            self._stopped = True
            self.entities.stop()
            self._changed.notify_all()
        self.runner.close()
        if self._thread is not None:
            self._thread.join(timeout=2)

    # ----------------------------------------------------------------- client operations
    def start_new(self, name: str, instance_id: str | None, input_json: str | None) -> str:
        if name not in self.registry.orchestrators:
            raise UnknownOrchestratorError(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. "
                f"Known orchestrators: {sorted(self.registry.orchestrators)}"
            )
        instance_id = instance_id or uuid.uuid4().hex
        with self._lock:
            self._require_running()
            existing = self._instances.get(instance_id)
            if existing is not None and not existing.is_terminal:
                raise InstanceExistsError(
                    f"An Orchestration instance with the status {existing.runtime_status} already exists."
                )
            self._create(instance_id, name, input_json, parent=None)
        return instance_id

    def status(self, instance_id: str, show_history: bool = False) -> dict[str, Any] | None:
        with self._lock:
            instance = self._instances.get(instance_id)
            return None if instance is None else self._status(instance, show_history)

    def statuses(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._status(i, False) for i in self._instances.values()]

    def raise_event(self, instance_id: str, name: str, data_json: str | None) -> str:
        """Returns ``"accepted"``, ``"not_found"`` or ``"gone"`` (202 / 404 / 410 in the HTTP API)."""
        with self._lock:
            self._require_running()
            instance = self._instances.get(instance_id)
            if instance is None:
                return "not_found"
            if instance.is_terminal:
                return "gone"
            self._deliver(
                instance, make_event(EventType.EVENT_RAISED, self.clock.now(), Name=name, Input=data_json)
            )
            return "accepted"

    def terminate(self, instance_id: str, reason: str | None) -> str:
        with self._lock:
            self._require_running()
            instance = self._instances.get(instance_id)
            if instance is None:
                return "not_found"
            if instance.is_terminal:
                return "gone"
            now = self.clock.now()
            instance.history.append(make_event(EventType.EXECUTION_TERMINATED, now, Input=reason))
            self._finish(instance, "Terminated", reason, now)
            return "accepted"

    def purge(self, instance_id: str) -> str:
        with self._lock:
            self._require_running()
            instance = self._instances.get(instance_id)
            if instance is None:
                return "not_found"
            if not instance.is_terminal:
                return "running"
            del self._instances[instance_id]
            self.store.delete(instance_id)
            return "purged"

    def signal_entity(self, name: str, key: str, operation: str, input_text: str | None) -> None:
        """A client's signal (``SignalEntityAsync``): queued at the entity; raises ``ValueError`` for an
        invalid id or key and ``UnknownEntityError`` for an entity the app has no function for."""
        entity = EntityRef.of(name, key)
        check_signal_key(key)
        if self.registry.entity(entity.name) is None:
            raise UnknownEntityError(
                missing_function_message(entity.name, "entity", frozenset(self.registry.entities))
            )
        request = EntityRequest(id=str(uuid.uuid4()), operation=operation, signal=True, input=input_text)
        with self._lock:
            self._require_running()
            self.entities.accept(entity.scheduler_id, request)
            self.entities.start_batches()

    def read_entity_state(self, name: str, key: str) -> tuple[bool, str | None]:
        """``ReadEntityStateAsync``: ``(exists, state JSON)``; the key ``$`` stands for the empty key."""
        entity = EntityRef.of(name, "" if key == EMPTY_KEY_SYMBOL else key)
        with self._lock:
            return self.entities.state(entity.scheduler_id)

    def entity(self, name: str, key: str) -> EntityRecord | None:
        """A copy of the entity's record (state, queue, batch counters), or None if it has none."""
        with self._lock:
            return self.entities.snapshot(EntityRef.of(name, key).scheduler_id)

    def wait(self, instance_id: str, timeout: float) -> dict[str, Any] | None:
        """Block until the instance is terminal (or ``timeout`` seconds pass); return its status."""
        with self._lock:
            self._changed.wait_for(
                lambda: (i := self._instances.get(instance_id)) is not None and i.is_terminal, timeout
            )
            return self.status(instance_id)

    def history_stats(self, instance_id: str) -> HistoryStats | None:
        with self._lock:
            instance = self._instances.get(instance_id)
            if instance is None:
                return None
            children = sorted(
                child.instance_id
                for child in self._instances.values()
                if child.parent and child.parent["instance_id"] == instance_id
            )
            return HistoryStats.of(instance, children)

    def is_terminal(self, instance_id: str) -> bool:
        with self._lock:
            instance = self._instances.get(instance_id)
            return instance is not None and instance.is_terminal

    # ----------------------------------------------------------------- internals
    def _require_running(self) -> None:
        if self._stopped:
            raise HostStoppedError("devhost is shutting down; retry against the next host")

    def _status(self, instance: Instance, show_history: bool) -> dict[str, Any]:
        status = {
            "name": instance.name,
            "instanceId": instance.instance_id,
            "runtimeStatus": instance.runtime_status,
            "input": json.loads(instance.input) if instance.input is not None else None,
            "customStatus": instance.custom_status,
            "output": instance.output,
            "createdTime": status_time(instance.created_time),
            "lastUpdatedTime": status_time(instance.last_updated_time),
        }
        if show_history:
            status["historyEvents"] = [dict(e) for e in instance.history]
        return status

    def _create(
        self, instance_id: str, name: str, input_json: str | None, parent: dict[str, Any] | None
    ) -> None:
        now = self.clock.now()
        instance = Instance(
            instance_id=instance_id,
            name=name,
            input=input_json,
            created_time=format_time(now),
            last_updated_time=format_time(now),
            execution_id=uuid.uuid4().hex,
            parent=parent,
        )
        instance.inbox.append(self._execution_started(instance, now))
        self._instances[instance_id] = instance
        self.store.save(instance)
        self._mark_runnable(instance_id)

    @staticmethod
    def _execution_started(instance: Instance, now: datetime) -> Event:
        parent = None
        if instance.parent:
            parent = {"OrchestrationInstance": {"InstanceId": instance.parent["instance_id"]}}
        return make_event(
            EventType.EXECUTION_STARTED,
            now,
            Name=instance.name,
            Input=instance.input,
            Version="",
            OrchestrationInstance={"InstanceId": instance.instance_id, "ExecutionId": instance.execution_id},
            ParentInstance=parent,
        )

    def _mark_runnable(self, instance_id: str) -> None:
        self._busy_at = time.monotonic()
        if instance_id not in self._runnable:
            self._runnable.append(instance_id)
        self._changed.notify_all()

    def _deliver(self, instance: Instance, event: Event) -> None:
        """Append a new event to the inbox, persist it, and wake the engine."""
        instance.inbox.append(event)
        instance.last_updated_time = format_time(self.clock.now())
        self.store.save(instance)
        self._mark_runnable(instance.instance_id)

    def _finish(self, instance: Instance, status: str, output: Any, now: datetime) -> None:
        instance.runtime_status = status
        instance.output = output
        instance.inbox = []
        instance.last_updated_time = format_time(now)
        self.store.save(instance)
        self._changed.notify_all()
        self._notify_parent(instance)

    def _notify_parent(self, child: Instance) -> None:
        if not child.parent:
            return
        parent = self._instances.get(child.parent["instance_id"])
        if parent is None or parent.is_terminal or parent.execution_id != child.parent["execution_id"]:
            return
        task_id = child.parent["task_id"]
        if task_id not in open_work(parent.history, parent.inbox):
            return  # already delivered (e.g. again after a restart)
        now = self.clock.now()
        if child.runtime_status == "Completed":
            event = make_event(
                EventType.SUB_ORCHESTRATION_COMPLETED,
                now,
                TaskScheduledId=task_id,
                Result=json.dumps(child.output),
            )
        else:  # DTFx hands the parent the child's failure reason (its ExecutionCompleted result)
            event = make_event(
                EventType.SUB_ORCHESTRATION_FAILED,
                now,
                TaskScheduledId=task_id,
                Reason=str(child.output),
                Details="",
            )
        self._deliver(parent, event)

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._stopped:
                    return
                if self._runnable and self.entities.running < self.limits.orchestrators:
                    self._episode(self._runnable.popleft())
                    continue
                due = self._next_timer()
                now = self.clock.now()
                if due is not None and due <= now:
                    self._fire_timers(now)
                    continue
                timeout = 1.0 if due is None else min(max((due - now).total_seconds(), 0.001), 1.0)
                idle = self._activities_in_flight == 0 and not self.entities.busy
                if due is not None and self.clock.virtual and idle:
                    wait_more = self.clock.idle_seconds - (time.monotonic() - self._busy_at)
                    if wait_more <= 0:
                        self.clock.advance_to(due)  # idle: jump to the next timer
                        continue
                    timeout = min(timeout, wait_more)
                self._changed.wait(timeout)

    def _timer_is_live(self, entry: tuple[datetime, int, str, str, int]) -> bool:
        """A timer fires while its execution runs, cancelled or not: cancelling a durable timer only
        stops the orchestration from waiting for it (the queued timer message still arrives)."""
        _, _, instance_id, execution_id, _ = entry
        instance = self._instances.get(instance_id)
        return instance is not None and not instance.is_terminal and instance.execution_id == execution_id

    def _next_timer(self) -> datetime | None:
        while self._timers and not self._timer_is_live(self._timers[0]):
            heapq.heappop(self._timers)
        return self._timers[0][0] if self._timers else None

    def _fire_timers(self, now: datetime) -> None:
        while self._timers and self._timers[0][0] <= now:
            entry = heapq.heappop(self._timers)
            if not self._timer_is_live(entry):
                continue
            fire_at, _, instance_id, _, task_id = entry
            instance = self._instances[instance_id]
            event = make_event(EventType.TIMER_FIRED, now, TimerId=task_id, FireAt=format_time(fire_at))
            self._deliver(instance, event)

    def _episode(self, instance_id: str) -> None:
        """Replay the instance with its new events, commit the result, then dispatch the new work."""
        instance = self._instances.get(instance_id)
        if instance is None or instance.is_terminal or not instance.inbox:
            return
        now = self.clock.now()
        episode_history = [
            *instance.history,
            make_event(EventType.ORCHESTRATOR_STARTED, now),
            *instance.inbox,
        ]
        episode = self._replay(instance, episode_history, now)
        if episode is None:
            return
        instance.record_episode(len(episode_history), episode.replay_seconds)
        instance.custom_status = episode.custom_status
        outcome = episode.outcome
        scheduling = [scheduling_event(work, now) for work in outcome.new_work]
        instance.history = [*episode_history, *scheduling, make_event(EventType.ORCHESTRATOR_COMPLETED, now)]
        instance.inbox = []
        # Entity requests are sent whatever the outcome (DTFx sends the messages of a completing episode);
        # they are saved with the commit and delivered after it.
        instance.outbox = [
            Outgoing(work.instance_id or "", work.request)
            for work in outcome.new_work
            if work.kind == "message" and work.request is not None
        ]
        if outcome.status == "running":
            instance.runtime_status = "Running"
            instance.last_updated_time = format_time(now)
            self.store.save(
                instance
            )  # commit before dispatch: a crash from here on redoes only in-flight work
            self._changed.notify_all()
            for work in outcome.new_work:
                if work.kind != "message":
                    self._dispatch(instance, work)
            self._send_entity_requests(instance)
            return
        status = {"completed": "Completed", "failed": "Failed", "continued": "ContinuedAsNew"}[outcome.status]
        result = json.dumps(outcome.output) if outcome.status == "completed" else outcome.output
        instance.history.append(
            make_event(EventType.EXECUTION_COMPLETED, now, Result=result, OrchestrationStatus=status)
        )
        if outcome.status == "continued":
            self._continue_as_new(instance, outcome.output, outcome.carried_over, now)
        else:
            self._finish(
                instance, "Completed" if outcome.status == "completed" else "Failed", outcome.output, now
            )
        self._send_entity_requests(instance)

    def _replay(self, instance: Instance, episode_history: list[Event], now: datetime) -> Episode | None:
        """One replay; an orchestrator the extension would fail (or devhost cannot run) ends Failed."""
        handler = self.registry.orchestrators.get(instance.name)
        if handler is None:
            missing = missing_function_message(
                instance.name, "orchestrator", frozenset(self.registry.orchestrators)
            )
            self._fail(
                instance, episode_history, f"Orchestrator function '{instance.name}' failed: {missing}", now
            )
            return None
        try:
            return run_episode(
                handler,
                instance,
                episode_history,
                frozenset(self.registry.activities),
                frozenset(self.registry.orchestrators),
                frozenset(self.registry.entities),
            )
        except (NonDeterminismError, DesyncError) as error:
            self._fail(instance, episode_history, str(error), now)
        except Exception as error:  # a devhost limitation or bug fails the instance, never the host
            log.exception("devhost: episode of %s failed", instance.instance_id)
            self._fail(
                instance, episode_history, f"Orchestrator function '{instance.name}' failed: {error}", now
            )
        return None

    def _fail(self, instance: Instance, episode_history: list[Event], reason: str, now: datetime) -> None:
        instance.history = [
            *episode_history,
            make_event(EventType.EXECUTION_COMPLETED, now, Result=reason, OrchestrationStatus="Failed"),
        ]
        self._finish(instance, "Failed", reason, now)

    def _continue_as_new(
        self, instance: Instance, input_json: str | None, carried_over: list[Event], now: datetime
    ) -> None:
        """Start the next execution: same instance id, a fresh history, the new input and any events that
        arrived after ``continue_as_new`` in the last episode. DTFx builds the new execution's history as
        OrchestratorStarted, ExecutionStarted, the carried-over events, OrchestratorCompleted, and runs
        it at once (TaskOrchestrationDispatcher); the next episode's OrchestratorStarted comes first."""
        instance.start_generation(len(instance.history))
        instance.input = input_json
        instance.execution_id = uuid.uuid4().hex
        instance.history = []
        instance.runtime_status = "Running"
        instance.last_updated_time = format_time(now)
        instance.inbox = [
            self._execution_started(instance, now),
            *carried_over,
            make_event(EventType.ORCHESTRATOR_COMPLETED, now),
        ]
        self.store.save(instance)
        self._mark_runnable(instance.instance_id)

    def _redispatch(self, instance: Instance, task_id: int, event: Event) -> None:
        kind = event["EventType"]
        if kind == EventType.TASK_SCHEDULED:
            self._dispatch(instance, Work("activity", task_id, name=event["Name"], input=event.get("Input")))
        elif kind == EventType.TIMER_CREATED:
            self._dispatch(instance, Work("timer", task_id, fire_at=parse_time(event["FireAt"])))
        else:
            work = Work(
                "suborchestration",
                task_id,
                name=event["Name"],
                input=event.get("Input"),
                instance_id=event["InstanceId"],
            )
            child = self._instances.get(work.instance_id or "")
            link = child.parent if child is not None else None
            if link and link.get("execution_id") == instance.execution_id and link.get("task_id") == task_id:
                assert child is not None
                if child.is_terminal:
                    self._notify_parent(child)
                return
            self._dispatch(instance, work)

    def _dispatch(self, instance: Instance, work: Work) -> None:
        if work.kind == "timer":
            assert work.fire_at is not None
            heapq.heappush(
                self._timers,
                (
                    work.fire_at,
                    next(self._sequence),
                    instance.instance_id,
                    instance.execution_id,
                    work.task_id,
                ),
            )
            self._changed.notify_all()
        elif work.kind == "activity":
            self._activities_in_flight += 1
            self._activity_queue.append((instance.instance_id, instance.execution_id, work))
            self._start_queued_activities()
        else:
            self._start_child(instance, work)

    def _start_queued_activities(self) -> None:
        """Start queued activities while fewer than ``maxConcurrentActivityFunctions`` run. Like queued
        work items in Azure, they run even if their orchestration has ended meanwhile."""
        while self._activity_queue and self._activities_running < self.limits.activities:
            instance_id, execution_id, work = self._activity_queue.popleft()
            function, parameter = self.registry.activities.get(work.name, (None, ""))
            self._activities_running += 1
            done = self._on_activity(instance_id, execution_id, work.task_id)
            self.runner.start(work.name, function, parameter, work.input, done)

    def _start_child(self, parent: Instance, work: Work) -> None:
        child_id = work.instance_id or f"{parent.execution_id}:{work.task_id}"
        link = {
            "instance_id": parent.instance_id,
            "execution_id": parent.execution_id,
            "task_id": work.task_id,
        }
        existing = self._instances.get(child_id)
        if existing is None or existing.is_terminal:
            self._create(child_id, work.name, work.input, parent=link)
            return
        reason = f"Sub-orchestration instance '{child_id}' already exists and is {existing.runtime_status}."
        event = make_event(
            EventType.SUB_ORCHESTRATION_FAILED,
            self.clock.now(),
            TaskScheduledId=work.task_id,
            Reason=reason,
            Details="",
        )
        self._deliver(parent, event)

    def _send_entity_requests(self, instance: Instance) -> None:
        """Hand the requests the instance committed to their entities, then forget them (saved)."""
        if not instance.outbox:
            return
        for outgoing in instance.outbox:
            self.entities.accept(outgoing.target, outgoing.request)
        instance.outbox = []
        self.store.save(instance)
        self.entities.start_batches()

    def _deliver_entity_response(self, response: EntityResponse) -> None:
        """An entity's answer to a call: an ``EventRaised`` named by the request id, for the execution that
        called. A finished or replaced execution gets nothing (DTFx discards the message); an answer the
        instance already holds (delivered again after a crash) is dropped."""
        instance = self._instances.get(response.instance_id)
        if instance is None or instance.is_terminal or instance.execution_id != response.execution_id:
            return
        if any(
            event["EventType"] == EventType.EVENT_RAISED and event.get("Name") == response.request_id
            for event in [*instance.history, *instance.inbox]
        ):
            return
        event = make_event(
            EventType.EVENT_RAISED, self.clock.now(), Name=response.request_id, Input=response.message
        )
        self._deliver(instance, event)

    def _on_activity(
        self, instance_id: str, execution_id: str, task_id: int
    ) -> Callable[[ActivityResult], None]:
        def done(result: ActivityResult) -> None:
            with self._lock:
                self._activities_in_flight -= 1
                self._activities_running -= 1
                self._busy_at = time.monotonic()
                self._changed.notify_all()
                if self._stopped:
                    return
                self._start_queued_activities()
                instance = self._instances.get(instance_id)
                if instance is None or instance.is_terminal or instance.execution_id != execution_id:
                    return
                now = self.clock.now()
                if result.ok:
                    event = make_event(
                        EventType.TASK_COMPLETED, now, TaskScheduledId=task_id, Result=result.result
                    )
                else:
                    event = make_event(
                        EventType.TASK_FAILED,
                        now,
                        TaskScheduledId=task_id,
                        Reason=result.reason,
                        Details=result.details,
                    )
                self._deliver(instance, event)

        return done
