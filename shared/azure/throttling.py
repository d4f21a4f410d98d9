"""Rollouts' chat calls at a deployment's rate limit: paced to stay under it, 429s waited out.

Azure answers 429 to whatever does not fit a deployment's request window or its tokens per minute
(docs/rate-limits.md); a rollout that ended on one would be scored for the deployment's limit, not
for the model. So every HTTP request of a rollout's client goes through ``ThrottlingTransport``:

- **Paced.** A chat request to a deployment leaves when Azure's windows have room for it, as
  Azure counts them (docs/rate-limits.md, rules 2-5): the sliding request window (10 s) holds all of
  its share but one, the sliding minute ``PACING_HEADROOM`` of the RPM, and the tokens booked in the
  last minute (``estimate_request_tokens``: prompt estimate + ``max_tokens``) ``PACING_HEADROOM`` of
  the TPM, each window counted ``WINDOW_MARGIN_SECONDS`` longer than Azure counts it. A stage thus
  starts with a window's worth at once, as Azure admits, and then runs at the limit's rate. If a
  deployment enforces a shorter window (Azure's docs say "typically 1 or 10 seconds"; 10 s is what
  has been observed), its answers' ``remaining`` (counted in that window) lower the shares, as do
  its 429s when they come without Azure's count.
- **429s waited out.** ``retry-after-ms`` (else ``retry-after``) closes the deployment's gate for
  every request of this process, so the waiting calls do not all retry at once: Azure's own figure for
  when one more request fits. When the gate opens, that one request goes and the rest wait for its
  answer, whose headers say what is left now: a whole window's share sent into a window Azure has
  just called full would mostly be refused, and every refusal counts toward the limit (rule 3) and
  pushes the next opening further out. A 429 that carries Azure's count (its
  ``x-ratelimit-*`` headers) does not otherwise change the plan: the headers already measure whoever
  else is there, and a lowering (a lower ``x-ratelimit-limit-requests``) is one event however many
  429s its first minute brings, while Azure's minute still holds what it admitted under the old limit.
  Only a 429 without them is a guess that someone unseen uses the deployment: then, unless the
  process's own requests fill its share (its own window's edge, reached early by jitter), the shares
  shrink (``SLOW_DOWN``, once per 429 burst) and recover as requests pass (``SPEED_UP`` each), or at
  once when an answer brings Azure's count again. The call is sent again, until the rollout has waited
  ``THROTTLE_PATIENCE_SECONDS`` in all; then the 429 goes back to the caller and the rollout to
  Durable, which runs it again later.
- **5xx and connection failures** are retried ``SERVER_ERROR_RETRIES`` times after a short backoff.
  A request that reached Azure still counts in the pacing's windows, as Azure counts it ("unsuccessful
  requests still count", docs/rate-limits.md, rule 3); one whose connection was never made does not.
  A probe that fails so (or meets any other answer but a 429) ends the wait behind it as an answer
  does, under the plan as it stands: otherwise nothing would answer it and the requests behind it
  would wait out the window held for its answer.

- **Adapted to what Azure says is left.** Every answer carries Azure's own count (docs/rate-limits.md,
  rule 7): the limits enforced now (``x-ratelimit-limit-requests`` / ``-tokens``, per minute: lower
  than ARM's while Azure has lowered them) and what is left (``x-ratelimit-remaining-requests``: of the
  request window, never more than of the minute; ``-remaining-tokens``: of the minute). Whatever of the
  window or the minute is used and is not this process's own requests is someone else's: another
  instance of the app, or production traffic on the same deployment. The pacing takes the limits
  enforced now and leaves others what they used in the last request window (the median of its
  answers: one answer is a request or two off either way, from arrival jitter at the windows' edges,
  and the largest of a window's answers would overstate them by that much every time;
  ``Pacer.observe``), so a shared or lowered deployment slows the stage instead of throttling it.
  When Azure raises the limits again, the next answer's headers raise the plan with them.
  Azure has been seen to leave these headers out (on some 429s, and in 2024 all but the two
  ``remaining`` ones): without them the pacing falls back to ARM's limit and the 429s below.

Per rollout (a context variable the rollout activity sets) it counts the 429s waited out and keeps
the lowest ``x-ratelimit-remaining-requests`` / ``-tokens`` seen. Pacing is per process; what other
processes use reaches it through the headers (docs/deploy.md, "Sizing concurrency against Azure
OpenAI").
"""

from __future__ import annotations

import asyncio
import bisect
import json
import math
import re
import threading
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2

from shared.contracts.payloads import RateBudget, lowest
from shared.domain.rate_limits import TOKEN_WINDOW_SECONDS, estimate_request_tokens

PACING_HEADROOM = 0.95
"""Share of the minute's requests and tokens the pacing fills (the request window: all but one)."""
WINDOW_MARGIN_SECONDS = 0.5
"""How much longer a request stays in the pacing's windows than in Azure's. Azure counts a request
when it arrives, a little after it left (a connection's set-up, a busy worker); without the margin a
burst that leaves exactly one window after the previous one can reach Azure while some of that one
is still counted, and get 429s."""
SLOW_DOWN = 0.7
"""Share multiplier after a 429 without Azure's count in its headers (another client, or another
instance, may use the same deployment; nothing says how much)."""
SPEED_UP = 0.02
"""Share regained per admitted request without Azure's count, back up to the full share (an answer
with it restores the full share at once: the shares then follow what Azure says is left)."""
MIN_RATE_FACTOR = 0.1
OWN_SHARE_FULL = 0.9
"""A 429 that comes when this process's own requests fill this much of a window's share is the edge
of its own window (arrival jitter), and does not lower the shares."""
THROTTLE_PATIENCE_SECONDS = 120.0
"""429 waiting one rollout accepts before it is handed back to Durable. The openai SDK itself would
not wait longer than 120 s for one retry-after (``MAX_RETRY_AFTER_DELAY``)."""
MOST_OTHERS = 0.9
"""The largest share of a deployment's limits the pacing leaves to others, so that a misread header
can slow a stage but never stop it."""
PROBE_REQUESTS = 2
"""Requests a pacer sends before Azure's first answer tells it what is left of the deployment: a
deployment someone else is using would refuse most of a whole window's share sent blind, and Azure
counts refused requests too. After a 429 the probe is one request: its retry-after is when one more
fits."""
PLAN_CHECK_SECONDS = 0.5
"""How often a request waiting for its slot looks whether its booking still holds."""
DEFAULT_RETRY_AFTER_SECONDS = 1.0
"""Wait after a 429 that names none (Azure always sends retry-after; a proxy might not)."""
SERVER_ERROR_RETRIES = 2
SERVER_ERROR_BACKOFF_SECONDS = 0.5
"""First backoff after a 5xx or a connection failure; doubled for the next (the SDK's own start)."""
RETRYABLE_STATUS = frozenset({408, 500, 502, 503, 504})
NEVER_SENT = (httpx2.ConnectError, httpx2.ConnectTimeout, httpx2.PoolTimeout)
"""Transport errors raised before a request left (no connection was made): Azure never counted it. Any
other (a read timeout, a connection dropped mid-answer) may come after Azure received it."""

_DEPLOYMENT_PATH = re.compile(r"/openai/deployments/(?P<name>[^/]+)/chat/completions$")
_CHAT_PATH = "/chat/completions"


@dataclass
class CallStats:
    """One rollout's dealings with the limit: 429s waited out and the least room Azure reported."""

    throttled_retries: int = 0
    throttle_wait_seconds: float = 0.0
    lowest_remaining_requests: int | None = None
    lowest_remaining_tokens: int | None = None

    def observe(self, headers: httpx2.Headers) -> None:
        self.lowest_remaining_requests = lowest(
            self.lowest_remaining_requests, _header_int(headers, "x-ratelimit-remaining-requests")
        )
        self.lowest_remaining_tokens = lowest(
            self.lowest_remaining_tokens, _header_int(headers, "x-ratelimit-remaining-tokens")
        )


CURRENT_CALLS: ContextVar[CallStats | None] = ContextVar("rollout_call_stats", default=None)
"""The running rollout's stats; the transport runs in the task that made the call, so it sees them."""


@dataclass(eq=False)
class Booking:
    """One request's place in the pacing (compared by identity: two of the same slot are two requests)."""

    slot: float
    tokens: int
    plan: int = 0
    """The pacer's plan the slot was booked under: a request still waiting is booked again under a new
    one (``Pacer.stale``)."""
    sent: float | None = None
    """When the request actually left (a little after its slot): what Azure's windows count it by."""

    @property
    def at(self) -> float:
        return self.slot if self.sent is None else self.sent


@dataclass(frozen=True)
class Others:
    """What someone else used of the deployment, read from one of Azure's answers at ``at`` (this
    process's clock): shares of the limits enforced then, requests and tokens, so that when Azure
    lowers or raises the limits, the others' part moves with them (they meet the same limits)."""

    at: float
    requests: float
    tokens: float


@dataclass
class Pacer:
    """The pacing of one deployment's requests in this process, a mirror of Azure's own accounting
    (docs/rate-limits.md, rules 2-5) at ``PACING_HEADROOM``: a request is sent when the sliding
    request window (``budget.window_seconds``), the sliding minute and the tokens booked in the last
    minute all have room for it; otherwise it waits for the earliest slot that does. Slots are handed
    out in order. Times are ``time.monotonic`` seconds, passed in, so the arithmetic is testable
    without waiting."""

    budget: RateBudget | None = None
    factor: float = 1.0
    gate_until: float = 0.0
    calm_until: float = 0.0
    bookings: list[Booking] = field(default_factory=list)
    enforced: tuple[int, int | None] | None = None
    """The limits Azure enforces now (requests, tokens per minute), from its last answer's headers."""
    others: list[Others] = field(default_factory=list)
    answered: bool = False
    """Whether a request sent since ``probe_from`` has been answered (or reached Azure and failed:
    ``failed``); until then only ``probe`` go."""
    probe: int = PROBE_REQUESTS
    probe_from: float = 0.0
    """When the last 429's gate opened (0 before any): answers to requests sent earlier describe the
    window Azure refused, not what is left after it."""
    now: float = 0.0
    """The latest time the pacer was told of (what Azure said grows old against it)."""
    plan: int = 0
    """Counts changes of the shares: on the first answer, and whenever what Azure says moves them."""
    planned: tuple[int, int] = (0, 0)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def limits(self) -> tuple[int, int | None]:
        """Requests and tokens per minute: what Azure says it enforces now, else ARM's figures."""
        if self.enforced is not None:
            return self.enforced
        if self.budget is None:
            return 0, None
        return self.budget.rpm, self.budget.tpm

    def window_share(self, rpm: int) -> int:
        """Requests Azure admits in one request window at ``rpm``."""
        window = self.budget.window_seconds if self.budget is not None else 10.0
        return math.ceil(rpm * window / 60.0)

    def shares(self) -> tuple[int, int]:
        """Requests this process may have in one request window (all of Azure's share but one) and in
        one minute (``PACING_HEADROOM`` of the RPM), less what others use, times the rate factor
        (until a probe is answered, ``_request_slot`` also holds the requests beyond it)."""
        if self.budget is None:
            return 0, 0
        rpm, _ = self.limits()
        others, _ = self._others()
        window_share = self.window_share(rpm)
        per_window = window_share - 1 - others * window_share
        per_minute = PACING_HEADROOM * rpm * (1 - others)
        return (
            max(1, math.floor(self.factor * per_window)),
            max(1, math.floor(self.factor * per_minute)),
        )

    def observe(self, headers: httpx2.Headers, booking: Booking, now: float) -> None:
        """Reads an admitted request's answer: the limits enforced now, and from what was left when it
        arrived, what others were using (the window's or the minute's count less this process's own
        requests in it, as shares of the limit: the lower of the two, as the one that did not bind
        overstates it). An answer with Azure's count ends a slow-down (the shares follow what it says
        is left), and the first answer to a request sent since the last gate opened ends the probe:
        the requests waiting behind it are booked again under the new plan."""
        limit_requests = _header_int(headers, "x-ratelimit-limit-requests")
        limit_tokens = _header_int(headers, "x-ratelimit-limit-tokens")
        remaining_requests = _header_int(headers, "x-ratelimit-remaining-requests")
        remaining_tokens = _header_int(headers, "x-ratelimit-remaining-tokens")
        with self.lock:
            probe_answered = self._is_probe(booking)
            self.answered = self.answered or probe_answered
            if self.budget is None:
                return
            if limit_requests:
                self.enforced = (limit_requests, limit_tokens or self.limits()[1])
            if remaining_requests is not None:
                self.others.append(self._others_at(booking, now, remaining_requests, remaining_tokens))
                self.factor = 1.0
            self._replan(now, force=probe_answered)

    def failed(self, booking: Booking, now: float, arrived: bool = True) -> None:
        """Reads an outcome of ``booking``'s request that is neither an admitted answer nor a 429: a 5xx,
        another error status, a timeout, a lost connection. A request that reached Azure stays in the
        windows, tokens and all (Azure counts unsuccessful requests, docs/rate-limits.md rule 3; whether
        it books their tokens is not observed, and keeping them can only slow the pacing); one that never
        left (``arrived`` False: ``NEVER_SENT``) is forgotten. If it was the probe, the requests waiting
        behind it are booked again at once under the plan as it stands (the failure brings no count, so
        the limits stay), rather than after the window held for an answer that will not come: a probe
        that arrived has ended, as if answered; one that never left passes the probe to the next request."""
        with self.lock:
            probe = self._is_probe(booking)
            if arrived:
                self.answered = self.answered or probe
            elif booking in self.bookings:
                self.bookings.remove(booking)
            if probe:
                self._replan(now, force=True)

    def _is_probe(self, booking: Booking) -> bool:
        """Whether ``booking``'s request is (one of) the probe: sent since the last gate opened, before
        any such request was answered."""
        return not self.answered and booking.at >= self.probe_from

    def _others_at(
        self, booking: Booking, now: float, remaining_requests: int, remaining_tokens: int | None
    ) -> Others:
        """What others used when ``booking``'s request arrived, from what Azure said was left then."""
        if self.budget is None:
            raise ValueError("others are read against a known limit")
        rpm, tpm = self.limits()
        window, sent, share = self.budget.window_seconds, booking.at, self.window_share(rpm)
        mine = [
            item for item in self.bookings if item.at <= sent and (item is booking or item.sent is not None)
        ]
        in_window = sum(1 for item in mine if item.at > sent - window)
        in_minute = [item for item in mine if item.at > sent - TOKEN_WINDOW_SECONDS]
        by_window = (share - remaining_requests - in_window) / share
        by_minute = (rpm - remaining_requests - len(in_minute)) / rpm
        tokens = 0.0
        if tpm is not None and remaining_tokens is not None:
            tokens = (tpm - remaining_tokens - sum(item.tokens for item in in_minute)) / tpm
        requests = min(MOST_OTHERS, max(0.0, min(by_window, by_minute)))
        return Others(now, requests, min(MOST_OTHERS, max(0.0, tokens)))

    def _replan(self, now: float, force: bool = False) -> None:
        """Starts a new plan when the shares changed (or a probe was answered): the bookings of
        requests still waiting are dropped, and each is booked again under the new plan when it next
        looks (``stale``)."""
        self.now = max(self.now, now)
        shares = self.shares()
        if force or shares != self.planned:
            self.planned, self.plan = shares, self.plan + 1
            self.bookings = [item for item in self.bookings if item.slot <= now]

    def stale(self, booking: Booking, now: float) -> bool:
        """True when the booking no longer holds: a 429 closed the gate since it was booked, a probe
        was answered, or the shares changed (what Azure says is left moved, or what it said grew old)."""
        with self.lock:
            self._replan(now)
            return booking.plan != self.plan

    def _others(self) -> tuple[float, float]:
        """What others use now, as shares of the limits: the median of the answers of the last request
        window (the upper one of an even count; one answer is a request or two off either way, as this
        process's own requests of the same moment arrive before or after it and Azure's windows slide
        between send and arrival), else the last answer's, up to a minute old; nothing once no answer is
        that recent."""
        if self.budget is None:
            return 0.0, 0.0
        self.others = [item for item in self.others if item.at > self.now - TOKEN_WINDOW_SECONDS]
        if not self.others:
            return 0.0, 0.0
        window = self.budget.window_seconds + WINDOW_MARGIN_SECONDS
        recent = [item for item in self.others if item.at > self.now - window] or self.others[-1:]
        return _upper_median([item.requests for item in recent]), _upper_median(
            [item.tokens for item in recent]
        )

    def reserve(self, tokens: int, now: float) -> Booking:
        """Books the first slot from ``now`` (after the gate and the slots already booked) at which
        the request fits every window."""
        with self.lock:
            self.now = max(self.now, now)
            while (
                self.bookings and self.bookings[0].slot <= now - TOKEN_WINDOW_SECONDS - WINDOW_MARGIN_SECONDS
            ):
                self.bookings.pop(0)
            slot = max(now, self.gate_until, self.bookings[-1].slot if self.bookings else now)
            while True:
                later = max(self._request_slot(slot), self._token_slot(slot, tokens))
                if later <= slot:
                    break
                slot = later
            booking = Booking(slot, tokens, self.plan)
            self.bookings.append(booking)
            return booking

    def release(self, booking: Booking) -> None:
        """Forgets a booking whose request was not sent (its slot no longer holds: ``stale``)."""
        with self.lock:
            if booking in self.bookings:
                self.bookings.remove(booking)

    def refused(self, booking: Booking) -> None:
        """A 429: the request still counts in Azure's request windows, but booked no tokens."""
        with self.lock:
            booking.tokens = 0

    def throttled(self, retry_after: float, now: float, headers: httpx2.Headers | None = None) -> None:
        """Closes the gate for ``retry_after`` (when Azure says one more request fits), after which
        only a probe goes until it is answered; takes the limits the 429's headers say are enforced
        now. A 429 with Azure's count (``x-ratelimit-remaining-requests``) changes nothing else: the
        answers' headers measure the others. A lowering is one event: none of the 429s of the minute
        after it slows the pacing (Azure's minute still holds what it admitted under the old limit).
        Otherwise, without the count, the shares shrink (once per burst of 429s) unless this process's
        own requests fill its share of the windows: then the 429 is the edge of its own window, reached
        a little early by arrival jitter, not someone else using the deployment."""
        limit_requests = _header_int(headers, "x-ratelimit-limit-requests") if headers else None
        limit_tokens = _header_int(headers, "x-ratelimit-limit-tokens") if headers else None
        counted = headers is not None and _header_int(headers, "x-ratelimit-remaining-requests") is not None
        with self.lock:
            before = self.limits()
            if limit_requests and self.budget is not None:
                self.enforced = (limit_requests, limit_tokens or before[1])
                self._replan(now)
            if self.limits()[0] < before[0]:
                # Azure's minute holds what it admitted under the old limit for a minute yet: the 429s
                # of that minute are this lowering's, not a sign of anyone new.
                self.calm_until = max(self.calm_until, now + TOKEN_WINDOW_SECONDS)
            self.gate_until = max(self.gate_until, now + retry_after)
            self.probe_from, self.probe, self.answered = self.gate_until, 1, False
            # Every request still waiting for its slot is booked again, behind the gate and the probe.
            self.bookings = [item for item in self.bookings if item.slot <= now]
            self.plan += 1
            if not counted and now >= self.calm_until and not self._own_share_full(now):
                self.factor = max(MIN_RATE_FACTOR, self.factor * SLOW_DOWN)
                self.calm_until = self.gate_until

    def admitted(self) -> None:
        """An admitted request: a slow-down (only ever from 429s without Azure's count) eases."""
        with self.lock:
            self.factor = min(1.0, self.factor + SPEED_UP)

    def _own_share_full(self, now: float) -> bool:
        """Whether this process's bookings fill at least OWN_SHARE_FULL of the request window's or the
        minute's share (no known limit: never)."""
        if self.budget is None:
            return False
        slots = [booking.slot for booking in self.bookings if booking.slot <= now]
        per_window, per_minute = self.shares()
        for window, share in ((self.budget.window_seconds, per_window), (TOKEN_WINDOW_SECONDS, per_minute)):
            inside = len(slots) - bisect.bisect_right(slots, now - window - WINDOW_MARGIN_SECONDS)
            if inside >= OWN_SHARE_FULL * share:
                return True
        return False

    def _request_slot(self, at: float) -> float:
        """The first time from ``at`` at which the request window and the minute have room, and, while
        the probe is unanswered, the probe too (a request beyond it waits a window: long enough for the
        answer, or the probe's failure, to re-plan it first)."""
        if self.budget is None:
            return at
        slots = [booking.slot for booking in self.bookings]
        per_window, per_minute = self.shares()
        for window, share in ((self.budget.window_seconds, per_window), (TOKEN_WINDOW_SECONDS, per_minute)):
            inside = len(slots) - bisect.bisect_right(slots, at - window - WINDOW_MARGIN_SECONDS)
            if inside >= share:
                at = max(at, slots[len(slots) - share] + window + WINDOW_MARGIN_SECONDS)
        probes = slots[bisect.bisect_left(slots, self.probe_from) :]
        if not self.answered and len(probes) >= self.probe:
            at = max(at, probes[-self.probe] + self.budget.window_seconds + WINDOW_MARGIN_SECONDS)
        return at

    def _token_slot(self, at: float, tokens: int) -> float:
        """The first time from ``at`` at which ``tokens`` more fit the sliding minute (a request
        larger than the whole budget is sent at once: Azure's own answer says more than waiting)."""
        _, tpm = self.limits()
        if self.budget is None or tpm is None:
            return at
        limit = tpm * (1 - self._others()[1]) * PACING_HEADROOM
        window = TOKEN_WINDOW_SECONDS + WINDOW_MARGIN_SECONDS
        recent = [booking for booking in self.bookings if booking.slot > at - window]
        excess = sum(booking.tokens for booking in recent) + tokens - limit
        if excess <= 0 or tokens > limit:
            return at
        for booking in recent:
            excess -= booking.tokens
            if excess <= 0:
                return booking.slot + window
        return at


class Pacers:
    """The pacers of this process, one per deployment name."""

    def __init__(self) -> None:
        self._pacers: dict[str, Pacer] = {}
        self._lock = threading.Lock()

    def get(self, deployment: str) -> Pacer:
        with self._lock:
            return self._pacers.setdefault(deployment, Pacer())

    def configure(self, deployment: str, budget: RateBudget | None) -> None:
        """Sets the limit the deployment's requests are paced to (the stage read it from ARM); a new
        limit (a changed capacity) starts again from the full rate."""
        pacer = self.get(deployment)
        with pacer.lock:
            if pacer.budget != budget:
                pacer.budget, pacer.factor, pacer.enforced = budget, 1.0, None


PACERS = Pacers()


def chat_deployment(request: httpx2.Request) -> str | None:
    """The deployment a chat completions request goes to, or None for any other request."""
    path = request.url.path
    match = _DEPLOYMENT_PATH.search(path)
    if match:
        return match.group("name")
    if path.endswith(_CHAT_PATH):
        model = _body(request).get("model")
        return model if isinstance(model, str) else None
    return None


def request_tokens(request: httpx2.Request) -> int:
    """The tokens Azure books for this chat request on arrival."""
    body = _body(request)
    messages = body.get("messages")
    tools = body.get("tools")
    limit = body.get("max_tokens", body.get("max_completion_tokens"))
    n = body.get("n")
    return estimate_request_tokens(
        messages if isinstance(messages, list) else [],
        tools=tools if isinstance(tools, list) else None,
        max_tokens=limit if isinstance(limit, int) else None,
        n=n if isinstance(n, int) else 1,
    )


def retry_after_seconds(headers: httpx2.Headers) -> float:
    """``retry-after-ms``, else ``retry-after`` (seconds or an HTTP date), as the openai SDK reads them."""
    milliseconds = _header_float(headers, "retry-after-ms")
    if milliseconds is not None:
        return max(0.0, milliseconds / 1000.0)
    value = headers.get("retry-after")
    if value is None:
        return DEFAULT_RETRY_AFTER_SECONDS
    seconds = _header_float(headers, "retry-after")
    if seconds is not None:
        return max(0.0, seconds)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_SECONDS


Sleep = Callable[[float], Awaitable[None]]


class ThrottlingTransport(httpx2.AsyncBaseTransport):
    """Wraps the real transport: paces chat requests per deployment and retries what is transient."""

    def __init__(
        self,
        inner: httpx2.AsyncBaseTransport,
        pacers: Pacers = PACERS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._inner = inner
        self._pacers = pacers
        self._clock = clock
        self._sleep = sleep

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        deployment = chat_deployment(request)
        if deployment is None:
            return await self._inner.handle_async_request(request)
        pacer = self._pacers.get(deployment)
        stats = CURRENT_CALLS.get() or CallStats()
        tokens = request_tokens(request)
        failures = 0
        while True:
            booking = await self._wait_for_slot(pacer, tokens)
            booking.sent = self._clock()
            try:
                response = await self._inner.handle_async_request(request)
            except httpx2.TransportError as error:
                pacer.failed(booking, self._clock(), arrived=not isinstance(error, NEVER_SENT))
                failures += 1
                if failures > SERVER_ERROR_RETRIES:
                    raise
                await self._sleep(SERVER_ERROR_BACKOFF_SECONDS * 2 ** (failures - 1))
                continue
            if response.status_code == 429:
                pacer.refused(booking)
                if not self._wait_out(pacer, stats, response):
                    return response
            elif response.is_success:
                stats.observe(response.headers)
                pacer.observe(response.headers, booking, self._clock())
                pacer.admitted()
                return response
            else:
                pacer.failed(booking, self._clock())
                if response.status_code not in RETRYABLE_STATUS or failures >= SERVER_ERROR_RETRIES:
                    stats.observe(response.headers)
                    return response
                failures += 1
                await self._sleep(SERVER_ERROR_BACKOFF_SECONDS * 2 ** (failures - 1))
            await response.aclose()

    async def _wait_for_slot(self, pacer: Pacer, tokens: int) -> Booking:
        """Sleeps until the request's slot, looking every PLAN_CHECK_SECONDS whether the booking still
        holds; books a new one when a 429 closed the gate or the shares changed meanwhile."""
        booking = pacer.reserve(tokens, self._clock())
        while True:
            await self._sleep(min(PLAN_CHECK_SECONDS, max(0.0, booking.slot - self._clock())))
            if pacer.stale(booking, self._clock()):
                pacer.release(booking)
                booking = pacer.reserve(tokens, self._clock())
            elif self._clock() >= booking.slot:
                return booking

    def _wait_out(self, pacer: Pacer, stats: CallStats, response: httpx2.Response) -> bool:
        """Records a 429 and closes the gate for its wait; False when the rollout's patience is spent
        (or the wait alone is longer), so the 429 goes back to the caller."""
        wait = retry_after_seconds(response.headers)
        pacer.throttled(wait, self._clock(), response.headers)
        stats.observe(response.headers)
        if stats.throttle_wait_seconds + wait > THROTTLE_PATIENCE_SECONDS:
            return False
        stats.throttled_retries += 1
        stats.throttle_wait_seconds += wait
        return True

    async def aclose(self) -> None:
        await self._inner.aclose()


def _upper_median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def _body(request: httpx2.Request) -> dict[str, Any]:
    try:
        body = json.loads(request.content or b"{}")
    except (ValueError, httpx2.RequestNotRead):
        return {}
    return body if isinstance(body, dict) else {}


def _header_float(headers: httpx2.Headers, name: str) -> float | None:
    try:
        value = float(headers.get(name, ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _header_int(headers: httpx2.Headers, name: str) -> int | None:
    """A count header; Azure has been seen sending ``-1`` (no figure), which is ignored."""
    value = _header_float(headers, name)
    return int(value) if value is not None and value >= 0 else None
