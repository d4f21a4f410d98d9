"""OTLP in, spans out: the OpenTelemetry protocol payloads the telemetry endpoints receive, decoded and
turned into the app's span model (``shared/telemetry/spans.py``).

One conversion serves every source: OTLP/HTTP binary protobuf, OTLP/HTTP JSON (decoded into the same
protobuf messages first) and the app's own rollout spans (the SDK's spans encoded by the official OTLP
encoder), so a trace in Blob looks the same whatever produced it.

Wire rules followed (open-telemetry/opentelemetry-specification, specification/protocol/otlp.md):
``Content-Type`` ``application/x-protobuf`` or ``application/json`` and the response in the same
encoding; optional ``Content-Encoding: gzip``; JSON uses lowerCamelCase keys (other keys are unknown
and ignored), hex ``traceId``/``spanId``, integer enums and int64 as strings or numbers; 200 with
``partial_success`` (``rejected_spans`` + ``error_message``) when only part is accepted, or with
``rejected_spans = 0`` and a message as a warning; failures answer a ``google.rpc.Status`` body.

What is the whole request's fault and what is one item's: a body that cannot be decoded into the
export request (not protobuf, not UTF-8 JSON, wrong types for the protobuf schema, messages nested
deeper than protobuf's own limit) is refused as a whole; an item that decodes but breaks a rule
(ids, times, an operation name that is not a string, message content nested too deep) is rejected
alone, and the rest of its request is stored.
"""

from __future__ import annotations

import base64
import json
import re
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, Generic, TypeVar, cast

from google.protobuf import json_format
from google.protobuf.any_pb2 import Any as AnyMessage
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan
from opentelemetry.proto.trace.v1.trace_pb2 import Status as OtlpStatus
from opentelemetry.sdk.trace import ReadableSpan

from shared.telemetry.spans import (
    AGENT_NAME,
    GENAI_OPERATIONS,
    INPUT_MESSAGES,
    OPERATION,
    OUTPUT_MESSAGES,
    STRUCTURED_ATTRIBUTES,
    ContentEvent,
    Span,
)

SERVICE_NAME = "service.name"
UNKNOWN_AGENT = "unknown-service"
# Content events of the GenAI semantic conventions up to v1.30 (one per message, role in the name), as
# opentelemetry-instrumentation-openai-v2 emits them as log records on its default path ...
MESSAGE_EVENTS = {
    "gen_ai.system.message": "system",
    "gen_ai.developer.message": "developer",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE_EVENT = "gen_ai.choice"
# ... and the one event of the latest conventions, carrying gen_ai.input/output.messages as attributes.
DETAILS_EVENT = "gen_ai.client.inference.operation.details"
GENAI_EVENTS = frozenset({*MESSAGE_EVENTS, CHOICE_EVENT, DETAILS_EVENT})
# Span-event form used by some instrumentations: the event body as a JSON string attribute.
EVENT_CONTENT = "gen_ai.event.content"
_ID_FIELDS = frozenset({"trace_id", "span_id", "parent_span_id"})
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})*")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Protobuf's own limit on nested messages (its parsers' default recursion limit), which the binary
# parser and json_format both enforce; OTLP/JSON's hex ids are rewritten before the latter sees the body,
# so that rewrite stops at the same depth instead of recursing without bound.
MAX_MESSAGE_DEPTH = 100
# Message content that arrives as a JSON string (gen_ai.input.messages, a span event's
# gen_ai.event.content) may nest this deep. GenAI messages nest 4 levels and a tool's JSON schema about
# 2 per object level, so real content stays far below; the JSON encoders that store a span fail near
# 900 levels (Python's recursion limit), so deeper content could not be stored at all.
MAX_VALUE_DEPTH = 64
# Integers in OTLP are at most 64 bits (20 digits); a longer one in a JSON body is refused while parsing.
MAX_INT_DIGITS = 20
_GRPC_CODES = {
    400: code_pb2.INVALID_ARGUMENT,
    413: code_pb2.RESOURCE_EXHAUSTED,
    415: code_pb2.INVALID_ARGUMENT,
    503: code_pb2.UNAVAILABLE,
}

M = TypeVar("M", bound=Message)
T = TypeVar("T")


class Encoding(StrEnum):
    PROTOBUF = "application/x-protobuf"
    JSON = "application/json"


class OtlpError(ValueError):
    """A request the endpoint cannot take: the HTTP status, and a message naming the problem."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


class ItemError(ValueError):
    """One item (span or log record) that decodes but cannot be stored; the message says why."""


@dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    max_decoded_bytes: int
    max_items: int


@dataclass
class Ingested(Generic[T]):
    """What one export request yields: items with the agent they belong to, and what was left out."""

    items: list[tuple[str, T]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    dropped: int = 0
    # Successful chat spans stored without message content (a warning: content may still arrive as
    # log records and be joined when a dataset is read).
    no_content: int = 0


# ---------------------------------------------------------------------------------------------- wire
def request_encoding(content_type: str | None) -> Encoding:
    media = (content_type or "").split(";")[0].strip().lower()
    for encoding in Encoding:
        if media == encoding.value:
            return encoding
    raise OtlpError(
        415,
        f"Content-Type {content_type or '(none)'!r} is not OTLP/HTTP: send application/x-protobuf or "
        "application/json",
        "Content-Type",
    )


def decode_body(body: bytes, content_encoding: str | None, limits: Limits) -> bytes:
    """The request body without its ``Content-Encoding`` (identity, gzip or deflate), size-checked
    before and after decompression so that a small compressed body cannot expand without bound."""
    if len(body) > limits.max_body_bytes:
        raise OtlpError(
            413, f"the body has {len(body)} bytes; the limit is {limits.max_body_bytes}: send smaller batches"
        )
    coding = (content_encoding or "identity").strip().lower()
    if coding == "identity":
        return body
    if coding not in ("gzip", "deflate"):
        raise OtlpError(
            415,
            f"Content-Encoding {coding!r} is not supported: use gzip, deflate or none",
            "Content-Encoding",
        )
    return _inflate(body, coding, limits.max_decoded_bytes)


def _inflate(body: bytes, coding: str, limit: int) -> bytes:
    """gzip (all members, as RFC 1952 allows several) or zlib-wrapped deflate, at most ``limit`` bytes."""
    wbits = zlib.MAX_WBITS | 16 if coding == "gzip" else zlib.MAX_WBITS
    output, rest = bytearray(), body
    while True:
        inflater = zlib.decompressobj(wbits)
        try:
            output += inflater.decompress(rest, limit + 1 - len(output))
        except zlib.error as exc:
            raise OtlpError(400, f"the body is not valid {coding} data ({exc})", "Content-Encoding") from exc
        if len(output) > limit or inflater.unconsumed_tail:
            raise OtlpError(413, f"the body decompresses to more than {limit} bytes: send smaller batches")
        if not inflater.eof:
            raise OtlpError(400, f"the {coding} body is truncated", "Content-Encoding")
        rest = inflater.unused_data
        if coding != "gzip" or not rest:
            return bytes(output)


def parse_message(data: bytes, encoding: Encoding, message: M) -> M:
    """Fills ``message`` from a binary protobuf or OTLP/JSON body; a body that is neither is a 400."""
    name = message.DESCRIPTOR.name
    if encoding is Encoding.PROTOBUF:
        try:
            message.ParseFromString(data)
        except DecodeError as exc:
            raise OtlpError(400, f"the body is not a binary protobuf {name} ({exc})") from exc
        return message
    document = _json_document(data)
    if not isinstance(document, dict):
        raise OtlpError(400, f"the body must be a JSON object (an OTLP/JSON {name})")
    try:
        json_format.ParseDict(_ids_to_base64(document, cast(Descriptor, message.DESCRIPTOR), ""), message)
    except json_format.ParseError as exc:
        raise OtlpError(400, f"the body is not an OTLP/JSON {name}: {exc}") from exc
    return message


def _json_document(data: bytes) -> Any:
    """The body as JSON: UTF-8 (RFC 8259's encoding for JSON between systems), integers of at most 64
    bits; a body nested deeper than Python's parser can follow is refused, not a crash."""
    try:
        return json.loads(data.decode("utf-8"), parse_int=_otlp_int)
    except UnicodeDecodeError as exc:
        raise OtlpError(400, f"the body is not UTF-8 JSON (byte {exc.start})") from exc
    except RecursionError as exc:
        raise OtlpError(
            400, f"the body nests deeper than OTLP allows ({MAX_MESSAGE_DEPTH} messages)"
        ) from exc
    except ValueError as exc:  # JSONDecodeError, or an integer refused by _otlp_int
        raise OtlpError(400, f"the body is not JSON ({exc})") from exc


def _otlp_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits does not fit in 64 bits")
    return int(text)


@cache
def _json_fields(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    return {item.json_name: item for item in descriptor.fields}


def _ids_to_base64(
    value: dict[str, Any], descriptor: Descriptor, path: str, depth: int = 1
) -> dict[str, Any]:
    """OTLP/JSON differs from protobuf's JSON mapping in its hex ids; this rewrites them to the base64
    the mapping expects, and leaves out keys that are not lowerCamelCase field names."""
    if depth > MAX_MESSAGE_DEPTH:
        raise OtlpError(
            400, f"the body's messages nest more than {MAX_MESSAGE_DEPTH} deep (protobuf's limit)"
        )
    fields = _json_fields(descriptor)
    converted: dict[str, Any] = {}
    for key, item in value.items():
        spec = fields.get(key)
        if spec is None:
            continue
        where = f"{path}.{key}" if path else key
        if spec.name in _ID_FIELDS and spec.type == FieldDescriptor.TYPE_BYTES:
            converted[key] = _hex_to_base64(item, where)
        elif spec.message_type is not None and spec.is_repeated and isinstance(item, list):
            converted[key] = [
                _ids_to_base64(entry, spec.message_type, f"{where}[{index}]", depth + 1)
                if isinstance(entry, dict)
                else entry
                for index, entry in enumerate(item)
            ]
        elif spec.message_type is not None and isinstance(item, dict):
            converted[key] = _ids_to_base64(item, spec.message_type, where, depth + 1)
        else:
            converted[key] = item
    return converted


def _hex_to_base64(value: Any, where: str) -> str:
    if not isinstance(value, str) or _HEX.fullmatch(value) is None:
        raise OtlpError(400, f"{where}: must be a string of hex digits (OTLP/JSON ids are hex)", where)
    return base64.b64encode(bytes.fromhex(value)).decode()


def encode_message(message: Message, encoding: Encoding) -> bytes:
    if encoding is Encoding.PROTOBUF:
        return message.SerializeToString()
    return json_format.MessageToJson(message, indent=None).encode()


def status_body(error: OtlpError, encoding: Encoding) -> bytes:
    """The ``google.rpc.Status`` OTLP/HTTP answers failures with; a 400 names the field in BadRequest."""
    status = status_pb2.Status(code=_GRPC_CODES.get(error.status, code_pb2.UNKNOWN), message=error.message)
    if error.field is not None:
        detail = AnyMessage()
        violation = error_details_pb2.BadRequest.FieldViolation(field=error.field, description=error.message)
        detail.Pack(error_details_pb2.BadRequest(field_violations=[violation]))
        status.details.append(detail)
    return encode_message(status, encoding)


def trace_response(rejected: int, message: str) -> ExportTraceServiceResponse:
    response = ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return response


def logs_response(rejected: int, message: str) -> ExportLogsServiceResponse:
    response = ExportLogsServiceResponse()
    if rejected or message:
        response.partial_success.rejected_log_records = rejected
        response.partial_success.error_message = message
    return response


def count_spans(request: ExportTraceServiceRequest) -> int:
    return sum(len(scope.spans) for resource in request.resource_spans for scope in resource.scope_spans)


def count_log_records(request: ExportLogsServiceRequest) -> int:
    return sum(len(scope.log_records) for resource in request.resource_logs for scope in resource.scope_logs)


# ---------------------------------------------------------------------------------------- conversion
def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind in ("string_value", "bool_value", "int_value", "double_value"):
        return getattr(value, kind)
    if kind == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return None


def attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {pair.key: any_value(pair.value) for pair in pairs}


def structured(values: dict[str, Any]) -> dict[str, Any]:
    """Structured GenAI attributes sent as JSON strings (as OTel attributes must) become JSON values;
    a string that is not JSON stays as it is. Raises ItemError for JSON nested too deep to store."""
    result = dict(values)
    for key in STRUCTURED_ATTRIBUTES & result.keys():
        if isinstance(result[key], str):
            parsed = parse_content(result[key], key)
            if isinstance(parsed, list):
                result[key] = parsed
    return result


def parse_content(text: str, name: str) -> Any:
    """Message content sent as a JSON string, parsed; the string itself when it is not JSON. Raises
    ItemError when it nests deeper than MAX_VALUE_DEPTH or holds text no UTF-8 blob can store."""
    try:
        value = json.loads(text)
    except RecursionError:
        value, depth = None, MAX_VALUE_DEPTH + 1  # deeper than the parser can follow
    except ValueError:  # not JSON (or an integer beyond Python's digit limit): kept as text
        return text
    else:
        depth = nesting(value)
    if depth > MAX_VALUE_DEPTH:
        raise ItemError(
            f"{name}: its JSON nests more than {MAX_VALUE_DEPTH} levels deep (GenAI content nests a few)"
        )
    try:  # a \ud800 escape decodes to a lone surrogate, which no UTF-8 blob can hold
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ItemError(
            f"{name}: its JSON has an unpaired UTF-16 surrogate escape (\\ud800-\\udfff)"
        ) from None
    return value


def nesting(value: Any) -> int:
    """How deeply lists and objects nest in a decoded JSON value, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is not None:
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in children)
    return deepest


def agent_name(resource: dict[str, Any]) -> str:
    """The agent a resource's telemetry is filed under: its ``gen_ai.agent.name`` attribute, else its
    ``service.name``, lower-cased, with anything but ``a-z 0-9 . _ -`` replaced by ``-``."""
    raw = resource.get(AGENT_NAME) or resource.get(SERVICE_NAME)
    return safe_agent_name(raw if isinstance(raw, str) else "")


def safe_agent_name(raw: str) -> str:
    cleaned = re.sub(r"[^a-z0-9._-]", "-", raw.strip().lower())
    cleaned = re.sub(r"^[^a-z0-9]+", "", cleaned)[:64]
    return cleaned or UNKNOWN_AGENT


def iso_time(unix_nano: int) -> str:
    return (_EPOCH + timedelta(microseconds=unix_nano // 1000)).isoformat(timespec="microseconds")


def day_of(unix_nano: int) -> date:
    return (_EPOCH + timedelta(microseconds=unix_nano // 1000)).date()


def _id_problem(value: bytes, name: str, size: int, *, optional: bool = False) -> str | None:
    if optional and not value:
        return None
    if len(value) != size or not any(value):
        return (
            f"{name} must be {size} bytes ({2 * size} hex characters), not all zero; got {len(value)} bytes"
        )
    return None


def _span_problem(span: OtlpSpan) -> str | None:
    problem = (
        _id_problem(span.trace_id, "traceId", 16)
        or _id_problem(span.span_id, "spanId", 8)
        or _id_problem(span.parent_span_id, "parentSpanId", 8, optional=True)
    )
    if problem:
        return problem
    if span.start_time_unix_nano == 0 or span.end_time_unix_nano < span.start_time_unix_nano:
        return "startTimeUnixNano must be set and endTimeUnixNano must not be before it"
    return None


def _operation(span: OtlpSpan) -> str | None:
    """The span's ``gen_ai.operation.name``: None when it has none; raises ItemError when it is set to
    something other than a string (the span claims to be GenAI but cannot say which operation)."""
    value = next((pair.value for pair in span.attributes if pair.key == OPERATION), None)
    if value is None:
        return None
    kind = value.WhichOneof("value")
    if kind != "string_value":
        sent = f"an {AnyValue.DESCRIPTOR.fields_by_name[kind].json_name}" if kind else "an empty value"
        raise ItemError(f"{OPERATION} must be a stringValue (chat, execute_tool or invoke_agent), not {sent}")
    return value.string_value


def to_span(span: OtlpSpan) -> Span:
    """The span model of one OTLP span; content carried in GenAI span events becomes attributes."""
    values = structured(attributes(span.attributes))
    events = [_span_event(span, event) for event in span.events if event.name in GENAI_EVENTS]
    for key, value in content_attributes(events).items():
        values.setdefault(key, value)
    return Span(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex() or None,
        name=span.name,
        start_time=iso_time(span.start_time_unix_nano),
        end_time=iso_time(span.end_time_unix_nano),
        duration_ms=round((span.end_time_unix_nano - span.start_time_unix_nano) / 1e6, 3),
        status="error" if span.status.code == OtlpStatus.STATUS_CODE_ERROR else "ok",
        status_message=span.status.message or None,
        attributes=values,
    )


def spans_from_request(request: ExportTraceServiceRequest) -> Ingested[Span]:
    """The GenAI spans of an export request with their agent; other operations are dropped (counted),
    malformed GenAI spans rejected with the place and the reason, and successful chat spans without
    message content counted."""
    result: Ingested[Span] = Ingested()
    for r, resource_spans in enumerate(request.resource_spans):
        agent = agent_name(attributes(resource_spans.resource.attributes))
        for s, scope_spans in enumerate(resource_spans.scope_spans):
            for i, otlp_span in enumerate(scope_spans.spans):
                try:
                    span = _genai_span(otlp_span)
                except ItemError as problem:
                    result.rejected.append(f"resourceSpans[{r}].scopeSpans[{s}].spans[{i}]: {problem}")
                    continue
                if span is None:
                    result.dropped += 1
                    continue
                result.items.append((agent, span))
                result.no_content += (
                    span.operation == "chat" and span.status == "ok" and not span.has_messages
                )
    return result


def _genai_span(span: OtlpSpan) -> Span | None:
    """The span model of a GenAI span, None for a span of another operation; raises ItemError."""
    if _operation(span) not in GENAI_OPERATIONS:
        return None
    problem = _span_problem(span)
    if problem:
        raise ItemError(problem)
    return to_span(span)


def spans_from_sdk(spans: Sequence[ReadableSpan]) -> list[Span]:
    """The SDK's spans through the official OTLP encoder and the same conversion as ingested ones."""
    request = encode_spans(spans)
    return [
        to_span(span)
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]


# ------------------------------------------------------------------------------------ content events
def _event_body(values: dict[str, Any]) -> Any:
    raw = values.get(EVENT_CONTENT)
    if isinstance(raw, str):
        return parse_content(raw, EVENT_CONTENT)
    return {key: value for key, value in values.items() if not key.startswith(("gen_ai.", "event."))}


def _span_event(span: OtlpSpan, event: OtlpSpan.Event) -> ContentEvent:
    values = attributes(event.attributes)
    return ContentEvent(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        time_unix_nano=event.time_unix_nano,
        name=event.name,
        body=_event_body(values),
        attributes=structured(values),
    )


def _log_event_name(record: LogRecord, values: dict[str, Any]) -> str:
    name = record.event_name or values.get("event.name")
    return name if isinstance(name, str) else ""


def _log_problem(record: LogRecord) -> str | None:
    problem = _id_problem(record.trace_id, "traceId", 16) or _id_problem(record.span_id, "spanId", 8)
    if problem:
        return f"a GenAI event must carry the traceId and spanId of its chat span: {problem}"
    if not (record.time_unix_nano or record.observed_time_unix_nano):
        return "timeUnixNano or observedTimeUnixNano must be set"
    return None


def events_from_logs(request: ExportLogsServiceRequest) -> Ingested[ContentEvent]:
    """The GenAI content events among an export request's log records, with their agent."""
    result: Ingested[ContentEvent] = Ingested()
    for r, resource_logs in enumerate(request.resource_logs):
        agent = agent_name(attributes(resource_logs.resource.attributes))
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            for i, record in enumerate(scope_logs.log_records):
                try:
                    event = _content_event(record)
                except ItemError as problem:
                    result.rejected.append(f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{i}]: {problem}")
                    continue
                if event is None:
                    result.dropped += 1
                    continue
                result.items.append((agent, event))
    return result


def _content_event(record: LogRecord) -> ContentEvent | None:
    """The content event a GenAI log record carries, None for another record; raises ItemError."""
    values = attributes(record.attributes)
    name = _log_event_name(record, values)
    if name not in GENAI_EVENTS:
        return None
    problem = _log_problem(record)
    if problem:
        raise ItemError(problem)
    return ContentEvent(
        trace_id=record.trace_id.hex(),
        span_id=record.span_id.hex(),
        time_unix_nano=record.time_unix_nano or record.observed_time_unix_nano,
        name=name,
        body=any_value(record.body) if record.HasField("body") else None,
        attributes=structured(values),
    )


def _text_parts(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "content": content}] if content else []
    if isinstance(content, list):  # chat content parts: text is kept, anything else marks the message
        return [
            {"type": "text", "content": part.get("text")}
            if part.get("type") == "text"
            else {"type": str(part.get("type"))}
            for part in content
            if isinstance(part, dict)
        ]
    return []


def _tool_call_part(call: dict[str, Any]) -> dict[str, Any]:
    function: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else {}
    return {
        "type": "tool_call",
        "id": call.get("id"),
        "name": function.get("name"),
        "arguments": function.get("arguments"),
    }


def _legacy_message(role: str, body: Any) -> dict[str, Any]:
    """A v1.30-style message event body (``content``, ``tool_calls``, ``id``) as an OTel message."""
    body = body if isinstance(body, dict) else {}
    if role == "tool":
        return {
            "role": role,
            "parts": [{"type": "tool_call_response", "id": body.get("id"), "response": body.get("content")}],
        }
    calls = body.get("tool_calls") if isinstance(body.get("tool_calls"), list) else []
    return {
        "role": role,
        "parts": _text_parts(body.get("content"))
        + [_tool_call_part(c) for c in calls if isinstance(c, dict)],
    }


def _legacy_choice(body: Any) -> dict[str, Any]:
    body = body if isinstance(body, dict) else {}
    message = _legacy_message("assistant", body.get("message"))
    message["finish_reason"] = body.get("finish_reason")
    return message


def _choice_index(event: ContentEvent) -> int:
    index = event.body.get("index") if isinstance(event.body, dict) else None
    return index if isinstance(index, int) else 0


def content_attributes(events: Sequence[ContentEvent]) -> dict[str, Any]:
    """``gen_ai.input.messages`` / ``gen_ai.output.messages`` (and system instructions) built from one
    chat span's content events, in time order; empty when the events carry none."""
    ordered = sorted(events, key=lambda event: event.time_unix_nano)
    result: dict[str, Any] = {}
    for event in ordered:
        if event.name == DETAILS_EVENT:
            result.update(
                {key: event.attributes[key] for key in STRUCTURED_ATTRIBUTES & event.attributes.keys()}
            )
    inputs = [_legacy_message(MESSAGE_EVENTS[e.name], e.body) for e in ordered if e.name in MESSAGE_EVENTS]
    choices = sorted((e for e in ordered if e.name == CHOICE_EVENT), key=_choice_index)
    if inputs:
        result.setdefault(INPUT_MESSAGES, inputs)
    if choices:
        result.setdefault(OUTPUT_MESSAGES, [_legacy_choice(event.body) for event in choices])
    return result
