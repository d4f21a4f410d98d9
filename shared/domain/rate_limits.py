"""Azure OpenAI per-deployment rate limits and the token charge Azure books for a chat request.

Pure functions (no I/O) so orchestrators and activities can size rollout concurrency from a deployment's
model, SKU and capacity before sending anything, and budget each request as Azure will. Every number
here comes from docs/rate-limits.md, which names the Azure page, revision or observation behind it; the
emulator keeps its own copy of the same table (it may not import shared/) and
tests/shared/test_rate_limits.py checks that the two agree.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

CAPACITY_UNIT_TPM = 1000
"""One unit of sku.capacity is 1,000 tokens per minute (how-to/quota.md, 'capacity' row)."""

REQUEST_WINDOW_SECONDS = 10.0
"""Azure checks the request rate over short windows, 'typically 1 or 10 seconds' (how-to/quota.md);
10 s is what the x-ratelimit-remaining-requests header counts down over (aoai-testing, 2024)."""

TOKEN_WINDOW_SECONDS = 60.0
"""Tokens are counted over a minute; observed to slide rather than reset on the minute (aoai-testing)."""

DEFAULT_COMPLETION_RESERVATION = 640
"""Tokens Azure books for the completion when a request sets no max_tokens (observed for gpt-4 and
gpt-4o: the remaining-tokens header drops by 640 + the prompt estimate; aoai-testing, 2024-08)."""

TOKEN_LIMITED_SKUS = frozenset({"Standard", "GlobalStandard", "DataZoneStandard", "DeveloperTier"})
"""SKUs whose capacity is in 1,000-TPM units. Provisioned (PTU) and batch SKUs are limited otherwise."""


@dataclass(frozen=True)
class FamilyRate:
    """Requests and tokens per minute that one capacity unit buys for a model family."""

    rpm_per_unit: int
    tpm_per_unit: int
    source: str


MODEL_FAMILIES: Mapping[str, FamilyRate] = {
    "gpt-4.1": FamilyRate(1, 1000, "quotas-limits.md 2025-07-11 (1 M TPM : 1 K RPM); quota tiers 2026-02"),
    "gpt-4.1-mini": FamilyRate(
        1, 1000, "quotas-limits.md 2025-07-11 (5 M TPM : 5 K RPM); quota tiers 2026-02"
    ),
    "gpt-4.1-nano": FamilyRate(
        1, 1000, "quotas-limits.md 2025-07-11 (5 M TPM : 5 K RPM); quota tiers 2026-02"
    ),
    "gpt-4o": FamilyRate(
        6, 1000, "how-to/quota.md 'older chat models' 6 RPM per 1,000 TPM; quota tiers 2026-02"
    ),
    "gpt-4o-mini": FamilyRate(10, 1000, "quota tiers 2026-02 (2 M TPM : 20 K RPM); 2025-07 said 6 RPM/unit"),
    "o4-mini": FamilyRate(1, 1000, "how-to/quota.md o4-mini 1 RPM per 1,000 TPM"),
}

FINE_TUNED_MARK = ".ft-"
_VERSION = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class UnknownModelFamily(ValueError):
    """The model is not in MODEL_FAMILIES, so its RPM:TPM ratio is unknown (o-series differ tenfold)."""


class UnsupportedSku(ValueError):
    """The SKU's capacity is not counted in 1,000-TPM units (provisioned or batch)."""


@dataclass(frozen=True)
class RateLimit:
    """A deployment's limits: requests and tokens per minute (None: not known), the window requests
    are checked over."""

    rpm: int
    tpm: int | None
    window_seconds: float
    source: str

    @property
    def requests_per_window(self) -> int:
        """The share of ``rpm`` Azure admits in one request window; a burst above it gets 429s."""
        return max(1, math.ceil(self.rpm * self.window_seconds / 60.0))


def model_family(model: str) -> str:
    """The family of a base model name (``gpt-4.1-mini``), versioned id (``gpt-4.1-mini-2025-04-14``) or
    fine-tuned id (``gpt-4.1-mini-2025-04-14.ft-<job>-v01``): fine-tuned deployments inherit the base
    model's ratio (no Azure page lists fine-tuned ratios separately)."""
    base = _VERSION.sub("", model.strip().split(FINE_TUNED_MARK, 1)[0])
    if base not in MODEL_FAMILIES:
        known = ", ".join(sorted(MODEL_FAMILIES))
        raise UnknownModelFamily(f"model {model!r} is not a known family ({known}); see docs/rate-limits.md")
    return base


def deployment_rate_limit(
    model: str, sku_name: str, capacity: int, *, window_seconds: float = REQUEST_WINDOW_SECONDS
) -> RateLimit:
    """The RPM and TPM Azure enforces on a deployment of ``model`` with ``sku_name`` and ``capacity``."""
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, got {capacity}")
    sku = next((s for s in TOKEN_LIMITED_SKUS if s.lower() == sku_name.replace(" ", "").lower()), None)
    if sku is None:
        raise UnsupportedSku(
            f"SKU {sku_name!r} is not rate-limited per capacity unit; one of {sorted(TOKEN_LIMITED_SKUS)}"
        )
    family = model_family(model)
    rate = MODEL_FAMILIES[family]
    return RateLimit(
        rpm=capacity * rate.rpm_per_unit,
        tpm=capacity * rate.tpm_per_unit,
        window_seconds=window_seconds,
        source=f"{family} {sku}: {rate.source}",
    )


ARM_RULE_REQUEST = "request"
ARM_RULE_TOKEN = "token"


def reported_rate_limit(
    rules: Sequence[tuple[str | None, float | None, float | None]], derived: RateLimit | None
) -> RateLimit | None:
    """The limits ARM reports for a deployment, ``properties.rateLimits`` as ``(key, renewalPeriod,
    count)``: ``request`` counts per renewal period (10 s: the request window) and ``token`` counts
    per 60 s ([M1], [W1] in docs/rate-limits.md; provisioned deployments report only the request
    rule). A figure ARM leaves out comes from ``derived``; None when ARM reports no request rule.
    Azure's own figures for the deployment come first: they follow quota changes the table here may
    not know yet."""
    by_key = {key: (period, count) for key, period, count in rules if key and period and count}
    if ARM_RULE_REQUEST not in by_key:
        return None
    period, count = by_key[ARM_RULE_REQUEST]
    tpm = derived.tpm if derived else None
    if ARM_RULE_TOKEN in by_key:
        token_period, token_count = by_key[ARM_RULE_TOKEN]
        tpm = math.floor(token_count * TOKEN_WINDOW_SECONDS / token_period)
    return RateLimit(
        rpm=max(1, math.floor(count * 60.0 / period)),
        tpm=tpm,
        window_seconds=float(period),
        source=f"ARM rateLimits ({math.floor(count)} requests per {period:g} s)",
    )


def _text_of(message: Mapping[str, object]) -> str:
    """The characters of a message that Azure's estimate counts: its text content, and the names and
    arguments of any tool calls it carries."""
    content = message.get("content")
    parts: list[str] = []
    if isinstance(content, str):
        parts.append(content)
    elif isinstance(content, Sequence):
        parts.extend(str(p["text"]) for p in content if isinstance(p, Mapping) and "text" in p)
    calls = message.get("tool_calls")
    if isinstance(calls, Sequence) and not isinstance(calls, str):
        for call in calls:
            function = call.get("function") if isinstance(call, Mapping) else None
            if isinstance(function, Mapping):
                parts.append(str(function.get("name", "")) + str(function.get("arguments", "")))
    return "".join(parts)


def estimate_prompt_tokens(
    messages: Sequence[Mapping[str, object]], tools: Sequence[Mapping[str, object]] | None = None
) -> int:
    """Azure's character-based prompt estimate: ``len(text) // 4 + 1`` per message (fits every observed
    gpt-4/gpt-4o request exactly), and the same for each tool definition's JSON (an assumption)."""
    total = sum(len(_text_of(m)) // 4 + 1 for m in messages)
    return total + sum(len(json.dumps(t, separators=(",", ":"))) // 4 + 1 for t in tools or ())


def estimate_request_tokens(
    messages: Sequence[Mapping[str, object]],
    *,
    tools: Sequence[Mapping[str, object]] | None = None,
    max_tokens: int | None = None,
    n: int = 1,
) -> int:
    """The tokens a chat request books against the deployment's TPM when it arrives: the prompt estimate
    plus ``max_tokens`` (or ``max_completion_tokens``) per choice, or DEFAULT_COMPLETION_RESERVATION
    when unset. The completion actually produced does not matter; setting a small max_tokens lets more
    requests fit in a minute."""
    completion = DEFAULT_COMPLETION_RESERVATION if max_tokens is None else max_tokens
    return estimate_prompt_tokens(messages, tools) + completion * max(1, n)
