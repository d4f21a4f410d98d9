"""What every behaviour plug-in is given and must provide.

A plug-in is the emulated model's know-how for one agent: how a model of a given skill acts on that
agent's requests (``respond``) and whether an assistant turn of a training file is good or bad for
learning (``label``). The emulator picks the plug-in by the tools a request (or a training example)
offers. Randomness comes only from ``ChatRequest.draw``: a hash of (seed, model, request content, salt),
so a reply never depends on call order or the clock.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, Protocol, runtime_checkable

Label = Literal["good", "bad", "neutral"]
# Once a tool has answered, even an unskilled model usually uses the answer: the chance it does is
# ANSWER_FLOOR + (1 - ANSWER_FLOOR) * skill.
ANSWER_FLOOR = 0.5


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


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return text_of(message.get("content"))
    return ""


def call_arguments(call: Any) -> dict[str, Any]:
    """The arguments of a tool call (``{"function": {"arguments": "<JSON object>"}}``) as a dict; {} when
    they are missing, not JSON, not an object, or nested too deeply to parse."""
    function = call.get("function") if isinstance(call, dict) else None
    text = function.get("arguments") if isinstance(function, dict) else None
    try:
        parsed = json.loads(text or "{}") if isinstance(text, str) else {}
    except (ValueError, RecursionError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def tool_names(tools: list[dict[str, Any]] | None) -> frozenset[str]:
    """Names of the function tools in a request's (or a training example's) ``tools``."""
    names = ((tool.get("function") or {}).get("name") for tool in tools or [] if isinstance(tool, dict))
    return frozenset(name for name in names if isinstance(name, str))


@dataclass
class Reply:
    """What the model says: either text or one function call."""

    content: str | None = None
    tool_name: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)

    @property
    def is_tool_call(self) -> bool:
        return self.tool_name is not None


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion request as a plug-in sees it, with the model's skill and a seeded dice."""

    seed: int
    model: str
    skill: float
    knowledge: float
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None
    tool_choice: Any
    sample: int | None = None
    """The request's ``seed`` when it samples (temperature above 0): each seed is another draw of the
    same request, as at Azure; None, the one draw every unseeded request of this content gets."""

    @cached_property
    def content(self) -> str:
        """The request content every draw hashes (messages, tools, tool_choice and the sample's seed)."""
        content: dict[str, Any] = {"m": self.messages, "t": self.tools, "c": self.tool_choice}
        if self.sample is not None:
            content["s"] = self.sample
        return json.dumps(content, sort_keys=True, default=str)

    def draw(self, salt: str) -> float:
        """A uniform number in [0, 1) for one decision (``salt`` names it) about this request."""
        return unit(self.seed, self.model, self.content, salt)

    @property
    def forced_tool(self) -> str | None:
        """The function ``tool_choice`` names, if it names one."""
        if isinstance(self.tool_choice, dict):
            name = (self.tool_choice.get("function") or {}).get("name")
            return name if isinstance(name, str) else None
        return None

    @property
    def must_call(self) -> bool:
        """``tool_choice`` "required" or a named function: the reply must be a tool call."""
        if isinstance(self.tool_choice, dict):
            return (self.tool_choice.get("function") or {}).get("name") is not None
        return bool(self.tool_choice == "required")

    @property
    def may_call(self) -> bool:
        """Tools are offered and ``tool_choice`` is not "none"."""
        return bool(self.tools) and self.tool_choice != "none"


@runtime_checkable
class Behaviour(Protocol):
    """A behaviour plug-in. ``tools`` are the tool names that select it: a request offering all of
    them goes to this plug-in (the plug-in with the most matching tools wins)."""

    @property
    def name(self) -> str: ...

    @property
    def tools(self) -> frozenset[str]: ...

    def respond(self, request: ChatRequest) -> Reply:
        """The model's reply to one chat request."""
        ...

    def label(self, prior: list[dict[str, Any]], turn: dict[str, Any]) -> Label:
        """Whether the assistant message ``turn``, said after ``prior``, teaches good or bad behaviour."""
        ...
