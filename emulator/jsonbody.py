"""Reading request bodies safely: a size cap, and JSON that is finite, shallow and plain.

Python's ``json`` accepts ``NaN``/``Infinity``, turns ``1e999`` into ``inf`` and recurses once per nesting
level (so ~1,000 levels raise ``RecursionError``). Azure's services are .NET: System.Text.Json and Json.NET
reject non-finite numbers and stop at a maximum depth of 64 (their documented default ``MaxDepth``). This
module applies the same rules, so no handler ever sees a value that could poison later arithmetic, the
state file or a response, and every refusal is a clear 4xx instead of a traceback.

Duplicate keys: the data plane and ARM keep the last value, as Json.NET (``DuplicatePropertyNameHandling
.Replace``, its default) and System.Text.Json's object deserialization do; what Azure does with them is
not documented. The admin API, which Azure does not have, refuses them (``unique_keys``): a test that
sends ``{"count": 1, "count": 5}`` is told, rather than given a fault it did not mean.
"""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request

MAX_DEPTH = 64
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_JSON_BODY = 32 * 1024 * 1024


class BodyError(ValueError):
    """The body cannot be accepted; ``status`` is 400 (bad JSON) or 413 (too large)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def _no_constant(name: str) -> Any:
    raise BodyError(400, f"'{name}' is not a valid JSON value; numbers must be finite.")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BodyError(400, f"The number {text[:40]} is out of range; numbers must be finite.")
    return value


def _int64(text: str) -> int:
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise BodyError(400, f"The integer {text[:40]}... is out of the 64-bit range.")
    return value


def _depth(value: Any) -> int:
    """Nesting depth of arrays/objects, walked without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def _unique_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise BodyError(400, f"The JSON object has duplicate keys {duplicates}; give each key once.")
    return dict(pairs)


def parse_json(raw: bytes, *, unique_keys: bool = False) -> Any:
    """``raw`` as JSON, or BodyError(400) naming why it is refused; ``unique_keys`` refuses an object
    that repeats a key (else the last value wins)."""
    try:
        value = json.loads(
            raw,
            parse_constant=_no_constant,
            parse_float=_finite_float,
            parse_int=_int64,
            object_pairs_hook=_unique_object if unique_keys else None,
        )
    except BodyError:
        raise
    except RecursionError:
        raise BodyError(400, f"The JSON is nested deeper than the maximum depth of {MAX_DEPTH}.") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, int digit limits
        raise BodyError(400, f"The request body is not valid JSON: {str(exc)[:200]}") from None
    if _depth(value) > MAX_DEPTH:
        raise BodyError(400, f"The JSON is nested deeper than the maximum depth of {MAX_DEPTH}.")
    return value


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with BodyError(413) as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyError(413, f"The request body is larger than the maximum of {limit} bytes.")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(413, f"The request body is larger than the maximum of {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, empty: Any, *, unique_keys: bool = False) -> Any:
    """The body parsed by ``parse_json``; an empty body gives ``empty``."""
    raw = await read_body(request, MAX_JSON_BODY)
    return empty if not raw.strip() else parse_json(raw, unique_keys=unique_keys)
