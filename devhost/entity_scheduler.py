"""The entity scheduler: one queue per entity, batches run one at a time per entity, results delivered.

What the extension's legacy entity scheduler does (``DurableTaskExtension.EntityMiddleware``,
``Listener/TaskEntityShim.cs``, ``EntityScheduler/SchedulerState.cs``) and devhost therefore does:

- Requests (calls and signals, from orchestrations and clients) join the entity's queue in the order they
  reach it; requests from one sender reach it in the order they were sent (the ``MessageSorter``).
- An entity runs one batch at a time (DTFx runs one work item per instance): the queued operations, up to
  ``maxEntityOperationBatchSize``, in queue order, in one call of the entity function (out-of-process
  entities get the whole batch at once: ``ExecuteOutOfProcBatch``). Requests that arrive meanwhile wait
  for the next batch. Different entities run their batches at the same time.
- A batch's effects are committed together: the entity's state (what the SDK returned, after all its
  operations), the queue without the batch, and one response per call (an ``EventRaised`` named by the
  request id for the calling execution). Signals get no response. A failed operation's response carries
  ``exceptionType``; nothing is retried (Azure/azure-functions-durable-extension#1751).
- For a Python app, entity batches are orchestration work items: they count against
  ``maxConcurrentOrchestratorFunctions`` together with orchestrator episodes, and the entity function runs
  on the worker's thread pool like every synchronous function.

Crash safety follows devhost's commit-before-dispatch rule, with an outbox on each side. An orchestration's
requests are saved in its record with the episode that sent them (``Instance.outbox``) and handed to the
entity right after; an entity's responses are saved with the batch that produced them
(``EntityRecord.outbox``) and handed to the callers right after. After a crash both outboxes are delivered
again before anything else runs; a request the entity already queued (same id) and a response the caller
already holds (same event name) are recognised and dropped, as the extension's ``MessageSorter`` and
DTFx's duplicate-event handling drop duplicates. A batch that had not been committed runs again from the
committed state: the entity function may run twice, but every operation takes effect once.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

from azure.functions import meta
from azure.functions.durable_functions import EnitityTriggerConverter

from .activities import ActivityRunner
from .entities import (
    BatchError,
    BatchResult,
    EntityRef,
    batch_context,
    failed_batch,
    parse_batch_result,
    response_message,
)
from .limits import Limits
from .registry import Registry
from .shim import missing_function_message
from .store import EntityRecord, EntityRequest, EntityResponse, FileStore, MemoryStore

log = logging.getLogger("devhost")

WHOLE_BATCH_FAILED = (
    "devhost: the entity function '{name}' failed for a whole batch of {count} operation(s): {error}. "
    "(In Azure the extension aborts such a batch and retries it for ever, so its callers wait for ever; "
    "devhost fails their calls instead so that the mistake shows.)"
)


class EntityScheduler:
    """Entities of one host. Every method is called with the engine's lock held (``changed`` is the
    engine's condition on that lock); batch completions arrive on pool threads and take it."""

    def __init__(
        self,
        registry: Registry,
        store: MemoryStore | FileStore,
        runner: ActivityRunner,
        limits: Limits,
        changed: threading.Condition,
        respond: Callable[[EntityResponse], None],
    ) -> None:
        self._registry, self._store, self._runner, self._limits = registry, store, runner, limits
        self._changed = changed  # the engine's condition (and lock)
        self._respond = respond  # hands a response to its caller's inbox (the engine checks and dedups)
        self._records: dict[str, EntityRecord] = {}
        self._runnable: deque[str] = deque()
        self._running: set[str] = set()  # entities with a batch in flight
        self._stopped = False

    @property
    def running(self) -> int:
        """Batches in flight (orchestration work items besides the engine's episode)."""
        return len(self._running)

    @property
    def busy(self) -> bool:
        """A batch is running or waiting to run (the virtual clock must not skip ahead)."""
        return bool(self._running or self._runnable)

    def load(self) -> None:
        """After a restart: deliver responses committed before the crash, queue entities with work."""
        for record in self._store.load_entities():
            self._records[record.entity_id] = record
        for record in list(self._records.values()):
            self._flush(record)
            if record.queue:
                self._mark(record.entity_id)

    def stop(self) -> None:
        """Commit nothing more: batches in flight are abandoned and run again after a restart."""
        self._stopped = True

    def accept(self, entity_id: str, request: EntityRequest) -> None:
        """A request reaches the entity: append it to the queue and save. A request already queued (the
        same id from the same execution), which a restart delivers again, is dropped."""
        record = self._records.get(entity_id)
        if record is None:
            record = self._records[entity_id] = EntityRecord(entity_id=entity_id)
        if any(
            (queued.id, queued.parent_execution) == (request.id, request.parent_execution)
            for queued in record.queue
        ):
            return
        record.queue.append(request)
        self._save(record)
        self._mark(entity_id)

    def state(self, entity_id: str) -> tuple[bool, str | None]:
        """``(exists, state JSON)`` as last committed (a batch in flight is not visible)."""
        record = self._records.get(entity_id)
        if record is None or not record.exists:
            return False, None
        return True, record.state

    def snapshot(self, entity_id: str) -> EntityRecord | None:
        record = self._records.get(entity_id)
        return None if record is None else EntityRecord.from_dict(record.to_dict())

    def start_batches(self) -> None:
        """Start a batch for each entity with queued work and none in flight, while the work-item limit
        (``maxConcurrentOrchestratorFunctions``) allows."""
        while self._runnable and len(self._running) < self._limits.orchestrators and not self._stopped:
            entity_id = self._runnable.popleft()
            record = self._records.get(entity_id)
            if record is None or not record.queue or entity_id in self._running:
                continue
            self._running.add(entity_id)
            self._run(record, record.queue[: self._limits.entity_batch])

    # ----------------------------------------------------------------- internals
    def _mark(self, entity_id: str) -> None:
        if entity_id not in self._runnable and entity_id not in self._running:
            self._runnable.append(entity_id)
        self._changed.notify_all()

    def _run(self, record: EntityRecord, batch: list[EntityRequest]) -> None:
        entity = EntityRef.parse(record.entity_id)
        handler = self._registry.entity(entity.name)
        context = batch_context(record, batch)
        known = frozenset(self._registry.entities)

        def invoke() -> Any:
            """What the worker does: decode the trigger input with the entity converter, call the handler."""
            if handler is None:
                raise BatchError(missing_function_message(entity.name, "entity", known))
            datum = meta.Datum(type="string", value=context)
            return handler(EnitityTriggerConverter.decode(datum, trigger_metadata={}))

        def done(future: Future[Any]) -> None:
            self._finished(record.entity_id, len(batch), future)

        self._runner.call(invoke, done)

    def _finished(self, entity_id: str, size: int, future: Future[Any]) -> None:
        with self._changed:
            if self._stopped:
                return
            self._running.discard(entity_id)
            record = self._records[entity_id]
            try:
                outcome = parse_batch_result(future.result(), size)
            except Exception as error:  # noqa: BLE001 - a failing entity function fails its batch, never the host
                name = EntityRef.parse(entity_id).name
                reason = WHOLE_BATCH_FAILED.format(
                    name=name, count=size, error=f"{type(error).__name__}: {error}"
                )
                lost = [f"{'signal' if r.signal else 'call'} '{r.operation}'" for r in record.queue[:size]]
                log.error("%s Entity %s, batch: %s.", reason, entity_id, ", ".join(lost))
                outcome = failed_batch(record, size, reason)
            self._commit(record, outcome)
            self._flush(record)
            if record.queue:
                self._mark(entity_id)
            self._changed.notify_all()
            self.start_batches()

    def _commit(self, record: EntityRecord, outcome: BatchResult) -> None:
        """State, queue and responses in one save (``TaskEntityShim.Execute``: ContinueAsNew + outbox)."""
        batch = record.queue[: len(outcome.results)]
        del record.queue[: len(outcome.results)]
        record.exists, record.state = outcome.exists, outcome.state
        record.batches += 1
        record.operations += len(batch)
        for request, result in zip(batch, outcome.results, strict=True):
            if result.is_error:
                log.warning(
                    "devhost: entity %s operation '%s' failed: %s",
                    record.entity_id,
                    request.operation,
                    result.result,
                )
            if request.signal or request.parent is None:
                continue
            response = response_message(result)
            record.outbox.append(
                EntityResponse(request.parent, request.parent_execution, request.id, response)
            )
        self._save(record)

    def _flush(self, record: EntityRecord) -> None:
        """Hand the committed responses to their callers, then forget them."""
        if not record.outbox:
            return
        for response in record.outbox:
            self._respond(response)
        record.outbox = []
        self._save(record)

    def _save(self, record: EntityRecord) -> None:
        """Persist the record; a deleted entity with nothing queued or undelivered leaves the store (the
        extension's implicit deletion of an empty scheduler state)."""
        if record.is_empty and record.entity_id not in self._running:
            self._records.pop(record.entity_id, None)
            self._store.delete_entity(record.entity_id)
        else:
            self._store.save_entity(record)
