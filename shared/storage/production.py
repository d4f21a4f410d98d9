"""Production telemetry in Blob: GenAI spans and content events ingested over OTLP, feedback, and the
window of traces a production dataset is built from.

Layout in the artefacts container (docs/production.md is the contract):

- ``production/{agent}/{yyyy}/{mm}/{dd}/spans-{digest}.jsonl``: the spans of one export request that
  belong to that agent and started that day (UTC), one span per line, grouped by trace.
- ``production/{agent}/{yyyy}/{mm}/{dd}/events-{digest}.jsonl``: GenAI content events that arrived as
  log records, joined with their chat spans (by trace and span id) when the window is read.
- ``production/_feedback/{trace_id}.json``: the latest feedback for a trace, kept whether or not the
  trace has arrived; it is joined when the dataset is built.

A dataset reads a window of time (``production_traces``): the traces of an agent that started in it,
each rewarded by its feedback or else by the run's grader.

A blob is named after the digest of its content, so an exporter retrying a request rewrites the same
blob; the same spans re-batched differently (a Collector's retry) are deduplicated by trace and span
id when read. One blob per request and day keeps writes and reads to a few large blobs.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from typing import TypeVar

from pydantic import BaseModel, Field, ValidationError

from shared.agents.graders import Grader, get_grader
from shared.agents.traces import TraceFormatError, parse_jsonl
from shared.contracts.payloads import ProductionWindow
from shared.domain.dataset import TraceSet, trace_failed
from shared.domain.settings import Reward
from shared.storage.artifacts import ArtifactStore
from shared.telemetry.otlp import content_attributes, day_of, safe_agent_name
from shared.telemetry.spans import ContentEvent, Span, jsonl_line

PRODUCTION_PREFIX = "production/"
FEEDBACK_PREFIX = "production/_feedback/"
IO_THREADS = 8
MAX_LISTED_PROBLEMS = 5

T = TypeVar("T")
R = TypeVar("R")


class Feedback(BaseModel):
    """The stored feedback of one trace; a later feedback for the same trace replaces it."""

    trace_id: str
    reward: Reward
    label: str | None = None
    received_at: str


class ProductionStats(BaseModel):
    """Where a dataset's production traces came from and how they were rewarded."""

    agent: str
    window_start: datetime
    window_end: datetime
    traces: int
    rewarded_by_feedback: int
    rewarded_by_grader: int
    grader: str | None
    grader_errors: int = 0
    grader_problems: list[str] = Field(default_factory=list, description="the first grader errors")


# ------------------------------------------------------------------------------------------- writing
def day_prefix(agent: str, day: date) -> str:
    return f"{PRODUCTION_PREFIX}{safe_agent_name(agent)}/{day:%Y/%m/%d}/"


def feedback_path(trace_id: str) -> str:
    return f"{FEEDBACK_PREFIX}{trace_id}.json"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _parallel(function: Callable[[T], R], items: list[T]) -> list[R]:
    """Blob calls in parallel threads (the storage client is thread-safe); the first error is raised."""
    if len(items) <= 1:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(IO_THREADS, len(items))) as pool:
        return list(pool.map(function, items))


def _write_all(store: ArtifactStore, blobs: dict[str, str]) -> list[str]:
    _parallel(lambda path: store.write_text(path, blobs[path]), list(blobs))
    return sorted(blobs)


def store_spans(store: ArtifactStore, items: Iterable[tuple[str, Span]]) -> list[str]:
    """Writes spans (with their agent) grouped by agent and start day; returns the blob paths."""
    groups: dict[tuple[str, date], dict[tuple[str, str], Span]] = defaultdict(dict)
    for agent, span in items:
        day = datetime.fromisoformat(span.start_time).date()
        groups[(agent, day)].setdefault((span.trace_id, span.span_id), span)
    blobs = {}
    for (agent, day), spans in groups.items():
        ordered = sorted(spans.values(), key=lambda s: (s.trace_id, s.start_time, s.span_id))
        text = "".join(jsonl_line(span.model_dump_json()) for span in ordered)
        blobs[f"{day_prefix(agent, day)}spans-{_digest(text)}.jsonl"] = text
    return _write_all(store, blobs)


def store_events(store: ArtifactStore, items: Iterable[tuple[str, ContentEvent]]) -> list[str]:
    """Writes content events (with their agent) grouped by agent and day; returns the blob paths."""
    groups: dict[tuple[str, date], list[ContentEvent]] = defaultdict(list)
    for agent, event in items:
        groups[(agent, day_of(event.time_unix_nano))].append(event)
    blobs = {}
    for (agent, day), events in groups.items():
        ordered = sorted(events, key=lambda e: (e.trace_id, e.span_id, e.time_unix_nano))
        text = "".join(jsonl_line(event.model_dump_json()) for event in ordered)
        blobs[f"{day_prefix(agent, day)}events-{_digest(text)}.jsonl"] = text
    return _write_all(store, blobs)


def store_feedback(store: ArtifactStore, items: list[Feedback]) -> list[str]:
    return _write_all(store, {feedback_path(item.trace_id): item.model_dump_json(indent=2) for item in items})


# ------------------------------------------------------------------------------------------- reading
def read_blobs(store: ArtifactStore, paths: list[str]) -> dict[str, str]:
    texts = _parallel(store.read_text, paths)
    return {path: text or "" for path, text in zip(paths, texts, strict=True)}


def read_feedback(store: ArtifactStore, trace_ids: Iterable[str]) -> dict[str, Feedback]:
    """The feedback of the given traces, one read per trace (none found is no feedback): the cost grows
    with the window's traces, not with all the feedback a year of production has given."""
    paths = sorted({feedback_path(trace_id) for trace_id in trace_ids})
    items = [Feedback.model_validate_json(text) for text in read_blobs(store, paths).values() if text]
    return {item.trace_id: item for item in items}


def _spans(path: str, text: str) -> list[Span]:
    try:
        return parse_jsonl(text)
    except TraceFormatError as exc:
        raise TraceFormatError(f"{path}: {exc}") from exc


def _events(path: str, text: str) -> list[ContentEvent]:
    try:
        return [ContentEvent.model_validate_json(line) for line in text.split("\n") if line.strip()]
    except ValidationError as exc:
        raise ValueError(f"{path}: not a content event ({exc.errors()[0]['msg']})") from exc


def _event_identity(event: ContentEvent) -> str:
    return json.dumps([event.name, event.time_unix_nano, event.body, event.attributes], sort_keys=True)


def list_production_traces(store: ArtifactStore, agent: str, start: date, end: date) -> dict[str, list[Span]]:
    """An agent's production traces whose spans started from ``start`` to ``end`` (UTC days,
    inclusive), by trace id: one listing per day, blobs read in parallel, spans deduplicated by trace
    and span id, content events joined into the chat spans that lack messages."""
    if end < start:
        raise ValueError(f"the window ends ({end}) before it starts ({start})")
    days = [day_prefix(agent, start + timedelta(days=n)) for n in range((end - start).days + 1)]
    paths = [path for listed in _parallel(store.list_paths, days) for path in listed]
    spans: dict[tuple[str, str], Span] = {}
    events: dict[tuple[str, str], dict[str, ContentEvent]] = defaultdict(dict)
    for path, text in sorted(read_blobs(store, paths).items()):
        name = path.rsplit("/", 1)[-1]
        if name.startswith("spans-"):
            for span in _spans(path, text):
                spans.setdefault((span.trace_id, span.span_id), span)
        elif name.startswith("events-"):
            for event in _events(path, text):
                events[(event.trace_id, event.span_id)].setdefault(_event_identity(event), event)
    traces: dict[str, list[Span]] = defaultdict(list)
    for key, span in spans.items():
        for attribute, value in content_attributes(list(events.get(key, {}).values())).items():
            span.attributes.setdefault(attribute, value)
        traces[span.trace_id].append(span)
    return {trace: sorted(found, key=lambda s: s.start_time) for trace, found in sorted(traces.items())}


# ------------------------------------------------------------------------------------------- dataset
def _started_within(spans: list[Span], start: datetime, end: datetime) -> bool:
    first = min(datetime.fromisoformat(span.start_time) for span in spans)
    return start <= first < end


class GraderError(ValueError):
    """A grader that failed on a trace or answered something that is not a reward."""


def _grade(grader: Grader, trace_id: str, spans: list[Span]) -> float | None:
    """The grader's reward for a trace; raises GraderError when it fails or answers outside [0, 1]."""
    try:
        score = grader(spans)
    except (
        Exception
    ) as exc:  # a user's grader may raise anything: the trace is then ungraded, the error listed
        raise GraderError(f"{trace_id}: {type(exc).__name__}: {exc}") from exc
    if score is not None and (
        isinstance(score, bool) or not isinstance(score, int | float) or not 0 <= score <= 1
    ):
        raise GraderError(f"{trace_id}: the grader returned {score!r}, not a reward from 0 to 1 or None")
    return score


def production_traces(store: ArtifactStore, window: ProductionWindow) -> tuple[TraceSet, ProductionStats]:
    """The agent's traces that started in the window, each rewarded by its feedback, else by the
    grader if one is named (failed traces are not graded: they give no examples anyway).

    The day before the window is read too, so that a trace that started there, and went on past
    midnight, is neither missed nor taken for one that started in the window."""
    start = window.end - timedelta(days=window.days)
    listed = list_production_traces(store, window.agent, start.date() - timedelta(days=1), window.end.date())
    traces = {key: spans for key, spans in listed.items() if _started_within(spans, start, window.end)}
    rewards: dict[str, float] = {key: item.reward for key, item in read_feedback(store, traces).items()}
    by_feedback, errors = len(rewards), []
    if window.grader:
        grader = get_grader(window.grader)
        for key in sorted(set(traces) - set(rewards)):
            try:
                score = None if trace_failed(traces[key]) else _grade(grader, key, traces[key])
            except GraderError as exc:
                errors.append(str(exc))
                continue
            if score is not None:
                rewards[key] = float(score)
    stats = ProductionStats(
        agent=window.agent,
        window_start=start,
        window_end=window.end,
        traces=len(traces),
        rewarded_by_feedback=by_feedback,
        rewarded_by_grader=len(rewards) - by_feedback,
        grader=window.grader,
        grader_errors=len(errors),
        grader_problems=errors[:MAX_LISTED_PROBLEMS],
    )
    return TraceSet("production", traces, lambda key, _spans: rewards.get(key)), stats
