"""Production telemetry in Blob (Azurite): the layout, the window, event joins, feedback, graders."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from shared.artifacts import ArtifactStore
from shared.graders import UnknownGraderError, get_grader, register_grader, tool_result_in_answer
from shared.otlp import spans_from_request
from shared.production import (
    Feedback,
    ProductionDataset,
    build_production_dataset,
    list_production_traces,
    read_feedback,
    store_events,
    store_feedback,
    store_spans,
)
from shared.spans import ContentEvent, Span
from tests.shared.otlp_support import Recorder, conversation

DAY = date(2026, 3, 14)


@pytest.fixture
def store(azurite: Any) -> Iterator[ArtifactStore]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client(f"production-{uuid.uuid4().hex[:12]}")
    yield ArtifactStore(container)
    container.delete_container()


def _span(trace: str, span: str, day: date, **attributes: Any) -> Span:
    start = datetime(day.year, day.month, day.day, 12, tzinfo=UTC).isoformat()
    return Span(
        trace_id=trace * 32,
        span_id=span * 16,
        name="chat m",
        start_time=start,
        end_time=start,
        duration_ms=0.0,
        attributes={"gen_ai.operation.name": "chat", **attributes},
    )


def test_the_window_reads_exactly_its_days(store: ArtifactStore) -> None:
    days = {name: DAY + timedelta(days=offset) for name, offset in zip("abcd", (-3, -1, 0, 1), strict=True)}
    paths = store_spans(store, [("support-bot", _span(name, name, day)) for name, day in days.items()])
    store_spans(store, [("other-bot", _span("e", "e", DAY))])

    traces = list_production_traces(store, "Support Bot", DAY - timedelta(days=1), DAY)

    assert sorted(traces) == ["b" * 32, "c" * 32]
    assert paths[0].startswith("production/support-bot/2026/03/11/spans-")
    with pytest.raises(ValueError, match="ends"):
        list_production_traces(store, "support-bot", DAY, DAY - timedelta(days=1))


def test_events_are_joined_once_even_when_stored_twice(store: ArtifactStore) -> None:
    span = _span("a", "b", DAY)
    at = int(datetime(2026, 3, 14, 12, tzinfo=UTC).timestamp() * 1e9)
    user = ContentEvent(
        trace_id=span.trace_id,
        span_id=span.span_id,
        time_unix_nano=at,
        name="gen_ai.user.message",
        body={"content": "hi"},
    )
    choice = user.model_copy(
        update={"name": "gen_ai.choice", "time_unix_nano": at + 1, "body": {"message": {"content": "yo"}}}
    )
    store_events(store, [("bot", user), ("bot", choice)])
    store_events(store, [("bot", user)])  # the same event again, batched differently
    store_spans(store, [("bot", span)])

    [spans] = list_production_traces(store, "bot", DAY, DAY).values()

    assert spans[0].attributes["gen_ai.input.messages"] == [
        {"role": "user", "parts": [{"type": "text", "content": "hi"}]}
    ]
    assert spans[0].attributes["gen_ai.output.messages"][0]["parts"] == [{"type": "text", "content": "yo"}]


def test_messages_recorded_on_the_span_win_over_events(store: ArtifactStore) -> None:
    recorded = [{"role": "user", "parts": [{"type": "text", "content": "on the span"}]}]
    span = _span("a", "b", DAY, **{"gen_ai.input.messages": recorded})
    at = int(datetime(2026, 3, 14, 12, tzinfo=UTC).timestamp() * 1e9)
    event = ContentEvent(
        trace_id=span.trace_id,
        span_id=span.span_id,
        time_unix_nano=at,
        name="gen_ai.user.message",
        body={"content": "x"},
    )
    store_events(store, [("bot", event)])
    store_spans(store, [("bot", span)])
    [spans] = list_production_traces(store, "bot", DAY, DAY).values()
    assert spans[0].attributes["gen_ai.input.messages"] == recorded


def test_the_latest_feedback_of_a_trace_is_read(store: ArtifactStore) -> None:
    first = Feedback(
        trace_id="a" * 32, reward=0.0, label="thumbs_down", received_at="2026-03-14T10:00:00+00:00"
    )
    store_feedback(
        store, [first, Feedback(trace_id="b" * 32, reward=1.0, received_at="2026-03-14T10:00:00+00:00")]
    )
    store_feedback(store, [first.model_copy(update={"reward": 1.0, "label": "thumbs_up"})])
    found = read_feedback(store, ["a" * 32, "c" * 32])
    assert {trace: (item.reward, item.label) for trace, item in found.items()} == {
        "a" * 32: (1.0, "thumbs_up")
    }


def _grounded_traces() -> tuple[Recorder, dict[str, str]]:
    """Traces whose answers use the tool's result (Paris) or ignore it, and one that used no tool."""
    recorder = Recorder(**{"service.name": "capital-bot"})
    ids = {f"grounded {n}": conversation(recorder, f"grounded {n}", answer="It is Paris.") for n in range(11)}
    ids["ignored"] = conversation(recorder, "ignored", answer="It is Lyon.")
    ids["rated down"] = conversation(recorder, "rated down", answer="Paris, I think.")
    return recorder, ids


def test_tool_result_in_answer_grades_grounded_answers() -> None:
    recorder, ids = _grounded_traces()
    traces: dict[str, list[Span]] = {}
    for _, span in spans_from_request(recorder.request()).items:
        traces.setdefault(span.trace_id, []).append(span)
    assert tool_result_in_answer(traces[ids["grounded 0"]]) == 1.0
    assert tool_result_in_answer(traces[ids["ignored"]]) == 0.0
    chat = next(span for span in traces[ids["grounded 1"]] if span.operation == "chat")
    chat.attributes["gen_ai.input.messages"] = chat.attributes["gen_ai.input.messages"][:2]
    assert tool_result_in_answer(traces[ids["grounded 1"]]) is None, "no tool answered"


def test_feedback_wins_and_the_grader_rewards_the_rest(store: ArtifactStore) -> None:
    recorder, ids = _grounded_traces()
    store_spans(store, spans_from_request(recorder.request()).items)
    now = datetime.now(UTC)
    store_feedback(store, [Feedback(trace_id=ids["rated down"], reward=0.0, received_at=now.isoformat())])
    request = ProductionDataset(
        agent="capital-bot",
        end=now.date(),
        window_days=1,
        data_filter_ratio=1.0,
        seed=1,
        grader="tool_result_in_answer",
        dataset_blob="datasets/p/train.jsonl",
        stats_blob="datasets/p/stats.json",
    )

    result = build_production_dataset(store, request)

    stats = json.loads(store.read_text(request.stats_blob) or "{}")
    answers = [
        json.loads(line)["messages"][-1]["content"]
        for line in (store.read_text(request.dataset_blob) or "").splitlines()
    ]
    assert answers == ["It is Paris."] * 11
    assert (result.rollouts, result.examples_kept, result.enough_for_azure) == (13, 11, True)
    assert (stats["rewarded_by_feedback"], stats["rewarded_by_grader"], stats["below_min_reward"]) == (
        1,
        12,
        2,
    )
    assert (stats["window_start"], stats["window_end"], stats["grader"]) == (
        str(now.date()),
        str(now.date()),
        "tool_result_in_answer",
    )


def test_graders_are_registered_by_name() -> None:
    with pytest.raises(UnknownGraderError, match="registered: \\['tool_result_in_answer'"):
        get_grader("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_grader("tool_result_in_answer")(tool_result_in_answer)
