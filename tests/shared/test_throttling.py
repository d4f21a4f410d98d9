"""shared/azure/throttling.py: the pacing arithmetic (on a clock passed in), the transport's retries (on
httpx2's MockTransport, a boundary we do not own, with a fake clock), ARM's reported limits and the
stage's sizing. The whole path against the emulator is tested in tests/app/test_rollout_scale.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx2
import pytest

from orchestrators.rollout_stage import LANES_WITHOUT_A_LIMIT, MAX_LANES, lane_count
from shared.azure.throttling import (
    CURRENT_CALLS,
    DEFAULT_RETRY_AFTER_SECONDS,
    WINDOW_MARGIN_SECONDS,
    CallStats,
    Pacer,
    Pacers,
    ThrottlingTransport,
    chat_deployment,
    request_tokens,
    retry_after_seconds,
)
from shared.contracts.payloads import RateBudget, RolloutStage
from shared.domain.rate_limits import RateLimit, estimate_request_tokens, reported_rate_limit

CHAT_URL = "https://aoai.example/openai/deployments/dep/chat/completions?api-version=2025-04-01-preview"
MESSAGES = [{"role": "system", "content": "You answer questions."}, {"role": "user", "content": "Capital?"}]


def budget(rpm: int, tpm: int | None = None) -> RateBudget:
    return RateBudget(rpm=rpm, tpm=tpm, window_seconds=10, source="test")


def slots(pacer: Pacer, count: int, tokens: int = 0, now: float = 0.0) -> list[float]:
    return [pacer.reserve(tokens, now).slot for _ in range(count)]


def test_a_window_share_goes_at_once_then_the_windows_slide() -> None:
    """60 RPM: Azure admits 10 per 10 s; the pacing sends 9 at once, the next 9 once they have left
    the window (plus the margin), and never more than 57 (95 %) in a minute."""
    pacer = Pacer(budget(60))
    assert pacer.shares() == (9, 57)
    first = slots(pacer, 20)
    assert first[:9] == [0.0] * 9
    assert first[9:18] == [10 + WINDOW_MARGIN_SECONDS] * 9
    assert first[18:] == [2 * (10 + WINDOW_MARGIN_SECONDS)] * 2
    many = slots(Pacer(budget(60)), 58)
    assert many[57] >= 60, "the 58th request of a minute waits for the first to leave it"


def test_tokens_are_booked_as_azure_books_them() -> None:
    """1,000 TPM (950 paced): two requests of 400 tokens fit, the third waits a minute."""
    pacer = Pacer(budget(600, tpm=1000))
    assert slots(pacer, 3, tokens=400) == [0.0, 0.0, 60 + WINDOW_MARGIN_SECONDS]
    huge = Pacer(budget(600, tpm=1000))
    assert slots(huge, 2, tokens=5000) == [0.0, 0.0], "larger than the TPM: sent, Azure answers why"


def test_a_429_closes_the_gate_and_lowers_the_shares_once_per_burst() -> None:
    pacer = Pacer(budget(600))
    early = pacer.reserve(0, 0.0)
    pacer.throttled(5.0, now=1.0)
    pacer.throttled(4.0, now=1.5)
    assert pacer.gated(early)
    assert pacer.reserve(0, 2.0).slot == 6.0
    assert pacer.factor == pytest.approx(0.7), "one slow-down for one burst of 429s"
    pacer.throttled(1.0, now=7.0)
    assert pacer.factor == pytest.approx(0.49)
    for _ in range(100):
        pacer.admitted()
    assert pacer.factor == 1.0


def test_a_429_at_the_edge_of_its_own_full_window_is_jitter_not_a_reason_to_slow_down() -> None:
    pacer = Pacer(budget(60))
    slots(pacer, 9)
    pacer.throttled(0.2, now=0.1)
    assert pacer.factor == 1.0
    assert pacer.reserve(0, 0.1).slot == 10 + WINDOW_MARGIN_SECONDS, "the window's own edge still holds"


def test_a_refused_request_books_nothing() -> None:
    pacer = Pacer(budget(60))
    bookings = [pacer.reserve(0, 0.0) for _ in range(9)]
    pacer.release(bookings[-1])
    assert pacer.reserve(0, 0.0).slot == 0.0


def test_without_a_known_limit_only_the_gate_holds_requests() -> None:
    pacer = Pacer()
    assert slots(pacer, 100, now=3.0) == [3.0] * 100
    pacer.throttled(2.0, now=3.0)
    assert pacer.reserve(0, 3.0).slot == 5.0


def test_a_new_limit_starts_again_from_the_full_rate() -> None:
    pacers = Pacers()
    pacers.configure("dep", budget(60))
    pacers.get("dep").throttled(1.0, now=0.0)
    pacers.configure("dep", budget(60))
    assert pacers.get("dep").factor == pytest.approx(0.7), "the same limit keeps what was learned"
    pacers.configure("dep", budget(120))
    assert pacers.get("dep").factor == 1.0


def test_retry_after_headers_are_read_as_the_openai_sdk_reads_them() -> None:
    assert retry_after_seconds(httpx2.Headers({"retry-after-ms": "1500", "retry-after": "2"})) == 1.5
    assert retry_after_seconds(httpx2.Headers({"retry-after": "7"})) == 7.0
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < retry_after_seconds(httpx2.Headers({"retry-after": later})) <= 30
    assert retry_after_seconds(httpx2.Headers({})) == DEFAULT_RETRY_AFTER_SECONDS
    assert retry_after_seconds(httpx2.Headers({"retry-after": "soon"})) == DEFAULT_RETRY_AFTER_SECONDS


def chat_request(url: str = CHAT_URL, **body: object) -> httpx2.Request:
    return httpx2.Request("POST", url, json={"messages": MESSAGES, **body})


def test_chat_requests_are_recognised_and_charged_as_azure_charges_them() -> None:
    assert chat_deployment(chat_request()) == "dep"
    assert (
        chat_deployment(chat_request("https://aoai.example/openai/v1/chat/completions", model="v1dep"))
        == "v1dep"
    )
    assert chat_deployment(httpx2.Request("GET", "https://aoai.example/openai/v1/files")) is None
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    request = chat_request(tools=tools, max_tokens=100)
    assert request_tokens(request) == estimate_request_tokens(MESSAGES, tools=tools, max_tokens=100)
    assert request_tokens(chat_request()) == estimate_request_tokens(MESSAGES)


class Clock:
    """Time that moves only when the transport sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def scripted(
    *answers: int | Exception, headers: dict[str, str] | None = None
) -> tuple[httpx2.MockTransport, list[int]]:
    """A server that gives ``answers`` in turn (a status, or an exception to raise)."""
    calls: list[int] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        answer = answers[min(len(calls), len(answers) - 1)]
        calls.append(1)
        if isinstance(answer, Exception):
            raise answer
        retry = {"retry-after-ms": "200"} if answer == 429 else {}
        return httpx2.Response(answer, headers={**(headers or {}), **retry}, json={"ok": answer == 200})

    return httpx2.MockTransport(handle), calls


async def send(
    transport: httpx2.MockTransport, clock: Clock, request: httpx2.Request | None = None
) -> tuple[httpx2.Response, CallStats]:
    throttling = ThrottlingTransport(transport, pacers=Pacers(), clock=clock, sleep=clock.sleep)
    stats = CallStats()
    token = CURRENT_CALLS.set(stats)
    try:
        async with httpx2.AsyncClient(transport=throttling) as client:
            response = await client.send(request or chat_request())
    finally:
        CURRENT_CALLS.reset(token)
    return response, stats


async def test_429s_are_waited_out_and_counted() -> None:
    clock = Clock()
    transport, calls = scripted(429, 429, 200, headers={"x-ratelimit-remaining-requests": "3"})
    response, stats = await send(transport, clock)
    assert response.status_code == 200
    assert (len(calls), stats.throttled_retries) == (3, 2)
    assert stats.throttle_wait_seconds == pytest.approx(0.4)
    assert sum(clock.sleeps) == pytest.approx(0.4), "each retry waited for the gate its 429 closed"
    assert stats.lowest_remaining_requests == 3


async def test_a_429_beyond_the_rollouts_patience_goes_back_to_the_caller() -> None:
    clock = Clock()

    def handle(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(429, headers={"retry-after": "86400"}, json={"error": {"code": "429"}})

    response, stats = await send(httpx2.MockTransport(handle), clock)
    assert response.status_code == 429
    assert (stats.throttled_retries, clock.sleeps) == (0, [0.0]), "no day-long wait inside a rollout"


@pytest.mark.parametrize(
    ("answers", "status", "attempts"),
    [((500, 503, 200), 200, 3), ((500, 502, 504, 200), 504, 3), ((400,), 400, 1)],
)
async def test_server_errors_are_retried_twice_and_client_errors_not_at_all(
    answers: tuple[int, ...], status: int, attempts: int
) -> None:
    transport, calls = scripted(*answers)
    response, stats = await send(transport, Clock())
    assert (response.status_code, len(calls), stats.throttled_retries) == (status, attempts, 0)


async def test_connection_failures_are_retried_twice_then_raised() -> None:
    transport, calls = scripted(httpx2.ConnectError("refused"), httpx2.ConnectError("refused"), 200)
    response, _ = await send(transport, Clock())
    assert (response.status_code, len(calls)) == (200, 3)
    failing, tries = scripted(httpx2.ConnectError("refused"))
    with pytest.raises(httpx2.ConnectError):
        await send(failing, Clock())
    assert len(tries) == 3


async def test_requests_other_than_chat_pass_through_untouched() -> None:
    transport, calls = scripted(429)
    response, stats = await send(
        transport, Clock(), httpx2.Request("GET", "https://aoai.example/openai/v1/files")
    )
    assert (response.status_code, len(calls), stats.throttled_retries) == (429, 1, 0)


def test_arm_reported_limits_come_first_and_fill_in_from_the_table() -> None:
    """[M1]: request 60 per 10 s and 60,000 tokens per 60 s; a provisioned deployment reports only
    the request rule (working-with-models, 2025)."""
    reported = reported_rate_limit([("request", 10, 60), ("token", 60, 60000)], None)
    assert reported is not None
    assert (reported.rpm, reported.tpm, reported.window_seconds) == (360, 60000, 10.0)
    derived = RateLimit(rpm=100, tpm=100_000, window_seconds=10, source="table")
    only_requests = reported_rate_limit([("request", 10, 300)], derived)
    assert only_requests is not None and (only_requests.rpm, only_requests.tpm) == (1800, 100_000)
    assert reported_rate_limit([("request", 10, 300)], None) is not None
    assert reported_rate_limit([("token", 60, 1000)], derived) is None
    assert reported_rate_limit([], derived) is None


def stage_of(count: int, max_concurrent: int | None = None) -> RolloutStage:
    return RolloutStage(
        run_id="r",
        iteration=1,
        group="train",
        split="train",
        agent="capital_lookup",
        dataset=None,
        deployment="dep",
        start=0,
        count=count,
        modulo=50,
        max_concurrent=max_concurrent,
        retry_interval_seconds=1,
        retry_max_attempts=3,
    )


@pytest.mark.parametrize(
    ("count", "rpm", "override", "lanes"),
    [
        (1000, 250, None, 12),  # 250 RPM: 4.2 calls/s x 0.95 x 3 s
        (1000, 2500, None, 119),
        (1000, 100_000, None, MAX_LANES),
        (24, 2500, None, 24),  # never more than the stage's rollouts
        (1000, None, None, LANES_WITHOUT_A_LIMIT),
        (1000, 250, 500, 500),  # max_concurrent_rollouts overrides
        (3, 250, 500, 3),
    ],
)
def test_lanes_are_sized_from_the_limit(
    count: int, rpm: int | None, override: int | None, lanes: int
) -> None:
    assert lane_count(stage_of(count, override), budget(rpm) if rpm else None) == lanes
