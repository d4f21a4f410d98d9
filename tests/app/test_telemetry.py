"""Telemetry endpoints of the real Function App under devhost, against Azurite: OTLP/HTTP traces and
logs (protobuf, JSON, gzip, limits, bad data, partial success, retries) and feedback."""

from __future__ import annotations

import gzip
import json
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.common.http import Compression
from opentelemetry.exporter.otlp.json.http.trace_exporter import OTLPSpanExporter as JsonSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult

from api import telemetry
from shared.azure.clients import artifact_store
from shared.domain.settings import get_settings
from shared.storage.artifacts import ArtifactStore
from shared.storage.production import list_production_traces, read_feedback
from shared.telemetry.otlp import Encoding, parse_message
from tests.app.support import production_dataset
from tests.shared.otlp_support import Recorder, conversation

PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}
TODAY = datetime.now(UTC).date()
WINDOW = (TODAY - timedelta(days=1), TODAY + timedelta(days=1))


@pytest.fixture
def agent() -> str:
    return f"agent-{uuid.uuid4().hex[:10]}"


def _stored_lines(agent: str) -> list[dict[str, Any]]:
    store = artifact_store()
    return [
        json.loads(line)
        for path in store.list_paths(f"production/{agent}/")
        for line in (store.read_text(path) or "").splitlines()
    ]


def _traces(agent: str) -> dict[str, Any]:
    return list_production_traces(artifact_store(), agent, *WINDOW)


def _partial(response: Any) -> tuple[int, str]:
    decoded = ExportTraceServiceResponse.FromString(response.get_body())
    return decoded.partial_success.rejected_spans, decoded.partial_success.error_message


def test_protobuf_spans_are_stored_by_agent_and_day_grouped_by_trace(host: Any, agent: str) -> None:
    recorder = Recorder(**{"service.name": agent})
    trace_ids = {conversation(recorder, f"capital of country {n}?") for n in range(3)}

    response = host.http("POST", "/api/v1/traces", body=recorder.protobuf(), headers=PROTOBUF)

    assert response.status_code == 200
    assert response.mimetype == "application/x-protobuf"
    assert _partial(response) == (
        0,
        "dropped 3 spans that are not GenAI spans (gen_ai.operation.name chat, execute_tool or "
        "invoke_agent): not stored",
    )
    [path] = artifact_store().list_paths(f"production/{agent}/")
    assert path.startswith(f"production/{agent}/{TODAY:%Y/%m/%d}/spans-")
    lines = _stored_lines(agent)
    assert [line["trace_id"] for line in lines] == sorted(line["trace_id"] for line in lines), (
        "grouped by trace"
    )
    traces = _traces(agent)
    assert set(traces) == trace_ids
    assert all(
        sorted(span.operation for span in spans) == ["chat", "invoke_agent"] for spans in traces.values()
    )


def test_json_with_gzip_is_answered_in_json(host: Any, agent: str) -> None:
    recorder = Recorder(**{"service.name": agent})
    trace_id = conversation(recorder, "capital of France?")
    headers = {**JSON, "Content-Encoding": "gzip"}

    response = host.http("POST", "/api/v1/traces", body=gzip.compress(recorder.json()), headers=headers)

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert json.loads(response.get_body()) == {
        "partialSuccess": {
            "errorMessage": "dropped 1 spans that are not GenAI spans (gen_ai.operation.name chat, "
            "execute_tool or invoke_agent): not stored"
        }
    }
    assert list(_traces(agent)) == [trace_id]


def test_a_retried_or_rebatched_export_stores_nothing_twice(host: Any, agent: str) -> None:
    recorder = Recorder(**{"service.name": agent})
    trace_ids = {conversation(recorder, f"question {n}") for n in range(4)}
    everything = recorder.request()
    for _ in range(2):  # the exporter's retry after a lost answer
        assert (
            host.http(
                "POST", "/api/v1/traces", body=everything.SerializeToString(), headers=PROTOBUF
            ).status_code
            == 200
        )
    assert len(artifact_store().list_paths(f"production/{agent}/")) == 1
    spans = everything.resource_spans[0].scope_spans[0].spans
    half = type(everything)()
    half.CopyFrom(everything)
    del half.resource_spans[0].scope_spans[0].spans[len(spans) // 2 :]
    assert (
        host.http("POST", "/api/v1/traces", body=half.SerializeToString(), headers=PROTOBUF).status_code
        == 200
    )

    assert len(_stored_lines(agent)) == 8 + 4, "the re-batched half is stored again ..."
    traces = _traces(agent)
    assert set(traces) == trace_ids
    assert sum(len(spans) for spans in traces.values()) == 8, "... and read once"


def test_partly_malformed_requests_store_the_rest_and_say_what_was_rejected(host: Any, agent: str) -> None:
    recorder = Recorder(**{"service.name": agent})
    good = conversation(recorder, "fine")
    conversation(recorder, "broken")
    request = recorder.request()
    for span in request.resource_spans[0].scope_spans[0].spans:
        if span.trace_id.hex() != good:
            span.span_id = b"\x01\x02"

    response = host.http("POST", "/api/v1/traces", body=request.SerializeToString(), headers=PROTOBUF)

    rejected, message = _partial(response)
    assert (response.status_code, rejected) == (200, 2)
    assert message.startswith("rejected 2 spans: resourceSpans[0].scopeSpans[0].spans[")
    assert "spanId must be 8 bytes (16 hex characters), not all zero; got 2 bytes" in message
    assert message.endswith(
        "dropped 2 spans that are not GenAI spans (gen_ai.operation.name chat, execute_tool or "
        "invoke_agent): not stored"
    )
    assert list(_traces(agent)) == [good]


def _three_tool_spans(agent: str, bad: dict[str, Any]) -> tuple[bytes, bytes]:
    """An export of three execute_tool spans whose second has ``bad`` as its gen_ai.operation.name
    value, in OTLP/JSON and in binary protobuf."""
    recorder = Recorder(**{"service.name": agent})
    for n in range(3):
        attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": f"t{n}"}
        with recorder.tracer.start_as_current_span(f"execute_tool t{n}", attributes=attributes):
            pass
    document = json.loads(recorder.json())
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][1]
    span["attributes"] = [
        {"key": "gen_ai.operation.name", "value": bad} if pair["key"] == "gen_ai.operation.name" else pair
        for pair in span["attributes"]
    ]
    body = json.dumps(document).encode()
    request = parse_message(body, Encoding.JSON, ExportTraceServiceRequest())
    return body, request.SerializeToString()


@pytest.mark.parametrize("encoding", ["protobuf", "json"])
def test_one_span_whose_operation_is_an_array_is_rejected_and_the_rest_stored(
    host: Any, agent: str, encoding: str
) -> None:
    """Two valid spans and one whose gen_ai.operation.name is an arrayValue (a 500 that lost all three
    before): the bad one is rejected through partial_success, the two others are stored."""
    as_json, as_protobuf = _three_tool_spans(agent, {"arrayValue": {"values": [{"stringValue": "chat"}]}})
    if encoding == "json":
        response = host.http("POST", "/api/v1/traces", body=as_json, headers=JSON)
        answer = json.loads(response.get_body())["partialSuccess"]
        rejected, message = int(answer["rejectedSpans"]), answer["errorMessage"]
    else:
        response = host.http("POST", "/api/v1/traces", body=as_protobuf, headers=PROTOBUF)
        rejected, message = _partial(response)
    assert (response.status_code, rejected) == (200, 1)
    assert message == (
        "rejected 1 spans: resourceSpans[0].scopeSpans[0].spans[1]: gen_ai.operation.name must be a "
        "stringValue (chat, execute_tool or invoke_agent), not an arrayValue"
    )
    stored = sorted(line["attributes"]["gen_ai.tool.name"] for line in _stored_lines(agent))
    assert stored == ["t0", "t2"]


def test_chat_spans_without_content_get_one_warning_per_request(host: Any, agent: str) -> None:
    """What the official instrumentation sends with OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
    =true and no log exporter: chat spans without messages. They are stored (content may come as log
    records) and the answer warns once, with rejected_spans 0, naming the settings that fix it."""
    recorder = Recorder(**{"service.name": agent})
    for n in range(3):
        with recorder.tracer.start_as_current_span(
            "invoke_agent", attributes={"gen_ai.operation.name": "invoke_agent"}
        ):
            with recorder.tracer.start_as_current_span(
                f"chat m{n}", attributes={"gen_ai.operation.name": "chat"}
            ):
                pass
    conversation(recorder, "a call with its messages")

    response = host.http("POST", "/api/v1/traces", body=recorder.protobuf(), headers=PROTOBUF)

    rejected, message = _partial(response)
    assert (response.status_code, rejected) == (200, 0)
    warning = (
        "3 chat spans carry no message content (gen_ai.input.messages, gen_ai.output.messages), so "
        "nothing can be learned from them unless their content arrives as log records at /v1/logs: set "
        "OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental and "
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only where the agent runs "
        "(docs/production.md)"
    )
    assert message.split(". ") == [
        "dropped 1 spans that are not GenAI spans (gen_ai.operation.name chat, execute_tool or "
        "invoke_agent): not stored",
        warning,
    ]
    assert len(_traces(agent)) == 4, "the spans are stored all the same"
    with_content = Recorder(**{"service.name": agent})
    conversation(with_content, "only calls with content")
    clean = host.http("POST", "/api/v1/traces", body=with_content.protobuf(), headers=PROTOBUF)
    assert "content" not in _partial(clean)[1]


@pytest.mark.parametrize(
    ("body", "headers", "status", "says"),
    [
        (b"\x0a\xff\xff\xff\xff\x0f", PROTOBUF, 400, "not a binary protobuf ExportTraceServiceRequest"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz"}]}]}]}',
            JSON,
            400,
            "must be a string of hex",
        ),
        (b"{}", {"Content-Type": "text/plain"}, 415, "is not OTLP/HTTP"),
        (b"{}", {**JSON, "Content-Encoding": "gzip"}, 400, "not valid gzip"),
        (b"{}", {**JSON, "Content-Encoding": "zstd"}, 415, "'zstd' is not supported"),
    ],
)
def test_undecodable_requests_answer_a_status_in_the_request_encoding(
    host: Any, body: bytes, headers: dict[str, str], status: int, says: str
) -> None:
    response = host.http("POST", "/api/v1/traces", body=body, headers=headers)
    assert response.status_code == status
    if headers["Content-Type"] == "application/x-protobuf":
        message = status_pb2.Status.FromString(response.get_body()).message
    else:
        assert response.mimetype == "application/json"
        message = json.loads(response.get_body())["message"]
    assert says in message


def test_limits_answer_413_for_bytes_and_400_for_spans(
    host: Any, agent: str, settings_env: pytest.MonkeyPatch
) -> None:
    recorder = Recorder(**{"service.name": agent})
    for n in range(5):
        conversation(recorder, f"question {n} " + "padding " * 40)
    body = recorder.protobuf()
    settings_env.setenv("TELEMETRY_MAX_BODY_BYTES", str(len(body) - 1))
    too_big = host.http("POST", "/api/v1/traces", body=body, headers=PROTOBUF)
    settings_env.setenv("TELEMETRY_MAX_BODY_BYTES", str(len(body)))
    settings_env.setenv("TELEMETRY_MAX_DECODED_BYTES", str(len(body) - 1))
    get_settings.cache_clear()
    bomb = host.http(
        "POST", "/api/v1/traces", body=gzip.compress(body), headers={**PROTOBUF, "Content-Encoding": "gzip"}
    )
    settings_env.setenv("TELEMETRY_MAX_DECODED_BYTES", str(len(body)))
    settings_env.setenv("TELEMETRY_MAX_ITEMS", "14")
    get_settings.cache_clear()
    too_many = host.http("POST", "/api/v1/traces", body=body, headers=PROTOBUF)

    assert (too_big.status_code, bomb.status_code, too_many.status_code) == (413, 413, 400)
    assert f"the limit is {len(body) - 1}" in status_pb2.Status.FromString(too_big.get_body()).message
    assert "decompresses to more than" in status_pb2.Status.FromString(bomb.get_body()).message
    assert (
        "has 15 spans; the limit is 14 per request"
        in status_pb2.Status.FromString(too_many.get_body()).message
    )
    assert artifact_store().list_paths(f"production/{agent}/") == []


class CountingExporter(OTLPSpanExporter):
    """The real exporter, counting the spans of each export the app acknowledged."""

    exported = 0

    def export(self, spans: Any) -> SpanExportResult:
        result = super().export(spans)
        if result is SpanExportResult.SUCCESS:
            self.exported += len(spans)
        return result


def _run_agents(provider: TracerProvider, traces: int) -> None:
    tracer = provider.get_tracer("load")
    for n in range(traces):
        with tracer.start_as_current_span(
            "invoke_agent", attributes={"gen_ai.operation.name": "invoke_agent"}
        ):
            for step in range(4):
                operation = "execute_tool" if step % 2 else "chat"
                with tracer.start_as_current_span(
                    f"{operation} {n}.{step}", attributes={"gen_ai.operation.name": operation}
                ):
                    pass


@pytest.mark.timeout(240)
def test_ten_thousand_spans_from_the_real_exporter_are_all_stored(host: Any, agent: str) -> None:
    exporter = CountingExporter(
        endpoint=f"{host.origin}/api/v1/traces",
        headers={"x-functions-key": "local-key"},
        compression=Compression.GZIP,
    )
    provider = TracerProvider(resource=Resource({"service.name": agent}))
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_queue_size=20_000, max_export_batch_size=512)
    )
    _run_agents(provider, 2000)
    assert provider.force_flush(120_000)
    provider.shutdown()

    lines = _stored_lines(agent)
    assert exporter.exported == 10_000
    assert len(lines) == 10_000
    assert len({(line["trace_id"], line["span_id"]) for line in lines}) == 10_000
    assert len(_traces(agent)) == 2000


def test_the_real_json_exporter_is_understood(host: Any, agent: str) -> None:
    exporter = JsonSpanExporter(endpoint=f"{host.origin}/api/v1/traces", compression=Compression.GZIP)
    recorder = Recorder(**{"service.name": agent})
    trace_ids = {conversation(recorder, f"q{n}") for n in range(3)}
    spans: list[ReadableSpan] = list(recorder.spans())
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert set(_traces(agent)) == trace_ids


# ------------------------------------------------------------------------------------------- logs
def _log_request(agent: str, trace_id: str, span_id: str, events: list[tuple[str, dict[str, Any]]]) -> bytes:
    def value(item: Any) -> dict[str, Any]:
        if isinstance(item, dict):
            return {"kvlistValue": {"values": [{"key": k, "value": value(v)} for k, v in item.items()]}}
        if isinstance(item, list):
            return {"arrayValue": {"values": [value(v) for v in item]}}
        return {"intValue": str(item)} if isinstance(item, int) else {"stringValue": item}

    now = time.time_ns()
    records = [
        {
            "timeUnixNano": str(now + n),
            "eventName": name,
            "traceId": trace_id,
            "spanId": span_id,
            "body": value(body),
        }
        for n, (name, body) in enumerate(events)
    ]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": agent}}]}
    return json.dumps(
        {"resourceLogs": [{"resource": resource, "scopeLogs": [{"logRecords": records}]}]}
    ).encode()


def test_content_events_sent_as_logs_join_their_chat_span(host: Any, agent: str) -> None:
    recorder = Recorder(**{"service.name": agent})
    tracer = recorder.tracer
    with tracer.start_as_current_span("invoke_agent", attributes={"gen_ai.operation.name": "invoke_agent"}):
        with tracer.start_as_current_span("chat m", attributes={"gen_ai.operation.name": "chat"}) as chat:
            context = chat.get_span_context()
    trace_id, span_id = format(context.trace_id, "032x"), format(context.span_id, "016x")
    events: list[tuple[str, dict[str, Any]]] = [
        ("gen_ai.user.message", {"content": "capital of France?"}),
        (
            "gen_ai.choice",
            {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "Paris"}},
        ),
    ]
    logs = host.http(
        "POST", "/api/v1/logs", body=_log_request(agent, trace_id, span_id, events), headers=JSON
    )
    traces = host.http("POST", "/api/v1/traces", body=recorder.protobuf(), headers=PROTOBUF)

    assert (logs.status_code, traces.status_code) == (200, 200)
    assert json.loads(logs.get_body()) == {}
    [path] = [p for p in artifact_store().list_paths(f"production/{agent}/") if "/events-" in p]
    [spans] = _traces(agent).values()
    chat_span = next(span for span in spans if span.operation == "chat")
    assert chat_span.attributes["gen_ai.input.messages"] == [
        {"role": "user", "parts": [{"type": "text", "content": "capital of France?"}]}
    ]
    assert chat_span.attributes["gen_ai.output.messages"][0]["parts"] == [
        {"type": "text", "content": "Paris"}
    ]
    assert path.startswith(f"production/{agent}/{TODAY:%Y/%m/%d}/events-")


# --------------------------------------------------------------------------------------- feedback
NUMBER = "send a JSON number such as 0.5 (no quotes)"


def _trace_id() -> str:
    return uuid.uuid4().hex


def test_feedback_is_stored_by_trace_and_labels_map_to_rewards(
    host: Any, settings_env: pytest.MonkeyPatch
) -> None:
    settings_env.setenv("FEEDBACK_LABELS", '{"thumbs_up": 1, "thumbs_down": 0}')
    one, two, three = _trace_id(), _trace_id(), _trace_id()
    single = host.http("POST", "/api/feedback", json={"trace_id": one, "reward": 0.75})
    array = host.http(
        "POST",
        "/api/feedback",
        json=[{"trace_id": two, "label": "thumbs_up"}, {"trace_id": three, "label": "thumbs_down"}],
    )
    assert (single.status_code, array.status_code) == (200, 200)
    assert json.loads(array.get_body()) == {"accepted": 2, "trace_ids": [two, three]}
    stored = read_feedback(artifact_store(), [one, two, three])
    assert {trace: (item.reward, item.label) for trace, item in stored.items()} == {
        one: (0.75, None),
        two: (1.0, "thumbs_up"),
        three: (0.0, "thumbs_down"),
    }


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"trace_id": "ABC", "reward": 1},
            [("trace_id", "must be 32 lower-case hex digits, as OpenTelemetry writes a trace id")],
        ),
        ({"trace_id": "0" * 32, "reward": 1}, [("trace_id", "the all-zero trace id is invalid")]),
        ({"trace_id": "a" * 32, "reward": 1.5}, [("reward", "Input should be less than or equal to 1")]),
        ({"trace_id": "a" * 32, "reward": True}, [("reward", f"Input should be a valid number: {NUMBER}")]),
        ({"trace_id": "a" * 32, "reward": "1"}, [("reward", f"Input should be a valid number: {NUMBER}")]),
        ({"trace_id": "a" * 32}, [("reward", "give either reward (a number from 0 to 1) or label")]),
        (
            {"trace_id": "a" * 32, "label": "meh"},
            [("label", "unknown label 'meh'; FEEDBACK_LABELS defines one of ['thumbs_up']")],
        ),
        ({"trace_id": "a" * 32, "reward": 1, "note": "x"}, [("note", "unknown field; remove it")]),
        (
            {"trace_id": "a" * 32, "rewrad": 1},
            [("rewrad", "unknown field; remove it (did you mean 'reward'?)")],
        ),
        (
            [
                {"trace_id": "a" * 32, "reward": 1},
                {"trace_id": "b" * 32, "reward": -1},
                {"trace_id": "a" * 32, "reward": 0},
            ],
            [
                ("[1].reward", "Input should be greater than or equal to 0"),
                ("[2].trace_id", "this trace_id appears earlier in the request"),
            ],
        ),
        (
            [],
            [
                (
                    "(body)",
                    'must be {"trace_id": ..., "reward" | "label": ...} or a non-empty array of such objects',
                )
            ],
        ),
        (
            "yes",
            [
                (
                    "(body)",
                    'must be {"trace_id": ..., "reward" | "label": ...} or a non-empty array of such objects',
                )
            ],
        ),
    ],
)
def test_bad_feedback_is_400_naming_each_field_and_nothing_is_stored(
    host: Any, settings_env: pytest.MonkeyPatch, body: Any, errors: list[tuple[str, str]]
) -> None:
    settings_env.setenv("FEEDBACK_LABELS", '{"thumbs_up": 1}')
    response = host.http("POST", "/api/feedback", json=body)
    assert response.status_code == 400
    assert [(e["field"], e["error"]) for e in json.loads(response.get_body())["errors"]] == errors
    assert read_feedback(artifact_store(), ["a" * 32]) == {}


GOOD_FEEDBACK = '{"trace_id": "%s", "reward": 1}' % ("a" * 32)


@pytest.mark.parametrize(
    ("body", "content_type", "status", "says"),
    [
        (GOOD_FEEDBACK.encode(), "text/plain", 415, "Content-Type: application/json"),
        (GOOD_FEEDBACK.encode(), None, 415, "Content-Type: application/json"),
        (GOOD_FEEDBACK.encode(), "application/json; charset=utf-16", 415, "must be UTF-8"),
        (GOOD_FEEDBACK.encode("utf-16"), "application/json", 400, "is not UTF-8"),
        (GOOD_FEEDBACK.encode("utf-32"), "application/json", 400, "is not UTF-8"),
        (b'{"trace_id": "%s", "reward": 1, "reward": 0}' % (b"a" * 32), "application/json", 400, "twice"),
        (b'{"trace_id": "%s", "reward": NaN}' % (b"a" * 32), "application/json", 400, "NaN"),
        (b'{"trace_id": "%s", "reward": 1e999}' % (b"a" * 32), "application/json", 400, "too large"),
        (
            b'{"trace_id": "%s", "reward": %s}' % (b"a" * 32, b"9" * 5001),
            "application/json",
            400,
            "5001 digits",
        ),
        (b"[" * 1000 + b"]" * 1000, "application/json", 400, "nests 1000 levels deep"),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 413, "at most 65536"),
        (json.dumps([json.loads(GOOD_FEEDBACK)] * 1200).encode(), "application/json", 413, "at most 65536"),
        (b"  ", "application/json", 400, "is empty"),
        (b'{"trace_id": "\\ud800", "reward": 1}', "application/json", 400, "surrogate"),
    ],
)
def test_feedback_bodies_follow_the_rules_of_every_endpoint(
    host: Any, body: bytes, content_type: str | None, status: int, says: str
) -> None:
    """The body rules of api/http.py (media type, UTF-8, size, depth, duplicate keys, numbers): a clear
    4xx naming the problem, and nothing stored."""
    headers = {"Content-Type": content_type} if content_type else {}
    response = host.http("POST", "/api/feedback", body=body, headers=headers)
    assert response.status_code == status
    answer = json.loads(response.get_body())
    message = answer["errors"][0]["error"] if status == 400 else answer["error"]
    assert says in message
    assert read_feedback(artifact_store(), ["a" * 32]) == {}


def test_feedback_arrays_are_bounded(host: Any, settings_env: pytest.MonkeyPatch) -> None:
    settings_env.setenv("FEEDBACK_MAX_ITEMS", "3")
    response = host.http("POST", "/api/feedback", json=[{"trace_id": _trace_id(), "reward": 1}] * 4)
    assert response.status_code == 400
    assert json.loads(response.get_body())["errors"][0]["error"].startswith("4 items; at most 3 per request")


def test_feedback_sent_before_its_trace_joins_it_in_the_production_dataset(host: Any, agent: str) -> None:
    recorder = Recorder(**{"service.name": agent})
    good = [conversation(recorder, f"question {n}", answer=f"answer {n}") for n in range(12)]
    poor = conversation(recorder, "a question answered badly", answer="no idea")
    silent = conversation(recorder, "a question nobody rated")
    feedback = [{"trace_id": trace, "reward": 1.0} for trace in good] + [{"trace_id": poor, "reward": 0.0}]
    assert host.http("POST", "/api/feedback", json=feedback).status_code == 200
    assert host.http("POST", "/api/v1/traces", body=recorder.protobuf(), headers=PROTOBUF).status_code == 200

    result, examples, stats = production_dataset(agent, seed=7, days=3)
    assert sorted(example["messages"][-1]["content"] for example in examples) == sorted(
        f"answer {n}" for n in range(12)
    )
    assert (result.rollouts, result.examples_kept, result.enough_for_azure) == (14, 12, True)
    assert (stats["no_reward"], stats["below_min_reward"], stats["production"]["rewarded_by_feedback"]) == (
        1,
        1,
        13,
    )
    assert silent in _traces(agent)
    assert all(example["messages"][1]["content"] != "a question nobody rated" for example in examples)


@pytest.fixture
def unreachable_store(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blob down: the real storage client aimed at a loopback port nobody listens on (Azurite itself
    cannot be made to fail), without retries so the failure is immediate."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    service = BlobServiceClient(f"http://127.0.0.1:{port}/devstoreaccount1", retry_total=0)
    monkeypatch.setattr(
        telemetry, "artifact_store", lambda: ArtifactStore(service.get_container_client("finetune"))
    )


@pytest.mark.usefixtures("unreachable_store")
def test_when_blob_cannot_be_written_the_answer_is_a_retryable_503(host: Any, agent: str) -> None:
    recorder = Recorder(**{"service.name": agent})
    conversation(recorder, "q")
    traces = host.http("POST", "/api/v1/traces", body=recorder.protobuf(), headers=PROTOBUF)
    feedback = host.http("POST", "/api/feedback", json={"trace_id": _trace_id(), "reward": 1})
    assert (traces.status_code, traces.headers["Retry-After"]) == (503, "30")
    assert (
        status_pb2.Status.FromString(traces.get_body()).message
        == "the spans could not be stored; retry later"
    )
    assert (feedback.status_code, feedback.headers["Retry-After"]) == (503, "30")
