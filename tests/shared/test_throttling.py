"""shared/azure/throttling.py: the pacing arithmetic (on a clock passed in), the transport's retries (on
httpx2's MockTransport, a boundary we do not own, with a fake clock), ARM's reported limits and the
stage's sizing. The whole path against the emulator is tested in tests/app/test_rollout_scale.py; a
probe the emulator answers 500 is tested here, against the session emulator."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx2
import pytest

from emulator.launch import AZURE_API_VERSION, TEACHER_DEPLOYMENT, EmulatorHandle
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
    pacer = Pacer(budget(60), answered=True)
    assert pacer.shares() == (9, 57)
    first = slots(pacer, 20)
    assert first[:9] == [0.0] * 9
    assert first[9:18] == [10 + WINDOW_MARGIN_SECONDS] * 9
    assert first[18:] == [2 * (10 + WINDOW_MARGIN_SECONDS)] * 2
    many = slots(Pacer(budget(60), answered=True), 58)
    assert many[57] >= 60, "the 58th request of a minute waits for the first to leave it"


def test_tokens_are_booked_as_azure_books_them() -> None:
    """1,000 TPM (950 paced): two requests of 400 tokens fit, the third waits a minute."""
    pacer = Pacer(budget(600, tpm=1000), answered=True)
    assert slots(pacer, 3, tokens=400) == [0.0, 0.0, 60 + WINDOW_MARGIN_SECONDS]
    huge = Pacer(budget(600, tpm=1000), answered=True)
    assert slots(huge, 2, tokens=5000) == [0.0, 0.0], "larger than the TPM: sent, Azure answers why"


def test_a_429_closes_the_gate_and_lowers_the_shares_once_per_burst() -> None:
    pacer = Pacer(budget(600), answered=True)
    early = pacer.reserve(0, 0.0)
    pacer.throttled(5.0, now=1.0)
    pacer.throttled(4.0, now=1.5)
    assert pacer.stale(early, 1.5)
    assert pacer.reserve(0, 2.0).slot == 6.0
    assert pacer.factor == pytest.approx(0.7), "one slow-down for one burst of 429s"
    pacer.throttled(1.0, now=7.0)
    assert pacer.factor == pytest.approx(0.49)
    for _ in range(100):
        pacer.admitted()
    assert pacer.factor == 1.0


def test_a_429_at_the_edge_of_its_own_full_window_is_jitter_not_a_reason_to_slow_down() -> None:
    pacer = Pacer(budget(60), answered=True)
    slots(pacer, 9)
    pacer.throttled(0.2, now=0.1)
    assert pacer.factor == 1.0
    assert pacer.reserve(0, 0.1).slot == 10 + WINDOW_MARGIN_SECONDS, "the window's own edge still holds"


def test_a_refused_request_counts_in_the_request_window_but_books_no_tokens() -> None:
    """Azure counts a 429 in its request windows, not in the tokens (docs/rate-limits.md, rule 3), and
    a request that failed after it arrived (a 5xx) as well; one that never left (no connection made)
    is forgotten."""
    pacer = Pacer(budget(60, tpm=1000), answered=True)
    bookings = [pacer.reserve(400, 0.0) for _ in range(2)]
    pacer.refused(bookings[-1])
    assert bookings[-1].tokens == 0
    assert slots(pacer, 7, now=0.0) == [0.0] * 7, "the refused request still holds one of the 9"
    assert pacer.reserve(0, 0.0).slot == 10 + WINDOW_MARGIN_SECONDS
    assert pacer.reserve(500, 0.0).slot == 10 + WINDOW_MARGIN_SECONDS, "its 400 tokens were given back"
    for arrived, next_slot in ((True, 10 + WINDOW_MARGIN_SECONDS), (False, 0.0)):
        failing = Pacer(budget(60), answered=True)
        first = failing.reserve(0, 0.0)
        slots(failing, 8)
        failing.failed(first, 0.0, arrived=arrived)
        assert failing.reserve(0, 0.0).slot == next_slot, f"arrived={arrived}"


def azure_says(pacer: Pacer, booking_slot: float, now: float, **headers: int) -> None:
    """An admitted request booked at ``booking_slot`` comes back at ``now`` with these headers."""
    names = {key: f"x-ratelimit-{key.replace('_', '-')}" for key in headers}
    for item in pacer.bookings:  # the requests booked up to then have left
        if item.sent is None and item.slot <= booking_slot:
            item.sent = item.slot
    booking = next(item for item in pacer.bookings if item.slot == booking_slot)
    pacer.observe(httpx2.Headers({names[key]: str(value) for key, value in headers.items()}), booking, now)


def test_a_fresh_pacer_probes_until_azure_first_answers() -> None:
    """Before any answer it cannot know who else uses the deployment: 2 requests, not a whole window's
    share (Azure would count the refusals too); the first answer opens the plan."""
    pacer = Pacer(budget(600))
    probe = slots(pacer, 3)
    assert probe[:2] == [0.0, 0.0] and probe[2] == 10 + WINDOW_MARGIN_SECONDS
    before = pacer.plan
    azure_says(pacer, 0.0, 1.0, limit_requests=600, remaining_requests=98)
    assert pacer.plan > before, "a request still waiting is booked again"
    assert pacer.shares() == (99, 570)


def test_what_others_use_is_left_to_them() -> None:
    """600 RPM (100 per 10 s). Another consumer sent 50 in the window: of this process's 10 requests
    sent at 0, the one that arrived last saw 40 left; the next plan leaves the others their 50."""
    pacer = Pacer(budget(600, tpm=600_000), answered=True)
    slots(pacer, 10)
    azure_says(pacer, 0.0, 1.0, limit_requests=600, remaining_requests=40)
    assert pacer.shares() == (49, 285), "100 - 1 - 50 per window; 95 % of the 300 a minute left"
    azure_says(pacer, 0.0, 1.2, limit_requests=600, remaining_requests=60)
    assert pacer.shares() == (49, 285), "an answer that arrived before the others of its moment undercounts"
    # 12 s later (past the window) a new answer shows the other consumer gone.
    slots(pacer, 1, now=13.0)
    azure_says(pacer, 13.0, 13.5, limit_requests=600, remaining_requests=99)
    assert pacer.shares() == (99, 570)


def test_a_lowered_limit_is_paced_to_until_azure_raises_it_again() -> None:
    """Azure lowers the limit for a while: its headers show the lower per-minute limit, ARM does not."""
    pacer = Pacer(budget(600, tpm=600_000), answered=True)
    slots(pacer, 1)
    azure_says(pacer, 0.0, 0.5, limit_requests=300, limit_tokens=300_000, remaining_requests=49)
    assert pacer.limits() == (300, 300_000)
    assert pacer.shares() == (49, 285)
    slots(pacer, 1, now=1.0)
    azure_says(pacer, 1.0, 1.5, limit_requests=600, limit_tokens=600_000, remaining_requests=98)
    assert pacer.shares() == (99, 570)


def test_others_keep_their_share_when_azure_lowers_the_limit() -> None:
    """The other consumer meets the same lowered limit: half of 600 before is half of 300 after, so a
    429 that brings the lower limit in its headers moves the plan to it without slowing down further
    (the lowering explains the 429; nobody new came)."""
    pacer = Pacer(budget(600, tpm=600_000), answered=True)
    slots(pacer, 10)
    azure_says(pacer, 0.0, 1.0, limit_requests=600, remaining_requests=40)
    assert pacer.shares() == (49, 285)
    lowered = httpx2.Headers({"x-ratelimit-limit-requests": "300", "x-ratelimit-limit-tokens": "300000"})
    pacer.throttled(2.0, now=2.0, headers=lowered)
    assert pacer.limits() == (300, 300_000)
    assert pacer.factor == 1.0, "a lowering is not someone else using the deployment"
    assert pacer.shares() == (24, 142), "50 - 1 - 25 per window; 95 % of the 150 a minute left"


def test_what_others_use_is_capped_and_forgotten_when_azure_stops_saying_it() -> None:
    """A header that says nothing is left while this process sent one request would leave it nothing:
    others get at most MOST_OTHERS of the limit. An answer older than a minute no longer counts, and a
    request waiting on a plan made from it is booked again."""
    pacer = Pacer(budget(600), answered=True)
    slots(pacer, 1)
    azure_says(pacer, 0.0, 0.5, limit_requests=600, remaining_requests=0)
    assert pacer.shares() == (9, 56), "100 - 1 - 90 per window; 95 % of the 60 a minute left, rounded down"
    waiting = pacer.reserve(0, 1.0)
    assert not pacer.stale(waiting, 30.0)
    assert pacer.stale(waiting, 61.0), "what Azure said a minute ago no longer holds"
    assert pacer.shares() == (99, 570)


def test_tokens_others_booked_are_left_to_them() -> None:
    pacer = Pacer(budget(600, tpm=10_000), answered=True)
    slots(pacer, 1, tokens=1000)
    azure_says(
        pacer, 0.0, 0.5, limit_requests=600, limit_tokens=10_000, remaining_requests=99, remaining_tokens=4000
    )
    # 10,000 - 4,000 left - 1,000 its own: 5,000 are someone else's; 95 % of the other 5,000 paced.
    assert pacer.reserve(3000, 1.0).slot == 1.0
    assert pacer.reserve(1000, 1.0).slot == 60 + WINDOW_MARGIN_SECONDS


def test_answers_without_the_headers_change_nothing() -> None:
    """Older observations show Azure may leave the headers out: then ARM's limit and the 429s pace."""
    pacer = Pacer(budget(600), answered=True)
    slots(pacer, 1)
    pacer.observe(httpx2.Headers({}), pacer.bookings[0], 1.0)
    assert (pacer.limits(), pacer.shares()) == ((600, None), (99, 570))


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
    transport: httpx2.AsyncBaseTransport,
    clock: Clock,
    request: httpx2.Request | None = None,
    pacers: Pacers | None = None,
) -> tuple[httpx2.Response, CallStats]:
    throttling = ThrottlingTransport(transport, pacers=pacers or Pacers(), clock=clock, sleep=clock.sleep)
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


@pytest.mark.parametrize(
    "failure",
    [(500, 500, 500), (400,), (httpx2.ReadTimeout("slow"),) * 3],
    ids=["5xx", "4xx", "timeout"],
)
async def test_a_probe_that_ends_without_an_answer_holds_the_next_request_no_longer(
    failure: tuple[int | Exception, ...],
) -> None:
    """After a 429 one request goes when the gate opens and the next waits a window for its answer; if
    the probe's call ends otherwise (5xx to the last retry, another error status, timeouts), that ends
    the probe too: the next call goes at once, not a request window (10.5 s) later."""
    clock, pacers = Clock(), Pacers()
    pacers.configure("dep", budget(600))
    transport, _ = scripted(429, *failure)
    with contextlib.suppress(httpx2.ReadTimeout):
        await send(transport, clock, pacers=pacers)
    before = clock.now
    response, _ = await send(scripted(200)[0], clock, pacers=pacers)
    assert (response.status_code, clock.now) == (200, before), "sent at once, no wait"
    assert pacers.get("dep").answered


class Recording(httpx2.AsyncBaseTransport):
    """The real transport, noting for each answered request when it left, when its answer came and
    its status."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner
        self.sent: list[tuple[float, float, int]] = []

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        left = time.monotonic()
        response = await self._inner.handle_async_request(request)
        self.sent.append((left, time.monotonic(), response.status_code))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_against_the_emulator_a_probe_answered_500_holds_the_queue_no_longer(
    emulator_reset: EmulatorHandle,
) -> None:
    """A call meets a 429; while it waits out the gate two more calls queue behind it. When the gate
    opens, one request goes (the probe) and the emulator answers it 500: the calls behind it go within
    a second or so (a look at their booking, the probe's backoff), not a request window (10.5 s) on."""
    emulator_reset.set_faults(
        routes=[
            {"route": "chat", "status": 429, "count": 1, "retry_after": 0.5},
            {"route": "chat", "status": 500, "count": 1},
        ]
    )
    pacers = Pacers()
    pacers.configure(TEACHER_DEPLOYMENT, budget(600))
    recording = Recording(httpx2.AsyncHTTPTransport(verify=emulator_reset.ssl_context()))
    url = f"{emulator_reset.url}/openai/deployments/{TEACHER_DEPLOYMENT}/chat/completions"
    async with httpx2.AsyncClient(
        transport=ThrottlingTransport(recording, pacers=pacers),
        params={"api-version": AZURE_API_VERSION},
        headers={"api-key": "test-key"},
        timeout=30,
    ) as client:

        async def chat() -> int:
            response = await client.post(url, json={"messages": MESSAGES, "max_tokens": 16})
            return response.status_code

        first = asyncio.create_task(chat())
        while not recording.sent:
            await asyncio.sleep(0.01)
        queued = [asyncio.create_task(chat()) for _ in range(2)]
        statuses = await asyncio.gather(first, *queued)
    assert statuses == [200, 200, 200]
    assert [status for _, _, status in recording.sent] == [429, 500, 200, 200, 200]
    (_, refused, _), (probe_left, probe_failed, _), (next_left, _, _) = recording.sent[:3]
    assert probe_left - refused >= 0.5, "the probe waited out the 429's retry-after"
    assert next_left - probe_failed < 3.0, "the queue went on, not a request window (10.5 s) later"


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
