"""OTLP decoding and conversion: encodings, limits, bad data, GenAI filtering, agents, content events."""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Callable

import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.trace import Status, StatusCode

from shared.telemetry.otlp import (
    MAX_VALUE_DEPTH,
    Encoding,
    Limits,
    OtlpError,
    content_attributes,
    decode_body,
    encode_message,
    events_from_logs,
    parse_message,
    request_encoding,
    safe_agent_name,
    spans_from_request,
    status_body,
    trace_response,
)
from shared.telemetry.spans import ContentEvent
from tests.shared.otlp_support import TOOL, Recorder, conversation, messages

LIMITS = Limits(max_body_bytes=1000, max_decoded_bytes=5000, max_items=100)
TRACE_ID = "5b8efff798038103d269b633813fc60c"
SPAN_ID = "eee19b7ec3c1b174"


def _request(body: bytes, encoding: Encoding) -> ExportTraceServiceRequest:
    return parse_message(body, encoding, ExportTraceServiceRequest())


def _otlp_json_span(**overrides: object) -> dict[str, object]:
    span: dict[str, object] = {
        "traceId": TRACE_ID.upper(),
        "spanId": SPAN_ID,
        "name": "chat gpt-4.1-mini",
        "kind": 3,
        "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": 1700000001500000000,
        "attributes": [
            {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
            {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "117"}},
        ],
        "status": {"code": 2, "message": "rate limited"},
    }
    span.update(overrides)
    return span


def _nested_attribute(depth: int) -> dict[str, object]:
    """An attribute whose value is an array in an array ... ``depth`` deep."""
    value: dict[str, object] = {"stringValue": "x"}
    for _ in range(depth):
        value = {"arrayValue": {"values": [value]}}
    return {"key": "nested", "value": value}


def _operation(value: dict[str, object]) -> dict[str, object]:
    return {"key": "gen_ai.operation.name", "value": value}


def _otlp_json(*spans: dict[str, object], **resource_attributes: str) -> bytes:
    resource = [
        {"key": k.replace("_", "."), "value": {"stringValue": v}} for k, v in resource_attributes.items()
    ]
    return json.dumps(
        {"resourceSpans": [{"resource": {"attributes": resource}, "scopeSpans": [{"spans": list(spans)}]}]}
    ).encode()


# ------------------------------------------------------------------------------------------- encodings
@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/x-protobuf", Encoding.PROTOBUF),
        ("application/json", Encoding.JSON),
        ("Application/JSON; charset=utf-8", Encoding.JSON),
    ],
)
def test_content_type_selects_the_encoding(header: str, expected: Encoding) -> None:
    assert request_encoding(header) is expected


@pytest.mark.parametrize("header", [None, "text/plain", "application/protobuf", "application/grpc"])
def test_other_content_types_are_refused_with_415(header: str | None) -> None:
    with pytest.raises(OtlpError) as caught:
        request_encoding(header)
    assert caught.value.status == 415
    assert "application/x-protobuf or application/json" in caught.value.message


@pytest.mark.parametrize(
    ("coding", "compress"),
    [
        ("gzip", gzip.compress),
        ("GZIP", gzip.compress),
        ("deflate", zlib.compress),
        ("identity", lambda data: data),
        (None, lambda data: data),
    ],
)
def test_bodies_are_decompressed(coding: str | None, compress: Callable[[bytes], bytes]) -> None:
    data = b"x" * 900
    assert decode_body(compress(data), coding, LIMITS) == data


def test_every_gzip_member_is_read() -> None:
    assert decode_body(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", LIMITS) == b"abcd"


def test_a_body_over_the_limit_is_413_before_and_after_decompression() -> None:
    with pytest.raises(OtlpError) as raw:
        decode_body(b"x" * 1001, None, LIMITS)
    with pytest.raises(OtlpError) as bomb:
        decode_body(gzip.compress(b"\0" * 5001), "gzip", LIMITS)
    assert (raw.value.status, bomb.value.status) == (413, 413)
    assert "limit is 1000" in raw.value.message
    assert "more than 5000 bytes" in bomb.value.message


@pytest.mark.parametrize(
    ("body", "coding", "status", "says"),
    [
        (b"not gzip at all", "gzip", 400, "not valid gzip"),
        (gzip.compress(b"y" * 100, mtime=0)[:-12], "gzip", 400, "truncated"),
        (gzip.compress(b"ok", mtime=0), "br", 415, "'br' is not supported"),
    ],
)
def test_bad_encodings_are_named(body: bytes, coding: str, status: int, says: str) -> None:
    with pytest.raises(OtlpError) as caught:
        decode_body(body, coding, LIMITS)
    assert caught.value.status == status
    assert says in caught.value.message
    assert caught.value.field == "Content-Encoding"


# -------------------------------------------------------------------------------------- JSON/protobuf
def test_json_and_protobuf_from_the_official_encoders_decode_to_the_same_spans() -> None:
    recorder = Recorder(**{"service.name": "support-bot"})
    conversation(recorder, "capital of France?")
    from_protobuf = spans_from_request(_request(recorder.protobuf(), Encoding.PROTOBUF))
    from_json = spans_from_request(_request(recorder.json(), Encoding.JSON))
    assert from_json.items == from_protobuf.items
    assert [span.name for _, span in from_json.items] == ["chat gpt-4.1-mini", "invoke_agent"]
    assert (from_json.dropped, from_json.rejected) == (1, [])


def test_otlp_json_rules_hex_ids_int64_strings_enums_and_unknown_fields() -> None:
    body = _otlp_json(
        _otlp_json_span(futureField={"x": 1}, trace_id="ffffffffffffffffffffffffffffffff"),
        service_name="support-bot",
    )
    [(agent, span)] = spans_from_request(_request(body, Encoding.JSON)).items
    assert agent == "support-bot"
    assert (span.trace_id, span.span_id, span.parent_span_id) == (TRACE_ID, SPAN_ID, None)
    assert (span.start_time, span.end_time) == (
        "2023-11-14T22:13:20.000000+00:00",
        "2023-11-14T22:13:21.500000+00:00",
    )
    assert span.duration_ms == 1500.0
    assert (span.status, span.status_message) == ("error", "rate limited")
    assert span.attributes == {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 117}


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"{not json", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (
            _otlp_json(_otlp_json_span(spanId="xyz")),
            "resourceSpans[0].scopeSpans[0].spans[0].spanId: must be a string of hex",
        ),
        (_otlp_json(_otlp_json_span(startTimeUnixNano="soon")), "startTimeUnixNano"),
        (b"[" * 1000 + b"]" * 1000, "nests deeper than OTLP allows (100 messages)"),
        (b"[" * 100_000, "nests deeper than OTLP allows (100 messages)"),
        (_otlp_json(_otlp_json_span(attributes=[_nested_attribute(60)])), "nest more than 100 deep"),
        (b'{"resourceSpans": ' + b"9" * 5001 + b"}", "an integer of 5001 digits does not fit in 64 bits"),
        ('{"resourceSpans": []}'.encode("utf-16"), "not UTF-8 JSON"),
    ],
)
def test_undecodable_json_is_400_naming_the_problem(body: bytes, says: str) -> None:
    with pytest.raises(OtlpError) as caught:
        _request(body, Encoding.JSON)
    assert caught.value.status == 400
    assert says in caught.value.message


def test_undecodable_protobuf_is_400() -> None:
    with pytest.raises(OtlpError) as caught:
        _request(b"\x0a\xff\xff\xff\xff\x0f garbage", Encoding.PROTOBUF)
    assert caught.value.status == 400
    assert "not a binary protobuf ExportTraceServiceRequest" in caught.value.message


def test_malformed_spans_are_rejected_one_by_one_with_their_place() -> None:
    body = _otlp_json(
        _otlp_json_span(),
        _otlp_json_span(traceId="00" * 16),
        _otlp_json_span(spanId="abcd"),
        _otlp_json_span(parentSpanId="0102"),
        _otlp_json_span(endTimeUnixNano="1"),
    )
    result = spans_from_request(_request(body, Encoding.JSON))
    assert len(result.items) == 1
    where = "resourceSpans[0].scopeSpans[0].spans"
    assert result.rejected == [
        f"{where}[1]: traceId must be 16 bytes (32 hex characters), not all zero; got 16 bytes",
        f"{where}[2]: spanId must be 8 bytes (16 hex characters), not all zero; got 2 bytes",
        f"{where}[3]: parentSpanId must be 8 bytes (16 hex characters), not all zero; got 2 bytes",
        f"{where}[4]: startTimeUnixNano must be set and endTimeUnixNano must not be before it",
    ]


def test_an_operation_name_that_is_not_a_string_rejects_that_span_only() -> None:
    """A span that claims to be GenAI with an array (or any non-string) operation name is one bad item,
    not an error of the request: it is rejected with its reason and the others are kept."""
    body = _otlp_json(
        _otlp_json_span(spanId="01" * 8),
        _otlp_json_span(
            spanId="02" * 8, attributes=[_operation({"arrayValue": {"values": [{"stringValue": "chat"}]}})]
        ),
        _otlp_json_span(spanId="03" * 8, attributes=[_operation({"intValue": "1"})]),
        _otlp_json_span(spanId="04" * 8, attributes=[_operation({})]),
        _otlp_json_span(spanId="05" * 8),
    )
    for encoding, raw in [
        (Encoding.JSON, body),
        (Encoding.PROTOBUF, _request(body, Encoding.JSON).SerializeToString()),
    ]:
        result = spans_from_request(_request(raw, encoding))
        assert [span.span_id for _, span in result.items] == ["01" * 8, "05" * 8]
        must = "gen_ai.operation.name must be a stringValue (chat, execute_tool or invoke_agent), not"
        assert result.rejected == [
            f"resourceSpans[0].scopeSpans[0].spans[1]: {must} an arrayValue",
            f"resourceSpans[0].scopeSpans[0].spans[2]: {must} an intValue",
            f"resourceSpans[0].scopeSpans[0].spans[3]: {must} an empty value",
        ]


@pytest.mark.parametrize("attribute", ["gen_ai.input.messages", "gen_ai.tool.definitions"])
@pytest.mark.parametrize("depth", [MAX_VALUE_DEPTH + 1, 900, 1000, 100_000])
def test_message_content_nested_too_deep_rejects_that_span_only(attribute: str, depth: int) -> None:
    """Content sent as a JSON string is parsed; nested beyond MAX_VALUE_DEPTH (where the encoders that
    store a span would fail, or the parser itself) it rejects its span, and the rest is stored."""
    deep = {"key": attribute, "value": {"stringValue": "[" * depth + "]" * depth}}
    body = _otlp_json(
        _otlp_json_span(spanId="01" * 8),
        _otlp_json_span(spanId="02" * 8, attributes=[_operation({"stringValue": "chat"}), deep]),
    )
    result = spans_from_request(_request(body, Encoding.JSON))
    assert [span.span_id for _, span in result.items] == ["01" * 8]
    assert result.rejected == [
        f"resourceSpans[0].scopeSpans[0].spans[1]: {attribute}: its JSON nests more than "
        f"{MAX_VALUE_DEPTH} levels deep (GenAI content nests a few)"
    ]
    result.items[0][1].model_dump_json()


def test_message_content_with_a_lone_surrogate_escape_rejects_that_span_only() -> None:
    """``"\\ud800"`` is valid JSON text but decodes to a string no UTF-8 blob can hold."""
    bad = {"key": "gen_ai.input.messages", "value": {"stringValue": '[{"role": "user", "x": "\\ud800"}]'}}
    body = _otlp_json(
        _otlp_json_span(spanId="01" * 8),
        _otlp_json_span(spanId="02" * 8, attributes=[_operation({"stringValue": "chat"}), bad]),
    )
    result = spans_from_request(_request(body, Encoding.JSON))
    assert [span.span_id for _, span in result.items] == ["01" * 8]
    assert result.rejected == [
        "resourceSpans[0].scopeSpans[0].spans[1]: gen_ai.input.messages: its JSON has an unpaired UTF-16 "
        "surrogate escape (\\ud800-\\udfff)"
    ]


def test_content_nested_as_deep_as_allowed_is_kept() -> None:
    limit = "[" * MAX_VALUE_DEPTH + "]" * MAX_VALUE_DEPTH
    span = _otlp_json_span(
        attributes=[
            _operation({"stringValue": "chat"}),
            {"key": "gen_ai.input.messages", "value": {"stringValue": limit}},
        ]
    )
    [(_, kept)] = spans_from_request(_request(_otlp_json(span), Encoding.JSON)).items
    assert json.loads(kept.model_dump_json())["attributes"]["gen_ai.input.messages"] == json.loads(limit)


def test_span_event_content_nested_too_deep_rejects_its_span() -> None:
    recorder = Recorder()
    with recorder.tracer.start_as_current_span(
        "chat m", attributes={"gen_ai.operation.name": "chat"}
    ) as span:
        span.add_event("gen_ai.user.message", {"gen_ai.event.content": "[" * 5000 + "]" * 5000})
    conversation(recorder, "q")
    result = spans_from_request(recorder.request())
    assert sorted(span.operation or "" for _, span in result.items) == ["chat", "invoke_agent"]
    assert len(result.rejected) == 1
    assert "gen_ai.event.content: its JSON nests more than 64 levels deep" in result.rejected[0]


def test_successful_chat_spans_without_content_are_counted() -> None:
    """What the traces endpoint warns about: chat spans that ended well but carry no messages (a failed
    call has no output whatever the capture setting, and the other operations carry none)."""
    recorder = Recorder()
    conversation(recorder, "with content")
    for failed in (False, False, True):
        with recorder.tracer.start_as_current_span(
            "chat m", attributes={"gen_ai.operation.name": "chat"}
        ) as span:
            if failed:
                span.set_status(Status(StatusCode.ERROR, "rate limited"))
    result = spans_from_request(recorder.request())
    assert (len(result.items), result.no_content) == (5, 2)


def test_only_genai_operations_are_kept() -> None:
    spans = [
        _otlp_json_span(
            spanId=f"{i + 1:016x}",
            attributes=[{"key": "gen_ai.operation.name", "value": {"stringValue": op}}],
        )
        for i, op in enumerate(["chat", "execute_tool", "invoke_agent", "embeddings", "text_completion"])
    ]
    spans.append(_otlp_json_span(spanId="00000000000000ff", attributes=[]))
    result = spans_from_request(_request(_otlp_json(*spans), Encoding.JSON))
    assert [span.operation for _, span in result.items] == ["chat", "execute_tool", "invoke_agent"]
    assert result.dropped == 3


@pytest.mark.parametrize(
    ("resource", "agent"),
    [
        ({"gen_ai.agent.name": "Triage Bot", "service.name": "support-api"}, "triage-bot"),
        ({"service.name": "support-api"}, "support-api"),
        ({"service.name": "unknown_service:python"}, "unknown_service-python"),
        ({}, "unknown-service"),
    ],
)
def test_the_agent_is_the_resource_agent_name_or_service_name(resource: dict[str, str], agent: str) -> None:
    recorder = Recorder(**resource) if resource else Recorder(**{"telemetry.sdk.language": "python"})
    conversation(recorder, "q", agent="span-level-name")
    assert {name for name, _ in spans_from_request(recorder.request()).items} == {agent}


@pytest.mark.parametrize(
    ("raw", "safe"), [("  _Agent/One ", "agent-one"), ("../..", "unknown-service"), ("a" * 80, "a" * 64)]
)
def test_agent_names_are_safe_blob_path_segments(raw: str, safe: str) -> None:
    assert safe_agent_name(raw) == safe


def test_structured_attributes_sent_as_json_strings_become_json() -> None:
    recorder = Recorder()
    conversation(recorder, "capital of France?")
    chat = next(span for _, span in spans_from_request(recorder.request()).items if span.operation == "chat")
    inputs, outputs = messages("capital of France?")
    assert chat.attributes["gen_ai.input.messages"] == inputs
    assert chat.attributes["gen_ai.output.messages"] == outputs
    assert chat.attributes["gen_ai.tool.definitions"] == [TOOL]


# ------------------------------------------------------------------------------------ content events
def _event(name: str, body: object, at: int) -> ContentEvent:
    return ContentEvent(trace_id=TRACE_ID, span_id=SPAN_ID, time_unix_nano=at, name=name, body=body)


def test_v1_30_message_events_become_input_and_output_messages() -> None:
    """The bodies opentelemetry-instrumentation-openai-v2 2.4b0 emits on its default path (checked
    against the emulator), out of order on purpose."""
    call = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"country": "France"}'},
    }
    events = [
        _event(
            "gen_ai.choice",
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Paris"}},
            5,
        ),
        _event("gen_ai.system.message", {"content": "Use the tool."}, 1),
        _event("gen_ai.user.message", {"content": "capital of France?"}, 2),
        _event("gen_ai.assistant.message", {"tool_calls": [call]}, 3),
        _event("gen_ai.tool.message", {"content": "Paris", "id": "call_1"}, 4),
    ]
    content = content_attributes(events)
    assert content["gen_ai.input.messages"] == [
        {"role": "system", "parts": [{"type": "text", "content": "Use the tool."}]},
        {"role": "user", "parts": [{"type": "text", "content": "capital of France?"}]},
        {
            "role": "assistant",
            "parts": [
                {"type": "tool_call", "id": "call_1", "name": "lookup", "arguments": '{"country": "France"}'}
            ],
        },
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "Paris"}]},
    ]
    assert content["gen_ai.output.messages"] == [
        {"role": "assistant", "parts": [{"type": "text", "content": "Paris"}], "finish_reason": "stop"}
    ]


def test_the_details_event_carries_messages_as_attributes() -> None:
    inputs, outputs = messages("q")
    event = _event("gen_ai.client.inference.operation.details", None, 1)
    event.attributes = {"gen_ai.input.messages": inputs, "gen_ai.output.messages": outputs, "other": 1}
    assert content_attributes([event]) == {"gen_ai.input.messages": inputs, "gen_ai.output.messages": outputs}


def test_span_events_with_content_fill_a_span_without_message_attributes() -> None:
    recorder = Recorder()
    with recorder.tracer.start_as_current_span(
        "chat m", attributes={"gen_ai.operation.name": "chat"}
    ) as span:
        span.add_event("gen_ai.user.message", {"gen_ai.event.content": json.dumps({"content": "hi"})})
        span.add_event(
            "gen_ai.choice",
            {"gen_ai.event.content": json.dumps({"index": 0, "message": {"content": "hello"}})},
        )
    [(_, chat)] = spans_from_request(recorder.request()).items
    assert chat.attributes["gen_ai.input.messages"] == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]}
    ]
    assert chat.attributes["gen_ai.output.messages"][0]["parts"] == [{"type": "text", "content": "hello"}]


def test_log_records_keep_genai_events_only_and_need_trace_context() -> None:
    body = {
        "resourceLogs": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "support-bot"}}]
                },
                "scopeLogs": [
                    {
                        "logRecords": [
                            {
                                "timeUnixNano": "5",
                                "eventName": "gen_ai.user.message",
                                "traceId": TRACE_ID,
                                "spanId": SPAN_ID,
                                "body": {
                                    "kvlistValue": {
                                        "values": [{"key": "content", "value": {"stringValue": "hi"}}]
                                    }
                                },
                            },
                            {
                                "observedTimeUnixNano": "6",
                                "attributes": [
                                    {"key": "event.name", "value": {"stringValue": "gen_ai.choice"}}
                                ],
                                "traceId": TRACE_ID,
                                "spanId": SPAN_ID,
                            },
                            {"timeUnixNano": "7", "eventName": "gen_ai.user.message"},
                            {"timeUnixNano": "8", "body": {"stringValue": "GET /health 200"}},
                        ]
                    }
                ],
            }
        ]
    }
    request = parse_message(json.dumps(body).encode(), Encoding.JSON, ExportLogsServiceRequest())
    result = events_from_logs(request)
    assert [(agent, event.name, event.time_unix_nano, event.body) for agent, event in result.items] == [
        ("support-bot", "gen_ai.user.message", 5, {"content": "hi"}),
        ("support-bot", "gen_ai.choice", 6, None),
    ]
    assert result.dropped == 1
    assert len(result.rejected) == 1
    assert result.rejected[0].startswith(
        "resourceLogs[0].scopeLogs[0].logRecords[2]: a GenAI event must carry"
    )


# ------------------------------------------------------------------------------------------ responses
def test_partial_success_in_both_encodings() -> None:
    response = trace_response(2, "rejected 2 spans")
    assert json.loads(encode_message(response, Encoding.JSON)) == {
        "partialSuccess": {"rejectedSpans": "2", "errorMessage": "rejected 2 spans"}
    }
    decoded = ExportTraceServiceResponse.FromString(encode_message(response, Encoding.PROTOBUF))
    assert (decoded.partial_success.rejected_spans, decoded.partial_success.error_message) == (
        2,
        "rejected 2 spans",
    )
    assert not ExportTraceServiceResponse.FromString(
        encode_message(trace_response(0, ""), Encoding.PROTOBUF)
    ).HasField("partial_success")


def test_failures_answer_a_google_rpc_status_naming_the_field() -> None:
    error = OtlpError(400, "spanId: must be hex", "resourceSpans[0].scopeSpans[0].spans[0].spanId")
    status = status_pb2.Status.FromString(status_body(error, Encoding.PROTOBUF))
    bad_request = error_details_pb2.BadRequest()
    assert status.message == "spanId: must be hex"
    assert status.details[0].Unpack(bad_request)
    assert bad_request.field_violations[0].field == "resourceSpans[0].scopeSpans[0].spans[0].spanId"
    as_json = json.loads(status_body(error, Encoding.JSON))
    assert as_json["message"] == "spanId: must be hex"
    assert as_json["details"][0]["@type"] == "type.googleapis.com/google.rpc.BadRequest"
    assert json_format.Parse(json.dumps(as_json), status_pb2.Status()) == status
