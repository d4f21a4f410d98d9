"""Chat completions, on both surfaces: ``/openai/deployments/{name}/chat/completions`` and
``/openai/v1/chat/completions`` (deployment name in ``model``).

The reply comes from the behaviour model; the deployment must exist and be ``Succeeded`` (and past any
injected not-found window), requests count against its capacity, and the answer arrives after
``--chat-latency`` seconds with seeded jitter, awaited with asyncio so concurrent calls overlap.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.behaviour import estimate_tokens, respond, unit
from emulator.deployments import serving_deployment
from emulator.errors import ApiError, retry_headers
from emulator.jsonbody import read_json
from emulator.ratelimit import RateLimiter, Verdict, deployment_limits, estimate_request_tokens
from emulator.records import DeploymentRecord
from emulator.store import Store

ROLES = {"system", "developer", "user", "assistant", "tool"}
SAFE = {name: {"filtered": False, "severity": "safe"} for name in ("hate", "self_harm", "sexual", "violence")}


def _validate(body: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
    if not isinstance(body, dict):
        raise ApiError(400, "invalidPayload", "The request body must be a JSON object.")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ApiError(400, "invalidPayload", "'messages' must be a non-empty array.", param="messages")
    for n, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ROLES:
            raise ApiError(
                400,
                "invalidPayload",
                f"messages[{n}].role must be one of {sorted(ROLES)}.",
                param=f"messages[{n}]",
            )
    tools = body.get("tools")
    if tools is not None and (
        not isinstance(tools, list)
        or any(
            not isinstance(t, dict)
            or not isinstance(t.get("function"), dict)
            or not isinstance(t["function"].get("name"), str)
            for t in tools
        )
    ):
        raise ApiError(
            400, "invalidPayload", "'tools' must be an array of function tools with names.", param="tools"
        )
    if body.get("stream"):
        raise ApiError(400, "invalidPayload", "Streaming is not supported by the emulator.", param="stream")
    if body.get("n", 1) != 1:
        raise ApiError(400, "invalidPayload", "The emulator supports n=1 only.", param="n")
    for key in ("max_tokens", "max_completion_tokens"):
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ApiError(400, "invalidPayload", f"'{key}' must be an integer >= 1.", param=key)
    return messages, tools


def _sample(body: dict[str, Any]) -> int | None:
    """The request's ``seed`` when the reply is sampled (``temperature`` unset, its default 1, or above
    0): "repeated requests with the same seed and parameters should return the same result", and other
    seeds other samples (docs: how-to/reproducible-output). At temperature 0 the reply is the one most
    likely, whatever the seed; a request without a seed gets the one draw its content always gets."""
    seed, temperature = body.get("seed"), body.get("temperature", 1)
    if isinstance(seed, bool) or not isinstance(seed, int) or temperature == 0:
        return None
    return seed


def _max_tokens(body: dict[str, Any]) -> int | None:
    """The completion budget a request asks for; ``max_completion_tokens`` is the newer name."""
    value = body.get("max_completion_tokens", body.get("max_tokens"))
    return value if isinstance(value, int) else None


def _rate_limited(request: Request, store: Store, record: DeploymentRecord, verdict: Verdict) -> Response:
    """Azure's 429: its message names the deployment, model, limit and wait; ``retry-after`` (whole
    seconds) and ``retry-after-ms`` carry the exact wait, which the openai SDK honours, beside the
    rate-limit headers every answer carries."""
    seconds = max(1, math.ceil(verdict.retry_after))
    kind = "token" if verdict.reason == "tokens" else "call"
    version = request.query_params.get("api-version", "v1")
    message = (
        f"Your requests to {record.name} for {record.model_name} in {store.config.location} have exceeded "
        f"the {kind} rate limit for your current AIServices S0 pricing tier. This request was for "
        f"ChatCompletions_Create under Azure OpenAI API version {version}. Please retry after {seconds} "
        f"second{'' if seconds == 1 else 's'}. To increase your default rate limit, visit: "
        "https://aka.ms/oai/quotaincrease."
    )
    headers = {**verdict.headers(), **retry_headers(verdict.retry_after)}
    return JSONResponse(
        {"error": {"code": "RateLimitReached", "message": message}}, status_code=429, headers=headers
    )


async def chat_completions(request: Request, store: Store, deployment: str | None) -> Response:
    """One chat completion. An injected 429 answers at once, as the other routes' faults do; an injected
    500/503 is Azure's backend failing, so it answers after the body, the deployment and the rate
    limiter have let the request through, counted in the request windows with no tokens (RS9)."""
    fault = store.faults.route_fault("chat", request.method)
    if fault is not None:
        store.save()
        if fault.status == 429:
            raise fault.data_plane_error()
    body = await read_json(request, None)
    messages, tools = _validate(body)
    name = deployment if deployment is not None else body.get("model")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "invalidPayload", "'model' (the deployment name) is required.", param="model")
    record = serving_deployment(store, name, store.now())

    model = store.data.models[record.model_id]
    seed = store.config.seed
    prompt_tokens = estimate_tokens(json.dumps(messages) + json.dumps(tools or []))
    limit_headers: dict[str, str] = {}
    limits = deployment_limits(store, record)
    if limits is not None:
        limiter: RateLimiter = request.app.state.limiter
        charge = estimate_request_tokens(messages, tools, _max_tokens(body))
        verdict = limiter.take(name, time.monotonic(), charge, limits, fails=fault is not None)
        if not verdict.allowed:
            return _rate_limited(request, store, record, verdict)
        limit_headers = verdict.headers()
    if fault is not None:
        raise fault.data_plane_error()

    tool_choice = body.get("tool_choice", "auto")
    sample = _sample(body)
    reply = respond(
        seed=seed,
        model=model.id,
        skill=model.skill,
        skills=model.skills,
        knowledge=store.config.knowledge,
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
        behaviours=store.config.behaviours,
        sample=sample,
    )
    keyed: dict[str, Any] = (
        {"m": messages, "t": tools} if sample is None else {"m": messages, "t": tools, "s": sample}
    )
    content_key = json.dumps(keyed, sort_keys=True, default=str)
    digest = hashlib.sha256(f"{seed}{model.id}{content_key}".encode()).hexdigest()
    message: dict[str, Any] = {
        "role": "assistant",
        "content": reply.content,
        "refusal": None,
        "annotations": [],
    }
    if reply.is_tool_call:
        arguments = json.dumps(reply.arguments)
        message["tool_calls"] = [
            {
                "id": f"call_{digest[:24]}",
                "type": "function",
                "function": {"name": reply.tool_name, "arguments": arguments},
            }
        ]
        completion_tokens = estimate_tokens(arguments) + 8
    else:
        completion_tokens = estimate_tokens(reply.content or "")

    latency = store.config.chat_latency
    if latency > 0:
        await asyncio.sleep(latency * (0.5 + unit(seed, model.id, content_key, "latency")))

    response = {
        "id": f"chatcmpl-{digest[24:53]}",
        "object": "chat.completion",
        "created": int(store.now()),
        "model": model.id,
        "system_fingerprint": "fp_emulator",
        "prompt_filter_results": [{"prompt_index": 0, "content_filter_results": SAFE}],
        "choices": [
            {
                "index": 0,
                "finish_reason": "tool_calls" if reply.is_tool_call else "stop",
                "logprobs": None,
                "message": message,
                "content_filter_results": {} if reply.is_tool_call else SAFE,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
    }
    return JSONResponse(response, headers={**limit_headers, "x-request-id": digest[:32]})
