"""Invoking HTTP- and timer-triggered functions as the Python worker does.

The worker passes a real ``azure.functions.HttpRequest`` (or ``TimerRequest``) under the trigger's
parameter name and, for ``durable_client_input``, the binding JSON string under the client's name; the
SDK's middleware turns that string into a ``DurableOrchestrationClient``. Async functions run on the
shared worker loop, sync ones on a thread, like in the worker.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import azure.functions as func
from azure.functions.timer import TimerRequest

from . import worker
from .registry import ClientFunction

log = logging.getLogger("devhost")


class InvocationContext:
    """The bits of ``azure.functions.Context`` an app may read."""

    def __init__(self, function_name: str) -> None:
        self.invocation_id = str(uuid.uuid4())
        self.function_name = function_name
        self.function_directory = ""
        self.trace_context = None
        self.retry_context = None


async def _call(function: ClientFunction, trigger_value: Any, binding: str) -> Any:
    kwargs: dict[str, Any] = {function.trigger_param: trigger_value}
    for name in function.client_params:
        kwargs[name] = binding
    try:
        parameters: Mapping[str, inspect.Parameter] = inspect.signature(function.function).parameters
    except (TypeError, ValueError):
        parameters = {}
    if "context" in parameters:
        kwargs["context"] = InvocationContext(function.name)
    if inspect.iscoroutinefunction(function.function):
        return await function.function(**kwargs)
    return await worker.call_blocking(lambda: function.function(**kwargs))


async def invoke_http(
    function: ClientFunction,
    binding: str,
    method: str,
    url: str,
    headers: Mapping[str, str],
    params: Mapping[str, str],
    route_params: Mapping[str, str],
    body: bytes,
) -> func.HttpResponse:
    """Call an HTTP trigger. An exception the function lets out becomes a 500 with an empty body, its
    traceback logged, as the Functions host answers it (the caller gets an empty 500, the exception
    goes to the invocation's log: Azure/azure-functions-host#2706); a client of devhost sees no more
    of the server than a client of Azure does."""
    request = func.HttpRequest(
        method.upper(),
        url,
        headers=dict(headers),
        params=dict(params),
        route_params=dict(route_params),
        body=body,
    )
    try:
        result = await _call(function, request, binding)
    except Exception:
        log.exception("devhost: HTTP function %s failed", function.name)
        return func.HttpResponse(status_code=500)
    if isinstance(result, func.HttpResponse):
        return result
    if result is None:
        return func.HttpResponse(status_code=204)
    return func.HttpResponse(result if isinstance(result, str | bytes) else str(result))


async def invoke_timer(function: ClientFunction, binding: str) -> Any:
    """Call a timer trigger once, with a timer that is not past due."""
    timer = TimerRequest(past_due=False, schedule={"AdjustForDST": True}, schedule_status={})
    return await _call(function, timer, binding)
