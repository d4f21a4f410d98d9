"""Telemetry in: OTLP/HTTP traces and logs from agents in production, and feedback on their traces.

- ``POST /api/v1/traces``: an OTLP/HTTP ``ExportTraceServiceRequest`` exactly as an ``OTLPSpanExporter``
  or a Collector's ``otlphttp`` exporter sends it (``application/x-protobuf`` or ``application/json``,
  optionally ``Content-Encoding: gzip``). Point an exporter at it with
  ``OTEL_EXPORTER_OTLP_ENDPOINT=https://<app>/api`` and ``OTEL_EXPORTER_OTLP_HEADERS=x-functions-key=<key>``.
  GenAI spans (chat, execute_tool, invoke_agent) are stored; other spans are dropped and counted.
- ``POST /api/v1/logs``: the same for log records; GenAI content events (``gen_ai.user.message``,
  ``gen_ai.choice``, ...) are stored and later joined with their chat spans.
- ``POST /api/feedback``: ``{trace_id, reward}`` or ``{trace_id, label}``, or an array of them.

Everything accepted is in Blob before the 200; if Blob cannot be written the answer is 503, which OTLP
exporters retry, and a retried request stores nothing twice. docs/production.md has the details.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import azure.durable_functions as df
import azure.functions as func
from azure.core.exceptions import AzureError
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from api.http import HttpError, bad_request, body_error, field_errors, json_response, read_json
from shared.azure.clients import artifact_store
from shared.domain.settings import get_settings
from shared.storage.artifacts import ArtifactStore
from shared.storage.production import Feedback, store_events, store_feedback, store_spans
from shared.telemetry.otlp import (
    Encoding,
    Ingested,
    Limits,
    OtlpError,
    count_log_records,
    count_spans,
    decode_body,
    encode_message,
    events_from_logs,
    logs_response,
    parse_message,
    request_encoding,
    spans_from_request,
    status_body,
    trace_response,
)
from shared.telemetry.spans import (
    CAPTURE_CONTENT_SETTINGS,
    INPUT_MESSAGES,
    OUTPUT_MESSAGES,
    ContentEvent,
    Span,
)

log = logging.getLogger("durable_finetune.telemetry")

bp = df.Blueprint()

RETRY_AFTER_SECONDS = "30"
LISTED_REJECTIONS = 5

Request = TypeVar("Request", bound=Message)
Item = TypeVar("Item")


@dataclass(frozen=True)
class Signal(Generic[Request, Item]):
    """What differs between the traces and logs endpoints."""

    kind: str
    new_request: Callable[[], Request]
    count: Callable[[Request], int]
    extract: Callable[[Request], Ingested[Item]]
    store: Callable[[ArtifactStore, list[tuple[str, Item]]], list[str]]
    response: Callable[[int, str], Message]
    kept: str


TRACES: Signal[ExportTraceServiceRequest, Span] = Signal(
    kind="spans",
    new_request=ExportTraceServiceRequest,
    count=count_spans,
    extract=spans_from_request,
    store=store_spans,
    response=trace_response,
    kept="GenAI spans (gen_ai.operation.name chat, execute_tool or invoke_agent)",
)
LOGS: Signal[ExportLogsServiceRequest, ContentEvent] = Signal(
    kind="log records",
    new_request=ExportLogsServiceRequest,
    count=count_log_records,
    extract=events_from_logs,
    store=store_events,
    response=logs_response,
    kept="GenAI content events (gen_ai.*.message, gen_ai.choice, gen_ai.client.inference.operation.details)",
)


def _limits() -> Limits:
    settings = get_settings()
    return Limits(
        max_body_bytes=settings.telemetry_max_body_bytes,
        max_decoded_bytes=settings.telemetry_max_decoded_bytes,
        max_items=settings.telemetry_max_items,
    )


def _otlp_answer(
    status: int, body: bytes, encoding: Encoding, headers: dict[str, str] | None = None
) -> func.HttpResponse:
    return func.HttpResponse(body, status_code=status, mimetype=encoding.value, headers=headers)


def _failure(error: OtlpError, encoding: Encoding) -> func.HttpResponse:
    return _otlp_answer(error.status, status_body(error, encoding), encoding)


def _summary(result: Ingested[Any], signal: Signal[Any, Any]) -> str:
    """The partial-success message: what was rejected (first few, with place and reason), what dropped."""
    notes = []
    if result.rejected:
        listed = "; ".join(result.rejected[:LISTED_REJECTIONS])
        more = (
            f"; and {len(result.rejected) - LISTED_REJECTIONS} more"
            if len(result.rejected) > LISTED_REJECTIONS
            else ""
        )
        notes.append(f"rejected {len(result.rejected)} {signal.kind}: {listed}{more}")
    if result.dropped:
        notes.append(f"dropped {result.dropped} {signal.kind} that are not {signal.kept}: not stored")
    if result.no_content:
        notes.append(
            f"{result.no_content} chat spans carry no message content ({INPUT_MESSAGES}, {OUTPUT_MESSAGES}), "
            "so nothing can be learned from them unless their content arrives as log records at /v1/logs: "
            f"set {CAPTURE_CONTENT_SETTINGS} where the agent runs (docs/production.md)"
        )
    return ". ".join(notes)


def _decode(req: func.HttpRequest, signal: Signal[Request, Item], encoding: Encoding) -> Request:
    """The export request in the body, within the size and item limits."""
    limits = _limits()
    data = decode_body(req.get_body(), req.headers.get("Content-Encoding"), limits)
    request = parse_message(data, encoding, signal.new_request())
    count = signal.count(request)
    if count > limits.max_items:
        raise OtlpError(
            400,
            f"the request has {count} {signal.kind}; the limit is {limits.max_items} per request: export "
            "smaller batches (max_export_batch_size, or the Collector's send_batch_max_size)",
        )
    return request


def _unavailable(signal: Signal[Any, Any], encoding: Encoding) -> func.HttpResponse:
    log.exception("telemetry: could not store %s; the client will retry", signal.kind)
    error = OtlpError(503, f"the {signal.kind} could not be stored; retry later")
    return _otlp_answer(503, status_body(error, encoding), encoding, {"Retry-After": RETRY_AFTER_SECONDS})


def _ingest(req: func.HttpRequest, signal: Signal[Request, Item]) -> func.HttpResponse:
    try:
        encoding = request_encoding(req.headers.get("Content-Type"))
    except OtlpError as error:
        return _failure(error, Encoding.JSON)
    try:
        result = signal.extract(_decode(req, signal, encoding))
        paths = signal.store(artifact_store(), result.items)
    except OtlpError as error:
        return _failure(error, encoding)
    except AzureError:
        return _unavailable(signal, encoding)
    log.info(
        "telemetry: stored %d %s in %d blobs; rejected %d, dropped %d",
        len(result.items),
        signal.kind,
        len(paths),
        len(result.rejected),
        result.dropped,
    )
    response = signal.response(len(result.rejected), _summary(result, signal))
    return _otlp_answer(200, encode_message(response, encoding), encoding)


@bp.route(route="v1/traces", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def ingest_traces(req: func.HttpRequest) -> func.HttpResponse:
    """OTLP/HTTP traces: GenAI spans to ``production/{agent}/{yyyy}/{mm}/{dd}/spans-*.jsonl``."""
    return _ingest(req, TRACES)


@bp.route(route="v1/logs", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def ingest_logs(req: func.HttpRequest) -> func.HttpResponse:
    """OTLP/HTTP logs: GenAI content events to ``production/{agent}/{yyyy}/{mm}/{dd}/events-*.jsonl``."""
    return _ingest(req, LOGS)


# ------------------------------------------------------------------------------------------ feedback
class FeedbackItem(BaseModel):
    """One feedback as a client sends it: a reward, or a label FEEDBACK_LABELS maps to one."""

    model_config = ConfigDict(extra="forbid", strict=True)

    trace_id: str
    reward: float | None = Field(None, ge=0, le=1)
    label: str | None = Field(None, min_length=1, max_length=64)


FEEDBACK_SHAPE = 'must be {"trace_id": ..., "reward" | "label": ...} or a non-empty array of such objects'
TRACE_ID = re.compile(r"[0-9a-f]{32}")


def _feedback_items(req: func.HttpRequest) -> list[tuple[str, dict[str, Any]]]:
    """The request's items with the prefix that names their fields (``[i].`` in an array). The body
    follows the rules of every endpoint (api/http.py: media type, UTF-8, size, depth, duplicate keys,
    numbers); raises ``HttpError``."""
    body = read_json(req)
    items = body if isinstance(body, list) else [body]
    if not items or not all(isinstance(item, dict) for item in items):
        raise body_error(FEEDBACK_SHAPE)
    limit = get_settings().feedback_max_items
    if len(items) > limit:
        raise body_error(
            f"{len(items)} items; at most {limit} per request (FEEDBACK_MAX_ITEMS): send several requests"
        )
    return [(f"[{index}]." if isinstance(body, list) else "", item) for index, item in enumerate(items)]


def _trace_id_problem(trace_id: str, seen: set[str]) -> str | None:
    if TRACE_ID.fullmatch(trace_id) is None:
        return "must be 32 lower-case hex digits, as OpenTelemetry writes a trace id"
    if not any(c != "0" for c in trace_id):
        return "the all-zero trace id is invalid"
    if trace_id in seen:
        return "this trace_id appears earlier in the request"
    return None


def _feedback(
    value: dict[str, Any], where: str, seen: set[str], now: datetime
) -> Feedback | list[dict[str, str]]:
    """One stored feedback, or the errors of the item, each naming its field."""
    try:
        item = FeedbackItem.model_validate(value)
    except ValidationError as exc:
        return [
            {"field": where + error["field"], "error": error["error"]}
            for error in field_errors(exc, FeedbackItem)
        ]
    labels = get_settings().feedback_labels
    problem = _trace_id_problem(item.trace_id, seen)
    if problem:
        return [{"field": f"{where}trace_id", "error": problem}]
    if (item.reward is None) == (item.label is None):
        return [{"field": f"{where}reward", "error": "give either reward (a number from 0 to 1) or label"}]
    if item.label is not None and item.label not in labels:
        known = f"one of {sorted(labels)}" if labels else "none: FEEDBACK_LABELS is not set, send reward"
        return [
            {
                "field": f"{where}label",
                "error": f"unknown label {item.label!r}; FEEDBACK_LABELS defines {known}",
            }
        ]
    seen.add(item.trace_id)
    reward = item.reward if item.reward is not None else labels[item.label or ""]
    return Feedback(trace_id=item.trace_id, reward=reward, label=item.label, received_at=now.isoformat())


@bp.route(route="feedback", methods=["POST"], auth_level=func.AuthLevel.FUNCTION)
def post_feedback(req: func.HttpRequest) -> func.HttpResponse:
    """Stores feedback on traces (ingested or not yet). A request is all or nothing: if any item is bad,
    the 400 names every bad field (``[i].field`` in an array) and nothing is stored."""
    try:
        records = _feedback_records(req)
    except HttpError as answer:
        return answer.response()
    try:
        store_feedback(artifact_store(), records)
    except AzureError:
        log.exception("feedback: could not store %d items", len(records))
        body = {"error": "feedback could not be stored; retry later"}
        return json_response(503, body, {"Retry-After": RETRY_AFTER_SECONDS})
    return json_response(
        200, {"accepted": len(records), "trace_ids": [record.trace_id for record in records]}
    )


def _feedback_records(req: func.HttpRequest) -> list[Feedback]:
    """Every item of the request as a feedback to store; raises a 400 naming every bad field."""
    now, seen = datetime.now(UTC), set[str]()
    records: list[Feedback] = []
    errors: list[dict[str, str]] = []
    for where, value in _feedback_items(req):
        parsed = _feedback(value, where, seen, now)
        if isinstance(parsed, Feedback):
            records.append(parsed)
        else:
            errors += parsed
    if errors:
        raise bad_request(errors)
    return records
