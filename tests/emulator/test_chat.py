"""Chat completions on both surfaces: replies, usage, headers, not-found cases, faults, and concurrency
(rate limits: test_ratelimit.py)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest
from azure.mgmt.cognitiveservices.models import Deployment, DeploymentModel, DeploymentProperties, Sku
from openai import Omit, omit
from openai.types.chat import ChatCompletionMessageParam

from tests.emulator.support import SDK_TOOL, SYSTEM, first_function_call, properties, run_agent
from tests.fixtures.emulator import EmulatorHandle

pytestmark = pytest.mark.timeout(60)
QUESTION: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "What is the capital of France?"},
]


@pytest.mark.rule("P10", "P11", "RL5")
def test_both_surfaces_answer_the_same(emulator_reset: EmulatorHandle) -> None:
    azure = emulator_reset.azure_openai().chat.completions.with_raw_response.create(
        model="gpt-4.1-mini", messages=QUESTION, tools=[SDK_TOOL]
    )
    v1 = emulator_reset.openai_v1().chat.completions.create(
        model="gpt-4.1-mini", messages=QUESTION, tools=[SDK_TOOL]
    )
    parsed = azure.parse()
    assert parsed.choices[0].message.model_dump() == v1.choices[0].message.model_dump()
    assert parsed.model == "gpt-4.1-mini-2025-04-14"
    assert parsed.object == "chat.completion"
    usage = parsed.usage
    assert usage is not None
    assert usage.prompt_tokens > 0
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert int(azure.headers["x-ratelimit-remaining-requests"]) < int(
        azure.headers["x-ratelimit-limit-requests"]
    )
    assert int(azure.headers["x-ratelimit-remaining-tokens"]) > 0


@pytest.mark.rule("B1")
def test_a_seed_is_a_draw_of_its_own_and_the_same_seed_the_same_draw(emulator_reset: EmulatorHandle) -> None:
    """At the default temperature a request's seed samples: over 40 seeds the base model (skill 0.35)
    both calls the tool and answers directly; each seed repeats its draw; without a seed, or at
    temperature 0, every request of the same content gets the same reply."""
    client = emulator_reset.azure_openai()

    def reply(seed: int | Omit = omit, temperature: float | Omit = omit) -> str:
        message = (
            client.chat.completions.create(
                model="gpt-4.1-mini",
                messages=QUESTION,
                tools=[SDK_TOOL],
                seed=seed,
                temperature=temperature,
            )
            .choices[0]
            .message
        )
        return json.dumps(message.model_dump(include={"content", "tool_calls"}), sort_keys=True, default=str)

    seeded = [reply(seed=seed) for seed in range(40)]
    assert len(set(seeded)) > 1, "other seeds, other samples"
    assert [reply(seed=seed) for seed in range(5)] == seeded[:5], "the same seed, the same sample"
    assert len({reply() for _ in range(5)}) == 1
    assert len({reply(seed=seed, temperature=0) for seed in range(10)}) == 1


@pytest.mark.rule("B3")
def test_tool_call_shape_and_answer_from_tool(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    handle = emulator_factory("--skill", "1.0")
    client = handle.azure_openai()
    first = client.chat.completions.create(
        model="gpt-4.1-mini", messages=QUESTION, tools=[SDK_TOOL], tool_choice="auto"
    )
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    call = first_function_call(choice.message)
    assert call.function.name == "country_capital_lookup"
    assert json.loads(call.function.arguments) == {"country": "France"}
    assert "Paris" in run_agent(client, "gpt-4.1-mini", "capital of france??")
    plain = client.chat.completions.create(model="gpt-4.1-mini", messages=QUESTION)
    assert plain.choices[0].finish_reason == "stop"
    content = plain.choices[0].message.content
    assert content is not None
    assert "France" in content


@pytest.mark.rule("V4", "AD12")
def test_deployment_not_found_cases(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.openai_v1(max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        client.chat.completions.create(model="nope", messages=QUESTION)
    assert info.value.code == "DeploymentNotFound"
    emulator_reset.set_faults(not_found_window=1000, provisioning_slowdown=1)  # 10 s at scale 0.01
    mgmt = emulator_reset.mgmt()
    body = Deployment(
        sku=Sku(name="GlobalStandard", capacity=1),
        properties=DeploymentProperties(
            model=DeploymentModel(format="OpenAI", name="gpt-4.1-mini", version="2025-04-14")
        ),
    )
    poller = mgmt.deployments.begin_create_or_update(
        emulator_reset.resource_group, emulator_reset.account, "fresh", body
    )
    with pytest.raises(openai.NotFoundError):  # still Creating
        client.chat.completions.create(model="fresh", messages=QUESTION)
    assert properties(poller.result()).provisioning_state == "Succeeded"
    with pytest.raises(openai.NotFoundError):  # Succeeded, but inside the injected window
        client.chat.completions.create(model="fresh", messages=QUESTION)
    emulator_reset.advance_clock(11)
    assert client.chat.completions.create(model="fresh", messages=QUESTION).choices


@pytest.mark.rule("AD3", "AD12")
def test_route_faults(emulator_reset: EmulatorHandle) -> None:
    client = emulator_reset.openai_v1(max_retries=0)
    emulator_reset.set_faults(routes=[{"route": "chat", "status": 429, "count": 1, "retry_after": 0.05}])
    with pytest.raises(openai.RateLimitError) as info:
        client.chat.completions.create(model="gpt-4.1-mini", messages=QUESTION)
    assert info.value.response.headers["retry-after-ms"] == "50"
    assert client.chat.completions.create(model="gpt-4.1-mini", messages=QUESTION).choices
    emulator_reset.set_faults(
        routes=[{"route": "files", "status": 503, "count": 1}, {"route": "jobs", "status": 500, "count": 1}]
    )
    with pytest.raises(openai.InternalServerError) as unavailable:
        client.files.list()
    assert unavailable.value.status_code == 503
    with pytest.raises(openai.InternalServerError):
        client.fine_tuning.jobs.list()
    retrying = emulator_reset.openai_v1(max_retries=2)
    emulator_reset.set_faults(routes=[{"route": "chat", "status": 429, "count": 1, "retry_after": 0.01}])
    assert retrying.chat.completions.create(model="gpt-4.1-mini", messages=QUESTION).choices  # SDK retried
    emulator_reset.set_faults(routes=[{"route": "all", "status": 500, "rate": 1.0}])
    with pytest.raises(openai.InternalServerError):
        client.files.list()
    assert emulator_reset.clear_faults()["routes"] == []
    assert client.files.list().data == []


@pytest.mark.rule("AD12")
def test_rate_fault_is_seeded(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    outcomes = []
    for _ in range(2):
        handle = emulator_factory("--fault-rate", "chat:500:0.5")
        client = handle.openai_v1(max_retries=0)
        run = []
        for _ in range(12):
            try:
                client.chat.completions.create(model="gpt-4.1-mini", messages=QUESTION)
                run.append(True)
            except openai.InternalServerError:
                run.append(False)
        outcomes.append(run)
    assert outcomes[0] == outcomes[1] and True in outcomes[0] and False in outcomes[0]


def test_concurrent_requests_overlap(emulator_factory: Callable[..., EmulatorHandle]) -> None:
    # Capacity 1000 (1,000 RPM, 167 per 10 s) so the burst tests overlap, not rate limits.
    handle = emulator_factory("--chat-latency", "0.5", "--base-capacity", "1000")
    client = handle.openai_v1()
    client.chat.completions.create(model="gpt-4.1-mini", messages=QUESTION)  # warm the connection
    questions = [
        [*QUESTION[:1], {"role": "user", "content": f"capital of country number {i}?"}] for i in range(24)
    ]
    started = time.monotonic()
    with ThreadPoolExecutor(24) as pool:
        replies = list(
            pool.map(lambda m: client.chat.completions.create(model="gpt-4.1-mini", messages=m), questions)
        )
    elapsed = time.monotonic() - started
    assert len(replies) == 24 and elapsed < 2.5  # 24 x 0.5 s in series would be 12 s
