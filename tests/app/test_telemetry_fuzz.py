"""Generated bad requests against the telemetry endpoints of the real Function App under devhost
(Azurite behind it): ``POST /api/v1/traces`` in protobuf and in JSON, ``POST /api/v1/logs`` and
``POST /api/feedback``. 5,000 in all (``QUOTAS``), each one bad on purpose:

- a batch of valid GenAI items with one malformed item among them (an operation name that is not a
  string, ids of the wrong length or all zero, missing or reversed times, message content nested too
  deep or holding a lone surrogate escape, no trace context): the answer is 200 with ``partial_success``
  naming that item and rejecting only it, and exactly the valid items are in Blob;
- a body that cannot be taken whole (garbage, truncated or bit-flipped bytes, corrupt gzip, the wrong
  media type or coding, nesting past protobuf's limit, integers over 64 bits, too many items, too many
  bytes, a decompression bomb, another UTF than 8), or feedback with one bad item or a body that breaks
  the app's body rules: a 4xx in the endpoint's error shape, and for feedback nothing stored.

Whatever the case: never a 5xx, never a traceback in the body, never an unhandled exception in the log.
The limits are lowered for the test (``LIMITS``) so that oversized bodies stay cheap to generate.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
import uuid
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import status_pb2
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs, SeverityNumber
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from shared.azure.clients import artifact_store
from shared.domain.settings import get_settings
from shared.storage.production import read_feedback
from shared.telemetry.otlp import GENAI_EVENTS, MAX_VALUE_DEPTH
from shared.telemetry.spans import GENAI_OPERATIONS, OPERATION, STRUCTURED_ATTRIBUTES
from tests.shared.otlp_support import otlp_json

pytestmark = [pytest.mark.timeout(600), pytest.mark.property]

QUOTAS = {"traces protobuf": 1400, "traces json": 1400, "logs": 1100, "feedback": 1100}
MAX_BODY_BYTES = 64 * 1024
MAX_DECODED_BYTES = 128 * 1024
MAX_ITEMS = 40
FEEDBACK_MAX_ITEMS = 20
LIMITS = {
    "TELEMETRY_MAX_BODY_BYTES": MAX_BODY_BYTES,
    "TELEMETRY_MAX_DECODED_BYTES": MAX_DECODED_BYTES,
    "TELEMETRY_MAX_ITEMS": MAX_ITEMS,
    "FEEDBACK_MAX_ITEMS": FEEDBACK_MAX_ITEMS,
    "FEEDBACK_LABELS": '{"thumbs_up": 1, "thumbs_down": 0}',
}
PROTOBUF = "application/x-protobuf"
JSON = "application/json"
FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
BOMB = gzip.compress(b"\0" * (MAX_DECODED_BYTES + 1))


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in LIMITS.items():
        monkeypatch.setenv(name, str(value))
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@dataclass(frozen=True)
class Case:
    """One request and what its answer may be."""

    kind: str
    body: bytes
    content_type: str
    statuses: frozenset[int]
    coding: str | None = None
    batch: Batch | None = None  # a partial batch: its valid items must be stored, the bad one named
    agent: str = ""  # where a partial batch's valid items are stored


@dataclass(frozen=True)
class Batch:
    """Valid items with one malformed item at ``bad`` (its index in its list), rejected for ``reason``."""

    items: list[Any]
    bad: int
    reason: str
    valid: int


# ------------------------------------------------------------------------------------ OTLP values
TEXT = st.text(max_size=12)
SCALARS = st.one_of(
    TEXT.map(lambda v: AnyValue(string_value=v)),
    st.booleans().map(lambda v: AnyValue(bool_value=v)),
    st.integers(-(2**63), 2**63 - 1).map(lambda v: AnyValue(int_value=v)),
    st.floats().map(lambda v: AnyValue(double_value=v)),
    st.binary(max_size=8).map(lambda v: AnyValue(bytes_value=v)),
    st.just(AnyValue()),
)


def _array(values: list[AnyValue]) -> AnyValue:
    return AnyValue(array_value=ArrayValue(values=values))


def _kvlist(pairs: list[tuple[str, AnyValue]]) -> AnyValue:
    return AnyValue(kvlist_value=KeyValueList(values=[KeyValue(key=k, value=v) for k, v in pairs]))


ANY_VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3).map(_array) | st.lists(st.tuples(TEXT, inner), max_size=3).map(_kvlist)
    ),
    max_leaves=4,
)
NOT_A_STRING = ANY_VALUES.filter(lambda value: value.WhichOneof("value") != "string_value")
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=4,
)
MESSAGES = json.dumps(
    [{"role": "user", "parts": [{"type": "text", "content": "What is the capital of Peru?"}]}]
)
# What message content may be: real messages, text that is not JSON, JSON of any shape, as deep as allowed.
CONTENT = st.one_of(
    st.just(MESSAGES),
    TEXT,
    JSON_VALUES.map(json.dumps),
    st.integers(1, MAX_VALUE_DEPTH).map(lambda d: "[" * d + "]" * d),
)
TOO_DEEP = st.integers(MAX_VALUE_DEPTH + 1, 3000).map(lambda d: '{"a":' * d + "1" + "}" * d)
SURROGATE = st.sampled_from(["\\ud800", "\\udfff", "x\\udbff"]).map(lambda escape: f'["{escape}"]')
NONZERO_16 = st.binary(min_size=16, max_size=16).filter(any)
NONZERO_8 = st.binary(min_size=8, max_size=8).filter(any)
# Any attribute but the ones that decide what an item is (a log record's event.name)
ATTRIBUTES = st.lists(st.tuples(TEXT.filter(lambda key: key != "event.name"), ANY_VALUES), max_size=3)
TIMES = st.lists(st.integers(1, 2**64 - 1), min_size=2, max_size=2).map(sorted)


def _kv(key: str, value: AnyValue) -> KeyValue:
    return KeyValue(key=key, value=value)


def _text(key: str, value: str) -> KeyValue:
    return _kv(key, AnyValue(string_value=value))


def _resource(agent: str) -> Resource:
    return Resource(attributes=[_text("service.name", agent)])


def _unique_id(index: int, random: bytes) -> bytes:
    """An 8-byte id that no other item of the batch has (and never all zero)."""
    return bytes([index + 1]) + random[1:]


# ------------------------------------------------------------------------------------------- spans
@st.composite
def genai_spans(draw: st.DrawFn, index: int) -> Span:
    start, end = draw(TIMES)
    span = Span(
        trace_id=draw(NONZERO_16),
        span_id=_unique_id(index, draw(NONZERO_8)),
        parent_span_id=draw(st.just(b"") | NONZERO_8),
        name=draw(TEXT),
        kind=draw(st.integers(0, 5).map(Span.SpanKind.ValueType)),
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        status=Status(code=draw(st.integers(0, 2).map(Status.StatusCode.ValueType)), message=draw(TEXT)),
    )
    span.attributes.append(_text(OPERATION, draw(st.sampled_from(sorted(GENAI_OPERATIONS)))))
    span.attributes.extend(_kv(key, value) for key, value in draw(ATTRIBUTES))
    for key in draw(st.lists(st.sampled_from(sorted(STRUCTURED_ATTRIBUTES)), max_size=2, unique=True)):
        span.attributes.append(_text(key, draw(CONTENT)))
    for name in draw(st.lists(st.sampled_from(sorted(GENAI_EVENTS)) | TEXT, max_size=2)):
        content = [_text("gen_ai.event.content", draw(CONTENT))]
        span.events.append(Span.Event(name=name, time_unix_nano=start, attributes=content))
    return span


@st.composite
def other_spans(draw: st.DrawFn) -> Span:
    """Spans that are not GenAI: dropped, and counted as such."""
    span = Span(trace_id=draw(NONZERO_16), span_id=draw(NONZERO_8), name=draw(TEXT))
    if draw(st.booleans()):
        span.attributes.append(_text(OPERATION, draw(TEXT.filter(lambda op: op not in GENAI_OPERATIONS))))
    return span


@st.composite
def bad_content(draw: st.DrawFn, attributes: Any, kind: str) -> str:
    """Adds message content that is too ``deep`` or holds a lone ``surrogate`` escape to an item's
    attributes; returns the reason its rejection must give."""
    key = draw(st.sampled_from(sorted(STRUCTURED_ATTRIBUTES)))
    attributes.append(_text(key, draw(TOO_DEEP if kind == "deep" else SURROGATE)))
    return f"{key}: its JSON " + ("nests more than" if kind == "deep" else "has an unpaired UTF-16 surrogate")


def _set(span: Span, key: str, value: AnyValue) -> None:
    next(pair for pair in span.attributes if pair.key == key).value.CopyFrom(value)


@st.composite
def broken_spans(draw: st.DrawFn, index: int) -> tuple[Span, str]:
    """A GenAI span with one thing wrong, and the reason its rejection must give."""
    span = draw(genai_spans(index))
    kind = draw(
        st.sampled_from(
            ["operation", "traceId", "spanId", "parentSpanId", "times", "deep", "surrogate", "event"]
        )
    )
    event(f"bad span: {kind}")
    if kind == "operation":
        _set(span, OPERATION, draw(NOT_A_STRING))
        return span, "gen_ai.operation.name must be a stringValue"
    if kind in ("traceId", "spanId", "parentSpanId"):
        size = 16 if kind == "traceId" else 8
        wrong = st.binary(min_size=0 if kind != "parentSpanId" else 1, max_size=20).filter(
            lambda b: len(b) != size
        )
        setattr(
            span,
            {"traceId": "trace_id", "spanId": "span_id", "parentSpanId": "parent_span_id"}[kind],
            draw(wrong | st.just(bytes(size))),
        )
        return span, f"{kind} must be {size} bytes"
    if kind == "times":
        start = draw(st.just(0) | st.integers(2, 2**64 - 1))
        span.start_time_unix_nano, span.end_time_unix_nano = (
            start,
            draw(st.integers(0, max(start - 1, 0)) if start else st.integers(0, 2**64 - 1)),
        )
        return span, "startTimeUnixNano must be set"
    if kind == "event":
        span.events.append(
            Span.Event(name="gen_ai.user.message", attributes=[_text("gen_ai.event.content", draw(TOO_DEEP))])
        )
        return span, "gen_ai.event.content: its JSON nests more than"
    return span, draw(bad_content(span.attributes, kind))


@st.composite
def span_batches(draw: st.DrawFn) -> Batch:
    valid = [draw(genai_spans(index)) for index in range(draw(st.integers(0, 4)))]
    bad, reason = draw(broken_spans(len(valid)))
    at = draw(st.integers(0, len(valid)))
    return Batch(
        [*valid[:at], bad, *valid[at:], *draw(st.lists(other_spans(), max_size=2))], at, reason, len(valid)
    )


def trace_request(agent: str, spans: list[Span]) -> ExportTraceServiceRequest:
    return ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(resource=_resource(agent), scope_spans=[ScopeSpans(spans=spans)])]
    )


# ------------------------------------------------------------------------------------------- logs
@st.composite
def genai_records(draw: st.DrawFn) -> LogRecord:
    name = draw(st.sampled_from(sorted(GENAI_EVENTS)))
    record = LogRecord(
        trace_id=draw(NONZERO_16),
        span_id=draw(NONZERO_8),
        time_unix_nano=draw(st.integers(0, 2**64 - 1)),
        severity_number=draw(st.integers(0, 24).map(SeverityNumber.ValueType)),
        body=draw(ANY_VALUES),
    )
    if not record.time_unix_nano:
        record.observed_time_unix_nano = draw(st.integers(1, 2**64 - 1))
    if draw(st.booleans()):
        record.event_name = name
    else:
        record.attributes.append(_text("event.name", name))
    record.attributes.extend(_kv(key, value) for key, value in draw(ATTRIBUTES))
    for key in draw(st.lists(st.sampled_from(sorted(STRUCTURED_ATTRIBUTES)), max_size=2, unique=True)):
        record.attributes.append(_text(key, draw(CONTENT)))
    return record


@st.composite
def broken_records(draw: st.DrawFn) -> tuple[LogRecord, str]:
    record = draw(genai_records())
    kind = draw(st.sampled_from(["traceId", "spanId", "time", "deep", "surrogate"]))
    event(f"bad log record: {kind}")
    if kind in ("traceId", "spanId"):
        size = 16 if kind == "traceId" else 8
        wrong = st.binary(max_size=20).filter(lambda b: len(b) != size) | st.just(bytes(size))
        setattr(record, "trace_id" if kind == "traceId" else "span_id", draw(wrong))
        return record, "a GenAI event must carry the traceId and spanId of its chat span"
    if kind == "time":
        record.time_unix_nano = record.observed_time_unix_nano = 0
        return record, "timeUnixNano or observedTimeUnixNano must be set"
    return record, draw(bad_content(record.attributes, kind))


@st.composite
def record_batches(draw: st.DrawFn) -> Batch:
    valid = draw(st.lists(genai_records(), max_size=4))
    bad, reason = draw(broken_records())
    at = draw(st.integers(0, len(valid)))
    other = draw(
        st.lists(st.builds(LogRecord, body=SCALARS, time_unix_nano=st.integers(1, 10**18)), max_size=2)
    )
    return Batch([*valid[:at], bad, *valid[at:], *other], at, reason, len(valid))


def log_request(agent: str, records: list[LogRecord]) -> ExportLogsServiceRequest:
    return ExportLogsServiceRequest(
        resource_logs=[ResourceLogs(resource=_resource(agent), scope_logs=[ScopeLogs(log_records=records)])]
    )


# ------------------------------------------------------------------------------- whole-body failures
def _varint(value: int) -> bytes:
    """A non-negative integer as protobuf writes it: seven bits a byte, lowest first, the high bit set on
    every byte but the last."""
    groups = []
    while value > 0x7F:
        groups.append(value & 0x7F | 0x80)
        value >>= 7
    groups.append(value)
    return bytes(groups)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def nested_protobuf(depth: int, traces: bool) -> bytes:
    """An export request whose one item has an attribute value nesting ``depth`` arrays: past
    protobuf's limit of 100 messages from about 48."""
    value = AnyValue(string_value="x").SerializeToString()
    for _ in range(depth):
        value = _field(5, _field(1, value))  # AnyValue.array_value -> ArrayValue.values
    trace_id, span_id = b"\1" * 16, b"\1" * 8
    item = (
        Span(trace_id=trace_id, span_id=span_id, start_time_unix_nano=1, end_time_unix_nano=2)
        if traces
        else LogRecord(trace_id=trace_id, span_id=span_id, time_unix_nano=1)
    )
    # Span.attributes is field 9, LogRecord.attributes 6; a KeyValue is key 1, value 2.
    attribute = _field(9 if traces else 6, _field(1, b"k") + _field(2, value))
    return _field(1, _field(2, _field(2, item.SerializeToString() + attribute)))


def _flip(data: bytes, at: int, mask: int) -> bytes:
    if not data:
        return b"\x80"
    at %= len(data)
    return data[:at] + bytes([data[at] ^ mask]) + data[at + 1 :]


def refused(kind: str, body: bytes, content_type: str, *statuses: int, coding: str | None = None) -> Case:
    event(f"whole body: {kind}")
    return Case(kind, body, content_type, frozenset(statuses), coding)


def unless_too_big(body: bytes, status: int) -> int:
    """The status a body earns for its content, or 413 when it is over the byte limit: the size is checked
    before anything is parsed, and re-encoding a batch (UTF-32 quadruples it) can cross the limit."""
    return 413 if len(body) > MAX_BODY_BYTES else status


@st.composite
def otlp_failures(draw: st.DrawFn, raw: bytes, items: list[Any], traces: bool, encoding: str) -> Case:
    """A body the endpoint must refuse as a whole (or, for bytes that happen to decode, take), made from
    the encoded batch ``raw`` of ``items``: garbage, damage, limits, codings and media types, and
    encoding-specific breakage."""
    kind = draw(
        st.sampled_from(["garbage", "truncated", "flipped", "gzip", "media", "coding", "limits", "encoding"])
    )
    if kind == "garbage":
        garbage = (
            st.binary(min_size=1, max_size=200)
            if encoding == PROTOBUF
            else JSON_VALUES.map(lambda v: json.dumps(v).encode()) | st.binary(min_size=1, max_size=200)
        )
        return refused("garbage", draw(garbage), encoding, 200, 400)
    if kind == "truncated":
        return refused("truncated", raw[: draw(st.integers(0, max(len(raw) - 1, 0)))], encoding, 200, 400)
    if kind == "flipped":
        return refused(
            "flipped", _flip(raw, draw(st.integers(0, 10**6)), draw(st.integers(1, 255))), encoding, 200, 400
        )
    if kind == "gzip":
        packed = gzip.compress(raw)
        damaged = draw(st.sampled_from(["cut", "garbage", "bomb"]))
        body = {
            "cut": packed[: len(packed) // 2],
            "garbage": b"\x1f\x8b" + draw(st.binary(max_size=50)),
            "bomb": BOMB,
        }[damaged]
        return refused(
            f"gzip {damaged}", body, encoding, *((413,) if damaged == "bomb" else (400,)), coding="gzip"
        )
    if kind == "media":
        media = draw(
            st.sampled_from(
                ["text/plain", "application/protobuf", "application/grpc", "", "application/jsonx"]
            )
            | TEXT
        )
        return refused("media type", raw, media, 415)
    if kind == "coding":
        coding = draw(
            st.sampled_from(["br", "zstd", "compress", "gzip, br"])
            | TEXT.filter(lambda c: c.strip().lower() not in ("", "identity", "gzip", "deflate"))
        )
        return refused("content coding", raw, encoding, 415, coding=coding)
    if kind == "limits":
        over = draw(st.sampled_from(["bytes", "items"]))
        if over == "bytes":
            return refused(
                "too many bytes",
                b"\0" * (MAX_BODY_BYTES + draw(st.integers(1, 100))),
                encoding,
                413,
            )
        many = (trace_request if traces else log_request)("fuzz-many", [items[0]] * (MAX_ITEMS + 1))
        body = many.SerializeToString() if encoding == PROTOBUF else otlp_json(many)
        return refused("too many items", body, encoding, unless_too_big(body, 400))
    if encoding == PROTOBUF:
        return refused(
            "nested past protobuf's limit",
            nested_protobuf(draw(st.integers(48, 400)), traces),
            encoding,
            400,
        )
    broken = draw(st.sampled_from(["deep", "int", "utf", "type", "hex"]))
    if broken == "deep":
        depth = draw(st.integers(200, 60_000))
        body = b"[" * depth + b"]" * draw(st.sampled_from([0, depth]))
        return refused("JSON nested deep", body, encoding, unless_too_big(body, 400))
    if broken == "int":
        digits = draw(st.integers(21, 5000))
        return refused("huge integer", b'{"unknownField": ' + b"9" * digits + b"}", encoding, 400)
    if broken == "utf":
        body = raw.decode().encode(draw(st.sampled_from(["utf-16", "utf-32", "utf-16-le"])))
        return refused("not UTF-8", body, encoding, unless_too_big(body, 400))
    document = json.loads(raw)
    top = next(iter(document))
    if broken == "type":
        document[top] = draw(JSON_VALUES.filter(lambda v: not isinstance(v, list | type(None))))
        body = json.dumps(document).encode()
        return refused("wrong JSON type", body, encoding, unless_too_big(body, 400))
    return refused("id not hex", raw.replace(b'"traceId": "', b'"traceId": "zz', 1), encoding, 200, 400)


# ---------------------------------------------------------------------------------------- feedback
TRACE_IDS = st.binary(min_size=16, max_size=16).filter(any).map(bytes.hex)
# JSON values the body rules let through (bounded numbers), so that an item's own field is at fault.
ITEM_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**18), 10**18)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=4,
)
GOOD_ITEMS = st.one_of(
    st.fixed_dictionaries({"trace_id": TRACE_IDS, "reward": st.floats(0, 1)}),
    st.fixed_dictionaries({"trace_id": TRACE_IDS, "label": st.sampled_from(["thumbs_up", "thumbs_down"])}),
)
BAD_FIELDS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "trace_id": st.fixed_dictionaries(
        {
            "trace_id": ITEM_VALUES.filter(lambda v: not (isinstance(v, str) and len(v) == 32))
            | st.just("0" * 32)
            | TRACE_IDS.map(str.upper).filter(lambda trace_id: trace_id != trace_id.lower()),
            "reward": st.just(1),
        }
    ),
    "reward": st.fixed_dictionaries(
        {
            "trace_id": TRACE_IDS,
            "reward": st.floats(allow_nan=False, allow_infinity=False).filter(lambda r: not 0 <= r <= 1)
            | st.booleans()
            | TEXT
            | st.integers(-(10**18), 10**18).filter(lambda r: r not in (0, 1))
            | st.lists(st.integers(-(10**18), 10**18), max_size=2),
        }
    ),
    "label": st.fixed_dictionaries(
        {
            "trace_id": TRACE_IDS,
            "label": TEXT.filter(lambda t: t not in ("thumbs_up", "thumbs_down")) | st.integers(-9, 9),
        }
    ),
    "both": st.fixed_dictionaries(
        {"trace_id": TRACE_IDS, "reward": st.just(1), "label": st.just("thumbs_up")}
    ),
    "neither": st.fixed_dictionaries({"trace_id": TRACE_IDS}),
    "extra": st.fixed_dictionaries({"trace_id": TRACE_IDS, "reward": st.just(0.5), "note": ITEM_VALUES}),
}


@st.composite
def feedback_cases(draw: st.DrawFn) -> tuple[Case, list[str], int | None]:
    """A bad feedback request, the trace ids in it (none may be stored) and the index of its bad item
    (None when the whole body is at fault)."""
    good = draw(st.lists(GOOD_ITEMS, max_size=4))
    kind = draw(st.sampled_from(["item", "duplicate", "raw"]))
    if kind in ("item", "duplicate"):
        field = draw(st.sampled_from(sorted(BAD_FIELDS)))
        bad = (
            draw(BAD_FIELDS[field])
            if kind == "item"
            else dict(good[0])
            if good
            else {"trace_id": "0" * 32, "reward": 1}
        )
        at = draw(st.integers(0 if kind == "item" else len(good), len(good)))
        items = [*good[:at], bad, *good[at:]]
        event(f"feedback: bad {field if kind == 'item' else 'duplicate trace_id'}")
        body = json.dumps(items if len(items) > 1 or draw(st.booleans()) else items[0]).encode()
        ids = [
            trace_id
            for item in items
            if isinstance(trace_id := item.get("trace_id"), str) and re.fullmatch("[0-9a-f]{32}", trace_id)
        ]
        return (
            Case(kind, body, JSON, frozenset({400})),
            ids,
            at if len(items) > 1 or body.startswith(b"[") else None,
        )
    ids = [str(item["trace_id"]) for item in good]  # TRACE_IDS draws hex strings
    raw = json.dumps(good or [{"trace_id": "a" * 32, "reward": 1}]).encode()
    what = draw(
        st.sampled_from(
            [
                "media",
                "charset",
                "utf",
                "duplicate key",
                "deep",
                "int",
                "nan",
                "big",
                "many",
                "empty",
                "shape",
                "garbage",
            ]
        )
    )
    event(f"feedback: whole body {what}")
    body, media, status = raw, JSON, 400
    if what == "media":
        media, status = (
            draw(st.sampled_from(["text/plain", "application/x-www-form-urlencoded", ""]) | TEXT),
            415,
        )
    elif what == "charset":
        media, status = (
            f"application/json; charset={draw(st.sampled_from(['utf-16', 'latin-1', 'utf-32']))}",
            415,
        )
    elif what == "utf":
        body = raw.decode().encode(draw(st.sampled_from(["utf-16", "utf-32", "utf-16-be"])))
    elif what == "duplicate key":
        body = b'{"trace_id": "' + (b"b" * 32) + b'", "reward": 1, "reward": 0}'
    elif what == "deep":
        depth = draw(st.integers(33, 60_000))
        body = b"[" * depth + b"]" * depth
    elif what == "int":
        body = b'{"trace_id": "' + (b"c" * 32) + b'", "reward": ' + b"1" * draw(st.integers(21, 6000)) + b"}"
    elif what == "nan":
        body = (
            b'{"trace_id": "'
            + (b"d" * 32)
            + b'", "reward": '
            + draw(st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e999"]))
            + b"}"
        )
    elif what == "big":
        body, status = json.dumps([{"trace_id": "e" * 32, "reward": 1, "pad": "x" * 70_000}]).encode(), 413
    elif what == "many":
        body = json.dumps(
            [{"trace_id": f"{n + 1:032x}", "reward": 1} for n in range(FEEDBACK_MAX_ITEMS + 1)]
        ).encode()
        ids = [f"{n + 1:032x}" for n in range(3)]
    elif what == "empty":
        body = draw(st.sampled_from([b"", b"  ", b"[]", b"\n"]))
    elif what == "shape":
        body = json.dumps(
            draw(
                JSON_VALUES.filter(lambda v: not isinstance(v, dict | list))
                | st.lists(JSON_VALUES.filter(lambda v: not isinstance(v, dict)), min_size=1, max_size=3)
            )
        ).encode()
    else:
        body = draw(st.binary(min_size=1, max_size=100).filter(lambda b: not _is_json(b)))
    if what not in ("media", "charset"):
        status = unless_too_big(body, status)
    return Case(what, body, media, frozenset({status})), ids, None


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except (ValueError, RecursionError):
        return False
    return True


# ------------------------------------------------------------------------------------------ checks
def _bugs(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Unhandled exceptions (devhost logs them) and errors the app logged."""
    return [
        record.getMessage()
        for record in caplog.records
        if record.levelno >= logging.ERROR and record.name.startswith(("devhost", "durable_finetune"))
    ]


M = TypeVar("M", bound=Message)


def post(host: Any, path: str, case: Case) -> tuple[int, bytes, str]:
    headers = {"Content-Type": case.content_type} if case.content_type else {}
    if case.coding:
        headers["Content-Encoding"] = case.coding
    response = host.http("POST", path, body=case.body, headers=headers)
    body = response.get_body()
    assert response.status_code < 500, (response.status_code, body[:500])
    assert b"Traceback" not in body and b'File "' not in body, body[:500]
    return response.status_code, body, response.mimetype or ""


def otlp_answer(body: bytes, mimetype: str, message: M) -> M:
    """The answer decoded as ``message`` in the encoding the endpoint declared."""
    if mimetype == PROTOBUF:
        message.ParseFromString(body)
    else:
        assert mimetype == JSON, mimetype
        json_format.Parse(body, message)
    return message


def stored_lines(agent: str) -> list[dict[str, Any]]:
    store = artifact_store()
    return [
        json.loads(line)
        for path in store.list_paths(f"production/{agent}/")
        for line in (store.read_text(path) or "").split("\n")
        if line
    ]


def check_otlp(host: Any, path: str, case: Case) -> None:
    """Sends one OTLP case: an answer it allows, a Status for a failure, and for a partial batch the bad
    item named and rejected and exactly the valid items stored."""
    traces = path == "/api/v1/traces"
    status, body, mimetype = post(host, path, case)
    assert status in case.statuses, (case.kind, status, body[:300])
    if status != 200:
        assert otlp_answer(body, mimetype, status_pb2.Status()).message
        return
    if traces:
        spans = otlp_answer(body, mimetype, ExportTraceServiceResponse()).partial_success
        rejected, error = spans.rejected_spans, spans.error_message
    else:
        records = otlp_answer(body, mimetype, ExportLogsServiceResponse()).partial_success
        rejected, error = records.rejected_log_records, records.error_message
    if case.batch is None:
        return
    place = (
        f"resourceSpans[0].scopeSpans[0].spans[{case.batch.bad}]"
        if traces
        else f"resourceLogs[0].scopeLogs[0].logRecords[{case.batch.bad}]"
    )
    assert rejected == 1, error
    assert f"{place}: {case.batch.reason}" in error, error
    assert len(stored_lines(case.agent)) == case.batch.valid


def fuzz_otlp(host: Any, caplog: pytest.LogCaptureFixture, path: str, encoding: str, quota: int) -> None:
    """``quota`` requests, two per generated batch: the batch with its one malformed item, then a body
    made from it that the endpoint must take or refuse as a whole."""
    traces = path == "/api/v1/traces"
    sent = Counter[str]()

    @settings(FUZZ_SETTINGS, max_examples=(quota + 1) // 2)
    @given(data=st.data())
    def check(data: st.DataObject) -> None:
        caplog.clear()
        batch = data.draw(span_batches() if traces else record_batches())
        agent = f"fuzz-{uuid.uuid4().hex[:12]}"
        message = (trace_request if traces else log_request)(agent, batch.items)
        raw = message.SerializeToString() if encoding == PROTOBUF else otlp_json(message)
        coding = data.draw(st.sampled_from([None, "gzip", "deflate"]))
        packed = {None: raw, "gzip": gzip.compress(raw), "deflate": zlib.compress(raw)}[coding]
        for case in (
            Case("partial", packed, encoding, frozenset({200}), coding, batch, agent),
            data.draw(otlp_failures(raw, batch.items, traces, encoding)),
        ):
            check_otlp(host, path, case)
            sent[case.kind] += 1
        assert _bugs(caplog) == []

    check()
    assert sum(sent.values()) >= quota, sent


@pytest.mark.usefixtures("limits")
def test_generated_bad_protobuf_trace_exports(host: Any, caplog: pytest.LogCaptureFixture) -> None:
    fuzz_otlp(host, caplog, "/api/v1/traces", PROTOBUF, QUOTAS["traces protobuf"])


@pytest.mark.usefixtures("limits")
def test_generated_bad_json_trace_exports(host: Any, caplog: pytest.LogCaptureFixture) -> None:
    fuzz_otlp(host, caplog, "/api/v1/traces", JSON, QUOTAS["traces json"])


@pytest.mark.usefixtures("limits")
def test_generated_bad_log_exports(host: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Protobuf and JSON alternate by example: the logs endpoint shares the traces endpoint's decoding."""
    fuzz_otlp(host, caplog, "/api/v1/logs", PROTOBUF, QUOTAS["logs"] // 2)
    fuzz_otlp(host, caplog, "/api/v1/logs", JSON, QUOTAS["logs"] - QUOTAS["logs"] // 2)


@pytest.mark.usefixtures("limits")
def test_a_batch_re_encoded_past_the_byte_limit_is_refused_for_its_size(host: Any) -> None:
    """A case the fuzzer found in CI: a 16 KiB JSON batch sent as UTF-32 is 64 KiB and 4 bytes. The
    size is judged before the encoding, so it is a 413 (send smaller batches), not a 400."""
    raw = otlp_json(log_request("fuzz-utf32", [LogRecord(body=AnyValue(string_value="x" * 16_400))]))
    body = raw.decode().encode("utf-32")
    assert len(raw) <= MAX_BODY_BYTES < len(body)
    check_otlp(host, "/api/v1/logs", Case("not UTF-8", body, JSON, frozenset({413})))


@pytest.mark.usefixtures("limits")
def test_generated_bad_feedback(host: Any, caplog: pytest.LogCaptureFixture) -> None:
    sent = 0

    @settings(FUZZ_SETTINGS, max_examples=QUOTAS["feedback"])
    @given(generated=feedback_cases())
    def check(generated: tuple[Case, list[str], int | None]) -> None:
        nonlocal sent
        case, trace_ids, bad = generated
        caplog.clear()
        status, body, mimetype = post(host, "/api/feedback", case)
        sent += 1
        assert (status, mimetype) in {(s, JSON) for s in case.statuses}, (case.kind, status, body[:300])
        answer = json.loads(body)
        assert isinstance(answer["error"], str)
        if bad is not None:
            assert any(error["field"].startswith(f"[{bad}].") for error in answer["errors"]), answer
        assert read_feedback(artifact_store(), trace_ids) == {}
        assert _bugs(caplog) == []

    check()
    assert sent >= QUOTAS["feedback"]
