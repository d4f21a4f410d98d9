"""Per-deployment requests-per-minute and tokens-per-minute limits, as Azure derives them from capacity.

A sliding 60 s window of real time (never scaled: rate limits are about real throughput). Kept in memory
only; a restart starts every window afresh.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

WINDOW = 60.0


@dataclass
class Verdict:
    allowed: bool
    remaining_requests: int
    remaining_tokens: int
    limit_requests: int
    limit_tokens: int
    retry_after: float = 0.0


@dataclass
class RateLimiter:
    _windows: dict[str, deque[tuple[float, int]]] = field(default_factory=dict)

    def take(self, key: str, now: float, tokens: int, rpm: int, tpm: int) -> Verdict:
        window = self._windows.setdefault(key, deque())
        while window and window[0][0] <= now - WINDOW:
            window.popleft()
        used_tokens = sum(t for _, t in window)
        if len(window) + 1 > rpm or used_tokens + tokens > tpm:
            retry = (window[0][0] + WINDOW - now) if window else WINDOW
            return Verdict(
                False, max(0, rpm - len(window)), max(0, tpm - used_tokens), rpm, tpm, max(retry, 0.001)
            )
        window.append((now, tokens))
        return Verdict(True, rpm - len(window), tpm - used_tokens - tokens, rpm, tpm)

    def clear(self) -> None:
        self._windows.clear()
