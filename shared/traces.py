"""Rollout traces: one span per JSONL line, named after the OpenTelemetry GenAI semantic conventions.

Span kinds and where their names come from:
- root ``invoke_agent {agent}``: ``gen_ai.operation.name = invoke_agent``, ``gen_ai.agent.name`` (OTel);
  the task and the reward are ours: ``durable_finetune.task.*``, ``durable_finetune.reward``,
  ``durable_finetune.rollout.id`` (OTel has no reward).
- ``chat {model}``: ``gen_ai.operation.name = chat``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
  ``gen_ai.response.model``, ``gen_ai.response.id``, ``gen_ai.response.finish_reasons``,
  ``gen_ai.usage.input_tokens`` / ``output_tokens``, ``gen_ai.input.messages`` /
  ``gen_ai.output.messages`` (structured role + parts), ``gen_ai.tool.definitions`` (OTel).
- ``execute_tool {name}``: ``gen_ai.operation.name = execute_tool``, ``gen_ai.tool.name``,
  ``gen_ai.tool.call.id``, ``gen_ai.tool.call.arguments``, ``gen_ai.tool.call.result`` (OTel).
The dataset builder reads only OTel names plus ``durable_finetune.reward``, so spans exported by any
OTel-instrumented agent feed it too. Recording runs inside activities, where the wall clock is fine.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ValidationError

from shared.genai_messages import chat_to_otel
from shared.tasks import Task

OPERATION = "gen_ai.operation.name"
REWARD = "durable_finetune.reward"
PROVIDER = "azure.ai.openai"


class TraceFormatError(ValueError):
    """A trace line that is not a span; the message names the line."""


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
        return self.attributes.get(OPERATION)


class RolloutSummary(BaseModel):
    """What a rollout activity returns to the orchestrator: small on purpose."""

    rollout_id: str
    task_id: str | None = None
    status: Literal["ok", "failed"]
    reward: float = 0.0
    llm_calls: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None
    trace_blob: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat()


class TraceRecorder:
    """Collects one rollout's spans while the agent runs."""

    def __init__(self, rollout_id: str, task: Task, agent: str) -> None:
        self.trace_id = secrets.token_hex(16)
        self.root_id = secrets.token_hex(8)
        self.rollout_id = rollout_id
        self.task = task
        self.agent = agent
        self.spans: list[Span] = []
        self._started = _now()
        self._clock = time.perf_counter()
        self.root: Span | None = None

    def _span(
        self, name: str, start: str, began: float, attributes: dict[str, Any], error: str | None
    ) -> Span:
        span = Span(
            trace_id=self.trace_id,
            span_id=secrets.token_hex(8),
            parent_span_id=self.root_id,
            name=name,
            start_time=start,
            end_time=_now(),
            duration_ms=round((time.perf_counter() - began) * 1000, 3),
            status="error" if error else "ok",
            status_message=error,
            attributes=attributes,
        )
        self.spans.append(span)
        return span

    async def chat(self, llm: Any, **request: Any) -> Any:
        """Calls ``llm.chat.completions.create(**request)`` and records the call, failed or not."""
        start, began = _now(), time.perf_counter()
        attributes: dict[str, Any] = {
            OPERATION: "chat",
            "gen_ai.provider.name": PROVIDER,
            "gen_ai.request.model": request.get("model"),
            "gen_ai.input.messages": [chat_to_otel(message) for message in request.get("messages", [])],
        }
        if request.get("tools"):
            attributes["gen_ai.tool.definitions"] = request["tools"]
        for key in ("temperature", "max_tokens", "seed"):
            if request.get(key) is not None:
                attributes[f"gen_ai.request.{key}"] = request[key]
        try:
            response = await llm.chat.completions.create(**request)
        except Exception as exc:
            self._span(
                f"chat {request.get('model')}", start, began, attributes, f"{type(exc).__name__}: {exc}"
            )
            raise
        choice = response.choices[0]
        output = chat_to_otel(choice.message.model_dump(exclude_none=True))
        output["finish_reason"] = choice.finish_reason
        attributes.update(
            {
                "gen_ai.response.id": response.id,
                "gen_ai.response.model": response.model,
                "gen_ai.response.finish_reasons": [choice.finish_reason],
                "gen_ai.output.messages": [output],
            }
        )
        if response.usage is not None:
            attributes["gen_ai.usage.input_tokens"] = response.usage.prompt_tokens
            attributes["gen_ai.usage.output_tokens"] = response.usage.completion_tokens
        self._span(f"chat {request.get('model')}", start, began, attributes, None)
        return response

    def tool(self, name: str, call_id: str, arguments: str, function: Callable[..., str]) -> str:
        """Runs a tool call and records it; a tool error becomes the result the model sees."""
        start, began = _now(), time.perf_counter()
        error = None
        try:
            result = function(**json.loads(arguments or "{}"))
        except (json.JSONDecodeError, TypeError) as exc:
            error = f"bad arguments for {name}: {exc}"
            result = f"error: {error}"
        attributes = {
            OPERATION: "execute_tool",
            "gen_ai.tool.name": name,
            "gen_ai.tool.call.id": call_id,
            "gen_ai.tool.call.arguments": arguments,
            "gen_ai.tool.call.result": result,
        }
        self._span(f"execute_tool {name}", start, began, attributes, error)
        return result

    def _close(self, reward: float, error: str | None) -> None:
        self.root = Span(
            trace_id=self.trace_id,
            span_id=self.root_id,
            name=f"invoke_agent {self.agent}",
            start_time=self._started,
            end_time=_now(),
            duration_ms=round((time.perf_counter() - self._clock) * 1000, 3),
            status="error" if error else "ok",
            status_message=error,
            attributes={
                OPERATION: "invoke_agent",
                "gen_ai.agent.name": self.agent,
                "durable_finetune.rollout.id": self.rollout_id,
                "durable_finetune.task.id": self.task.task_id,
                "durable_finetune.task.prompt": self.task.prompt,
                "durable_finetune.task.expected": self.task.answer,
                REWARD: reward,
            },
        )

    def finish(self, reward: float) -> None:
        self._close(reward, None)

    def fail(self, error: str) -> None:
        self._close(0.0, error)

    def to_jsonl(self) -> str:
        spans = ([self.root] if self.root else []) + self.spans
        return "\n".join(span.model_dump_json() for span in spans) + "\n"

    def summary(self, trace_blob: str) -> RolloutSummary:
        return summarize([self.root, *self.spans] if self.root else self.spans, self.rollout_id, trace_blob)


def parse_jsonl(text: str) -> list[Span]:
    spans = []
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            spans.append(Span.model_validate_json(line))
        except ValidationError as exc:
            raise TraceFormatError(f"trace line {line_no}: not a span ({exc.errors()[0]['msg']})") from exc
    return spans


def root_span(spans: list[Span]) -> Span | None:
    return next((span for span in spans if span.parent_span_id is None), None)


def summarize(spans: list[Span], rollout_id: str, trace_blob: str | None) -> RolloutSummary:
    root = root_span(spans)
    chats = [span for span in spans if span.operation == "chat"]
    failed = root is None or root.status == "error"
    return RolloutSummary(
        rollout_id=rollout_id,
        task_id=root.attributes.get("durable_finetune.task.id") if root else None,
        status="failed" if failed else "ok",
        reward=float(root.attributes.get(REWARD, 0.0)) if root and not failed else 0.0,
        llm_calls=len(chats),
        tool_calls=sum(1 for span in spans if span.operation == "execute_tool"),
        input_tokens=sum(int(span.attributes.get("gen_ai.usage.input_tokens", 0)) for span in chats),
        output_tokens=sum(int(span.attributes.get("gen_ai.usage.output_tokens", 0)) for span in chats),
        error=(root.status_message if root else "trace has no root span") if failed else None,
        trace_blob=trace_blob,
    )
