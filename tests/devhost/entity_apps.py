"""A Function App with Durable entities for the entity tests, registered the way function_app.py would: a
``df.Blueprint`` (a counter and a ledger) added to a ``df.DFApp`` (the orchestrators that use them)."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from tests.devhost.apps import append_line
from tests.devhost.durable_types import Step
from tests.devhost.patterns import Concurrency, gate_for

entities = df.Blueprint()
app = df.DFApp()

#: Operations running right now, per entity key and over all entities.
PER_KEY: dict[str, Concurrency] = {}
ALL = Concurrency()
_per_key_lock = threading.Lock()
#: Rendezvous points for operations of different entities (``meet``): created by the tests.
BARRIERS: dict[str, threading.Barrier] = {}


def running(key: str) -> Concurrency:
    with _per_key_lock:
        return PER_KEY.setdefault(key, Concurrency())


class Unserializable:
    """A state the SDK cannot encode: its batch fails as a whole."""


# ---------------------------------------------------------------- entities
@entities.entity_trigger(context_name="context")
def counter(context: df.DurableEntityContext) -> None:
    """``add`` (an int, or ``{"amount", "log", "step"}`` to record the execution) answers the new total and
    refuses amounts below 1 before touching the state; ``get``; ``set_then_fail`` changes the state, then
    raises; ``slow_add`` records how many operations overlap; ``meet`` waits at a barrier; ``hold`` waits at a
    gate; ``spoil`` stores a state that cannot be serialized; ``delete`` deletes the entity."""
    total = context.get_state(lambda: 0)
    operation = context.operation_name
    key = context.entity_key
    if operation == "add":
        spec = context.get_input()
        amount = spec["amount"] if isinstance(spec, dict) else spec
        if not isinstance(amount, int) or amount < 1:
            raise ValueError(f"amount must be a positive integer, not {amount!r}")
        if isinstance(spec, dict) and "log" in spec:
            append_line(spec["log"], json.dumps({"step": spec["step"]}))
        context.set_state(total + amount)
        context.set_result(total + amount)
    elif operation == "get":
        context.set_result(total)
    elif operation == "set_then_fail":
        context.set_state(context.get_input())
        raise RuntimeError("failed after set_state")
    elif operation == "slow_add":
        for tracker in (running(key), ALL):
            tracker.enter()
        try:
            time.sleep(0.02)
            context.set_state(total + 1)
            context.set_result(total + 1)
        finally:
            for tracker in (running(key), ALL):
                tracker.leave()
    elif operation == "meet":
        BARRIERS[context.get_input()].wait()
        context.set_result(key)
    elif operation == "hold":
        if not gate_for(context.get_input()).wait(30):
            raise TimeoutError("hold was never released")
    elif operation == "spoil":
        context.set_state(Unserializable())
    elif operation == "delete":
        context.destruct_on_exit()
    else:
        raise ValueError(f"no operation {operation!r}")


@entities.entity_trigger(context_name="context", entity_name="Ledger")
def ledger_entity(context: df.DurableEntityContext) -> None:
    """Known by its ``entity_name``: ``append`` adds the input to the list, ``get`` answers the list."""
    lines = context.get_state(list)
    if context.operation_name == "append":
        context.set_state([*lines, context.get_input()])
    else:
        context.set_result(lines)


app.register_functions(entities)


def counter_id(key: str) -> df.EntityId:
    return df.EntityId("Counter", key)  # entity names are case-insensitive


# ---------------------------------------------------------------- orchestrators
@app.orchestration_trigger(context_name="context")
def add_all(context: df.DurableOrchestrationContext) -> Step[list[int]]:
    """Adds each amount to the counter ``key`` in turn; returns the totals the calls answered."""
    spec = context.get_input()
    totals = []
    for amount in spec["amounts"]:
        totals.append((yield context.call_entity(counter_id(spec["key"]), spec.get("op", "add"), amount)))
    return totals


@app.orchestration_trigger(context_name="context")
def call_and_catch(context: df.DurableOrchestrationContext) -> Step[dict[str, object]]:
    """Calls ``op`` with ``input`` and catches its failure; then reads the counter."""
    spec = context.get_input()
    try:
        result: Any = yield context.call_entity(counter_id(spec["key"]), spec["op"], spec["input"])
        error = None
    except Exception as failure:  # noqa: BLE001 - the SDK raises a bare Exception for a failed operation
        result, error = None, str(failure)
    after = yield context.call_entity(counter_id(spec["key"]), "get")
    return {"result": result, "error": error, "after": after}


@app.orchestration_trigger(context_name="context")
def signal_then_get(context: df.DurableOrchestrationContext) -> Step[list[object]]:
    """Signals ``append`` for 0..n-1 to the ledger ``key``, then calls ``get``: the ledger shows the order."""
    spec = context.get_input()
    ledger = df.EntityId("ledger", spec["key"])
    for index in range(spec["n"]):
        context.signal_entity(ledger, "append", index)
    lines: list[object] = yield context.call_entity(ledger, "get")
    return lines


@app.orchestration_trigger(context_name="context")
def call_together(context: df.DurableOrchestrationContext) -> Step[list[object]]:
    """Calls ``op`` on every counter in ``keys`` at once (``task_all``)."""
    spec = context.get_input()
    calls = [context.call_entity(counter_id(key), spec["op"], spec.get("input")) for key in spec["keys"]]
    answers: list[object] = yield context.task_all(calls)
    return answers


@app.orchestration_trigger(context_name="context")
def call_or_timeout(context: df.DurableOrchestrationContext) -> Step[dict[str, object]]:
    """A slow entity call against a one-hour timer: the call must win on the virtual clock."""
    call = context.call_entity(counter_id(context.get_input()), "slow_add")
    timer = context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    winner = yield context.task_any([call, timer])
    if winner == call:
        timer.cancel()
        return {"won": "call", "total": call.result}
    return {"won": "timer"}


@app.orchestration_trigger(context_name="context")
def add_per_generation(context: df.DurableOrchestrationContext) -> Step[list[int] | None]:
    """One call per ``continue_as_new`` generation; the last one returns every answer."""
    spec = context.get_input()
    total = yield context.call_entity(counter_id(spec["key"]), "add", 1)
    answers = [*spec["answers"], total]
    if len(answers) < spec["generations"]:
        context.continue_as_new({**spec, "answers": answers})
        return None
    return answers


@app.orchestration_trigger(context_name="context")
def call_missing(context: df.DurableOrchestrationContext) -> Step[object]:
    return (yield context.call_entity(df.EntityId("no_such_entity", "k"), "get"))


@app.orchestration_trigger(context_name="context")
def signal_missing(context: df.DurableOrchestrationContext) -> str:
    context.signal_entity(df.EntityId("no_such_entity", "k"), "get")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def crash_counter(context: df.DurableOrchestrationContext) -> Step[dict[str, object]]:
    """The crash sweep's run: two calls in turn, a signal, two entities called at once, a final read;
    every ``add`` records its execution in the side-effect log."""
    log = context.get_input()["log"]
    main = counter_id("crash")
    totals = []
    for step in range(2):
        totals.append(
            (yield context.call_entity(main, "add", {"amount": step + 1, "log": log, "step": step}))
        )
    context.signal_entity(main, "add", {"amount": 10, "log": log, "step": "signal"})
    pair = yield context.task_all(
        [
            context.call_entity(counter_id(f"crash-{side}"), "add", {"amount": 5, "log": log, "step": side})
            for side in ("a", "b")
        ]
    )
    final = yield context.call_entity(main, "get")
    return {"totals": totals, "pair": pair, "final": final}
