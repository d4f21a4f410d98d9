"""A Function App with the constructs the app's next orchestrations use, written the way that behaves the
same on devhost and in Azure (see devhost/README.md, "Orchestration patterns"); the orchestrators whose
names end in ``_broken`` are the ways that do not, kept to prove that devhost shows the failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections import deque
from collections.abc import Callable
from datetime import timedelta

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase

from tests.devhost.durable_types import Payload, Step

app = df.DFApp()


class Concurrency:
    """How many activity calls run at once, and the most that ever did."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = 0
        self.peak = 0

    def reset(self) -> None:
        with self._lock:
            self.now = self.peak = 0

    def enter(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def leave(self) -> None:
        with self._lock:
            self.now -= 1


RUNNING = Concurrency()
CALLS: dict[str, int] = {}
_calls_lock = threading.Lock()
GATES: dict[str, threading.Event] = {}
_gates_lock = threading.Lock()


def gate_for(key: str) -> threading.Event:
    with _gates_lock:
        return GATES.setdefault(key, threading.Event())


def release(key: str) -> None:
    """Let the ``gate`` activity waiting on ``key`` return."""
    gate_for(key).set()


def _attempt(key: str) -> int:
    with _calls_lock:
        CALLS[key] = CALLS.get(key, 0) + 1
        return CALLS[key]


# ---------------------------------------------------------------- activities
@app.activity_trigger(input_name="payload")
async def work(payload: Payload) -> int:
    """Sleeps ``seconds``; fails the first ``fail_first`` calls for its ``key``; returns its ``index``."""
    RUNNING.enter()
    try:
        await asyncio.sleep(payload.get("seconds", 0.0))
    finally:
        RUNNING.leave()
    if _attempt(payload.get("key", f"work-{payload['index']}")) <= payload.get("fail_first", 0):
        raise ConnectionError(f"transient failure of item {payload['index']}")
    return int(payload["index"])


@app.activity_trigger(input_name="payload")
def sync_work(payload: Payload) -> int:
    """The ``def`` twin of ``work``, on the thread pool."""
    RUNNING.enter()
    try:
        threading.Event().wait(payload.get("seconds", 0.0))
    finally:
        RUNNING.leave()
    return int(payload["index"])


@app.activity_trigger(input_name="payload")
def gate(payload: Payload) -> str:
    """Blocks until the test calls ``release(payload['key'])``."""
    if not gate_for(payload["key"]).wait(30):
        raise TimeoutError(f"gate {payload['key']} was never released")
    return f"passed {payload['key']}"


@app.activity_trigger(input_name="payload")
def record(payload: Payload) -> str:
    """Appends ``{"step": ...}`` to the side-effect log (fsynced: the crash sweep counts executions)."""
    with open(payload["log"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"step": payload["step"]}) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return f"step-{payload['step']}"


# ---------------------------------------------------------------- bounded fan-out
def bounded_fan_out(
    context: df.DurableOrchestrationContext, count: int, start: Callable[[int], TaskBase], limit: int
) -> Step[list[TaskBase]]:
    """Runs ``start(0..count-1)`` with at most ``limit`` tasks in flight; returns each task (its
    ``result`` is the value, or the Exception if it failed) by index.

    The extension replays the SDK's actions one at a time and waits for each: a ``task_any`` over tasks
    yielded before only puts the *new* ones in its action, so without help a refill would wait until the
    previous refill finished. Yielding the new task together with the already-finished winner and a timer
    that is cancelled at once lets the extension schedule it now. Do not use ``*_with_retry`` calls in an
    orchestrator that refills like this (retries renumber tasks; retry inside a sub-orchestration instead).
    """
    queue = deque(range(count))
    pending: dict[TaskBase, int] = {}
    while queue and len(pending) < limit:
        index = queue.popleft()
        pending[start(index)] = index
    finished: dict[int, TaskBase] = {}
    while pending:
        winner = yield context.task_any(list(pending))
        finished[pending.pop(winner)] = winner
        if queue:
            index = queue.popleft()
            fresh = start(index)
            barrier = context.create_timer(context.current_utc_datetime)
            yield context.task_any([winner, fresh, barrier])  # returns at once: the winner is complete
            barrier.cancel()
            pending[fresh] = index
    return [finished[index] for index in range(count)]


def naive_fan_out(
    context: df.DurableOrchestrationContext, count: int, start: Callable[[int], TaskBase], limit: int
) -> Step[list[TaskBase]]:
    """The obvious refill loop, which the extension runs one refill at a time (and, with retries, desyncs)."""
    queue = deque(range(count))
    pending: dict[TaskBase, int] = {}
    while queue and len(pending) < limit:
        index = queue.popleft()
        pending[start(index)] = index
    finished: dict[int, TaskBase] = {}
    while pending:
        winner = yield context.task_any(list(pending))
        finished[pending.pop(winner)] = winner
        if queue:
            index = queue.popleft()
            pending[start(index)] = index
    return [finished[index] for index in range(count)]


def outcome(task: TaskBase) -> object:
    """A task's value, or the text of its failure (``task_any`` hands back failed tasks, it never raises)."""
    return f"failed: {task.result}" if isinstance(task.result, Exception) else task.result


def work_starter(
    context: df.DurableOrchestrationContext, spec: Payload, retry: bool
) -> Callable[[int], TaskBase]:
    def start(index: int) -> TaskBase:
        payload = {
            "index": index,
            "seconds": spec["seconds"][index % len(spec["seconds"])],
            "fail_first": 1 if index in spec.get("failing", []) else 0,
            "key": f"{context.instance_id}-{index}",
            **({"log": spec["log"], "step": index} if "log" in spec else {}),
        }
        if retry:
            options = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)
            return context.call_activity_with_retry("work", options, payload)
        return context.call_activity(spec.get("activity", "work"), payload)

    return start


@app.orchestration_trigger(context_name="context")
def window(context: df.DurableOrchestrationContext) -> Step[list[object]]:
    spec = context.get_input()
    tasks = yield from bounded_fan_out(context, spec["n"], work_starter(context, spec, False), spec["k"])
    return [outcome(task) for task in tasks]


@app.orchestration_trigger(context_name="context")
def window_naive(context: df.DurableOrchestrationContext) -> Step[list[object]]:
    spec = context.get_input()
    tasks = yield from naive_fan_out(context, spec["n"], work_starter(context, spec, False), spec["k"])
    return [outcome(task) for task in tasks]


@app.orchestration_trigger(context_name="context")
def window_naive_retry_broken(context: df.DurableOrchestrationContext) -> Step[list[object]]:
    spec = context.get_input()
    tasks = yield from naive_fan_out(context, spec["n"], work_starter(context, spec, True), spec["k"])
    return [outcome(task) for task in tasks]


@app.orchestration_trigger(context_name="context")
def window_retry_broken(context: df.DurableOrchestrationContext) -> Step[list[object]]:
    spec = context.get_input()
    tasks = yield from bounded_fan_out(context, spec["n"], work_starter(context, spec, True), spec["k"])
    return [outcome(task) for task in tasks]


@app.orchestration_trigger(context_name="context")
def item(context: df.DurableOrchestrationContext) -> Step[int]:
    """One item of ``window_of_items``: its retries live in its own history, not in the parent's."""
    options = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)
    index: int = yield context.call_activity_with_retry("work", options, context.get_input())
    return index


@app.orchestration_trigger(context_name="context")
def window_of_items(context: df.DurableOrchestrationContext) -> Step[list[object]]:
    """A bounded fan-out of sub-orchestrations, each retrying its activity: retries without renumbering."""
    spec = context.get_input()

    def start(index: int) -> TaskBase:
        payload = {
            "index": index,
            "seconds": spec["seconds"][index % len(spec["seconds"])],
            "fail_first": 1 if index in spec.get("failing", []) else 0,
            "key": f"{context.instance_id}-{index}",
        }
        return context.call_sub_orchestrator("item", payload, f"{context.instance_id}:item-{index}")

    tasks = yield from bounded_fan_out(context, spec["n"], start, spec["k"])
    return [outcome(task) for task in tasks]


@app.orchestration_trigger(context_name="context")
def any_of_done(context: df.DurableOrchestrationContext) -> Step[dict[str, object]]:
    """``task_any`` over tasks that already finished, and over a failed one."""
    first = context.call_activity("work", {"index": 1})
    second = context.call_activity("work", {"index": 2})
    yield context.task_all([first, second])
    winner = yield context.task_any([second, first])  # both done: the first *in list order* wins
    failing = context.call_activity("work", {"index": 3, "fail_first": 1, "key": context.instance_id})
    lost = yield context.task_any([failing])  # a failed task is returned, not raised
    return {"winner": winner.result, "failed": isinstance(lost.result, Exception), "same": lost is failing}


# ---------------------------------------------------------------- sub-orchestrations that continue as new
@app.orchestration_trigger(context_name="context")
def lane(context: df.DurableOrchestrationContext) -> Step[dict[str, object] | None]:
    """Records its items in batches of ``batch``, continuing as new after each batch."""
    state = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=1000, max_number_of_attempts=3)
    batch, rest = state["items"][: state["batch"]], state["items"][state["batch"] :]
    done = list(state["done"])
    for step in batch:
        done.append(
            (yield context.call_activity_with_retry("record", options, {"log": state["log"], "step": step}))
        )
    if rest:
        context.continue_as_new({**state, "items": rest, "done": done, "generation": state["generation"] + 1})
        return None
    return {"done": done, "generations": state["generation"]}


@app.orchestration_trigger(context_name="context")
def lanes(context: df.DurableOrchestrationContext) -> Step[list[dict[str, object]]]:
    """Splits the steps over ``lanes`` sub-orchestrations with explicit ids; each continues as new."""
    spec = context.get_input()
    steps = list(range(spec["steps"]))
    children = [
        context.call_sub_orchestrator(
            "lane",
            {
                "items": steps[j :: spec["lanes"]],
                "batch": spec["batch"],
                "done": [],
                "generation": 1,
                "log": spec["log"],
            },
            f"{context.instance_id}:lane-{j}",
        )
        for j in range(spec["lanes"])
    ]
    lanes_done: list[dict[str, object]] = yield context.task_all(children)
    return lanes_done


@app.orchestration_trigger(context_name="context")
def fails_once(context: df.DurableOrchestrationContext) -> Step[int]:
    """A child that fails on its first execution for its ``key`` (its activity fails once)."""
    index: int = yield context.call_activity("work", {**context.get_input(), "fail_first": 1})
    return index


@app.orchestration_trigger(context_name="context")
def retried_child(context: df.DurableOrchestrationContext) -> Step[int]:
    """``call_sub_orchestrator_with_retry``, with or without an explicit child instance id."""
    spec = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=5000, max_number_of_attempts=3)
    payload = {"index": 7, "key": context.instance_id}
    index: int = yield context.call_sub_orchestrator_with_retry(
        "fails_once", options, payload, spec.get("child_id")
    )
    return index


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext) -> Step[list[int]]:
    """``task_all`` over ``n`` calls of ``activity``."""
    spec = context.get_input()
    calls = [
        context.call_activity(spec["activity"], {"index": i, "seconds": spec["seconds"]})
        for i in range(spec["n"])
    ]
    indexes: list[int] = yield context.task_all(calls)
    return indexes


# ---------------------------------------------------------------- external events
@app.orchestration_trigger(context_name="context")
def buffered_event(context: df.DurableOrchestrationContext) -> Step[dict[str, object]]:
    """Waits for "go" only after a first step; a "go" raised earlier is kept until then."""
    spec = context.get_input()
    first = yield context.call_activity(spec["activity"], spec["first"])
    go = yield context.wait_for_external_event("go")
    second = yield context.call_activity(spec["activity"], spec["second"])
    return {"first": first, "go": go, "second": second}


@app.orchestration_trigger(context_name="context")
def race(context: df.DurableOrchestrationContext) -> Step[dict[str, object]]:
    """An activity or a sub-orchestration against a "cancel" event."""
    spec = context.get_input()
    if spec.get("child"):
        work_task = context.call_sub_orchestrator("gated_child", spec, f"{context.instance_id}:child")
    else:
        work_task = context.call_activity("gate", spec)
    cancel = context.wait_for_external_event("cancel")
    winner = yield context.task_any([work_task, cancel])
    if winner == cancel:
        context.set_custom_status("cancelled")
        return {"cancelled": cancel.result}
    return {"result": work_task.result}


@app.orchestration_trigger(context_name="context")
def gated_child(context: df.DurableOrchestrationContext) -> Step[str]:
    passed: str = yield context.call_activity("gate", context.get_input())
    return passed


@app.orchestration_trigger(context_name="context")
def timer_race(context: df.DurableOrchestrationContext) -> Step[str]:
    """A durable timer against "cancel"; the loser timer is cancelled so the instance can complete."""
    deadline = context.current_utc_datetime + timedelta(hours=context.get_input())
    timer = context.create_timer(deadline)
    cancel = context.wait_for_external_event("cancel")
    winner = yield context.task_any([timer, cancel])
    if winner == cancel:
        timer.cancel()
        return "cancelled"
    return "timed out"


def cancellable_steps(context: df.DurableOrchestrationContext, fresh_wait: bool) -> Step[dict[str, int]]:
    """Gated steps, each raced against "cancel"; after a cancel, a ``cleanup`` step records itself."""
    spec = context.get_input()
    shared = context.wait_for_external_event("cancel")
    for index in range(spec["steps"]):
        step = context.call_activity("gate", {"key": f"{spec['key']}-{index}"})
        cancel = context.wait_for_external_event("cancel") if fresh_wait else shared
        winner = yield context.task_any([step, cancel])
        if winner == cancel:
            context.set_custom_status({"cancelled_at": index})
            yield context.call_activity("record", {"log": spec["log"], "step": f"cleanup-{index}"})
            return {"cancelled_at": index}
    return {"done": spec["steps"]}


@app.orchestration_trigger(context_name="context")
def cancellable(context: df.DurableOrchestrationContext) -> Step[dict[str, int]]:
    """The loop pattern: a fresh "cancel" wait in every race."""
    return (yield from cancellable_steps(context, fresh_wait=True))


@app.orchestration_trigger(context_name="context")
def cancellable_shared_wait_broken(context: df.DurableOrchestrationContext) -> Step[dict[str, int]]:
    """One "cancel" wait reused in every race: after the first step the extension no longer sees it."""
    return (yield from cancellable_steps(context, fresh_wait=False))


@app.orchestration_trigger(context_name="context")
def waits_twice(context: df.DurableOrchestrationContext) -> Step[dict[str, object]]:
    """Waits for "x" twice after a gated first step, then records a step."""
    spec = context.get_input()
    yield context.call_activity("gate", spec)
    first = yield context.wait_for_external_event("x")
    second = yield context.wait_for_external_event("x")
    after = yield context.call_activity("record", {"log": spec["log"], "step": "after"})
    return {"first": first, "second": second, "after": after}
