"""Building OTLP payloads the way real clients do: spans from the OpenTelemetry SDK, encoded by the
official protobuf and JSON encoders (the same code the OTLP/HTTP exporters run)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.exporter.otlp.json.common.trace_encoder import encode_spans as encode_json
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans as encode_protobuf
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode, Tracer

TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "parameters": {"type": "object", "properties": {"country": {"type": "string"}}},
    },
}


ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId"})


def otlp_json(message: Message) -> bytes:
    """Any OTLP export request in OTLP/JSON: protobuf's JSON mapping (lowerCamelCase keys, int64 as
    strings) with integer enums and hex ids, as the specification differs from the mapping."""
    return json.dumps(_hex_ids(json_format.MessageToDict(message, use_integers_for_enums=True))).encode()


def _hex_ids(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            key: base64.b64decode(item).hex() if key in ID_KEYS and isinstance(item, str) else _hex_ids(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_hex_ids(item) for item in value]
    return value


class Recorder:
    """An SDK tracer whose finished spans stay in memory, for one resource."""

    def __init__(self, **resource: str) -> None:
        self.collector = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource(resource or {"service.name": "support-bot"}))
        provider.add_span_processor(SimpleSpanProcessor(self.collector))
        self.tracer: Tracer = provider.get_tracer("tests")

    def spans(self) -> Sequence[ReadableSpan]:
        return self.collector.get_finished_spans()

    def protobuf(self) -> bytes:
        return encode_protobuf(self.spans()).SerializeToString()

    def json(self) -> bytes:
        return encode_json(self.spans()).to_json().encode()

    def request(self) -> ExportTraceServiceRequest:
        return encode_protobuf(self.spans())


def messages(question: str, answer: str | None = None, tool: bool = True) -> tuple[list[Any], list[Any]]:
    """(input, output) OTel messages of a tool-using capital agent's second call, or its only call."""
    inputs: list[dict[str, Any]] = [
        {"role": "system", "parts": [{"type": "text", "content": "Use the tool."}]},
        {"role": "user", "parts": [{"type": "text", "content": question}]},
    ]
    if tool:
        call = {"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": {"country": "France"}}
        inputs += [
            {"role": "assistant", "parts": [call]},
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "Paris"}]},
        ]
    output = [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": answer or "Paris"}],
            "finish_reason": "stop",
        }
    ]
    return inputs, output


def conversation(
    recorder: Recorder,
    question: str,
    *,
    answer: str | None = None,
    agent: str | None = None,
    failed: bool = False,
) -> str:
    """One agent run as an instrumented agent traces it: invoke_agent around a chat call whose
    messages are span attributes (JSON strings), plus an HTTP span that is not GenAI. Returns the
    trace id."""
    inputs, output = messages(question, answer)
    root_attributes: dict[str, Any] = {"gen_ai.operation.name": "invoke_agent"}
    if agent:
        root_attributes["gen_ai.agent.name"] = agent
    with recorder.tracer.start_as_current_span("invoke_agent", attributes=root_attributes) as root:
        with recorder.tracer.start_as_current_span(
            "chat gpt-4.1-mini",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4.1-mini",
                "gen_ai.input.messages": json.dumps(inputs),
                "gen_ai.output.messages": json.dumps(output),
                "gen_ai.tool.definitions": json.dumps([TOOL]),
            },
        ):
            pass
        with recorder.tracer.start_as_current_span("GET /health", attributes={"http.request.method": "GET"}):
            pass
        if failed:
            root.set_status(Status(StatusCode.ERROR, "agent crashed"))
        return format(root.get_span_context().trace_id, "032x")
