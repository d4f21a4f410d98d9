"""A ready-made skill model for tool-using agents: write the script, get acting and labelling.

A subclass says, for any point of a conversation, what the right next step is (``expert``: call this
tool with these arguments, or answer stating this fact), what a model that gets it wrong does instead
(``mistake``) and what it makes up when it must answer without the data (``guess``). From that:

Acting: the model takes the expert's step with probability ``skill`` before any tool has answered since
the question, and ``0.5 + 0.5 * skill`` after (a model that has data usually uses it); otherwise it
makes the scripted mistake. ``tool_choice`` "none" (or no tools) turns a planned call into a guess; a
forced call ("required" or a named function) takes the expert's call, or repeats the forced tool's last
call when the script says to answer. A question the script does not cover gets ``off_topic``.

Labels: a tool call is good when it calls the expert's tool with the expert's arguments (string values
compared ignoring case and surrounding space; ``matches`` can accept more); an answer is good when the
script says to answer and the answer states the expert's fact as a whole word; everything else is bad;
turns the script does not cover (``expert`` returns None) are neutral.

Two hooks let a script grade its steps: ``chance`` (the probability of the expert's step at a given
skill; the rule above by default) and ``step_kind`` (which of the model's skills a step uses; None, the
default, is the model's one general skill). A plug-in with step kinds gets a skill per kind: training
examples teach each kind from its own turns (emulator/behaviour.py), so a model can be good at easy
steps and still poor at hard ones.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
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


@dataclass(frozen=True)
class Noun:
    """A name the plug-in's model knows (a product, a city), singular and plural."""

    name: str
    plural: str


class Vocabulary:
    """The nouns a plug-in's model knows, found in free text whatever the case or spacing."""

    def __init__(self, nouns: Sequence[Noun]) -> None:
        self.nouns = tuple(nouns)
        self._by_form = {form: noun for noun in self.nouns for form in (noun.name, noun.plural)}

    def called(self, name: str) -> Noun | None:
        """The noun whose singular or plural is ``name``, ignoring case and extra spaces."""
        return self._by_form.get(" ".join(name.split()).lower())

    @cached_property
    def alternation(self) -> str:
        """A regex group matching any form, longest first ("masking tape rolls" before "tape")."""
        forms = sorted(self._by_form, key=len, reverse=True)
        return "(" + "|".join(re.escape(form) for form in forms) + ")"

    @cached_property
    def _pattern(self) -> re.Pattern[str]:
        return re.compile(rf"(?<!\w){self.alternation}(?!\w)", re.IGNORECASE)

    def first_in(self, text: str) -> Noun | None:
        """The first noun named in ``text``."""
        match = self._pattern.search(text)
        return None if match is None else self.called(match.group(1))


@dataclass(frozen=True)
class ToolResult:
    """A tool call made since the question, and what the tool answered."""

    name: str
    arguments: dict[str, Any]
    content: str


@dataclass(frozen=True)
class Step:
    """One move of an agent's loop: a tool call, or the final answer and the fact it must state."""

    tool: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    answer: str | None = None
    fact: str | None = None

    @classmethod
    def call(cls, tool: str, **arguments: Any) -> Step:
        return cls(tool=tool, arguments=arguments)

    @classmethod
    def say(cls, answer: str, fact: str | None = None) -> Step:
        return cls(answer=answer, fact=fact)


def tool_results(messages: list[dict[str, Any]]) -> list[ToolResult]:
    """The tool calls since the last user message that have a result, in the order they were answered."""
    start = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1) + 1
    calls: dict[str, tuple[str, dict[str, Any]]] = {}
    results: list[ToolResult] = []
    for message in messages[start:]:
        for call in message.get("tool_calls") or [] if message.get("role") == "assistant" else []:
            name = (call.get("function") or {}).get("name")
            if isinstance(call.get("id"), str) and isinstance(name, str):
                calls[call["id"]] = (name, call_arguments(call))
        if message.get("role") == "tool" and message.get("tool_call_id") in calls:
            name, arguments = calls[message["tool_call_id"]]
            results.append(ToolResult(name, arguments, text_of(message.get("content")).strip()))
    return results


def states(text: str, fact: str) -> bool:
    """Whether ``text`` contains ``fact`` as a whole word (not inside a longer word or number)."""
    pattern = rf"(?<![\w-]){re.escape(fact)}(?![\w-])"
    return re.search(pattern, text, re.IGNORECASE) is not None


def same_arguments(given: dict[str, Any], expected: dict[str, Any]) -> bool:
    """Every expected argument is given; strings match ignoring case and surrounding space."""

    def norm(value: Any) -> Any:
        return value.strip().casefold() if isinstance(value, str) else value

    return all(key in given and norm(given[key]) == norm(value) for key, value in expected.items())


class ScriptedBehaviour(ABC):
    """Base class of table-driven plug-ins; see the module docstring for the rules it applies."""

    name: str
    tools: frozenset[str]
    off_topic: str = "I can only help with the questions this assistant is for."

    @abstractmethod
    def expert(self, question: str, results: list[ToolResult]) -> Step | None:
        """The right next step after ``question`` and the tool ``results`` so far; None when the
        question is not one this agent handles."""

    @abstractmethod
    def mistake(self, expert: Step, question: str, results: list[ToolResult], draw: float) -> Step:
        """What a model that does not take the ``expert`` step does instead (``draw``: uniform in [0, 1))."""

    @abstractmethod
    def guess(self, question: str, results: list[ToolResult], draw: float) -> str:
        """An answer made up without the data the script would fetch."""

    def matches(self, expert: Step, tool: Any, arguments: dict[str, Any]) -> bool:
        """Whether calling ``tool`` with ``arguments`` is the ``expert`` step; override to accept synonyms."""
        return expert.tool is not None and tool == expert.tool and same_arguments(arguments, expert.arguments)

    def chance(self, question: str, results: list[ToolResult], expert: Step, skill: float) -> float:
        """The probability that a model of ``skill`` takes the ``expert`` step: ``skill`` before any tool
        has answered since the question, ``ANSWER_FLOOR + (1 - ANSWER_FLOOR) * skill`` after."""
        return skill if not results else ANSWER_FLOOR + (1 - ANSWER_FLOOR) * skill

    def step_kind(self, question: str, results: list[ToolResult], expert: Step) -> str | None:
        """The skill the ``expert`` step takes (e.g. "lookup"); None: the model's general skill."""
        return None

    def skill_kind(self, messages: list[dict[str, Any]]) -> str | None:
        """The skill the next turn after ``messages`` uses (the emulator picks the model's skill by it,
        for acting and for learning); None outside the script."""
        question, results = last_user_text(messages), tool_results(messages)
        expert = self.expert(question, results)
        return None if expert is None else self.step_kind(question, results, expert)

    def respond(self, request: ChatRequest) -> Reply:
        question, results = last_user_text(request.messages), tool_results(request.messages)
        expert = self.expert(question, results)
        if expert is None:
            return Reply(content=self.off_topic)
        step = (
            expert
            if request.draw("act") < self.chance(question, results, expert, request.skill)
            else self.mistake(expert, question, results, request.draw("mistake"))
        )
        if not request.may_call and step.tool is not None:
            step = Step.say(self.guess(question, results, request.draw("guess")))
        elif request.must_call:
            step = self._forced(request, expert, step, results)
        if step.tool is not None:
            return Reply(tool_name=step.tool, arguments=dict(step.arguments))
        return Reply(content=step.answer)

    def _forced(self, request: ChatRequest, expert: Step, step: Step, results: list[ToolResult]) -> Step:
        wanted = request.forced_tool
        for candidate in (expert, step):
            if candidate.tool is not None and wanted in (None, candidate.tool):
                return candidate
        previous = [result for result in results if wanted in (None, result.name)]
        if previous:
            return Step.call(previous[-1].name, **previous[-1].arguments)
        return Step.call(wanted or min(self.tools))

    def label(self, prior: list[dict[str, Any]], turn: dict[str, Any]) -> Label:
        expert = self.expert(last_user_text(prior), tool_results(prior))
        if expert is None:
            return "neutral"
        calls = turn.get("tool_calls") or []
        if calls:
            right = any(
                self.matches(expert, (c.get("function") or {}).get("name"), call_arguments(c)) for c in calls
            )
            return "good" if right else "bad"
        if expert.tool is not None:
            return "bad"
        return "good" if expert.fact is None or states(text_of(turn.get("content")), expert.fact) else "bad"
