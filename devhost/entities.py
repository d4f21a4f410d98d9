"""Durable entities on the wire, as the extension exchanges them with the Python SDK and its own queues.

A Python app's entities run in the extension's legacy entity scheduler (``Listener/TaskEntityShim.cs``,
``DurableTaskExtension.EntityMiddleware``): every entity is an orchestration instance named by its
scheduler id ``@{name}@{key}`` whose input, after each batch, is the ``SchedulerState`` (``exists``,
``state``, ``queue``). Messages between orchestrations and entities are DTFx events:

- a request is an ``EventRaised`` named ``op`` whose input is a ``RequestMessage`` (``op``, ``signal``,
  ``input``, ``id``, ``parent``, ``parentExecution``); the sending orchestration records it as
  ``EventSent`` (``EventId`` = the DTFx task id, ``InstanceId`` = the entity, ``Name`` = ``op``);
- the answer to a call is an ``EventRaised`` named by the request id whose input is a ``ResponseMessage``
  (``result``, plus ``exceptionType`` when the operation failed); the SDK finds the call's task through the
  ``EventSent`` (``TaskOrchestrationExecutor.process_event``: it re-keys the task by ``Input["id"]``).

Out-of-process entities run a whole batch in one function call (``TaskEntityShim.ExecuteOutOfProcBatch``):
the extension sends ``{"self": {"name", "key"}, "exists", "state", "batch": [{"name", "input",
"isSignal"}]}`` (``EntityTriggerAttributeBindingProvider.EntityContextToString``) and the SDK answers
``{"entityExists", "entityState", "results": [{"isError", "duration", "result"}], "signals"}``
(``azure/durable_functions/entity.py``, ``models/entities/EntityState.py``). The state of the batch is
whatever the SDK returns: nothing is rolled back when an operation raises (the ``rollbackEntityOperations
OnExceptions`` option exists only for .NET in-process entities; Azure/azure-functions-durable-python#274).

This module holds those shapes and rules; the scheduling lives in ``entity_scheduler``.
"""

from __future__ import annotations

import json
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .store import EntityRecord, EntityRequest

#: ``EntityMessageEventNames.RequestMessageEventName``: the name of every request event.
REQUEST_EVENT = "op"
#: ``GuidManager.UrlNamespaceValue``: the namespace of the extension's deterministic request ids.
REQUEST_ID_NAMESPACE = uuid.UUID("9e952959-5e33-4daf-827f-2fa12937b875")
#: ``HttpApiHandler.EmptyEntityKeySymbol``: reading ``entities/{name}/$`` reads the entity with key "".
EMPTY_KEY_SYMBOL = "$"


class BatchError(Exception):
    """The entity function's answer for a batch is unusable (it raised, or returned something malformed)."""


@dataclass(frozen=True)
class EntityRef:
    """``EntityId``: the name is case-insensitive (stored lower-case), the key is case-sensitive."""

    name: str
    key: str

    @classmethod
    def of(cls, name: str, key: str) -> EntityRef:
        if not name:
            raise ValueError(
                "Invalid entity id: entity name must not be a null or empty string. (Parameter 'entityName')"
            )
        return cls(name.lower(), key)

    @classmethod
    def parse(cls, scheduler_id: str) -> EntityRef:
        """``EntityId.GetEntityIdFromSchedulerId``: the key is everything after the second ``@``."""
        position = scheduler_id.find("@", 1)
        if not scheduler_id.startswith("@") or position < 0:
            raise ValueError(f"'{scheduler_id}' is not an entity scheduler id ('@name@key')")
        return cls.of(scheduler_id[1:position], scheduler_id[position + 1 :])

    @property
    def scheduler_id(self) -> str:
        return f"@{self.name}@{self.key}"


def check_signal_key(key: str) -> None:
    """``DurableClient.SignalEntityAsyncInternal``: keys with ``/ \\ # ?`` or control characters are refused.
    (The extension passes message and parameter name to ``ArgumentException`` the other way round; its
    message is reproduced as clients see it.)"""
    if any(c in "/\\#?" or unicodedata.category(c) == "Cc" for c in key):
        raise ValueError(
            "entityKey (Parameter 'Entity keys must not contain /, \\, #, ?, or control characters.')"
        )


def request_id(instance_id: str, now: datetime, counter: int) -> str:
    """``DurableOrchestrationContext.NewGuid``: a name-based (v5) UUID of ``{instance}_{now:o}_{counter}``
    in ``GuidManager.UrlNamespaceValue``; deterministic, so a replay waits for the same response name."""
    moment = now.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"  # .NET "o": seven fractional digits
    return str(uuid.uuid5(REQUEST_ID_NAMESPACE, f"{instance_id}_{moment}_{counter}"))


def input_from_action(sdk_input: str | None) -> str | None:
    """``RequestMessage.SetInput`` for an orchestrator's call or signal: the action's ``input`` is the SDK's
    JSON text, which the extension serializes once more (hence the SDK's double decoding)."""
    return None if sdk_input is None else json.dumps(sdk_input, ensure_ascii=False)


def input_from_http(body: bytes, content_type: str) -> str | None:
    """``HttpApiHandler.HandlePostEntityOperationRequestAsync``: no body, no input; an
    ``application/json`` body is parsed and re-serialized compactly (``JToken.ToString(Formatting.None)``);
    any other body is serialized as a JSON string. Raises ``ValueError`` for JSON that does not parse."""
    if not body:
        return None
    text = body.decode("utf-8")
    if content_type.lower() == "application/json":
        return json.dumps(json.loads(text), separators=(",", ":"), ensure_ascii=False)
    return json.dumps(text, ensure_ascii=False)


def request_message(request: EntityRequest) -> str:
    """The ``RequestMessage`` JSON (default values omitted, as the extension serializes it)."""
    message: dict[str, Any] = {"op": request.operation}
    if request.signal:
        message["signal"] = True
    if request.input is not None:
        message["input"] = request.input
    message["id"] = request.id
    if request.parent is not None:
        message["parent"] = request.parent
    if request.parent_execution is not None:
        message["parentExecution"] = request.parent_execution
    return json.dumps(message, ensure_ascii=False)


def batch_context(record: EntityRecord, batch: list[EntityRequest]) -> str:
    """The entity trigger's input for one batch (``EntityContextToString``)."""
    entity = EntityRef.parse(record.entity_id)
    return json.dumps(
        {
            "self": {"name": entity.name, "key": entity.key},
            "exists": record.exists,
            "state": record.state,
            "batch": [
                {"name": request.operation, "input": request.input, "isSignal": request.signal}
                for request in batch
            ],
        }
    )


@dataclass(frozen=True)
class OperationResult:
    result: str  # JSON text of the return value, or of the error message
    is_error: bool


@dataclass(frozen=True)
class BatchResult:
    exists: bool
    state: str | None
    results: list[OperationResult]


def parse_batch_result(text: Any, operations: int) -> BatchResult:
    """The SDK's ``EntityState`` JSON, checked the way the extension's ``OutOfProcResult`` needs it."""
    try:
        data = json.loads(text) if isinstance(text, str | bytes) else None
    except ValueError as error:
        raise BatchError(f"the entity function returned invalid JSON: {error}") from error
    if not isinstance(data, dict):
        raise BatchError(f"the entity function returned {type(data).__name__}, not the entity state JSON")
    state, raw_results = data.get("entityState"), data.get("results")
    if state is not None and not isinstance(state, str):
        raise BatchError("the entity function returned an 'entityState' that is not JSON text")
    if not isinstance(raw_results, list) or len(raw_results) != operations:
        raise BatchError(f"the entity function returned no result list for its {operations} operations")
    if data.get("signals"):
        raise BatchError("devhost does not support signals sent by entity operations")
    results = []
    for item in raw_results:
        if not isinstance(item, dict) or not isinstance(item.get("result"), str):
            raise BatchError(f"the entity function returned a malformed operation result: {item!r}")
        results.append(OperationResult(result=item["result"], is_error=bool(item.get("isError"))))
    return BatchResult(exists=bool(data.get("entityExists")), state=state, results=results)


def failed_batch(record: EntityRecord, operations: int, reason: str) -> BatchResult:
    """What devhost commits for a batch whose function call failed as a whole: the state is unchanged and
    every operation fails with ``reason``. (The extension aborts such a batch and retries it for ever,
    so its callers wait for ever; devhost answers them with the error instead, so the mistake shows.)"""
    error = OperationResult(result=json.dumps(reason), is_error=True)
    return BatchResult(exists=record.exists, state=record.state, results=[error] * operations)


def response_message(result: OperationResult) -> str:
    """``ResponseMessage`` as ``ExecuteOutOfProcBatch`` builds it: ``exceptionType`` "Error" on failure."""
    message: dict[str, Any] = {"result": result.result}
    if result.is_error:
        message["exceptionType"] = "Error"
    return json.dumps(message, ensure_ascii=False)
