"""Rate limits as Azure enforces them (docs/rate-limits.md): short request windows, token booking by
max_tokens, Azure's 429 and headers, and the openai SDK retrying on retry-after-ms. Real time is used
(windows are real throughput), with short --rate-window values so each test takes seconds."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx2
import openai
import pytest
from azure.mgmt.cognitiveservices.models import Deployment, ThrottlingRule
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from emulator.ratelimit import (
    BackgroundLoad,
    LimitLowering,
    Limits,
    RateLimiter,
    estimate_request_tokens,
    limits_for,
    model_family,
)
from tests.emulator.support import error_body, properties
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.timeout(120)
QUESTION = "What is the capital of France?"
MESSAGES: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
"""The request's messages as JSON: what the emulator's estimate charges for them."""
SDK_MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": QUESTION}]
"""The same messages as the openai SDK's param type: what ``call`` and the tests that call the SDK send."""
# gpt-4o and gpt-4o-mini stopped serving on 2026-10-01 (emulator/profiles.py); rate limits do not depend
# on it.
SERVING = ("--lifecycle", "none")
CHARGE = estimate_request_tokens(MESSAGES, None, None)


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


def call(client: OpenAI, model: str = "gpt-4.1-mini", **kwargs: Any) -> Answer:
    """One chat request without retries; a 429 is returned, not raised."""
    try:
        raw = client.chat.completions.with_raw_response.create(model=model, messages=SDK_MESSAGES, **kwargs)
    except openai.RateLimitError as error:
        response = error.response
        return Answer(response.status_code, dict(response.headers), response.json())
    return Answer(raw.status_code, dict(raw.headers), json.loads(raw.content))


# --- the limiter's rules on a synthetic clock ---------------------------------------------------------


@pytest.mark.rule("RL2")
def test_burst_gets_only_the_window_share_and_waits_for_the_oldest() -> None:
    limits = Limits(rpm=60, tpm=1_000_000, window=10)  # 10 requests per 10 s
    limiter = RateLimiter()
    verdicts = [limiter.take("d", 100.0 + i * 0.01, 1, limits) for i in range(12)]
    assert [v.allowed for v in verdicts] == [True] * 10 + [False] * 2
    assert [v.remaining_requests for v in verdicts[:10]] == list(range(9, -1, -1))
    assert verdicts[10].reason == "requests"
    # The refused request holds a place too: one more fits once two admitted ones have left (110.01).
    assert verdicts[10].retry_after == pytest.approx(110.01 - 100.10)
    assert verdicts[11].retry_after == pytest.approx(110.02 - 100.11)


@pytest.mark.rule("RL4", "RS1")
def test_refused_requests_count_toward_the_request_windows() -> None:
    # quota-2.md (2026-05): "Unsuccessful requests still count toward your per-minute rate limit".
    # Observed (aoai-testing results/chat.md, extended run): after ~55 s of 429s at about one a second
    # the next 200 showed x-ratelimit-remaining-requests 1 of 10, so the refusals had filled the window.
    limits = Limits(rpm=60, tpm=1_000_000, window=10)  # 10 requests per 10 s
    limiter = RateLimiter()
    assert all(limiter.take("d", i * 0.01, 10, limits).allowed for i in range(10))
    assert not any(limiter.take("d", 1.0 + i * 0.1, 10, limits).allowed for i in range(9))
    # At 10.5 the admitted ten have left the 10 s window, the nine refusals (1.0-1.8) have not: one
    # request fits (ten if refusals counted for nothing), the next does not.
    assert [limiter.take("d", 10.5 + i * 0.01, 10, limits).allowed for i in range(2)] == [True, False]
    usage = limiter.status("d", 10.6, limits)["usage"]["app"]
    assert usage == {"admitted": 11, "refused": 10, "tokens": 110}


@pytest.mark.rule("RL4", "RS2")
def test_refused_requests_book_no_tokens() -> None:
    # Observed (same run): five 2,000-token requests used a 10,000 TPM deployment up; the 429s that
    # followed for a minute left the token count alone: the first request after 60 s was admitted
    # with x-ratelimit-remaining-tokens 0 (its own 2,000 booked, the first one's expired).
    limits = Limits(rpm=60, tpm=10_000, window=10)
    limiter = RateLimiter()
    assert all(limiter.take("d", float(t), 2000, limits).allowed for t in range(5))
    refused = [limiter.take("d", 5.0 + 2 * i, 2000, limits) for i in range(27)]  # 5 .. 57 s
    assert {(v.allowed, v.reason) for v in refused} == {(False, "tokens")}
    admitted = limiter.take("d", 60.01, 2000, limits)
    assert (admitted.allowed, admitted.remaining_tokens) == (True, 0)


@pytest.mark.rule("RS9")
def test_a_request_answered_by_an_injected_server_error_counts_and_books_no_tokens(
    emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    # quota-2.md (2026-05): "Unsuccessful requests still count toward your per-minute rate limit", a 500
    # as much as a 429. gpt-4.1-mini at capacity 12: 12 RPM, 2 requests per 10 s, 12,000 TPM.
    handle = emulator_factory("--base-capacity", "12")
    client = handle.openai_v1(max_retries=0)
    handle.set_faults(routes=[{"route": "chat", "status": 500, "count": 1}])
    with pytest.raises(openai.InternalServerError) as failed:
        client.chat.completions.create(model="gpt-4.1-mini", messages=SDK_MESSAGES)
    assert failed.value.status_code == 500
    admitted = call(client)
    # The window's two places hold the 500 and this 200 (one would be left had the 500 not counted);
    # only this request's tokens are booked.
    assert (
        admitted.status,
        admitted.headers["x-ratelimit-remaining-requests"],
        admitted.headers["x-ratelimit-remaining-tokens"],
    ) == (200, "0", str(12_000 - CHARGE))
    # The limiter is the front door (the emulator's choice): a request faulted now would not fit, so it
    # is refused with a 429 and counted as RS1's refusals are, before any server error could happen.
    handle.set_faults(routes=[{"route": "chat", "status": 500, "count": 1}])
    refused = call(client)
    assert (refused.status, refused.body["error"]["code"]) == (429, "RateLimitReached")
    usage = handle.rate_limits()["gpt-4.1-mini"]["usage"]["app"]
    assert usage == {"admitted": 2, "refused": 1, "tokens": CHARGE}


@pytest.mark.rule("RL2")
def test_per_minute_total_holds_even_when_each_window_has_room() -> None:
    limits = Limits(rpm=6, tpm=1_000_000, window=1)  # 1 request per second, 6 per minute
    limiter = RateLimiter()
    assert all(limiter.take("d", float(t), 1, limits).allowed for t in range(6))
    refused = limiter.take("d", 6.0, 1, limits)
    assert not refused.allowed and refused.reason == "requests"
    # The minute holds the six admitted requests and the refusal: two must leave (t=0 and t=1).
    assert refused.retry_after == pytest.approx(55.0)
    assert limiter.take("d", 61.0, 1, limits).allowed


@pytest.mark.rule("RL3")
def test_tokens_slide_over_a_minute_and_oversized_requests_never_fit() -> None:
    limits = Limits(rpm=1000, tpm=10_000, window=10)
    limiter = RateLimiter()
    assert all(limiter.take("d", float(t), 2000, limits).allowed for t in range(5))
    refused = limiter.take("d", 5.0, 2000, limits)
    assert (refused.allowed, refused.reason, refused.remaining_tokens) == (False, "tokens", 0)
    assert refused.retry_after == pytest.approx(55.0)  # the first booking (t=0) expires at 60
    assert limiter.take("d", 60.0, 2000, limits).remaining_tokens == 0
    too_big = limiter.take("e", 0.0, 10_001, limits)
    assert not too_big.allowed and too_big.retry_after == 60.0


@pytest.mark.rule("RL1")
def test_limits_follow_the_model_family_and_sku() -> None:
    assert model_family("gpt-4.1-mini-2025-04-14.ft-0ee45c42591b4f4a8bd4f49ef2301dcd-v01") == "gpt-4.1-mini"
    assert model_family("gpt-4o-2024-08-06") == "gpt-4o"
    assert limits_for("gpt-4.1-mini", "DeveloperTier", 250, window=10, scale=1) == Limits(250, 250_000, 10)
    assert limits_for("gpt-4o", "Standard", 10, window=10, scale=1) == Limits(60, 10_000, 10)
    assert limits_for("gpt-4o-mini", "GlobalStandard", 10, window=10, scale=0.5) == Limits(50, 5_000, 10)
    assert limits_for("gpt-35-turbo-0125", "Standard", 10, window=10, scale=1) == Limits(60, 10_000, 10)
    assert limits_for("gpt-4o", "ProvisionedManaged", 50, window=10, scale=1) is None


@pytest.mark.rule("RL3")
def test_token_charge_is_the_prompt_estimate_plus_max_tokens() -> None:
    # Observed on Azure (aoai-testing, gpt-4o): this prompt books 648 without max_tokens, 1008 with 1000.
    question = [{"role": "user", "content": "What is the meaning of life?"}]
    assert estimate_request_tokens(question, None, None) == 648
    assert estimate_request_tokens(question, None, 1000) == 1008


# --- over HTTPS with the openai SDK ---------------------------------------------------------------------


@pytest.mark.rule("RL6", "RS5", "RS6", "RS8")
def test_burst_beyond_the_window_share_gets_azures_429(
    emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    # gpt-4o at capacity 10: 60 RPM, so 10 requests per 10 s window.
    handle = emulator_factory(
        "--deployment", "gpt-4o=gpt-4o-2024-08-06", "--base-capacity", "10", "--location", "eastus2", *SERVING
    )
    client = handle.azure_openai(max_retries=0)
    answers = [call(client, "gpt-4o") for _ in range(12)]
    assert [a.status for a in answers] == [200] * 10 + [429] * 2
    refused = answers[10]
    assert set(refused.body) == {"error"} and set(refused.body["error"]) == {"code", "message"}
    assert refused.body["error"]["code"] == "RateLimitReached"
    seconds = int(refused.headers["retry-after"])
    assert 1 <= seconds <= 10
    assert 0 < int(refused.headers["retry-after-ms"]) <= 10_000
    assert refused.headers["x-ratelimit-reset-requests"] == str(seconds)
    assert refused.headers["x-ratelimit-remaining-requests"] == "0"
    assert refused.body["error"]["message"] == (
        "Your requests to gpt-4o for gpt-4o in eastus2 have exceeded the call rate limit for your current "
        "AIServices S0 pricing tier. This request was for ChatCompletions_Create under Azure OpenAI API "
        f"version 2025-04-01-preview. Please retry after {seconds} second{'' if seconds == 1 else 's'}. "
        "To increase your default rate limit, visit: https://aka.ms/oai/quotaincrease."
    )


@pytest.mark.rule("RL2")
def test_requests_spaced_at_the_limit_all_pass(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    # gpt-4.1-mini at capacity 120 with a 1 s window: 120 RPM, 2 requests per second.
    handle = emulator_factory("--base-capacity", "120", "--rate-window", "1")
    client = handle.openai_v1(max_retries=0)
    call(client)  # warm the TLS connection so spacing is what the server sees
    # Each request leaves 0.6 s after the previous one was answered, so the server sees them at least
    # 0.6 s apart however late a loaded machine runs any of them: never three in one second.
    answered = time.monotonic()
    statuses = []
    for _ in range(8):
        time.sleep(max(0.0, answered + 0.6 - time.monotonic()))
        statuses.append(call(client).status)
        answered = time.monotonic()
    assert statuses == [200] * 8


@pytest.mark.rule("RL5", "RS3", "RS4", "RS5")
def test_headers_count_down_requests_and_tokens(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    # quota-2.md (2026-05) "Rate limit response headers": limit-requests and limit-tokens are per
    # minute, reset-requests and reset-tokens the time until each limit resets, on every call. Observed
    # (aoai-testing; Clemens Siebler's 2024 post): remaining-requests counts the 10 s window's share.
    handle = emulator_factory("--base-capacity", "60")  # gpt-4.1-mini: 60 RPM (10 per 10 s), 60,000 TPM
    client = handle.openai_v1(max_retries=0)
    charge = estimate_request_tokens(MESSAGES, None, 100)
    answers = [call(client, max_tokens=100) for _ in range(4)]
    assert [a.headers["x-ratelimit-remaining-requests"] for a in answers] == ["9", "8", "7", "6"]
    assert [int(a.headers["x-ratelimit-remaining-tokens"]) for a in answers] == [
        60_000 - charge * n for n in range(1, 5)
    ]
    assert {a.headers["x-ratelimit-limit-requests"] for a in answers} == {"60"}
    assert {a.headers["x-ratelimit-limit-tokens"] for a in answers} == {"60000"}
    # Whole seconds until the newest request leaves the 10 s window and its booking the minute.
    assert {a.headers["x-ratelimit-reset-requests"] for a in answers} == {"10"}
    assert {a.headers["x-ratelimit-reset-tokens"] for a in answers} == {"60"}


@pytest.mark.rule("RL3")
def test_max_tokens_reservation_lets_fewer_requests_fit(
    emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    # gpt-4o-mini at capacity 10: 100 RPM (17 per 10 s) but only 10,000 TPM, so tokens bind first.
    handle = emulator_factory(
        "--deployment", "mini=gpt-4o-mini-2024-07-18", "--base-capacity", "10", *SERVING
    )
    client = handle.openai_v1(max_retries=0)

    def admitted(**kwargs: Any) -> tuple[int, Answer]:
        handle.reset()
        for n in range(20):
            answer = call(client, "mini", **kwargs)
            if answer.status == 429:
                return n, answer
        raise AssertionError("never rate limited")

    default_fit, _ = admitted()
    big_fit, refused = admitted(max_tokens=2000)
    small_fit, _ = admitted(max_tokens=10)
    assert default_fit == 10_000 // estimate_request_tokens(MESSAGES, None, None)  # 640 booked when unset
    assert big_fit == 10_000 // estimate_request_tokens(MESSAGES, None, 2000) == 4
    assert small_fit == 17  # 10 tokens each: the 10 s request share binds instead
    assert "exceeded the token rate limit" in refused.body["error"]["message"]
    assert "x-ratelimit-reset-tokens" in refused.headers


@pytest.mark.rule("RS8")
def test_openai_sdk_honours_retry_after_ms(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    # 2 requests per 3 s window: wide enough that the first two fit in it on a loaded machine.
    handle = emulator_factory("--base-capacity", "40", "--rate-window", "3")
    seen: list[tuple[str, float, str]] = []  # (event, time, status or retry-after-ms)

    def on_request(request: httpx2.Request) -> None:
        seen.append(("request", time.monotonic(), ""))

    def on_response(response: httpx2.Response) -> None:
        seen.append((str(response.status_code), time.monotonic(), response.headers.get("retry-after-ms", "")))

    http = httpx2.Client(
        verify=handle.ssl_context(), event_hooks={"request": [on_request], "response": [on_response]}
    )
    client = openai.OpenAI(base_url=handle.url + "/openai/v1/", api_key="k", http_client=http, max_retries=2)
    create = client.chat.completions.create
    assert create(model="gpt-4.1-mini", messages=SDK_MESSAGES).choices
    assert create(model="gpt-4.1-mini", messages=SDK_MESSAGES).choices
    time.sleep(max(0.0, seen[0][1] + 1.4 - time.monotonic()))
    assert create(model="gpt-4.1-mini", messages=SDK_MESSAGES).choices  # refused once, then retried
    responses = [(event, at, extra) for event, at, extra in seen if event != "request"]
    assert [event for event, _, _ in responses] == ["200", "200", "429", "200"]
    _, refused_at, retry_ms = responses[2]
    retried_at = [at for event, at, _ in seen if event == "request"][3]
    # The SDK slept retry-after-ms (about 1.6 s: until the first request leaves the 3 s window), not
    # the whole-second retry-after (2) or its own back-off.
    assert 200 < int(retry_ms) < 1900
    assert retried_at - refused_at == pytest.approx(int(retry_ms) / 1000, abs=0.15)


def _rate_limits(deployment: Deployment) -> list[ThrottlingRule]:
    """The limits ARM reports on a deployment (optional in the SDK's types; the emulator reports them)."""
    limits = properties(deployment).rate_limits
    assert limits is not None, deployment
    return limits


@pytest.mark.rule("RL1", "RL7", "AD12")
def test_scale_flag_and_admin_override(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory("--base-capacity", "100", "--rate-limit-scale", "0.1")
    client = handle.openai_v1(max_retries=0)
    assert call(client).headers["x-ratelimit-limit-tokens"] == "10000"
    handle.set_faults(rate_limit_scale=2)
    assert call(client).headers["x-ratelimit-limit-tokens"] == "200000"
    arm = handle.mgmt().deployments.get(handle.resource_group, handle.account, "gpt-4.1-mini")
    limits = {r.key: (r.renewal_period, r.count) for r in _rate_limits(arm)}
    assert limits == {"request": (10, 34), "token": (60, 200_000)}  # 200 RPM -> 34 per 10 s
    handle.clear_faults()
    assert call(client).headers["x-ratelimit-limit-tokens"] == "10000"


@pytest.mark.rule("RL3")
def test_bad_max_tokens_is_a_clear_400(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.openai_v1(max_retries=0)
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="gpt-4.1-mini", messages=SDK_MESSAGES, max_tokens=0)
    assert error_body(info.value)["param"] == "max_tokens"


# --- pressure: Azure lowering the limits for a while, another consumer of the deployment -----------------


@pytest.mark.rule("RL8", "RS7")
def test_a_lowering_lowers_the_enforced_limits_for_a_while() -> None:
    # quota-2.md (2026-05), "Temporary rate limit adjustment": the effective limit drops below the
    # configured one (visible in x-ratelimit-limit-tokens) and recovers later.
    limits = Limits(rpm=60, tpm=60_000, window=10)
    limiter = RateLimiter()
    limiter.lower(LimitLowering(deployment="d", factor=0.5, seconds=30, after=10), now=0.0)
    before = limiter.take("d", 5.0, 1, limits)
    assert before.limits == limits and before.headers()["x-ratelimit-limit-tokens"] == "60000"
    burst = [limiter.take("d", 15.0 + i * 0.01, 1, limits) for i in range(7)]
    assert [v.allowed for v in burst] == [True] * 5 + [False] * 2  # 30 RPM: 5 per 10 s
    assert burst[0].headers()["x-ratelimit-limit-requests"] == "30"
    assert burst[0].headers()["x-ratelimit-limit-tokens"] == "30000"
    after = limiter.take("d", 45.0, 1, limits)
    assert after.allowed and after.limits == limits
    # Capacity offered since the limiter first saw a request (5.0): 5 s at 60 RPM, 30 s at 30, 5 s at
    # 60 -> 5 + 15 + 5 requests.
    assert limiter.status("d", 45.0, limits)["offered"]["requests"] == pytest.approx(25.0)


@pytest.mark.rule("RL9")
def test_a_background_load_takes_its_share_of_the_current_limits() -> None:
    limits = Limits(rpm=60, tpm=60_000, window=10)
    limiter = RateLimiter()
    limiter.load(BackgroundLoad(deployment="d", share=0.5), now=0.0)
    # Its requests arrive every 2 s (30 a minute), each booking 1,000 tokens (30,000 a minute); those
    # more than a minute old when the deployment is next used no longer count (0 is skipped). At 60.5
    # the 10 s window holds five of them (52 .. 60), so a burst gets the other five places.
    burst = [limiter.take("d", 60.5 + i * 0.01, 10, limits) for i in range(8)]
    assert [v.allowed for v in burst] == [True] * 5 + [False] * 3
    assert burst[0].remaining_tokens == 60_000 - 30 * 1000 - 10  # its bookings of the last minute
    status = limiter.status("d", 61.0, limits)
    assert status["usage"]["background"] == {"admitted": 30, "refused": 0, "tokens": 30_000}
    assert status["usage"]["app"] == {"admitted": 5, "refused": 3, "tokens": 50}
    assert status["background"]["share"] == 0.5
    # The burst filled the window, yet the other consumer keeps its share: it is served first.
    assert limiter.status("d", 62.0, limits)["usage"]["background"]["admitted"] == 31
    # Lowered to half, the same share is half as many requests: one every 4 s (64 .. 120).
    limiter.lower(LimitLowering(deployment="d", factor=0.5, seconds=600), now=62.5)
    later = limiter.status("d", 121.0, limits)
    assert later["usage"]["background"] == {"admitted": 31 + 15, "refused": 0, "tokens": 46_000}
    assert later["enforced"] == {"rpm": 30, "tpm": 30_000, "window": 10}
    limiter.load(BackgroundLoad(deployment="d", share=0), now=121.0)
    stopped = limiter.status("d", 181.0, limits)
    assert stopped["usage"]["background"] == later["usage"]["background"] and stopped["background"] is None


@pytest.mark.rule("RL7", "RL8", "RL9", "RL10", "AD2", "AD8", "AD9", "AD10", "AD11")
def test_admin_api_lowers_limits_and_adds_a_second_consumer(
    emulator_factory: Callable[..., EmulatorHandle],
) -> None:
    # gpt-4.1-mini at capacity 600 with a 1 s window: 600 RPM, 10 requests per second.
    handle = emulator_factory("--base-capacity", "600", "--rate-window", "1", "--chat-latency", "0")
    client = handle.openai_v1(max_retries=0)
    handle.lower_limits("gpt-4.1-mini", factor=0.25, seconds=600)
    lowered = call(client)
    assert (lowered.headers["x-ratelimit-limit-requests"], lowered.headers["x-ratelimit-limit-tokens"]) == (
        "150",
        "150000",
    )
    arm = handle.mgmt().deployments.get(handle.resource_group, handle.account, "gpt-4.1-mini")
    assert {r.key: r.count for r in _rate_limits(arm)} == {"request": 10, "token": 600_000}
    handle.clear_rate_pressure()
    assert call(client).headers["x-ratelimit-limit-tokens"] == "600000"

    handle.reset()
    handle.background_load("gpt-4.1-mini", share=0.5)  # 5 requests a second, evenly spaced
    time.sleep(1.1)
    statuses = [call(client).status for _ in range(10)]
    assert statuses == [200] * 5 + [429] * 5
    seen = handle.rate_limits()["gpt-4.1-mini"]
    assert seen["background"]["share"] == 0.5 and seen["usage"]["background"]["admitted"] >= 5
    assert seen["usage"]["app"] == {"admitted": 5, "refused": 5, "tokens": 5 * CHARGE}


@pytest.mark.rule("RL8", "RL9", "AD2")
def test_pressure_flags_apply_from_start_up(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory(
        "--base-capacity",
        "600",
        "--lower-limits",
        "gpt-4.1-mini:0.5:600",
        "--background-load",
        "gpt-4.1-mini:0.1",
    )
    assert call(handle.openai_v1(max_retries=0)).headers["x-ratelimit-limit-tokens"] == "300000"
    seen = handle.rate_limits()["gpt-4.1-mini"]
    assert seen["background"]["share"] == 0.1
    assert [round(lo["factor"], 2) for lo in seen["lowerings"]] == [0.5]
    handle.reset()  # back to start-up: the flags' pressure again
    assert handle.rate_limits()["gpt-4.1-mini"]["enforced"]["tpm"] == 300_000


@pytest.mark.rule("AD9", "AD10")
def test_pressure_requests_are_checked(emulator_reset: EmulatorHandle) -> None:
    def refused(path: str, body: bytes) -> dict[str, Any]:
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(
                urllib.request.Request(
                    f"{emulator_reset.url}/_emulator/{path}",
                    data=body,
                    method="POST",
                    headers={"content-type": "application/json"},
                ),
                context=emulator_reset.ssl_context(),
            )
        assert info.value.code in (400, 404)
        return {"status": info.value.code, **json.loads(info.value.read())["error"]}

    unknown = refused("ratelimit/lower", b'{"deployment": "nope", "factor": 0.5, "seconds": 10}')
    assert (unknown["status"], unknown["param"]) == (404, "deployment")
    zero = refused("ratelimit/lower", b'{"deployment": "gpt-4.1-mini", "factor": 0, "seconds": 10}')
    assert (zero["status"], zero["param"]) == (400, "factor")
    text = refused("ratelimit/load", b'{"deployment": "gpt-4.1-mini", "share": "half"}')
    assert (text["status"], text["param"]) == (400, "share")
    twice = refused("ratelimit/load", b'{"deployment": "gpt-4.1-mini", "share": 0.1, "share": 0.9}')
    assert twice["status"] == 400 and "duplicate keys ['share']" in twice["message"]
