"""Clocks: real time for local runs, virtual time for tests.

The virtual clock follows wall time but can jump forward: when the host has nothing else to do (no
orchestrator episode pending, no activity running) it advances straight to the next durable timer. So a
polling loop that waits hours in production runs in milliseconds in a test, while an activity that is
really running is never overtaken by a timer racing it in a ``task_any``.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    """Real time; timers fire when the wall clock reaches them."""

    virtual = False
    idle_seconds = 0.0

    def now(self) -> datetime:
        return datetime.now(UTC)

    def advance_to(self, moment: datetime) -> None:
        """Only a virtual clock can move time; a real one must wait."""
        raise RuntimeError("the real clock cannot be advanced")


class VirtualClock(Clock):
    """Wall time plus an offset that grows whenever the host skips ahead to a timer.

    ``idle_seconds``: how long (real time) the host must have been idle before it skips. 0 makes timers
    instant; a fraction of a second keeps a polling loop against a real-time service (an emulator whose
    jobs progress in wall time) from spinning through thousands of polls.
    """

    virtual = True

    def __init__(self, idle_seconds: float = 0.0) -> None:
        self.idle_seconds = idle_seconds
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return datetime.now(UTC) + self._offset

    def advance_to(self, moment: datetime) -> None:
        with self._lock:
            gap = moment - (datetime.now(UTC) + self._offset)
            if gap > timedelta(0):
                self._offset += gap


def make_clock(kind: str, idle_seconds: float = 0.0) -> Clock:
    """``"real"`` or ``"virtual"``, the values DevHost and the CLI accept."""
    if kind == "real":
        return Clock()
    if kind == "virtual":
        return VirtualClock(idle_seconds)
    raise ValueError(f"clock must be 'real' or 'virtual', not {kind!r}")
