"""Calling the emulator's ASGI app in-process: no sockets, no TLS, a request in well under a millisecond.

For tests that send many requests (the fuzz test) and need each answer as raw status, headers and bytes,
including requests no SDK would send. Everything else goes through the real server and the real SDKs.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.types import Message


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


async def _call(
    app: Starlette, method: str, path: str, query: bytes, headers: list[tuple[str, str]], body: bytes
) -> Answer:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode("utf-8", "surrogateescape"),
        "query_string": query,
        "root_path": "",
        "headers": [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 443),
    }
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # a client that stays connected
        return {"type": "http.disconnect"}

    status, answer_headers, chunks = 0, {}, []

    async def send(message: Message) -> None:
        nonlocal status, answer_headers
        if message["type"] == "http.response.start":
            status = message["status"]
            answer_headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return Answer(status, answer_headers, b"".join(chunks))


def call(
    app: Starlette,
    method: str,
    path: str,
    *,
    query: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> Answer:
    """One request to ``app``; the answer once the app has sent it completely."""
    return asyncio.run(_call(app, method, path, query, headers or [], body))


def call_json(app: Starlette, method: str, path: str, payload: Any = None, **kwargs: Any) -> Answer:
    headers = [("content-type", "application/json"), ("api-key", "k"), ("authorization", "Bearer t")]
    body = b"" if payload is None else json.dumps(payload).encode()
    return call(app, method, path, headers=headers, body=body, **kwargs)
