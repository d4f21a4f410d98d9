"""The span model every trace in Blob uses, rollouts and production alike, and the attribute names it
reads.

A span is one JSON line: ids in lower-case hex as OpenTelemetry writes them, ISO 8601 UTC times, and
the span's attributes with the structured GenAI ones (messages, system instructions, tool
definitions) as JSON values rather than the JSON strings OpenTelemetry attributes have to carry them
in. ``shared/agents/traces.py`` re-exports it; docs/production.md documents the contract.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

OPERATION = "gen_ai.operation.name"
AGENT_NAME = "gen_ai.agent.name"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
TOOL_DEFINITIONS = "gen_ai.tool.definitions"
REWARD = "durable_finetune.reward"

# How an agent instrumented with opentelemetry-instrumentation-openai-v2 (util-genai) records message
# content on its chat spans: the latest conventions, content on the span. Without the first setting it
# keeps to the v1.30 conventions, where ``true`` sends content only as log records (docs/production.md).
CAPTURE_CONTENT_SETTINGS = (
    "OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental and "
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only"
)
# The operations a GenAI trace is made of; spans of any other operation are not stored.
GENAI_OPERATIONS = frozenset({"chat", "execute_tool", "invoke_agent"})
# Attributes whose value is structured JSON; OpenTelemetry carries them as JSON strings.
STRUCTURED_ATTRIBUTES = frozenset({INPUT_MESSAGES, OUTPUT_MESSAGES, SYSTEM_INSTRUCTIONS, TOOL_DEFINITIONS})


# Characters JSON may hold raw inside a string that Python's str.splitlines() (and other line splitters)
# take for line breaks; escaped, a JSON line stays one line for every reader.
_LINE_BREAKS_IN_STRINGS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def jsonl_line(json_text: str) -> str:
    """One JSON document as one JSONL line: the same JSON, with the line separators JSON allows raw in
    strings (U+0085, U+2028, U+2029) escaped, since they can only occur inside strings."""
    return json_text.translate(_LINE_BREAKS_IN_STRINGS) + "\n"


def jsonl_lines(text: str) -> list[str]:
    """The lines of a JSONL text as JSONL defines them: split at ``\n`` only (a ``\r`` before it is
    dropped). ``str.splitlines()`` also splits at U+0085, U+2028, U+2029 and others, which JSON allows
    raw inside strings: a file another writer made (Azure's events, a user's dataset) would lose a
    line to it."""
    return [line.removesuffix("\r") for line in text.split("\n")]


class Span(BaseModel):
    trace_id: str
    span_id: str
    parent_span_id: str | None = None
    name: str
    start_time: str
    end_time: str
    duration_ms: float
    status: Literal["ok", "error"] = "ok"
    status_message: str | None = None
    attributes: dict[str, Any]

    @property
    def operation(self) -> str | None:
        value = self.attributes.get(OPERATION)
        return value if isinstance(value, str) else None

    @property
    def has_messages(self) -> bool:
        """Whether the span recorded what its call answered: the output messages a fine-tuning example
        ends with. Content capture off (the instrumentation's default) leaves them out."""
        return bool(self.attributes.get(OUTPUT_MESSAGES))


class ContentEvent(BaseModel):
    """A GenAI content event of one chat span (an OTel log record or span event), kept until it is
    joined with its span: ``name`` is the event name, ``body`` the log record's body."""

    trace_id: str
    span_id: str
    time_unix_nano: int
    name: str
    body: Any = None
    attributes: dict[str, Any] = {}
