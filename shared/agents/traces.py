"""Rollout traces: real OpenTelemetry spans (opentelemetry-sdk), one span per JSONL line in Blob.

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

Each rollout gets its own tracer provider collecting into memory; ``to_jsonl`` encodes the spans with
the official OTLP encoder and converts them exactly as ``POST /api/v1/traces`` converts production
spans (``shared/telemetry/otlp.py``), so rollouts and production traces share one format and one code
path. The dataset builder reads only OTel names plus ``durable_finetune.reward``. Recording runs inside
activities, where the wall clock is fine.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanLimits, Tracer, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import Span as OtelSpan
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context
from pydantic import BaseModel, ValidationError

from shared.agents.tasks import Task
from shared.telemetry.genai_messages import chat_to_otel
from shared.telemetry.otlp import spans_from_sdk
from shared.telemetry.spans import (
    AGENT_NAME,
    INPUT_MESSAGES,
    OPERATION,
    OUTPUT_MESSAGES,
    REWARD,
    TOOL_DEFINITIONS,
)
from shared.telemetry.spans import Span as Span

PROVIDER = "azure.ai.openai"
SERVICE = "durable-finetune"
# Rollout spans must never be cut short by OTEL_ATTRIBUTE_* limits set for other telemetry.
_NO_LIMITS = SpanLimits(
    max_span_attributes=SpanLimits.UNSET,
    max_attribute_length=SpanLimits.UNSET,
    max_span_attribute_length=SpanLimits.UNSET,
)


class TraceFormatError(ValueError):
    """A trace line that is not a span; the message names the line."""


ROLLOUT_STATUS = "durable_finetune.rollout.status"
"""On the root span of a rollout that could not finish for throttling (or a 5xx, or the connection):
``throttled``. Such a trace is incomplete; it says nothing about the model and is never scored."""
TASK_ID = "durable_finetune.task.id"
TASK_PROMPT = "durable_finetune.task.prompt"
TASK_SAMPLE = "durable_finetune.task.sample"
"""On the root span: which of the task's samples in its stage the rollout is (0 when only one is run);
an evaluation pairs two deployments' rollouts by (task id, sample)."""
THROTTLED_RETRIES = "durable_finetune.rollout.throttled_retries"
"""On the root span: how many 429 answers the rollout waited out before its calls went through."""

RolloutStatus = Literal["ok", "failed", "throttled", "cancelled"]
"""``ok``: the agent answered (reward as earned). ``failed``: an agent error (a bad request, the
agent's own exception), scored 0. ``throttled``: the deployment's limit or an outage stopped it; left
out of means. ``cancelled``: not started, because the run was cancelled."""


class RolloutSummary(BaseModel):
    """What a rollout activity returns to the orchestrator: small on purpose."""

    rollout_id: str
    task_id: str | None = None
    status: RolloutStatus
    reward: float = 0.0
    llm_calls: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    throttled_retries: int = 0
    lowest_remaining_requests: int | None = None
    lowest_remaining_tokens: int | None = None
    error: str | None = None
    trace_blob: str | None = None


def _tracer(agent: str, collector: InMemorySpanExporter) -> Tracer:
    """A tracer of a provider of its own: nothing global, always sampled, spans kept in memory."""
    provider = TracerProvider(
        sampler=ALWAYS_ON,
        resource=Resource({"service.name": SERVICE, AGENT_NAME: agent}),
        shutdown_on_exit=False,
        span_limits=_NO_LIMITS,
    )
    provider.add_span_processor(SimpleSpanProcessor(collector))
    tracer = provider.get_tracer("durable_finetune.rollouts")
    if not isinstance(tracer, Tracer):
        raise RuntimeError(
            "OTEL_SDK_DISABLED is set, but rollouts need the OpenTelemetry SDK to record traces"
        )
    return tracer


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


class TraceRecorder:
    """Records one rollout as OpenTelemetry spans while the agent runs."""

    def __init__(
        self,
        rollout_id: str,
        task: Task,
        agent: str,
        max_tokens: int | None = None,
        *,
        sample: int = 0,
        seed: int | None = None,
    ) -> None:
        self.rollout_id = rollout_id
        self.task = task
        self.agent = agent
        self.max_tokens = max_tokens
        self.sample = sample
        self.seed = seed
        self._collector = InMemorySpanExporter()
        self._tracer = _tracer(agent, self._collector)
        # An empty parent context: a rollout is a trace of its own even inside an instrumented host.
        self._root: OtelSpan = self._tracer.start_span(
            f"invoke_agent {agent}",
            context=Context(),
            kind=SpanKind.INTERNAL,
            attributes={OPERATION: "invoke_agent"},
        )
        self._inside = set_span_in_context(self._root)
        self.trace_id = format(self._root.get_span_context().trace_id, "032x")

    def _start(self, name: str, kind: SpanKind, attributes: dict[str, Any]) -> OtelSpan:
        return self._tracer.start_span(name, context=self._inside, kind=kind, attributes=attributes)

    async def chat(self, llm: Any, **request: Any) -> Any:
        """Calls ``llm.chat.completions.create(**request)`` and records the call, failed or not. A call
        that sets no ``max_tokens`` gets the agent's (``AgentSpec.max_tokens``): Azure books a request's
        ``max_tokens`` (640 when unset) against the deployment's tokens per minute on arrival. An
        evaluation's rollout also sends its sample's ``seed`` (unless the call sets one): at the agent's
        own temperature, each sample is another draw, and the same sample the same draw again."""
        if self.max_tokens is not None:
            request.setdefault("max_tokens", self.max_tokens)
        if self.seed is not None:
            request.setdefault("seed", self.seed)
        attributes: dict[str, Any] = {
            OPERATION: "chat",
            "gen_ai.provider.name": PROVIDER,
            INPUT_MESSAGES: _json([chat_to_otel(message) for message in request.get("messages", [])]),
        }
        if request.get("model") is not None:
            attributes["gen_ai.request.model"] = request["model"]
        if request.get("tools"):
            attributes[TOOL_DEFINITIONS] = _json(request["tools"])
        for key in ("temperature", "max_tokens", "seed"):
            if request.get(key) is not None:
                attributes[f"gen_ai.request.{key}"] = request[key]
        span = self._start(f"chat {request.get('model')}", SpanKind.CLIENT, attributes)
        try:
            response = await llm.chat.completions.create(**request)
        except Exception as exc:
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            span.end()
            raise
        choice = response.choices[0]
        output = chat_to_otel(choice.message.model_dump(exclude_none=True))
        output["finish_reason"] = choice.finish_reason
        span.set_attributes(
            {
                "gen_ai.response.id": response.id,
                "gen_ai.response.model": response.model,
                "gen_ai.response.finish_reasons": [choice.finish_reason],
                OUTPUT_MESSAGES: _json([output]),
            }
        )
        if response.usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", response.usage.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", response.usage.completion_tokens)
        span.end()
        return response

    def tool(self, name: str, call_id: str, arguments: str, function: Callable[..., str]) -> str:
        """Runs a tool call and records it; a tool error becomes the result the model sees."""
        span = self._start(f"execute_tool {name}", SpanKind.INTERNAL, {OPERATION: "execute_tool"})
        error = None
        try:
            result = function(**json.loads(arguments or "{}"))
        except (json.JSONDecodeError, TypeError) as exc:
            error = f"bad arguments for {name}: {exc}"
            result = f"error: {error}"
        span.set_attributes(
            {
                "gen_ai.tool.name": name,
                "gen_ai.tool.call.id": call_id,
                "gen_ai.tool.call.arguments": arguments,
                "gen_ai.tool.call.result": result,
            }
        )
        if error:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end()
        return result

    def _close(self, reward: float, error: str | None, throttled_retries: int, throttled: bool) -> None:
        if not self._root.is_recording():
            raise RuntimeError(f"rollout {self.rollout_id}: the trace is already finished")
        self._root.set_attributes(
            {
                AGENT_NAME: self.agent,
                "durable_finetune.rollout.id": self.rollout_id,
                TASK_ID: self.task.task_id,
                TASK_SAMPLE: self.sample,
                TASK_PROMPT: self.task.prompt,
                "durable_finetune.task.expected": self.task.answer,
                REWARD: reward,
                THROTTLED_RETRIES: throttled_retries,
            }
        )
        if throttled:
            self._root.set_attribute(ROLLOUT_STATUS, "throttled")
        if error:
            self._root.set_status(Status(StatusCode.ERROR, error))
        self._root.end()

    def finish(self, reward: float, throttled_retries: int = 0) -> None:
        self._close(reward, None, throttled_retries, throttled=False)

    def fail(self, error: str, throttled_retries: int = 0) -> None:
        """An agent error: the rollout scores 0."""
        self._close(0.0, error, throttled_retries, throttled=False)

    def throttle(self, error: str, throttled_retries: int = 0) -> None:
        """The deployment's limit (or an outage) stopped the rollout: the trace is kept, marked
        ``throttled``, and never scored."""
        self._close(0.0, f"throttled: {error}", throttled_retries, throttled=True)

    def spans(self) -> list[Span]:
        """The finished spans, root first, then in the order they started."""
        spans = spans_from_sdk(self._collector.get_finished_spans())
        return sorted(spans, key=lambda span: (span.parent_span_id is not None, span.start_time))

    def to_jsonl(self) -> str:
        return "".join(span.model_dump_json() + "\n" for span in self.spans())

    def summary(self, trace_blob: str) -> RolloutSummary:
        return summarize(self.spans(), self.rollout_id, trace_blob)


def parse_jsonl(text: str) -> list[Span]:
    spans = []
    for line_no, line in enumerate(text.split("\n"), start=1):  # JSON may hold U+2028 raw in a string
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
    status: RolloutStatus = "failed" if failed else "ok"
    if root is not None and root.attributes.get(ROLLOUT_STATUS) == "throttled":
        status = "throttled"
    return RolloutSummary(
        rollout_id=rollout_id,
        task_id=root.attributes.get(TASK_ID) if root else None,
        status=status,
        reward=float(root.attributes.get(REWARD, 0.0)) if root and not failed else 0.0,
        throttled_retries=int(root.attributes.get(THROTTLED_RETRIES, 0)) if root else 0,
        llm_calls=len(chats),
        tool_calls=sum(1 for span in spans if span.operation == "execute_tool"),
        input_tokens=sum(int(span.attributes.get("gen_ai.usage.input_tokens", 0)) for span in chats),
        output_tokens=sum(int(span.attributes.get("gen_ai.usage.output_tokens", 0)) for span in chats),
        error=(root.status_message if root else "trace has no root span") if failed else None,
        trace_blob=trace_blob,
    )
