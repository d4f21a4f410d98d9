"""Small purpose-written Function Apps that exercise one devhost feature each."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

from tests.devhost.durable_types import Payload, Step

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)

#: Calls per activity input, so tests can count attempts and side effects.
CALLS: dict[str, int] = {}
_calls_lock = threading.Lock()


def _count(key: str) -> int:
    with _calls_lock:
        CALLS[key] = CALLS.get(key, 0) + 1
        return CALLS[key]


# ---------------------------------------------------------------- activities
@app.activity_trigger(input_name="payload")
def double(payload: int) -> int:
    return payload * 2


@app.activity_trigger(input_name="payload")
def echo(payload: object) -> dict[str, object]:
    return {"seen": payload, "type": type(payload).__name__}


@app.activity_trigger(input_name="payload")
async def async_sleep(payload: Payload) -> dict[str, object]:
    await asyncio.sleep(payload["seconds"])
    return {"index": payload["index"], "thread": threading.current_thread().name}


@app.activity_trigger(input_name="payload")
def flaky(payload: Payload) -> str:
    """Fails until it has been called ``payload['succeed_on']`` times for ``payload['key']``."""
    attempt = _count(payload["key"])
    if attempt < payload["succeed_on"]:
        raise ValueError(f"attempt {attempt} failed")
    return f"ok after {attempt}"


@app.activity_trigger(input_name="payload")
def boom(payload: str) -> None:
    raise RuntimeError(f"boom: {payload}")


@app.activity_trigger(input_name="payload")
def record(payload: Payload) -> str:
    """Appends one line per execution to a side-effect log (the crash test counts them)."""
    with open(payload["log"], "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"step": payload["step"]}) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    time.sleep(payload.get("seconds", 0))
    return f"step-{payload['step']}"


def append_line(log: str, line: str) -> None:
    """Appends ``line`` to the side-effect log ``log`` (fsynced, so a killed process keeps it)."""
    with open(log, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


@app.activity_trigger(input_name="payload")
def block_until_released(payload: Payload) -> str:
    """Marks that it started, then blocks its thread until the file ``release`` exists: an activity stuck
    on a dependency that never answers (for as long as nobody creates the file, forever)."""
    append_line(payload["log"], "sync")
    while not os.path.exists(payload["release"]):
        time.sleep(0.05)
    return "sync released"


@app.activity_trigger(input_name="payload")
async def async_block_until_released(payload: Payload) -> str:
    """The ``async def`` twin of ``block_until_released``."""
    append_line(payload["log"], "async")
    while not os.path.exists(payload["release"]):
        await asyncio.sleep(0.05)
    return "async released"


# ---------------------------------------------------------------- orchestrators
@app.orchestration_trigger(context_name="context")
def sequence(context: df.DurableOrchestrationContext) -> Step[dict[str, object]]:
    value = context.get_input()
    first = yield context.call_activity("double", value)
    second = yield context.call_activity("double", first)
    echoed = yield context.call_activity("echo", {"n": second})
    context.set_custom_status({"stage": "done"})
    return {"first": first, "second": second, "echoed": echoed, "id": context.new_uuid()}


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext) -> Step[list[int]]:
    spec = context.get_input()
    tasks = [
        context.call_activity("async_sleep", {"index": i, "seconds": spec["seconds"]})
        for i in range(spec["n"])
    ]
    results = yield context.task_all(tasks)
    return [r["index"] for r in results]


@app.orchestration_trigger(context_name="context")
def sync_fan_out(context: df.DurableOrchestrationContext) -> Step[list[int]]:
    results: list[int] = yield context.task_all([context.call_activity("double", i) for i in range(10)])
    return results


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext) -> Step[dict[str, object]]:
    spec = context.get_input()
    options = df.RetryOptions(
        first_retry_interval_in_milliseconds=spec["interval_ms"], max_number_of_attempts=3
    )
    before = context.current_utc_datetime
    try:
        result = yield context.call_activity_with_retry("flaky", options, spec)
    except Exception as error:  # noqa: BLE001 - the SDK raises a bare Exception for a failed task
        result = f"gave up: {error}"
    elapsed = (context.current_utc_datetime - before).total_seconds()
    return {"result": result, "elapsed": elapsed}


@app.activity_trigger(input_name="payload")
async def async_flaky(payload: Payload) -> dict[str, int]:
    """Async, fails its first ``payload['failures']`` calls: a fan-out with retries in flight."""
    attempt = _count(payload["key"])
    await asyncio.sleep(0.01 * (payload["index"] % 3))
    if attempt <= payload["failures"]:
        raise ConnectionError(f"transient failure {attempt}")
    return {"index": payload["index"], "attempts": attempt}


@app.orchestration_trigger(context_name="context")
def retry_fan_out(context: df.DurableOrchestrationContext) -> Step[dict[str, object]]:
    """Like the app's rollout stage: a task_all over call_activity_with_retry tasks, then a timer."""
    prefix = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=2000, max_number_of_attempts=4)
    tasks = [
        context.call_activity_with_retry(
            "async_flaky", options, {"key": f"{prefix}-{i}", "index": i, "failures": i % 4}
        )
        for i in range(30)
    ]
    results = yield context.task_all(tasks)
    yield context.create_timer(context.current_utc_datetime + timedelta(minutes=5))
    after = yield context.call_activity("double", len(results))
    return {"results": results, "after": after}


@app.orchestration_trigger(context_name="context")
def approval(context: df.DurableOrchestrationContext) -> Step[dict[str, object]]:
    hours = context.get_input()
    deadline = context.current_utc_datetime + timedelta(hours=hours)
    timeout = context.create_timer(deadline)
    event = context.wait_for_external_event("approve")
    winner = yield context.task_any([event, timeout])
    if winner == event:
        timeout.cancel()
        return {"approved": event.result}
    return {"approved": None, "timed_out_at": context.current_utc_datetime.isoformat()}


@app.orchestration_trigger(context_name="context")
def poller(context: df.DurableOrchestrationContext) -> Step[float]:
    """Polls every hour, 48 times: two days of durable timers."""
    start = context.current_utc_datetime
    for index in range(48):
        context.set_custom_status({"poll": index})
        yield context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    return (context.current_utc_datetime - start).total_seconds()


@app.orchestration_trigger(context_name="context")
def long_wait(context: df.DurableOrchestrationContext) -> Step[float]:
    """One 10-day durable timer: longer than Azure Storage's 6-day maximum, so the SDK splits it."""
    start = context.current_utc_datetime
    yield context.create_timer(start + timedelta(days=10))
    return (context.current_utc_datetime - start).total_seconds()


@app.orchestration_trigger(context_name="context")
def child_ok(context: df.DurableOrchestrationContext) -> Step[dict[str, object]]:
    value = yield context.call_activity("double", context.get_input())
    return {"child": value, "parent": context.parent_instance_id}


@app.orchestration_trigger(context_name="context")
def child_fails(context: df.DurableOrchestrationContext) -> Step[str]:
    yield context.call_activity("boom", "from child")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext) -> Step[dict[str, object]]:
    ok = yield context.call_sub_orchestrator("child_ok", 21)
    try:
        yield context.call_sub_orchestrator("child_fails", None, "fixed-child-id")
        failed = None
    except Exception as error:  # noqa: BLE001 - the SDK raises a bare Exception for a failed task
        failed = str(error)
    return {"ok": ok, "failed": failed}


@app.orchestration_trigger(context_name="context")
def child_flaky(context: df.DurableOrchestrationContext) -> Step[str]:
    result: str = yield context.call_activity("flaky", context.get_input())
    return result


@app.orchestration_trigger(context_name="context")
def parent_retry(context: df.DurableOrchestrationContext) -> Step[str]:
    spec = context.get_input()
    options = df.RetryOptions(
        first_retry_interval_in_milliseconds=1000, max_number_of_attempts=spec["attempts"]
    )
    try:
        result: str = yield context.call_sub_orchestrator_with_retry("child_flaky", options, spec)
    except Exception as error:  # noqa: BLE001 - the SDK raises a bare Exception for a failed task
        return f"gave up: {error}"
    return result


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext) -> Step[dict[str, int] | None]:
    state = context.get_input()
    value = yield context.call_activity("double", state["value"])
    if state["round"] + 1 >= state["rounds"]:
        return {"value": value, "round": state["round"]}
    context.continue_as_new({"value": value // 2 + 1, "round": state["round"] + 1, "rounds": state["rounds"]})
    return None


@app.orchestration_trigger(context_name="context")
def fails_directly(context: df.DurableOrchestrationContext) -> Step[str]:
    yield context.call_activity("boom", "direct")
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def calls_missing(context: df.DurableOrchestrationContext) -> Step[str]:
    yield context.call_activity("no_such_activity", 1)
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def waits_forever(context: df.DurableOrchestrationContext) -> Step[str]:
    yield context.wait_for_external_event("never")
    return "unreachable"


NONDETERMINISTIC = {"flip": False}


@app.orchestration_trigger(context_name="context")
def nondeterministic(context: df.DurableOrchestrationContext) -> Step[str]:
    """Reads process state instead of history: on replay it calls a different activity."""
    name = "echo" if NONDETERMINISTIC["flip"] else "double"
    NONDETERMINISTIC["flip"] = True
    yield context.call_activity(name, 1)
    yield context.call_activity("double", 2)
    return "unreachable"


@app.orchestration_trigger(context_name="context")
def steps(context: df.DurableOrchestrationContext) -> Step[list[str]]:
    """The crash test's orchestration: six recorded steps (one fan-out of two, one in a sub-orchestration)
    and a timer."""
    spec = context.get_input()
    results: list[str] = []
    for step in range(2):
        results.append((yield context.call_activity("record", {**spec, "step": step})))
    pair = yield context.task_all([context.call_activity("record", {**spec, "step": s}) for s in (2, 3)])
    results.extend(pair)
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=1))
    results.append((yield context.call_sub_orchestrator("record_child", {**spec, "step": 4})))
    results.append((yield context.call_activity("record", {**spec, "step": 5})))
    return results


@app.orchestration_trigger(context_name="context")
def hangs(context: df.DurableOrchestrationContext) -> Step[list[str]]:
    """Two activities (one ``def``, one ``async def``) that block until released."""
    spec = context.get_input()
    released: list[str] = yield context.task_all(
        [
            context.call_activity("block_until_released", spec),
            context.call_activity("async_block_until_released", spec),
        ]
    )
    return released


@app.orchestration_trigger(context_name="context")
def record_child(context: df.DurableOrchestrationContext) -> Step[str]:
    recorded: str = yield context.call_activity("record", context.get_input())
    return recorded


# ---------------------------------------------------------------- client functions
@app.route(route="runs", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_json()
    instance_id = await client.start_new(body["orchestrator"], body.get("id"), body.get("input"))
    return client.create_check_status_response(req, instance_id)


@app.route(route="runs/{run_id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def get_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    status = await client.get_status(req.route_params["run_id"])
    if not status:
        return func.HttpResponse("not found", status_code=404)
    assert status.runtime_status is not None, "an instance that exists has a runtime status"
    body = {"status": status.runtime_status.value, "output": status.output, "custom": status.custom_status}
    return func.HttpResponse(json.dumps(body), mimetype="application/json")


@app.route(route="echo", methods=["GET", "POST"], auth_level=func.AuthLevel.ANONYMOUS)
def plain_echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({"method": req.method, "params": dict(req.params), "body": req.get_body().decode()})
    )


@app.route(route="env/{name}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def environment_variable(req: func.HttpRequest) -> func.HttpResponse:
    """What the app sees of an app setting: how the settings file of ``devhost serve`` is tested."""
    return func.HttpResponse(json.dumps({"value": os.environ.get(req.route_params["name"])}))


SINGLETON_ID = "nightly-singleton"


@app.timer_trigger(schedule="0 0 3 * * *", arg_name="timer", run_on_startup=False)
@app.durable_client_input(client_name="client")
async def nightly(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
    existing = await client.get_status(SINGLETON_ID)
    if existing and existing.runtime_status in (
        df.OrchestrationRuntimeStatus.Running,
        df.OrchestrationRuntimeStatus.Pending,
    ):
        return
    await client.start_new("waits_forever", SINGLETON_ID, None)
