"""Cursor pagination as the OpenAI list endpoints do it: ``after`` an id, ``limit`` items, ``has_more``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from emulator.errors import ApiError

T = TypeVar("T")


def parse_limit(raw: str | None, default: int, maximum: int) -> int:
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(
            400, "invalidPayload", f"'limit' must be an integer, got {raw!r}.", param="limit"
        ) from None
    if not 1 <= limit <= maximum:
        raise ApiError(400, "invalidPayload", f"'limit' must be between 1 and {maximum}.", param="limit")
    return limit


def page(
    items: Sequence[T], key: Callable[[T], str], after: str | None, limit: int, render: Callable[[T], Any]
) -> dict[str, Any]:
    """The list envelope for the ``limit`` items following the item whose id is ``after``."""
    start = 0
    if after:
        ids = [key(item) for item in items]
        if after not in ids:
            raise ApiError(
                400, "invalidPayload", f"'after' refers to an unknown id {after!r}.", param="after"
            )
        start = ids.index(after) + 1
    chosen = list(items[start : start + limit])
    data = [render(item) for item in chosen]
    return {
        "object": "list",
        "data": data,
        "has_more": start + limit < len(items),
        "first_id": key(chosen[0]) if chosen else None,
        "last_id": key(chosen[-1]) if chosen else None,
    }
