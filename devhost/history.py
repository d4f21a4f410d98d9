"""History events in the wire shape the Durable extension hands to the Python SDK.

The SDK replays an orchestrator from a list of DTFx history events (``EventType``, ``EventId``,
``Timestamp``, ``IsPlayed`` plus event-specific fields). devhost keeps each instance's history in exactly
that shape so the JSON context it passes to the SDK is the one the real host would pass, and so the
on-disk store is human-readable.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

Event = dict[str, Any]


class EventType(IntEnum):
    """DTFx history event types (the subset the Python SDK understands)."""

    EXECUTION_STARTED = 0
    EXECUTION_COMPLETED = 1
    EXECUTION_FAILED = 2
    EXECUTION_TERMINATED = 3
    TASK_SCHEDULED = 4
    TASK_COMPLETED = 5
    TASK_FAILED = 6
    SUB_ORCHESTRATION_CREATED = 7
    SUB_ORCHESTRATION_COMPLETED = 8
    SUB_ORCHESTRATION_FAILED = 9
    TIMER_CREATED = 10
    TIMER_FIRED = 11
    ORCHESTRATOR_STARTED = 12
    ORCHESTRATOR_COMPLETED = 13
    EVENT_SENT = 14
    EVENT_RAISED = 15
    CONTINUE_AS_NEW = 16


#: Events that schedule work under an ``EventId`` (the SDK's task id).
SCHEDULING_EVENTS = frozenset(
    {EventType.TASK_SCHEDULED, EventType.TIMER_CREATED, EventType.SUB_ORCHESTRATION_CREATED}
)


def format_time(moment: datetime) -> str:
    """ISO-8601 UTC with microseconds and a ``Z``, as the extension serialises timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Inverse of :func:`format_time`; also accepts ``+00:00`` offsets and naive (UTC) values."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def make_event(kind: EventType, at: datetime, event_id: int = -1, **fields: Any) -> Event:
    """Build one history event; ``IsPlayed`` is filled in when the history is sent to the SDK."""
    return {"EventType": int(kind), "EventId": event_id, "Timestamp": format_time(at), **fields}


def completion_key(event: Event) -> int | None:
    """The task id an event completes (``TaskScheduledId`` / ``TimerId``), or None."""
    kind = event["EventType"]
    if kind in (
        EventType.TASK_COMPLETED,
        EventType.TASK_FAILED,
        EventType.SUB_ORCHESTRATION_COMPLETED,
        EventType.SUB_ORCHESTRATION_FAILED,
    ):
        return event.get("TaskScheduledId")
    if kind == EventType.TIMER_FIRED:
        return event.get("TimerId")
    return None


def open_work(history: list[Event], inbox: list[Event]) -> dict[int, Event]:
    """Scheduling events whose completion is in neither the history nor the inbox.

    After a restart this is exactly the work that was in flight at the crash and must be dispatched again.
    """
    scheduled = {e["EventId"]: e for e in history if e["EventType"] in SCHEDULING_EVENTS}
    for event in [*history, *inbox]:
        key = completion_key(event)
        if key is not None:
            scheduled.pop(key, None)
    return scheduled
