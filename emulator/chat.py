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
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.behaviour import estimate_tokens, respond, unit
from emulator.catalog import RPM_PER_UNIT, TPM_PER_UNIT
from emulator.deployments import serving_deployment
from emulator.errors import ApiError, retry_headers
from emulator.jsonbody import read_json
from emulator.ratelimit import RateLimiter
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
    return messages, tools


async def chat_completions(request: Request, store: Store, deployment: str | None) -> Response:
    body = await read_json(request, None)
    messages, tools = _validate(body)
    name = deployment if deployment is not None else body.get("model")
    if not isinstance(name, str) or not name:
        raise ApiError(400, "invalidPayload", "'model' (the deployment name) is required.", param="model")
    record = serving_deployment(store, name, store.now())

    model = store.data.models[record.model_id]
    seed = store.config.seed
    prompt_tokens = estimate_tokens(json.dumps(messages) + json.dumps(tools or []))
    limiter: RateLimiter = request.app.state.limiter
    verdict = limiter.take(
        name, time.monotonic(), prompt_tokens, record.capacity * RPM_PER_UNIT, record.capacity * TPM_PER_UNIT
    )
    limit_headers = {
        "x-ratelimit-limit-requests": str(verdict.limit_requests),
        "x-ratelimit-limit-tokens": str(verdict.limit_tokens),
        "x-ratelimit-remaining-requests": str(verdict.remaining_requests),
        "x-ratelimit-remaining-tokens": str(verdict.remaining_tokens),
    }
    if not verdict.allowed:
        raise ApiError(
            429,
            "429",
            "Requests to the ChatCompletions_Create Operation have exceeded the rate limit of your current "
            f"deployment '{name}'. Please retry after {max(1, round(verdict.retry_after))} seconds.",
            headers={**limit_headers, **retry_headers(verdict.retry_after)},
        )

    tool_choice = body.get("tool_choice", "auto")
    reply = respond(
        seed=seed,
        model=model.id,
        skill=model.skill,
        knowledge=store.config.knowledge,
        messages=messages,
        tools=tools,
        tool_choice=tool_choice,
    )
    content_key = json.dumps({"m": messages, "t": tools}, sort_keys=True, default=str)
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
