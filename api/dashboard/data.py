"""What the dashboard's pages read from Blob, each with as few requests as the page allows.

A run page reads the report and lists ``datasets/{run}/`` once (to find training metrics); an
iteration page reads the dataset's stats, the first lines of the dataset (a ranged GET, however large
the file is), one listing of the traces and the first few traces. Nothing here writes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from api.dashboard.metrics import TrainingMetrics, parse_events, parse_results_csv
from shared.agents.traces import RolloutSummary, Span, TraceFormatError, parse_jsonl, root_span, summarize
from shared.domain.dataset import DatasetStats
from shared.domain.layout import (
    dataset_path,
    dataset_stats_path,
    lineage_path,
    report_path,
    training_events_path,
    training_results_path,
)
from shared.domain.lineage import Lineage
from shared.domain.report_view import IterationView, ReportView
from shared.storage.artifacts import ArtifactStore
from shared.telemetry.spans import REWARD, jsonl_lines

PREVIEW_BYTES = 256 * 1024
PREVIEW_EXAMPLES = 5
SAMPLE_TRACES = 5


class UnreadableArtifactError(RuntimeError):
    """A blob the dashboard needs is there but is not what its contract says; the message names it."""


def load_report(store: ArtifactStore, run_id: str) -> ReportView | None:
    """The run's report, or None when the run has none."""
    path = report_path(run_id)
    text = store.read_text(path)
    if text is None:
        return None
    try:
        return ReportView.parse(text)
    except (ValueError, ValidationError) as exc:
        raise UnreadableArtifactError(f"{path} is not a run report: {str(exc).splitlines()[0]}") from exc


def load_lineage(store: ArtifactStore, name: str) -> Lineage | None:
    """The lineage record (``shared/domain/lineage.py``), or None when there is no such lineage."""
    path = lineage_path(name)
    try:
        return store.read_model(path, Lineage)
    except ValidationError as exc:
        raise UnreadableArtifactError(f"{path} is not a lineage record: {exc.errors()[0]['msg']}") from exc


def _read_metrics(store: ArtifactStore, results: list[str], events: str | None) -> TrainingMetrics | None:
    """The job's results files merged by step (Azure may write more than one), else its events."""
    if results:
        parsed = [parse_results_csv(store.read_text(path) or "", path) for path in results]
        by_step = {step.step: step for metrics in parsed for step in metrics.steps}
        return TrainingMetrics(
            source=", ".join(results),
            steps=[by_step[number] for number in sorted(by_step)],
            unreadable=sum(metrics.unreadable for metrics in parsed),
        )
    if events is not None:
        return parse_events(store.read_text(events) or "", events)
    return None


def load_training_metrics(
    store: ArtifactStore, view: ReportView, only: int | None = None
) -> dict[int, TrainingMetrics]:
    """Per iteration (or iteration ``only``), the job's metrics copied to Blob: the blobs the report
    names (``results_blobs``, ``events_blob``), else those at the usual paths beside the dataset (found
    with one listing, for reports written before the report named them)."""
    run_id = view.report.run_id
    listed: set[str] | None = None
    found: dict[int, TrainingMetrics] = {}
    for item in view.iterations:
        number = item.entry.iteration
        if only is not None and number != only:
            continue
        results = [path for path in item.extra("results_blobs") or [] if isinstance(path, str)]
        events = item.extra("events_blob") if isinstance(item.extra("events_blob"), str) else None
        if not results and events is None:
            if listed is None:
                listed = set(store.list_paths(f"datasets/{run_id}/"))
            results = [path for path in [training_results_path(run_id, number)] if path in listed]
            events = (
                training_events_path(run_id, number)
                if training_events_path(run_id, number) in listed
                else None
            )
        metrics = _read_metrics(store, results, events)
        if metrics is not None:
            found[number] = metrics
    return found


@dataclass(frozen=True)
class DatasetPreview:
    blob: str
    examples: list[dict[str, Any]]
    unreadable_lines: int


def load_dataset_preview(
    store: ArtifactStore, blob: str, count: int = PREVIEW_EXAMPLES
) -> DatasetPreview | None:
    """The first ``count`` examples of a training file (read with one ranged GET)."""
    text = store.read_head(blob, PREVIEW_BYTES)
    if text is None:
        return None
    examples: list[dict[str, Any]] = []
    unreadable = 0
    for line in jsonl_lines(text):
        if len(examples) == count:
            break
        if not line.strip():
            continue
        try:
            example = json.loads(line)
        except json.JSONDecodeError:
            unreadable += 1
            continue
        if isinstance(example, dict):
            examples.append(example)
        else:
            unreadable += 1
    return DatasetPreview(blob, examples, unreadable)


def load_dataset_stats(store: ArtifactStore, run_id: str, iteration: int) -> DatasetStats | None:
    path = dataset_stats_path(run_id, iteration)
    try:
        return store.read_model(path, DatasetStats)
    except ValidationError as exc:
        raise UnreadableArtifactError(f"{path} is not dataset stats: {exc.errors()[0]['msg']}") from exc


@dataclass(frozen=True)
class TraceSample:
    """One rollout's trace as the iteration page shows it."""

    blob: str
    summary: RolloutSummary
    prompt: str | None
    expected: str | None
    answer: str | None
    spans: list[Span]
    problem: str | None = None


def _text_of(message: dict[str, Any]) -> str | None:
    texts = [
        str(part.get("content"))
        for part in message.get("parts") or []
        if isinstance(part, dict) and part.get("type") == "text" and part.get("content") is not None
    ]
    return "\n".join(texts) if texts else None


def _final_answer(spans: list[Span]) -> str | None:
    chats = sorted((span for span in spans if span.operation == "chat"), key=lambda span: span.start_time)
    for span in reversed(chats):
        for message in span.attributes.get("gen_ai.output.messages") or []:
            if isinstance(message, dict) and (text := _text_of(message)):
                return text
    return None


def _sample(store: ArtifactStore, blob: str) -> TraceSample:
    rollout_id = blob.rsplit("/", 1)[-1].removesuffix(".jsonl")
    try:
        spans = parse_jsonl(store.read_text(blob) or "")
    except TraceFormatError as exc:
        failed = RolloutSummary(rollout_id=rollout_id, status="failed", error=str(exc), trace_blob=blob)
        return TraceSample(blob, failed, None, None, None, [], problem=str(exc))
    root = root_span(spans)
    attributes = root.attributes if root else {}
    return TraceSample(
        blob=blob,
        summary=summarize(spans, rollout_id, blob),
        prompt=attributes.get("durable_finetune.task.prompt"),
        expected=attributes.get("durable_finetune.task.expected"),
        answer=_final_answer(spans),
        spans=sorted(spans, key=lambda span: span.start_time),
        problem=None if REWARD in attributes or root is None else "the trace's root span has no reward",
    )


def load_traces(
    store: ArtifactStore, prefix: str, count: int = SAMPLE_TRACES
) -> tuple[int, list[TraceSample]]:
    """How many traces there are under ``prefix``, and the first ``count`` of them."""
    blobs = store.list_paths(prefix)
    return len(blobs), [_sample(store, blob) for blob in blobs[:count]]


@dataclass(frozen=True)
class IterationDetail:
    """Everything the iteration page and its JSON twin show."""

    run_id: str
    iteration: IterationView
    stats: DatasetStats | None
    preview: DatasetPreview | None
    traces_total: int
    traces: list[TraceSample]
    metrics: TrainingMetrics | None


def load_iteration(store: ArtifactStore, view: ReportView, number: int) -> IterationDetail | None:
    """Iteration ``number`` of the run in ``view``, or None when the report has no such iteration."""
    found = next((item for item in view.iterations if item.entry.iteration == number), None)
    if found is None:
        return None
    run_id = view.report.run_id
    entry = found.entry
    blob = entry.dataset_blob or dataset_path(run_id, number)
    traces_total, traces = load_traces(store, entry.traces_prefix) if entry.traces_prefix else (0, [])
    return IterationDetail(
        run_id=run_id,
        iteration=found,
        stats=load_dataset_stats(store, run_id, number),
        preview=load_dataset_preview(store, blob),
        traces_total=traces_total,
        traces=traces,
        metrics=load_training_metrics(store, view, only=number).get(number),
    )
