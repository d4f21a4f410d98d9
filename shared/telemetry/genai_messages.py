"""Chat messages in two shapes: OpenAI chat format (what the API and fine-tuning files use) and the
OpenTelemetry GenAI semantic conventions' structured format (``role`` + typed ``parts``) that traces
store, so traces from any OTel-instrumented agent read the same way.

Part types used: ``text`` {content}, ``tool_call`` {id, name, arguments}, ``tool_call_response``
{id, response}.
"""

from __future__ import annotations

import json
from typing import Any


def _arguments(raw: Any) -> Any:
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def chat_to_otel(message: dict[str, Any]) -> dict[str, Any]:
    role = message["role"]
    parts: list[dict[str, Any]] = []
    if role == "tool":
        parts.append(
            {
                "type": "tool_call_response",
                "id": message.get("tool_call_id"),
                "response": message.get("content"),
            }
        )
    else:
        if message.get("content"):
            parts.append({"type": "text", "content": message["content"]})
        for call in message.get("tool_calls") or []:
            function = call.get("function", {})
            parts.append(
                {
                    "type": "tool_call",
                    "id": call.get("id"),
                    "name": function.get("name"),
                    "arguments": _arguments(function.get("arguments")),
                }
            )
    return {"role": role, "parts": parts}


def otel_to_chat(message: dict[str, Any]) -> dict[str, Any]:
    """The chat-format message; ``content: null`` is left out, as Azure fine-tuning requires."""
    role = message["role"]
    parts = message.get("parts") or []
    if role == "tool":
        response: dict[str, Any] = next(
            (part for part in parts if part.get("type") == "tool_call_response"), {}
        )
        content = response.get("response")
        return {
            "role": "tool",
            "tool_call_id": response.get("id"),
            "content": content if isinstance(content, str) else json.dumps(content),
        }
    chat: dict[str, Any] = {"role": role}
    text = "".join(part.get("content") or "" for part in parts if part.get("type") == "text")
    if text:
        chat["content"] = text
    calls = [
        {
            "id": part.get("id"),
            "type": "function",
            "function": {
                "name": part.get("name"),
                "arguments": part["arguments"]
                if isinstance(part.get("arguments"), str)
                else json.dumps(part.get("arguments")),
            },
        }
        for part in parts
        if part.get("type") == "tool_call"
    ]
    if calls:
        chat["tool_calls"] = calls
    return chat
