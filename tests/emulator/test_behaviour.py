"""The behaviour model as pure functions: recognition, determinism, labelling, and the learning rule."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from emulator.behaviour import classify, respond, trained_skill
from emulator.countries import COUNTRIES, find_country
from tests.emulator.support import SYSTEM, TOOL, failure_example, questions, success_example

pytestmark = pytest.mark.timeout(60)


@pytest.mark.rule("B2")
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("What is the capital of France?", "France"),
        ("capital of japan??", "Japan"),
        ("Tell me Kenya's capital.", "Kenya"),
        ("CAPITAL OF SOUTH AFRICA", "South Africa"),
        ("what's the capital of the US?", "United States"),
        ("tell us a joke", None),
    ],
)
def test_find_country(text: str, expected: str | None) -> None:
    country = find_country(text)
    assert (country.name if country else None) == expected


def _ask(question: str, skill: float, model: str = "m", tool_choice: Any = "auto") -> Any:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    return respond(
        seed=7,
        model=model,
        skill=skill,
        knowledge=0.2,
        messages=messages,
        tools=[TOOL],
        tool_choice=tool_choice,
    )


@pytest.mark.rule("B1", "B3")
def test_same_request_same_reply_and_skill_extremes() -> None:
    assert _ask("capital of japan??", 0.5) == _ask("capital of japan??", 0.5)
    perfect = _ask("What is the capital of France?", 1.0)
    assert perfect.tool_name == "country_capital_lookup" and perfect.arguments == {"country": "France"}
    hopeless = _ask("What is the capital of France?", 0.0)
    assert not hopeless.is_tool_call and "France" in (hopeless.content or "")


@pytest.mark.rule("B3")
def test_tool_choice_none_and_required_override_skill() -> None:
    assert not _ask("capital of japan??", 1.0, tool_choice="none").is_tool_call
    forced = _ask(
        "capital of japan??",
        0.0,
        tool_choice={"type": "function", "function": {"name": TOOL["function"]["name"]}},
    )
    assert forced.arguments == {"country": "Japan"}


@pytest.mark.rule("B3")
def test_skilled_model_answers_from_tool_result() -> None:
    messages = success_example("What is the capital of Peru?", "Peru", "Lima")["messages"][:-1]
    reply = respond(
        seed=7, model="m", skill=1.0, knowledge=0.0, messages=messages, tools=[TOOL], tool_choice="auto"
    )
    assert reply.content == "The capital of Peru is Lima."


@pytest.mark.rule("B3")
def test_tool_call_rate_tracks_skill() -> None:
    cases = questions()
    rate = sum(_ask(q, 0.35).is_tool_call for q, _ in cases) / len(cases)
    assert 0.2 < rate < 0.5


@pytest.mark.rule("B4")
def test_classify_and_update_direction() -> None:
    good = classify([success_example("capital of japan??", "Japan", "Tokyo")])
    bad = classify([failure_example("capital of japan??", "Japan", "Osaka")])
    assert (good.good, good.bad) == (2, 0)
    assert (bad.good, bad.bad) == (0, 1)
    assert (
        trained_skill(0.35, classify([success_example("capital of japan??", "Japan", "Tokyo")] * 10), 1, 1.0)
        > 0.6
    )
    assert (
        trained_skill(0.35, classify([failure_example("capital of japan??", "Japan", "Osaka")] * 10), 1, 1.0)
        < 0.2
    )
    weak = trained_skill(
        0.35, classify([success_example("capital of japan??", "Japan", "Tokyo")] * 10), 1, 0.1
    )
    assert 0.35 < weak < 0.5
    assert (
        trained_skill(0.35, classify([{"messages": [{"role": "assistant", "content": "hi"}]}]), 3, 1.0)
        == 0.35
    )


def _rollout(model: str, skill: float, question: str, capital: str) -> tuple[list[dict[str, Any]], float]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": question},
    ]
    first = respond(
        seed=7, model=model, skill=skill, knowledge=0.2, messages=messages, tools=[TOOL], tool_choice="auto"
    )
    if not first.is_tool_call:
        messages.append({"role": "assistant", "content": first.content})
        return messages, float(capital.lower() in (first.content or "").lower())
    country = next(c for c in COUNTRIES if c.name == first.arguments["country"])
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": first.tool_name, "arguments": json.dumps(first.arguments)},
    }
    messages += [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": country.capital},
    ]
    second = respond(
        seed=7, model=model, skill=skill, knowledge=0.2, messages=messages, tools=[TOOL], tool_choice="auto"
    )
    messages.append({"role": "assistant", "content": second.content})
    return messages, float(capital.lower() in (second.content or "").lower())


def _run(keep_ratio: float, trial: int) -> float:
    """The app's loop in miniature: 3 x (24 rollouts, keep the top share by reward, train 1 epoch)."""
    rng, skill, model = random.Random(trial), 0.35, "base"
    for iteration in range(3):
        results = [_rollout(model, skill, q, c) for q, c in rng.sample(questions(), 24)]
        results.sort(key=lambda r: -r[1])
        kept = results[: int(len(results) * keep_ratio)]
        skill = trained_skill(skill, classify([{"messages": m} for m, _ in kept]), 1, 1.0)
        model = f"ft-{keep_ratio}-{trial}-{iteration}"
    return skill


@pytest.mark.rule("B5")
def test_filtering_by_reward_beats_training_on_everything() -> None:
    filtered = [_run(0.6, t) for t in range(5)]
    unfiltered = [_run(1.0, t) for t in range(5)]
    assert sum(filtered) / 5 > 0.5 > 0.35
    assert sum(filtered) / 5 > sum(unfiltered) / 5 + 0.1
