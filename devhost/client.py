"""``host.client``: the SDK's own ``DurableOrchestrationClient``, usable from any event loop.

The SDK sends its requests through one module-level aiohttp session, which is bound to the event loop
that created it. Tests call the client from many loops (each ``asyncio.run``, each pytest-asyncio test),
so devhost gives its client instance request functions with the same signature and result shape as the
SDK's ``http_utils`` ones that open a session per call. Everything else (URLs, payloads, status-code
handling, the returned ``DurableOrchestrationStatus``) is the SDK's code. Client functions of the app
keep the SDK's own session: they run on the shared worker loop.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import azure.durable_functions as df


async def _request(
    method: str, url: str, data: Any = None, headers: dict[str, str] | None = None
) -> list[Any]:
    timeout = aiohttp.ClientTimeout(total=240)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        kwargs: dict[str, Any] = {"headers": headers or {}}
        if method == "POST":
            kwargs["json"] = data
        async with session.request(method, url, **kwargs) as response:
            body = await response.json(content_type=None)
            return [response.status, body]


async def _post(
    url: str,
    data: Any = None,
    trace_parent: str | None = None,
    trace_state: str | None = None,
    function_invocation_id: str | None = None,
) -> list[Any]:
    headers = {}
    if trace_parent:
        headers["traceparent"] = trace_parent
    if trace_state:
        headers["tracestate"] = trace_state
    if function_invocation_id:
        headers["X-Azure-Functions-InvocationId"] = function_invocation_id
    return await _request("POST", url, data, headers)


async def _get(url: str, function_invocation_id: str | None = None) -> list[Any]:
    status, body = await _request("GET", url)
    return [status, "" if body is None else body]


async def _delete(url: str, function_invocation_id: str | None = None) -> list[Any]:
    return await _request("DELETE", url)


def make_client(binding: str) -> df.DurableOrchestrationClient:
    client = df.DurableOrchestrationClient(binding)
    client._post_async_request = _post
    client._get_async_request = _get
    client._delete_async_request = _delete
    return client
