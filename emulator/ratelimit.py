"""Per-deployment request and token rate limits, enforced the way Azure OpenAI enforces them.

Rules (sources in docs/rate-limits.md and emulator/README.md "Rate limits"):
- A deployment's capacity sets its limits: ``capacity * RPM per unit`` requests and ``capacity * 1000``
  tokens per minute, the RPM ratio depending on the model family (fine-tuned models inherit their base's).
- Requests are checked over a short sliding window (``--rate-window``, 10 s): at most the window's share
  of the RPM, ``ceil(rpm * window / 60)``, so a burst above it gets 429s even when the minute is not
  used up; the per-minute total holds as well.
- Each request books its estimated tokens when it arrives (prompt estimate plus ``max_tokens``, or 640
  when unset) against a sliding 60 s window; a request that does not fit is refused, not partly booked.
- A refused request still counts as a request in both request windows ("unsuccessful requests still
  count toward your per-minute rate limit", quota-2.md 2026-05), but books no tokens.
- So does an admitted request that then fails (an injected 500/503): it took its place at the front door,
  and fails after it, so it counts in both request windows and books no tokens (RS9).
- Azure may lower a deployment's limits for a while: a *lowering* multiplies the limits enforced on chat
  calls (and reported in their headers) by a factor between two instants; ARM keeps showing the
  configured limits, as on Azure.
- Another consumer of the same deployment (another app, production traffic) is a *background load*: it
  sends a share of the deployment's current limits, evenly spaced, and always gets it (it paces itself
  and is served first); its requests count in the same windows, so everyone else meets what is left.

Windows use real time (rate limits are about real throughput) and live in memory, with the lowerings,
the background loads and the usage counters: a restart or ``/_emulator/reset`` empties them (and applies
the ``--lower-limits`` and ``--background-load`` flags again, timed from that moment).

This module duplicates the small family table and estimate of ``shared/domain/rate_limits.py`` on purpose:
the emulator stands in for Azure and may not import the app; tests/shared/test_rate_limits.py checks
the two agree.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from emulator.records import DeploymentRecord
    from emulator.store import Store

TOKEN_WINDOW = 60.0
DEFAULT_REQUEST_WINDOW = 10.0
DEFAULT_COMPLETION_RESERVATION = 640
CAPACITY_UNIT_TPM = 1000
MAX_PRESSURE_SECONDS = 7 * 86400.0
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

    def lowered(self, factor: float) -> Limits:
        """These limits times ``factor`` (at least one request and one token remain)."""
        if factor >= 1:
            return self
        return Limits(max(1, round(self.rpm * factor)), max(1, round(self.tpm * factor)), self.window)


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
    """The limits configured for ``deployment``: its capacity's, at the live scale (an admin fault
    ``rate_limit_scale`` overrides ``--rate-limit-scale`` until faults are cleared). A lowering is
    applied on top of these by the limiter, for chat calls only."""
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


def _whole_seconds(seconds: float) -> str:
    """A header's seconds: whole, rounded up, never negative (Azure sends integers, e.g. ``55``)."""
    return str(max(0, math.ceil(seconds - 1e-9)))


@dataclass(frozen=True)
class Verdict:
    """The limiter's answer for one request, with what the x-ratelimit headers report."""

    allowed: bool
    reason: str  # "requests" or "tokens" when refused
    remaining_requests: int
    remaining_tokens: int
    limits: Limits
    reset_requests: float
    reset_tokens: float
    retry_after: float = 0.0

    def headers(self) -> dict[str, str]:
        """The rate-limit headers of quota-2.md (2026-05), sent on every chat answer: the limits per
        minute (lowered while a lowering is active), what is left (requests: in the short window, as
        observed), and the seconds until each count is back at its full limit."""
        return {
            "x-ratelimit-limit-requests": str(self.limits.rpm),
            "x-ratelimit-limit-tokens": str(self.limits.tpm),
            "x-ratelimit-remaining-requests": str(self.remaining_requests),
            "x-ratelimit-remaining-tokens": str(self.remaining_tokens),
            "x-ratelimit-reset-requests": _whole_seconds(self.reset_requests),
            "x-ratelimit-reset-tokens": _whole_seconds(self.reset_tokens),
        }


@dataclass
class _Window:
    """Requests counted in the last TOKEN_WINDOW seconds, oldest first: arrival times and the tokens
    each booked (0 for a refused request). ``head`` skips the entries already out of the minute."""

    times: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    head: int = 0
    booked: int = 0
    last_booking: float | None = None

    def prune(self, now: float) -> None:
        cut = bisect.bisect_right(self.times, now - TOKEN_WINDOW, lo=self.head)
        self.booked -= sum(self.tokens[self.head : cut])
        self.head = cut
        if self.head > 1024 and self.head * 2 > len(self.times):
            del self.times[: self.head], self.tokens[: self.head]
            self.head = 0

    def add(self, now: float, tokens: int) -> None:
        self.times.append(now)
        self.tokens.append(tokens)
        self.booked += tokens
        if tokens > 0:
            self.last_booking = now

    def _recent(self, now: float, limits: Limits) -> int:
        """Index of the first request inside the short window."""
        return bisect.bisect_right(self.times, now - limits.window, lo=self.head)

    def request_wait(self, now: float, limits: Limits) -> float:
        """Seconds until one more request fits both the short window and the minute (0: it fits now)."""
        end = len(self.times)
        waits = [0.0]
        if end - self._recent(now, limits) >= limits.requests_per_window:
            waits.append(self.times[end - limits.requests_per_window] + limits.window - now)
        if end - self.head >= limits.rpm:
            waits.append(self.times[end - limits.rpm] + TOKEN_WINDOW - now)
        return max(waits)

    def token_wait(self, now: float, tokens: int, limits: Limits) -> float:
        """Seconds until ``tokens`` more fit the minute; a request larger than the TPM waits a full minute
        and still never fits, as on Azure."""
        excess = self.booked + tokens - limits.tpm
        if excess <= 0:
            return 0.0
        for index in range(self.head, len(self.times)):
            excess -= self.tokens[index]
            if excess <= 0:
                return self.times[index] + TOKEN_WINDOW - now
        return TOKEN_WINDOW

    def remaining(self, now: float, limits: Limits) -> tuple[int, int]:
        recent = len(self.times) - self._recent(now, limits)
        requests = min(limits.requests_per_window - recent, limits.rpm - (len(self.times) - self.head))
        return max(0, requests), max(0, limits.tpm - self.booked)

    def resets(self, now: float, limits: Limits) -> tuple[float, float]:
        """Seconds until the request counts, and the token count, are back at their full limits: the
        newest request leaves the short window (and the minute no longer binds), the newest booking
        leaves the minute."""
        end = len(self.times)
        requests = 0.0
        if end > self.head:
            requests = self.times[-1] + limits.window - now
            spare = limits.rpm - limits.requests_per_window  # >= 0: the window is at most a minute
            if end - self.head > spare:
                requests = max(requests, self.times[end - spare - 1] + TOKEN_WINDOW - now)
        tokens = 0.0 if self.last_booking is None else self.last_booking + TOKEN_WINDOW - now
        return max(0.0, requests), max(0.0, tokens)


class LimitLowering(BaseModel):
    """Azure lowering a deployment's limits for a while (``--lower-limits``, ``POST
    /_emulator/ratelimit/lower``): from ``after`` seconds on, for ``seconds``, the limits are
    ``factor`` times the configured ones."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    deployment: str = Field(min_length=1, max_length=256)
    factor: float = Field(gt=0, le=1, description="share of the configured limits left, e.g. 0.5")
    seconds: float = Field(gt=0, le=MAX_PRESSURE_SECONDS)
    after: float = Field(default=0.0, ge=0, le=MAX_PRESSURE_SECONDS)


class BackgroundLoad(BaseModel):
    """A second consumer of a deployment (``--background-load``, ``POST /_emulator/ratelimit/load``):
    from ``after`` seconds on, for ``seconds`` (None: until cleared), it sends ``share`` of the
    deployment's current limits (requests and tokens), evenly spaced. Share 0 stops it."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    deployment: str = Field(min_length=1, max_length=256)
    share: float = Field(ge=0, le=1)
    seconds: float | None = Field(default=None, gt=0, le=MAX_PRESSURE_SECONDS)
    after: float = Field(default=0.0, ge=0, le=MAX_PRESSURE_SECONDS)


@dataclass(frozen=True)
class _Lowering:
    factor: float
    start: float
    end: float


@dataclass
class _Background:
    share: float
    start: float
    end: float | None
    next_at: float


@dataclass
class _Usage:
    admitted: int = 0
    refused: int = 0
    tokens: int = 0


@dataclass
class _Deployment:
    """Everything the limiter knows about one deployment name."""

    window: _Window = field(default_factory=_Window)
    lowerings: list[_Lowering] = field(default_factory=list)
    background: _Background | None = None
    usage: dict[str, _Usage] = field(default_factory=lambda: {"app": _Usage(), "background": _Usage()})
    # The capacity offered since ``since``: the integral of the enforced limits over time, as
    # (requests, tokens), accrued up to ``accrued_to`` with the configured limits last seen.
    since: float | None = None
    accrued_to: float = 0.0
    offered_requests: float = 0.0
    offered_tokens: float = 0.0
    configured: Limits | None = None

    def factor(self, at: float) -> float:
        return min((lo.factor for lo in self.lowerings if lo.start <= at < lo.end), default=1.0)

    def accrue(self, now: float, configured: Limits) -> None:
        """Add the capacity offered since the last call, splitting time where a lowering starts or ends."""
        if self.since is None:
            self.since = self.accrued_to = now
        limits = self.configured or configured
        edges = sorted(
            {self.accrued_to, now}
            | {t for lo in self.lowerings for t in (lo.start, lo.end) if self.accrued_to < t < now}
        )
        for start, end in itertools.pairwise(edges):
            enforced = limits.lowered(self.factor((start + end) / 2))
            self.offered_requests += enforced.rpm * (end - start) / TOKEN_WINDOW
            self.offered_tokens += enforced.tpm * (end - start) / TOKEN_WINDOW
        self.accrued_to = max(self.accrued_to, now)
        self.configured = configured


@dataclass
class RateLimiter:
    """One window per deployment name, with its lowerings, background load and usage."""

    _deployments: dict[str, _Deployment] = field(default_factory=dict)

    def _deployment(self, key: str) -> _Deployment:
        return self._deployments.setdefault(key, _Deployment())

    def take(self, key: str, now: float, tokens: int, configured: Limits, *, fails: bool = False) -> Verdict:
        """Admit and book the request, or refuse it (counted, nothing booked) with the seconds until
        one like it would fit. ``configured``: the deployment's limits before any lowering. ``fails``:
        the request will fail after admission (an injected server error): judged on its ``tokens`` like
        any other, but if admitted it is counted as a refusal is, with no tokens booked (RS9)."""
        deployment = self._deployment(key)
        deployment.accrue(now, configured)
        self._run_background(deployment, now, configured)
        return self._judge(deployment, now, tokens, configured, fails=fails)

    def _judge(
        self, deployment: _Deployment, now: float, tokens: int, configured: Limits, *, fails: bool
    ) -> Verdict:
        limits = configured.lowered(deployment.factor(now))
        window = deployment.window
        window.prune(now)
        request_wait = window.request_wait(now, limits)
        token_wait = window.token_wait(now, tokens, limits)
        allowed = request_wait <= 0 and token_wait <= 0
        booked = tokens if allowed and not fails else 0
        window.add(now, booked)
        usage = deployment.usage["app"]
        if allowed:
            usage.admitted += 1
            usage.tokens += booked
            reason, wait = "", 0.0
        else:
            usage.refused += 1
            reason = "requests" if request_wait >= token_wait else "tokens"
            # The refused request now holds a place in the request windows too: the wait is until
            # one more request fits with it counted.
            wait = max(window.request_wait(now, limits), token_wait, 0.001)
        remaining_requests, remaining_tokens = window.remaining(now, limits)
        reset_requests, reset_tokens = window.resets(now, limits)
        return Verdict(
            allowed,
            reason,
            remaining_requests,
            remaining_tokens,
            limits,
            reset_requests,
            reset_tokens,
            wait,
        )

    def _run_background(self, deployment: _Deployment, now: float, configured: Limits) -> None:
        """Book the background load's requests due by ``now``, each at its own arrival time. They are
        always admitted: the other consumer takes its share whatever the app does (it paces itself and
        came first), and the app meets what is left. Arrivals more than a minute old can no longer
        count, so a long quiet spell skips them."""
        load = deployment.background
        if load is None:
            return
        if load.next_at < now - TOKEN_WINDOW:  # skip whole intervals, keeping the load's rhythm
            interval = TOKEN_WINDOW / (load.share * configured.lowered(deployment.factor(now)).rpm)
            load.next_at += math.ceil((now - TOKEN_WINDOW - load.next_at) / interval) * interval
        at, last = load.next_at, now if load.end is None else min(now, load.end)
        usage = deployment.usage["background"]
        while at <= last:
            limits = configured.lowered(deployment.factor(at))
            per_request = math.ceil(limits.tpm / limits.rpm)
            deployment.window.prune(at)
            deployment.window.add(at, per_request)
            usage.admitted += 1
            usage.tokens += per_request
            at += TOKEN_WINDOW / (load.share * limits.rpm)
        load.next_at = at
        if load.end is not None and now >= load.end:
            deployment.background = None

    def lower(self, lowering: LimitLowering, now: float) -> None:
        start = now + lowering.after
        self._deployment(lowering.deployment).lowerings.append(
            _Lowering(lowering.factor, start, start + lowering.seconds)
        )

    def load(self, load: BackgroundLoad, now: float) -> None:
        deployment = self._deployment(load.deployment)
        if load.share == 0:
            deployment.background = None
            return
        start = now + load.after
        end = None if load.seconds is None else start + load.seconds
        deployment.background = _Background(load.share, start, end, next_at=start)

    def apply(
        self, lowerings: tuple[LimitLowering, ...], loads: tuple[BackgroundLoad, ...], now: float
    ) -> None:
        """Start the ``--lower-limits`` and ``--background-load`` flags' pressure, timed from ``now``."""
        for lowering in lowerings:
            self.lower(lowering, now)
        for load in loads:
            self.load(load, now)

    def clear_pressure(self) -> None:
        """End every lowering and background load (windows and usage counters stay)."""
        for deployment in self._deployments.values():
            deployment.lowerings.clear()
            deployment.background = None

    def clear(self) -> None:
        self._deployments.clear()

    def status(self, key: str, now: float, configured: Limits) -> dict[str, Any]:
        """What the limiter knows of one deployment now (the background load's requests due are sent
        first): limits configured and enforced, lowerings, the load, usage by consumer since ``since``
        seconds ago, and the capacity offered in that time (requests and tokens)."""
        deployment = self._deployment(key)
        deployment.accrue(now, configured)
        self._run_background(deployment, now, configured)
        deployment.window.prune(now)
        enforced = configured.lowered(deployment.factor(now))
        remaining_requests, remaining_tokens = deployment.window.remaining(now, enforced)
        load = deployment.background
        return {
            "configured": {"rpm": configured.rpm, "tpm": configured.tpm, "window": configured.window},
            "enforced": {"rpm": enforced.rpm, "tpm": enforced.tpm, "window": enforced.window},
            "remaining": {"requests": remaining_requests, "tokens": remaining_tokens},
            "lowerings": [
                {"factor": lo.factor, "starts_in": lo.start - now, "ends_in": lo.end - now}
                for lo in deployment.lowerings
                if lo.end > now
            ],
            "background": None
            if load is None
            else {
                "share": load.share,
                "starts_in": load.start - now,
                "ends_in": None if load.end is None else load.end - now,
            },
            "usage": {name: vars(usage).copy() for name, usage in deployment.usage.items()},
            "offered": {
                "requests": round(deployment.offered_requests, 3),
                "tokens": round(deployment.offered_tokens, 3),
            },
            "since": now - (deployment.since if deployment.since is not None else now),
        }

    def known(self) -> list[str]:
        return sorted(self._deployments)


def arm_rate_limits(limits: Limits | None) -> list[dict[str, Any]]:
    """``properties.rateLimits`` of an ARM deployment: the request share per window, tokens per minute
    (the shape Azure's deployment GET shows, e.g. renewalPeriod 10 for requests). Always the configured
    limits: a temporary lowering shows only in the chat headers (quota-2.md)."""
    if limits is None:
        return []
    period = int(limits.window) if float(limits.window).is_integer() else limits.window
    return [
        {"key": "request", "renewalPeriod": period, "count": limits.requests_per_window},
        {"key": "token", "renewalPeriod": int(TOKEN_WINDOW), "count": limits.tpm},
    ]
