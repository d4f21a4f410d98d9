"""shared/domain/rate_limits.py: limits from model, SKU and capacity; Azure's token charge for a chat request
(checked against the charges observed on Azure, docs/rate-limits.md); and agreement with the emulator's
own copy of the table."""

from __future__ import annotations

from typing import Any

import pytest

from emulator import ratelimit as emulated
from shared.domain.rate_limits import (
    CAPACITY_UNIT_TPM,
    DEFAULT_COMPLETION_RESERVATION,
    MODEL_FAMILIES,
    REQUEST_WINDOW_SECONDS,
    TOKEN_LIMITED_SKUS,
    RateLimit,
    UnknownModelFamily,
    UnsupportedSku,
    deployment_rate_limit,
    estimate_prompt_tokens,
    estimate_request_tokens,
    model_family,
)

Message = dict[str, Any]
"""A chat message as the request body carries it: JSON, the shape both estimators take."""

LIFE: list[Message] = [{"role": "user", "content": "What is the meaning of life?"}]
GRAVITY_QUESTION = (
    "Imagine you are a school teacher and you have a room full of eight year old children. Your task is to "
    "get them excited and interested in science and today's topic is gravity. How would you explain gravity "
    "to captivate their interest?"
)
GRAVITY_ANSWER = (
    "Gravity is a fundamental force of nature that attracts two bodies towards each other. It is the force "
    "that causes objects to fall to the ground when dropped, and it keeps the planets in orbit around the "
    "Sun. The force of gravity is proportional to the mass of the objects and inversely proportional to the "
    "square of the distance between their centers. This concept was described by Isaac Newton in the 17th "
    "century with his law of universal gravitation. Later, Albert Einstein's theory of general relativity, "
    "proposed in the early 20th century, provided a deeper understanding by describing gravity not as a "
    "force, but as a curvature of spacetime caused by mass and energy."
)
CONVERSATION: list[Message] = [
    {
        "role": "system",
        "content": [{"type": "text", "text": "You are an AI assistant that helps people find information."}],
    },
    {"role": "user", "content": [{"type": "text", "text": "What is gravity?"}]},
    {"role": "assistant", "content": [{"type": "text", "text": GRAVITY_ANSWER}]},
    {"role": "user", "content": [{"type": "text", "text": GRAVITY_QUESTION}]},
]
TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "country_capital_lookup",
        "parameters": {"type": "object", "properties": {"country": {"type": "string"}}},
    },
}
AGENT_TURN: list[Message] = [
    {"role": "system", "content": "Use the tool."},
    {"role": "user", "content": "capital of france??"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "c1",
                "type": "function",
                "function": {"name": "country_capital_lookup", "arguments": "{}"},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "Paris"},
]


@pytest.mark.parametrize(
    ("model", "sku", "capacity", "rpm", "tpm", "per_window"),
    [
        ("gpt-4.1-mini", "DeveloperTier", 250, 250, 250_000, 42),
        (
            "gpt-4.1-mini-2025-04-14.ft-0ee45c42591b4f4a8bd4f49ef2301dcd-v01",
            "developertier",
            250,
            250,
            250_000,
            42,
        ),
        ("gpt-4.1", "GlobalStandard", 10, 10, 10_000, 2),
        ("gpt-4.1-nano-2025-04-14", "Standard", 1, 1, 1_000, 1),
        ("gpt-4o", "Standard", 10, 60, 10_000, 10),
        ("gpt-4o-2024-08-06.ft-abc-capitals", "GlobalStandard", 100, 600, 100_000, 100),
        ("gpt-4o-mini-2024-07-18", "DataZoneStandard", 20, 200, 20_000, 34),
        ("o4-mini", "GlobalStandard", 5, 5, 5_000, 1),
    ],
)
def test_limits_from_model_sku_and_capacity(
    model: str, sku: str, capacity: int, rpm: int, tpm: int, per_window: int
) -> None:
    limit = deployment_rate_limit(model, sku, capacity)
    assert (limit.rpm, limit.tpm, limit.window_seconds) == (rpm, tpm, REQUEST_WINDOW_SECONDS)
    assert limit.requests_per_window == per_window
    assert model_family(model) in limit.source


def test_window_share_rounds_up_and_never_drops_to_zero() -> None:
    assert RateLimit(rpm=250, tpm=1, window_seconds=10, source="").requests_per_window == 42
    assert RateLimit(rpm=250, tpm=1, window_seconds=1, source="").requests_per_window == 5
    assert RateLimit(rpm=1, tpm=1, window_seconds=10, source="").requests_per_window == 1
    assert RateLimit(rpm=600, tpm=1, window_seconds=60, source="").requests_per_window == 600


def test_unknown_models_and_skus_are_refused_with_the_fix() -> None:
    with pytest.raises(UnknownModelFamily, match=r"o3-mini.*gpt-4\.1-mini.*docs/rate-limits\.md"):
        deployment_rate_limit("o3-mini", "GlobalStandard", 10)
    with pytest.raises(UnsupportedSku, match="ProvisionedManaged"):
        deployment_rate_limit("gpt-4o", "ProvisionedManaged", 50)
    with pytest.raises(ValueError, match="capacity"):
        deployment_rate_limit("gpt-4o", "Standard", 0)


def test_charges_observed_on_azure() -> None:
    # aoai-testing results/chat-gpt-4.md (gpt-4 and gpt-4o, 2024-08): remaining-tokens deltas.
    assert estimate_request_tokens(LIFE) == 648
    assert estimate_request_tokens([{"role": "user", "content": GRAVITY_QUESTION}]) == 699
    assert estimate_request_tokens(CONVERSATION) == 888
    assert estimate_request_tokens(LIFE, max_tokens=1000) == 1008
    assert estimate_request_tokens(LIFE, max_tokens=2000) == 2008


def test_tools_tool_calls_and_choices_are_charged() -> None:
    without_tools = estimate_prompt_tokens(AGENT_TURN)
    # system 13 chars, user 19, the call's name + arguments 24, tool result 5: //4 + 1 each.
    assert without_tools == 4 + 5 + 7 + 2
    assert estimate_prompt_tokens(AGENT_TURN, [TOOL]) > without_tools
    assert estimate_request_tokens(LIFE, max_tokens=100, n=3) == 8 + 300
    assert estimate_request_tokens(LIFE) - estimate_prompt_tokens(LIFE) == DEFAULT_COMPLETION_RESERVATION


def test_the_emulator_enforces_the_same_table_and_charge() -> None:
    assert {f: r.rpm_per_unit for f, r in MODEL_FAMILIES.items()} == emulated.RPM_PER_UNIT
    assert {r.tpm_per_unit for r in MODEL_FAMILIES.values()} == {
        CAPACITY_UNIT_TPM,
        emulated.CAPACITY_UNIT_TPM,
    }
    assert TOKEN_LIMITED_SKUS == emulated.TOKEN_LIMITED_SKUS
    assert REQUEST_WINDOW_SECONDS == emulated.DEFAULT_REQUEST_WINDOW
    assert DEFAULT_COMPLETION_RESERVATION == emulated.DEFAULT_COMPLETION_RESERVATION
    for model in (
        "gpt-4.1-mini-2025-04-14.ft-0ee45c42591b4f4a8bd4f49ef2301dcd-v01",
        "gpt-4o-mini-2024-07-18.ft-06366e441ee24a0ea242014fea8fbc3a-capitals",
        "gpt-4.1-nano-2025-04-14",
        "gpt-4o",
    ):
        assert model_family(model) == emulated.model_family(model)
    for family in MODEL_FAMILIES:
        for sku in TOKEN_LIMITED_SKUS:
            ours = deployment_rate_limit(family, sku, 37)
            theirs = emulated.limits_for(family, sku, 37, window=REQUEST_WINDOW_SECONDS, scale=1)
            assert theirs is not None
            assert (ours.rpm, ours.tpm, ours.requests_per_window) == (
                theirs.rpm,
                theirs.tpm,
                theirs.requests_per_window,
            )
    cases: list[tuple[list[Message], list[dict[str, Any]] | None, int | None]] = [
        (LIFE, None, None),
        (CONVERSATION, None, 50),
        (AGENT_TURN, [TOOL], None),
        (AGENT_TURN, [TOOL], 7),
    ]
    for messages, tools, max_tokens in cases:
        assert estimate_request_tokens(messages, tools=tools, max_tokens=max_tokens) == (
            emulated.estimate_request_tokens(messages, tools, max_tokens)
        )
