"""The bundled capital-lookup agent's behaviour, and the default for requests no other plug-in claims.

Acting (one chat completion):
- Last message is a tool result: with probability ``0.5 + 0.5 * skill`` the model answers with it
  ("The capital of France is Paris."); otherwise it ignores it and names a wrong capital.
- A user question naming a country, with a function tool offered and ``tool_choice`` auto: with
  probability ``skill`` it calls the tool with the country as the argument; otherwise it answers directly
  from "memory", right with probability ``knowledge`` and otherwise naming another country's capital.
- ``tool_choice`` "required" or a named function forces the call; "none" or no tools forces an answer.

Labels: a tool call whose argument names the asked country is good; an answer right after a tool result
that contains that result is good; a tool call with a wrong argument, an answer after a tool result that
ignores it, and a direct answer to a capital question with no tool result since the question are bad.
"""

from __future__ import annotations

from typing import Any

from emulator.behaviours.base import (
    ANSWER_FLOOR,
    ChatRequest,
    Label,
    Reply,
    call_arguments,
    last_user_text,
    text_of,
)
from emulator.countries import COUNTRIES, Country, find_country, lookup


def _wrong_capital(country: Country | None, draw: float) -> str:
    others = [c.capital for c in COUNTRIES if country is None or c.capital != country.capital]
    return others[int(draw * len(others)) % len(others)]


def _pick_tool(tools: list[dict[str, Any]], forced_name: str | None) -> tuple[str, str] | None:
    """(function name, argument name) of the tool the model would use."""
    functions = [t.get("function") or {} for t in tools if t.get("type", "function") == "function"]
    functions = [f for f in functions if isinstance(f.get("name"), str)]
    if forced_name is not None:
        functions = [f for f in functions if f["name"] == forced_name] or functions
    if not functions:
        return None
    preferred = [f for f in functions if "capital" in (f["name"] + str(f.get("description", ""))).lower()]
    chosen = (preferred or functions)[0]
    params = chosen.get("parameters") or {}
    props: dict[str, Any] = params.get("properties") or {}
    required = [
        p for p in params.get("required") or [] if (props.get(p) or {}).get("type", "string") == "string"
    ]
    arg = required[0] if required else next(iter(props), "country")
    return chosen["name"], arg


def _answer(country: Country | None, capital: str | None) -> str:
    if country is None:
        return "I can help with questions about the capital of a country. Which country do you mean?"
    return f"The capital of {country.name} is {capital}."


def _tool_results(messages: list[dict[str, Any]]) -> str:
    """The text of the trailing run of tool messages."""
    results: list[str] = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        results.insert(0, text_of(message.get("content")).strip())
    return " ".join(r for r in results if r)


def _call_names_country(call: dict[str, Any], country: Country) -> bool:
    return any(isinstance(v, str) and lookup(v) == country for v in call_arguments(call).values())


class CapitalBehaviour:
    """Capital questions answered with a lookup tool (see the module docstring for the rules)."""

    name = "capital"
    tools = frozenset({"country_capital_lookup"})

    def respond(self, request: ChatRequest) -> Reply:
        messages = request.messages
        country = find_country(last_user_text(messages))
        if messages and messages[-1].get("role") == "tool":
            return self._use_result(request, country, _tool_results(messages))

        tool = _pick_tool(request.tools or [], request.forced_tool) if request.tool_choice != "none" else None
        if tool is not None and (
            request.must_call or (country is not None and request.draw("act") < request.skill)
        ):
            name, arg = tool
            value = country.name if country is not None else last_user_text(messages).strip()
            return Reply(tool_name=name, arguments={arg: value})

        if country is None:
            return Reply(content=_answer(None, None))
        if request.draw("knowledge") < request.knowledge:
            return Reply(content=_answer(country, country.capital))
        return Reply(content=_answer(country, _wrong_capital(country, request.draw("wrong"))))

    @staticmethod
    def _use_result(request: ChatRequest, country: Country | None, result: str) -> Reply:
        if request.draw("answer") < ANSWER_FLOOR + (1 - ANSWER_FLOOR) * request.skill and result:
            if country is None:
                return Reply(content=f"The answer is {result}.")
            return Reply(content=_answer(country, result))
        return Reply(content=_answer(country, _wrong_capital(country, request.draw("wrong"))))

    def label(self, prior: list[dict[str, Any]], turn: dict[str, Any]) -> Label:
        country = find_country(last_user_text(prior))
        calls = turn.get("tool_calls") or []
        if calls:
            right = country is not None and any(_call_names_country(c, country) for c in calls)
            return "good" if right else "bad"
        if prior and prior[-1].get("role") == "tool":
            result = text_of(prior[-1].get("content")).strip().lower()
            return "good" if result and result in text_of(turn.get("content")).lower() else "bad"
        last_user = max((j for j, m in enumerate(prior) if m.get("role") == "user"), default=-1)
        tool_since_question = any(m.get("role") == "tool" for m in prior[last_user + 1 :])
        if country is not None and not tool_since_question:
            return "bad"
        return "neutral"


BEHAVIOURS = (CapitalBehaviour(),)
