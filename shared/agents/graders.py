"""Graders: reward functions for production traces, named by a run setting.

Feedback (``POST /api/feedback``) is the reward a person or a downstream system gave a trace; a grader
scores the traces that have none. A grader takes a trace's spans and returns a reward in [0, 1], or
None when it cannot judge the trace (then the trace has no reward and gives no examples). Register
one with ``@register_grader("name")`` in a module the ``AGENT_MODULES`` app setting names (your agent's
module): it is imported at start-up, before ``RUN_DEFAULTS`` and any run are checked against the
registered names (docs/production.md, "Graders").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.telemetry.spans import INPUT_MESSAGES, OUTPUT_MESSAGES, Span

Grader = Callable[[list[Span]], float | None]

_GRADERS: dict[str, Grader] = {}


class UnknownGraderError(KeyError):
    def __init__(self, name: str) -> None:
        super().__init__(f"no grader {name!r}; registered: {grader_names()}")


def register_grader(name: str) -> Callable[[Grader], Grader]:
    def register(grader: Grader) -> Grader:
        if name in _GRADERS:
            raise ValueError(f"a grader named {name!r} is already registered")
        _GRADERS[name] = grader
        return grader

    return register


def get_grader(name: str) -> Grader:
    try:
        return _GRADERS[name]
    except KeyError:
        raise UnknownGraderError(name) from None


def grader_names() -> list[str]:
    return sorted(_GRADERS)


def _texts(message: Any) -> list[str]:
    parts = message.get("parts") if isinstance(message, dict) else None
    return [
        part["content"]
        for part in parts or []
        if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("content"), str)
    ]


def _tool_results(spans: list[Span], last_chat: Span) -> list[str]:
    """What the agent's tools returned: execute_tool spans, and tool answers in the last call's input."""
    results = [
        span.attributes.get("gen_ai.tool.call.result") for span in spans if span.operation == "execute_tool"
    ]
    for message in last_chat.attributes.get(INPUT_MESSAGES) or []:
        if isinstance(message, dict) and message.get("role") == "tool":
            results += [part.get("response") for part in message.get("parts") or [] if isinstance(part, dict)]
    return [result.strip() for result in results if isinstance(result, str) and result.strip()]


@register_grader("tool_result_in_answer")
def tool_result_in_answer(spans: list[Span]) -> float | None:
    """1.0 when the agent's final answer repeats what one of its tools returned (a grounded answer),
    0.0 when tools answered and the final answer uses none of it, None when no tool answered or the
    final answer was not recorded. Fits lookup agents such as the bundled capital agent."""
    chats = sorted(
        (s for s in spans if s.operation == "chat" and s.status == "ok"), key=lambda s: s.start_time
    )
    if not chats:
        return None
    outputs = chats[-1].attributes.get(OUTPUT_MESSAGES)
    answer = " ".join(_texts(outputs[0])) if isinstance(outputs, list) and outputs else ""
    results = _tool_results(spans, chats[-1])
    if not answer or not results:
        return None
    return 1.0 if any(result.lower() in answer.lower() for result in results) else 0.0
