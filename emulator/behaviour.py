"""The emulated LLM: how a model with a given skill answers, and how training data changes that skill.

Everything here is a pure function of (seed, model, request content), never of call order or wall clock,
so concurrent requests are reproducible and two runs with the same seed see the same answers.

Acting (one chat completion):
- Last message is a tool result: with probability ``0.5 + 0.5 * skill`` the model answers with it
  ("The capital of France is Paris."); otherwise it ignores it and names a wrong capital.
- A user question naming a country, with a function tool offered and ``tool_choice`` auto: with
  probability ``skill`` it calls the tool with the country as the argument; otherwise it answers directly
  from "memory", right with probability ``knowledge`` and otherwise naming another country's capital.
- ``tool_choice`` "required" or a named function forces the call; "none" or no tools forces an answer.

Learning (a fine-tuning job): every trainable assistant turn (``weight`` not 0) of the training file is
labelled good (a tool call whose argument names the asked country; an answer right after a tool result
that contains that result) or bad (a tool call with a wrong argument; an answer after a tool result that
ignores it; a direct answer to a capital question with no tool result since the question). With
``r = good / (good + bad)`` and ``k = 1 - exp(-0.8 * n_epochs * lr_multiplier * min(1, (good+bad)/10))``
the new skill is ``parent + k * (r - parent)``, clamped to [0.01, 0.99]; no labelled turns, no change.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

from emulator.countries import COUNTRIES, Country, find_country, lookup

ANSWER_FLOOR = 0.5
LEARNING_RATE = 0.8
FULL_EFFECT_TURNS = 10
SKILL_MIN, SKILL_MAX = 0.01, 0.99


def unit(seed: int, model: str, content: str, salt: str) -> float:
    """A uniform number in [0, 1) determined by its inputs only."""
    digest = hashlib.sha256(f"{seed}\x1f{model}\x1f{salt}\x1f{content}".encode()).hexdigest()
    return int(digest[:13], 16) / float(16**13)


def text_of(content: Any) -> str:
    """The text of a message ``content``: a string, a list of parts, or None."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return " ".join(parts)
    return str(content)


@dataclass
class Reply:
    """What the model says: either text or one function call."""

    content: str | None = None
    tool_name: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    right_action: bool = False

    @property
    def is_tool_call(self) -> bool:
        return self.tool_name is not None


def _last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def _wrong_capital(country: Country | None, draw: float) -> str:
    others = [c.capital for c in COUNTRIES if country is None or c.capital != country.capital]
    return others[int(draw * len(others)) % len(others)]


def _object(value: Any) -> dict[str, Any]:
    """``value`` if it is a JSON object, else an empty one: callers may send any shape."""
    return value if isinstance(value, dict) else {}


def _string_property(props: dict[str, Any], name: Any) -> bool:
    return isinstance(name, str) and _object(props.get(name)).get("type", "string") == "string"


def _pick_tool(tools: list[dict[str, Any]], forced_name: str | None) -> tuple[str, str] | None:
    """(function name, argument name) of the tool the model would use."""
    functions = [_object(t.get("function")) for t in tools if t.get("type", "function") == "function"]
    functions = [f for f in functions if isinstance(f.get("name"), str)]
    if forced_name is not None:
        functions = [f for f in functions if f["name"] == forced_name] or functions
    if not functions:
        return None
    preferred = [f for f in functions if "capital" in (f["name"] + str(f.get("description", ""))).lower()]
    chosen = (preferred or functions)[0]
    params = _object(chosen.get("parameters"))
    props = _object(params.get("properties"))
    declared = params.get("required")
    required = [p for p in declared if _string_property(props, p)] if isinstance(declared, list) else []
    arg = required[0] if required else next(iter(props), "country")
    return chosen["name"], arg


def _answer(country: Country | None, capital: str | None) -> str:
    if country is None:
        return "I can help with questions about the capital of a country. Which country do you mean?"
    return f"The capital of {country.name} is {capital}."


def respond(
    *,
    seed: int,
    model: str,
    skill: float,
    knowledge: float,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    tool_choice: Any,
) -> Reply:
    """The model's reply to one chat request (see the module docstring for the rules)."""
    content = json.dumps({"m": messages, "t": tools, "c": tool_choice}, sort_keys=True, default=str)
    country = find_country(_last_user_text(messages))

    if messages and messages[-1].get("role") == "tool":
        results: list[str] = []
        for message in reversed(messages):
            if message.get("role") != "tool":
                break
            results.insert(0, text_of(message.get("content")).strip())
        result = " ".join(r for r in results if r)
        if unit(seed, model, content, "answer") < ANSWER_FLOOR + (1 - ANSWER_FLOOR) * skill and result:
            if country is None:
                return Reply(content=f"The answer is {result}.", right_action=True)
            return Reply(content=_answer(country, result), right_action=True)
        return Reply(content=_answer(country, _wrong_capital(country, unit(seed, model, content, "wrong"))))

    forced_name: str | None = None
    if isinstance(tool_choice, dict):
        named = _object(tool_choice.get("function")).get("name")
        forced_name = named if isinstance(named, str) else None
    forced = tool_choice == "required" or forced_name is not None
    tool = _pick_tool(tools or [], forced_name) if tool_choice != "none" else None

    if tool is not None and (forced or (country is not None and unit(seed, model, content, "act") < skill)):
        name, arg = tool
        value = country.name if country is not None else _last_user_text(messages).strip()
        return Reply(tool_name=name, arguments={arg: value}, right_action=country is not None)

    if country is None:
        return Reply(content=_answer(None, None))
    if unit(seed, model, content, "knowledge") < knowledge:
        return Reply(content=_answer(country, country.capital))
    return Reply(content=_answer(country, _wrong_capital(country, unit(seed, model, content, "wrong"))))


@dataclass
class TrainingSignal:
    """Labelled assistant turns of a training file."""

    good: int = 0
    bad: int = 0
    neutral: int = 0

    @property
    def labelled(self) -> int:
        return self.good + self.bad


def _call_names_country(call: dict[str, Any], country: Country) -> bool:
    try:
        arguments = json.loads((call.get("function") or {}).get("arguments") or "{}")
    except (TypeError, ValueError):
        return False
    values = arguments.values() if isinstance(arguments, dict) else []
    return any(isinstance(v, str) and lookup(v) == country for v in values)


def classify(examples: list[dict[str, Any]]) -> TrainingSignal:
    """Label every trainable assistant turn of ``examples`` (parsed JSONL lines) as good, bad or neutral."""
    signal = TrainingSignal()
    for example in examples:
        messages: list[dict[str, Any]] = example.get("messages") or []
        for i, message in enumerate(messages):
            if message.get("role") != "assistant" or message.get("weight", 1) == 0:
                continue
            prior = messages[:i]
            country = find_country(_last_user_text(prior))
            last_user = max((j for j, m in enumerate(prior) if m.get("role") == "user"), default=-1)
            tool_since_question = any(m.get("role") == "tool" for m in prior[last_user + 1 :])
            calls = message.get("tool_calls") or []
            if calls:
                ok = country is not None and any(_call_names_country(c, country) for c in calls)
                signal.good += ok
                signal.bad += not ok
            elif prior and prior[-1].get("role") == "tool":
                result = text_of(prior[-1].get("content")).strip().lower()
                ok = bool(result) and result in text_of(message.get("content")).lower()
                signal.good += ok
                signal.bad += not ok
            elif country is not None and not tool_since_question:
                signal.bad += 1
            else:
                signal.neutral += 1
    return signal


def trained_skill(parent: float, signal: TrainingSignal, n_epochs: int, lr_multiplier: float) -> float:
    """The skill of a model fine-tuned from a model of skill ``parent`` on data labelled ``signal``."""
    if signal.labelled == 0:
        return parent
    ratio = signal.good / signal.labelled
    strength = LEARNING_RATE * n_epochs * lr_multiplier * min(1.0, signal.labelled / FULL_EFFECT_TURNS)
    k = 1 - math.exp(-strength)
    return min(SKILL_MAX, max(SKILL_MIN, parent + k * (ratio - parent)))


def estimate_tokens(text: str) -> int:
    """About four characters per token, as a rough English average."""
    return max(1, math.ceil(len(text) / 4))
