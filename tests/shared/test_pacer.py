"""shared/azure/throttling.py ``Pacer`` under pressure (issue 20): what a 429 with Azure's count does,
a probe that fails instead of being answered, a lowering taken as one event, recovery when the limit
comes back, and the others' share read without the bias of the largest answer. Times are passed in;
the whole path against the emulator is ``bench.rollout_scale``'s ``shared`` and ``lowered`` rows (and,
for a failed probe, tests/shared/test_throttling.py)."""

from __future__ import annotations

import httpx2
import pytest

from shared.azure.throttling import (
    SLOW_DOWN,
    WINDOW_MARGIN_SECONDS,
    Pacer,
)
from shared.domain.rate_limits import TOKEN_WINDOW_SECONDS
from tests.shared.test_throttling import azure_says, budget, slots


def refusal(limit_requests: int = 600, retry_after_ms: int = 1500) -> httpx2.Headers:
    """A 429 as Azure sends it: its count beside the retry-after (the window is full)."""
    return httpx2.Headers(
        {
            "x-ratelimit-limit-requests": str(limit_requests),
            "x-ratelimit-limit-tokens": str(limit_requests * 1000),
            "x-ratelimit-remaining-requests": "0",
            "retry-after-ms": str(retry_after_ms),
        }
    )


def test_after_a_429_one_request_goes_when_the_gate_opens_and_its_answer_frees_the_rest() -> None:
    """Azure says one more request fits in 1.5 s: that one goes then, not the window's share, and the
    others wait for its answer; the 429 itself does not slow the pacing (its headers say Azure counts
    for itself)."""
    pacer = Pacer(budget(600), answered=True)
    slots(pacer, 5)
    waiting = pacer.reserve(0, 0.5)
    pacer.throttled(1.5, now=0.5, headers=refusal())
    assert pacer.stale(waiting, 0.5), "a request booked before the 429 is booked again"
    window = 10 + WINDOW_MARGIN_SECONDS
    after = slots(pacer, 3, now=0.5)
    assert after == [2.0, 2.0 + window, 2.0 + 2 * window], "one a window until an answer comes"
    assert pacer.factor == 1.0

    # Nobody else in the window: 100 less this process's 5 (then 6) requests are left.
    held = pacer.bookings[-1]
    azure_says(pacer, 0.0, 2.2, limit_requests=600, remaining_requests=95)
    assert not pacer.stale(held, 2.2), "an answer to a request sent before the gate ends no probe"
    azure_says(pacer, 2.0, 3.0, limit_requests=600, remaining_requests=94)
    assert pacer.stale(held, 3.0)
    assert pacer.reserve(0, 3.0).slot == 3.0, "the probe answered, the plan holds the rest no longer"


def test_a_probe_that_fails_frees_the_request_behind_it_at_once() -> None:
    """The probe goes when the gate opens, at 2.0, and comes back a 503 at 2.3 (no rate-limit headers):
    the request held a window behind it (until 12.5) is booked again and goes at 2.3 under the plan as
    it was, and the probe still counts in the windows (Azure counts failed requests). A probe whose
    connection was never made did not reach Azure: it is forgotten and the next request is the probe."""
    window = 10 + WINDOW_MARGIN_SECONDS
    for arrived, after in ((True, [2.3, 2.3]), (False, [2.3, 2.3 + window])):
        pacer = Pacer(budget(600), answered=True)
        pacer.throttled(1.5, now=0.5, headers=refusal())
        probe, held = pacer.reserve(0, 0.5), pacer.reserve(0, 0.5)
        assert (probe.slot, held.slot) == (2.0, 2.0 + window)
        probe.sent, plan = 2.0, (pacer.limits(), pacer.shares())
        pacer.failed(probe, 2.3, arrived=arrived)
        assert pacer.stale(held, 2.3), "booked again now, not at the end of the probe's window"
        pacer.release(held)
        assert slots(pacer, 2, now=2.3) == after, f"arrived={arrived}"
        assert (pacer.limits(), pacer.shares()) == plan, "a failure brings no count: the plan holds"
        assert (probe in pacer.bookings) is arrived


def test_a_lowering_is_one_event_and_the_limit_coming_back_restores_the_plan() -> None:
    """Azure halves the limit: the 429 that brings it and the 429s of the next minute (even those that
    come without Azure's count, as some have on Azure) are the lowering's, so nothing slows the pacing
    beyond the lower limit; the first answer with the configured limit again brings the plan back to
    it at once, not a request at a time."""
    pacer = Pacer(budget(600, tpm=600_000), answered=True)
    slots(pacer, 10)
    pacer.throttled(20.0, now=1.0, headers=refusal(limit_requests=300))
    assert pacer.limits() == (300, 300_000)
    bare = httpx2.Headers({"retry-after-ms": "500"})
    for now in (21.0, 30.0, 1.0 + TOKEN_WINDOW_SECONDS - 1):
        pacer.throttled(0.5, now=now, headers=bare)
    assert pacer.factor == 1.0
    assert pacer.shares() == (49, 285), "50 - 1 per window; 95 % of 300 a minute"

    pacer.throttled(0.5, now=1.0 + TOKEN_WINDOW_SECONDS + 1, headers=bare)
    assert pacer.factor == pytest.approx(SLOW_DOWN), "a minute on, a 429 without Azure's count is news"
    slots(pacer, 1, now=70.0)
    azure_says(pacer, 70.0, 70.5, limit_requests=600, limit_tokens=600_000, remaining_requests=99)
    assert (pacer.factor, pacer.limits(), pacer.shares()) == (1.0, (600, 600_000), (99, 570))


def test_the_others_share_is_the_median_of_the_window_not_its_largest_answer() -> None:
    """Five answers of one window put the other consumer at 45 to 60 of the 100 a window admits (arrival
    jitter at the window's edges): the pacing leaves them the middle, 50, not 60 every time."""
    pacer = Pacer(budget(600, tpm=600_000), answered=True)
    slots(pacer, 1)
    for now, remaining in ((0.5, 54), (0.6, 49), (0.7, 39), (0.8, 44), (0.9, 49)):
        azure_says(pacer, 0.0, now, limit_requests=600, remaining_requests=remaining)
    assert pacer.shares() == (49, 285)
