"""Production telemetry in Blob (Azurite): the layout, the window, event joins, feedback, graders."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient
from pydantic import ValidationError

from shared.agents.graders import UnknownGraderError, get_grader, register_grader, tool_result_in_answer
from shared.contracts.payloads import BuildDataset, ProductionWindow
from shared.domain.dataset import TraceSet, build_dataset
from shared.storage.artifacts import ArtifactStore
from shared.storage.production import (
    Feedback,
    list_production_traces,
    production_traces,
    read_feedback,
    store_events,
    store_feedback,
    store_spans,
)
from shared.storage.training_set import build_iteration_dataset
from shared.telemetry.otlp import spans_from_request
from shared.telemetry.spans import ContentEvent, Span
from tests.shared.otlp_support import Recorder, conversation

DAY = date(2026, 3, 14)


@pytest.fixture
def store(azurite: Any) -> Iterator[ArtifactStore]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client(f"production-{uuid.uuid4().hex[:12]}")
    yield ArtifactStore(container)
    container.delete_container()


def _span(trace: str, span: str, day: date, hour: int = 12, attributes: dict[str, Any] | None = None) -> Span:
    start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC).isoformat()
    return Span(
        trace_id=trace * 32,
        span_id=span * 16,
        name="chat m",
        start_time=start,
        end_time=start,
        duration_ms=0.0,
        attributes={"gen_ai.operation.name": "chat", **(attributes or {})},
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
    span = _span("a", "b", DAY, attributes={"gen_ai.input.messages": recorded})
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


def _production_request(window: ProductionWindow, run_id: str = "graded") -> BuildDataset:
    return BuildDataset(
        run_id=run_id,
        iteration=1,
        data_filter_ratio=1.0,
        min_reward=0.01,
        seed=1,
        source="production",
        production=window,
    )


def test_feedback_wins_and_the_grader_rewards_the_rest(store: ArtifactStore) -> None:
    recorder, ids = _grounded_traces()
    store_spans(store, spans_from_request(recorder.request()).items)
    now = datetime.now(UTC)
    store_feedback(store, [Feedback(trace_id=ids["rated down"], reward=0.0, received_at=now.isoformat())])
    window = ProductionWindow(
        agent="capital-bot", end=now + timedelta(seconds=1), days=1, grader="tool_result_in_answer"
    )

    result = build_iteration_dataset(store, _production_request(window))

    stats = json.loads(store.read_text(result.stats_blob) or "{}")
    answers = [
        json.loads(line)["messages"][-1]["content"]
        for line in (store.read_text(result.dataset_blob) or "").splitlines()
    ]
    assert answers == ["It is Paris."] * 11
    assert (result.rollouts, result.examples_kept, result.enough_for_azure) == (13, 11, True)
    assert (stats["source"], list(stats["sources"]), stats["below_min_reward"]) == (
        "production",
        ["production"],
        2,
    )
    production = stats["production"]
    assert (production["traces"], production["rewarded_by_feedback"], production["rewarded_by_grader"]) == (
        13,
        1,
        12,
    )
    assert production["grader"] == "tool_result_in_answer"
    assert datetime.fromisoformat(production["window_end"]) == window.end
    assert datetime.fromisoformat(production["window_start"]) == window.end - timedelta(days=1)


def test_the_window_is_the_days_before_its_end_to_the_moment(store: ArtifactStore) -> None:
    """Traces belong to the window they started in: [end - days, end). A trace that started before the
    window and went on past midnight into it belongs to none of its days."""
    end = datetime(2026, 3, 14, 9, tzinfo=UTC)
    starts = {
        "a": end - timedelta(days=7, minutes=1),  # just before the window
        "b": end - timedelta(days=7),  # its first moment
        "c": end - timedelta(minutes=1),  # its last minute
        "d": end,  # the moment the run looks: after the window
    }
    spans = [
        ("bot", _span(name, name, at.date(), 0).model_copy(update={"start_time": at.isoformat()}))
        for name, at in starts.items()
    ]
    late = _span("e", "e", date(2026, 3, 7), 0).model_copy(
        update={"start_time": datetime(2026, 3, 6, 23, 59, tzinfo=UTC).isoformat()}
    )
    after_midnight = _span("e", "f", date(2026, 3, 7), 10)  # the same trace, in the window's first day
    store_spans(store, [*spans, ("bot", late), ("bot", after_midnight)])

    traces, stats = production_traces(store, ProductionWindow(agent="bot", end=end, days=7))

    assert sorted(traces.traces) == ["b" * 32, "c" * 32]
    assert (stats.traces, stats.window_start, stats.window_end) == (2, end - timedelta(days=7), end)


@register_grader("test_grader_that_fails_on_some_traces")
def _grader_that_fails(spans: list[Span]) -> float | None:
    question = spans[0].trace_id[0]
    if question == "a":
        raise RuntimeError("cannot read this trace")
    return {"b": 2.0, "c": 0.75}.get(question)


def test_a_grader_that_fails_or_answers_nonsense_leaves_the_trace_unrewarded(store: ArtifactStore) -> None:
    day = date(2026, 3, 14)
    store_spans(store, [("bot", _span(name, name, day)) for name in "abcd"])
    window = ProductionWindow(
        agent="bot",
        end=datetime(2026, 3, 15, tzinfo=UTC),
        days=1,
        grader="test_grader_that_fails_on_some_traces",
    )

    traces, stats = production_traces(store, window)

    rewards = {key[0]: traces.reward(key, spans) for key, spans in traces.traces.items()}
    assert rewards == {"a": None, "b": None, "c": 0.75, "d": None}
    assert (stats.rewarded_by_grader, stats.grader_errors) == (1, 2)
    assert stats.grader_problems == [
        f"{'a' * 32}: RuntimeError: cannot read this trace",
        f"{'b' * 32}: the grader returned 2.0, not a reward from 0 to 1 or None",
    ]


def test_graders_are_registered_by_name() -> None:
    with pytest.raises(UnknownGraderError, match=r"registered: .*'tool_result_in_answer'"):
        get_grader("nope")
    with pytest.raises(ValueError, match="already registered"):
        register_grader("tool_result_in_answer")(tool_result_in_answer)


def test_a_dataset_request_has_a_window_exactly_when_it_reads_production() -> None:
    window = ProductionWindow(agent="bot", end=datetime(2026, 3, 14, 9), days=7)
    assert window.end == datetime(2026, 3, 14, 9, tzinfo=UTC), "the orchestration's clock is UTC"
    for source, production in (("production", None), ("both", None), ("rollouts", window)):
        with pytest.raises(ValidationError, match="production: required when source is production or both"):
            BuildDataset(
                run_id="r",
                iteration=1,
                data_filter_ratio=1.0,
                min_reward=0.01,
                seed=1,
                source=source,
                production=production,
            )


SEPARATORS = "a\x85b\u2028c\u2029d"


def test_text_with_unicode_line_separators_stays_on_its_line(store: ArtifactStore) -> None:
    """JSON may hold U+0085, U+2028 and U+2029 raw inside strings, and str.splitlines() breaks lines at
    them: they are written escaped, so every JSONL reader (the dashboard's too) sees one line per
    span, event and example; and a blob written with them raw is read line by line all the same."""
    messages = [{"role": "user", "parts": [{"type": "text", "content": SEPARATORS}]}]
    answer = [{"role": "assistant", "parts": [{"type": "text", "content": SEPARATORS}]}]
    span = _span(
        "a", "a", DAY, attributes={"gen_ai.input.messages": messages, "gen_ai.output.messages": answer}
    )
    span.name = SEPARATORS
    event = ContentEvent(
        trace_id="a" * 32, span_id="b" * 16, time_unix_nano=1, name="gen_ai.choice", body=SEPARATORS
    )
    paths = store_spans(store, [("support-bot", span)]) + store_events(store, [("support-bot", event)])
    for path in paths:
        text = store.read_text(path) or ""
        assert len(text.splitlines()) == 1, path
    store.write_text(f"production/raw-bot/{DAY:%Y/%m/%d}/spans-raw.jsonl", span.model_dump_json() + "\n")
    for agent in ("support-bot", "raw-bot"):
        [[read]] = list_production_traces(store, agent, DAY, DAY).values()
        assert read.name == SEPARATORS
    text = build_dataset([TraceSet("production", {"a": [span]}, lambda *_: 1.0)], ratio=1.0, seed=1)[0]
    assert len(text.splitlines()) == 1
    assert json.loads(text)["messages"][0]["content"] == SEPARATORS
