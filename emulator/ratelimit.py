"""Per-deployment request and token rate limits, enforced the way Azure OpenAI enforces them.

Rules (sources in docs/rate-limits.md and emulator/README.md "Rate limits"):
- A deployment's capacity sets its limits: ``capacity * RPM per unit`` requests and ``capacity * 1000``
  tokens per minute, the RPM ratio depending on the model family (fine-tuned models inherit their base's).
- Requests are checked over a short sliding window (``--rate-window``, 10 s): at most the window's share
  of the RPM, ``ceil(rpm * window / 60)``, so a burst above it gets 429s even when the minute is not
  used up; the per-minute total holds as well.
- Each request books its estimated tokens when it arrives (prompt estimate plus ``max_tokens``, or 640
  when unset) against a sliding 60 s window; a request that does not fit is refused, not partly booked.
- Refused requests book nothing.

Windows use real time (rate limits are about real throughput) and live in memory: a restart or
``/_emulator/reset`` empties them.

This module duplicates the small family table and estimate of ``shared/domain/rate_limits.py`` on purpose:
the emulator stands in for Azure and may not import the app; tests/shared/test_rate_limits.py checks
the two agree.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.records import DeploymentRecord
    from emulator.store import Store

TOKEN_WINDOW = 60.0
DEFAULT_REQUEST_WINDOW = 10.0
DEFAULT_COMPLETION_RESERVATION = 640
CAPACITY_UNIT_TPM = 1000
# RPM per capacity unit by model family (docs/rate-limits.md). Families not listed get the "older chat
# models" ratio of how-to/quota.md, 6 RPM per 1,000 TPM.
RPM_PER_UNIT = {
    "gpt-4.1": 1,
    "gpt-4.1-mini": 1,
    "gpt-4.1-nano": 1,
    "gpt-4o": 6,
    "gpt-4o-mini": 10,
    "o4-mini": 1,
}
OLDER_CHAT_MODELS_RPM_PER_UNIT = 6
TOKEN_LIMITED_SKUS = frozenset({"Standard", "GlobalStandard", "DataZoneStandard", "DeveloperTier"})


@dataclass(frozen=True)
class Limits:
    """What one deployment may use: requests and tokens per minute, and the request window."""

    rpm: int
    tpm: int
    window: float

    @property
    def requests_per_window(self) -> int:
        return max(1, math.ceil(self.rpm * self.window / 60.0))


def model_family(model_name: str) -> str:
    """``gpt-4.1-mini-2025-04-14.ft-abc-v01`` -> ``gpt-4.1-mini``: drop the fine-tune part and the date."""
    base = model_name.split(".ft-", 1)[0]
    parts = base.split("-")
    if len(parts) > 3 and all(p.isdigit() for p in parts[-3:]):
        base = "-".join(parts[:-3])
    return base


def limits_for(
    model_name: str, sku_name: str, capacity: int, *, window: float, scale: float
) -> Limits | None:
    """The limits of a deployment, times ``scale`` (for fast tests); None for provisioned and batch SKUs,
    whose throughput Azure governs by utilisation rather than per-unit quota (not emulated)."""
    if sku_name not in TOKEN_LIMITED_SKUS:
        return None
    rpm = capacity * RPM_PER_UNIT.get(model_family(model_name), OLDER_CHAT_MODELS_RPM_PER_UNIT)
    tpm = capacity * CAPACITY_UNIT_TPM
    return Limits(max(1, round(rpm * scale)), max(1, round(tpm * scale)), window)


def deployment_limits(store: Store, deployment: DeploymentRecord) -> Limits | None:
    """The limits enforced on ``deployment`` now: its capacity's, at the live scale (an admin fault
    ``rate_limit_scale`` overrides ``--rate-limit-scale`` until faults are cleared)."""
    config = store.config
    scale = store.faults.config.rate_limit_scale or config.rate_limit_scale
    return limits_for(
        deployment.model_name,
        deployment.sku_name,
        deployment.capacity,
        window=config.rate_window,
        scale=scale,
    )


def _message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    parts = [content] if isinstance(content, str) else []
    if isinstance(content, list):
        parts += [str(p["text"]) for p in content if isinstance(p, dict) and "text" in p]
    calls = message.get("tool_calls")
    for call in calls if isinstance(calls, list) else []:
        function = call.get("function") if isinstance(call, dict) else None
        if isinstance(function, dict):
            parts.append(str(function.get("name", "")) + str(function.get("arguments", "")))
    return "".join(parts)


def estimate_request_tokens(
    messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None, max_tokens: int | None
) -> int:
    """Azure's token charge for a chat request: ``len(text) // 4 + 1`` per message and per tool definition,
    plus ``max_tokens`` (DEFAULT_COMPLETION_RESERVATION when unset)."""
    prompt = sum(len(_message_text(m)) // 4 + 1 for m in messages)
    prompt += sum(len(json.dumps(t, separators=(",", ":"))) // 4 + 1 for t in tools or [])
    return prompt + (DEFAULT_COMPLETION_RESERVATION if max_tokens is None else max_tokens)


@dataclass(frozen=True)
class Verdict:
    """The limiter's answer for one request, with what the x-ratelimit headers report."""

    allowed: bool
    reason: str  # "requests" or "tokens" when refused
    remaining_requests: int
    remaining_tokens: int
    limits: Limits
    retry_after: float = 0.0

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": str(self.limits.requests_per_window),
            "x-ratelimit-limit-tokens": str(self.limits.tpm),
            "x-ratelimit-remaining-requests": str(self.remaining_requests),
            "x-ratelimit-remaining-tokens": str(self.remaining_tokens),
        }


@dataclass
class _Window:
    """Requests admitted in the last TOKEN_WINDOW seconds: (arrival time, tokens booked), oldest first."""

    entries: deque[tuple[float, int]] = field(default_factory=deque)

    def prune(self, now: float) -> None:
        while self.entries and self.entries[0][0] <= now - TOKEN_WINDOW:
            self.entries.popleft()

    def request_wait(self, now: float, limits: Limits) -> float:
        """Seconds until one more request fits both the short window and the minute (0: it fits now)."""
        recent = [t for t, _ in self.entries if t > now - limits.window]
        waits = [0.0]
        if len(recent) >= limits.requests_per_window:
            waits.append(recent[len(recent) - limits.requests_per_window] + limits.window - now)
        if len(self.entries) >= limits.rpm:
            waits.append(self.entries[len(self.entries) - limits.rpm][0] + TOKEN_WINDOW - now)
        return max(waits)

    def token_wait(self, now: float, tokens: int, limits: Limits) -> float:
        """Seconds until ``tokens`` more fit the minute; a request larger than the TPM waits a full minute
        and still never fits, as on Azure."""
        excess = sum(t for _, t in self.entries) + tokens - limits.tpm
        if excess <= 0:
            return 0.0
        for arrived, booked in self.entries:
            excess -= booked
            if excess <= 0:
                return arrived + TOKEN_WINDOW - now
        return TOKEN_WINDOW

    def remaining(self, now: float, limits: Limits) -> tuple[int, int]:
        recent = sum(1 for t, _ in self.entries if t > now - limits.window)
        requests = min(limits.requests_per_window - recent, limits.rpm - len(self.entries))
        return max(0, requests), max(0, limits.tpm - sum(t for _, t in self.entries))


@dataclass
class RateLimiter:
    """One window per deployment name."""

    _windows: dict[str, _Window] = field(default_factory=dict)

    def take(self, key: str, now: float, tokens: int, limits: Limits) -> Verdict:
        """Admit and book the request, or refuse it with the seconds until it would fit."""
        window = self._windows.setdefault(key, _Window())
        window.prune(now)
        request_wait = window.request_wait(now, limits)
        token_wait = window.token_wait(now, tokens, limits)
        if request_wait > 0 or token_wait > 0:
            remaining_requests, remaining_tokens = window.remaining(now, limits)
            reason = "requests" if request_wait >= token_wait else "tokens"
            wait = max(request_wait, token_wait, 0.001)
            return Verdict(False, reason, remaining_requests, remaining_tokens, limits, wait)
        window.entries.append((now, tokens))
        remaining_requests, remaining_tokens = window.remaining(now, limits)
        return Verdict(True, "", remaining_requests, remaining_tokens, limits)

    def clear(self) -> None:
        self._windows.clear()


def arm_rate_limits(limits: Limits | None) -> list[dict[str, Any]]:
    """``properties.rateLimits`` of an ARM deployment: the request share per window, tokens per minute
    (the shape Azure's deployment GET shows, e.g. renewalPeriod 10 for requests)."""
    if limits is None:
        return []
    period = int(limits.window) if float(limits.window).is_integer() else limits.window
    return [
        {"key": "request", "renewalPeriod": period, "count": limits.requests_per_window},
        {"key": "token", "renewalPeriod": int(TOKEN_WINDOW), "count": limits.tpm},
    ]
