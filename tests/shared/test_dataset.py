"""Traces to a fine-tuning file: conversion, ranking, the cut, and Azure's rules."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.agents.tasks import Task
from shared.agents.traces import Span, TraceFormatError, TraceRecorder, parse_jsonl, summarize
from shared.domain.dataset import (
    DEFAULT_MIN_REWARD,
    DatasetStats,
    ExampleError,
    HeldOutTasks,
    SourceStats,
    TraceSet,
    build_dataset,
    example_body,
    shortfall,
)
from shared.domain.finetune_format import MIN_EXAMPLES, example_problems, jsonl_problems
from shared.telemetry.genai_messages import chat_to_otel, otel_to_chat
from shared.telemetry.otlp import spans_from_request
from tests.shared.otlp_support import Recorder, conversation

Json = dict[str, Any]
"""A chat message, tool call or tool definition: the JSON the openai SDK sends and returns."""

TOOL: Json = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
}


class FakeMessage:
    """A response message as the openai SDK returns it (only what the recorder reads)."""

    def __init__(self, data: Json) -> None:
        self.data = data

    def model_dump(self, exclude_none: bool = False) -> Json:
        return dict(self.data)


def _response(message: Json, finish: str) -> object:
    choice = type("Choice", (), {"message": FakeMessage(message), "finish_reason": finish})()
    usage = type("Usage", (), {"prompt_tokens": 12, "completion_tokens": 3})()
    return type("Response", (), {"id": "chatcmpl-1", "model": "m", "choices": [choice], "usage": usage})()


class ScriptedLLM:
    """Answers chat calls from a script: the transport boundary, so the recorder's own code is real."""

    def __init__(self, replies: list[tuple[Json, str]]) -> None:
        self.replies = list(replies)
        self.chat = self
        self.completions = self

    async def create(self, **_: object) -> object:
        return _response(*self.replies.pop(0))


async def _trace(
    reward: float, use_tool: bool, prompt: str = "capital of France?", task_id: str = "t"
) -> list[Span]:
    call: Json = {
        "id": "call_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"country": "France"}'},
    }
    replies: list[tuple[Json, str]] = [
        ({"role": "assistant", "tool_calls": [call]}, "tool_calls"),
        ({"role": "assistant", "content": "Paris"}, "stop"),
    ]
    if not use_tool:
        replies = [({"role": "assistant", "content": "Lyon"}, "stop")]
    llm = ScriptedLLM(replies)
    recorder = TraceRecorder("r", Task(task_id=task_id, prompt=prompt, answer="Paris"), "agent")
    messages: list[Json] = [{"role": "system", "content": "sys"}, {"role": "user", "content": prompt}]
    first = await recorder.chat(llm, model="dep", messages=messages, tools=[TOOL])
    if use_tool:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        result = recorder.tool("lookup", "call_1", call["function"]["arguments"], lambda country: "Paris")
        messages.append({"role": "tool", "tool_call_id": "call_1", "content": result})
        await recorder.chat(llm, model="dep", messages=messages, tools=[TOOL])
    assert first.choices
    recorder.finish(reward)
    return parse_jsonl(recorder.to_jsonl())


def _build(traces: dict[str, list[Span]], **options: Any) -> tuple[str, DatasetStats]:
    """The builder on rollouts alone."""
    return build_dataset([TraceSet("rollouts", traces)], **options)


async def _traces(good: int, bad: int) -> dict[str, list[Span]]:
    traces = {}
    for k in range(good):
        traces[f"traces/good-{k}.jsonl"] = await _trace(1.0, True, f"capital of France? ({k})")
    for k in range(bad):
        traces[f"traces/bad-{k}.jsonl"] = await _trace(0.0, False, f"capital of France?! ({k})")
    return traces


def test_messages_round_trip_between_chat_and_otel_formats() -> None:
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"country": "Peru"}'},
    }
    for message in (
        {"role": "user", "content": "hi"},
        {"role": "assistant", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "Lima"},
    ):
        otel = chat_to_otel(message)
        assert all("type" in part for part in otel["parts"])
        assert otel_to_chat(otel) == message
    assert "content" not in otel_to_chat(
        chat_to_otel({"role": "assistant", "content": None, "tool_calls": [call]})
    )


async def test_each_llm_call_becomes_an_example_with_nulls_removed() -> None:
    jsonl, stats = _build(await _traces(good=6, bad=0), ratio=1.0, seed=1)
    examples = [json.loads(line) for line in jsonl.splitlines()]
    assert stats.examples_total == 12 and stats.enough_for_azure
    first = next(e["messages"] for e in examples if "tool_calls" in e["messages"][-1])
    second = next(e["messages"] for e in examples if "content" in e["messages"][-1])
    assert first[-1] == {
        "role": "assistant",
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup", "arguments": '{"country": "France"}'},
            }
        ],
    }
    assert second[-2] == {"role": "tool", "tool_call_id": "call_1", "content": "Paris"}
    assert second[-1] == {"role": "assistant", "content": "Paris"}
    assert examples[0]["tools"] == [TOOL]
    assert "null" not in jsonl


async def test_ranking_keeps_the_best_and_ignores_input_order() -> None:
    traces = await _traces(good=5, bad=10)
    jsonl, stats = _build(traces, ratio=0.6, seed=42)
    assert (stats.examples_total, stats.examples_kept) == (20, 12)
    kept = [json.loads(line) for line in jsonl.splitlines()]
    assert sum(1 for example in kept if example["messages"][-1].get("content") == "Lyon") == 2
    shuffled = list(traces.items())
    random.Random(3).shuffle(shuffled)
    assert _build(dict(shuffled), ratio=0.6, seed=42)[0] == jsonl
    assert _build(traces, ratio=0.6, seed=7)[0] != jsonl, "the tie-break follows the seed"
    assert stats.mean_reward_kept is not None
    assert stats.mean_reward_all is not None
    assert stats.mean_reward_kept > stats.mean_reward_all


async def test_the_same_traces_under_another_run_give_the_same_file() -> None:
    """Each run stores its rollouts under its own id (a wall-clock stamp and a random token): the cut
    through examples of equal reward (here two of the ten reward-0 ones) must follow the seed and the
    examples, not the run's id, or two runs of the same traces train different models."""
    traces = await _traces(good=5, bad=10)
    first = {
        key.replace("traces/", "traces/run-20261207-025600-a24a7d/01/train/"): t for key, t in traces.items()
    }
    second = {
        key.replace("traces/", "traces/run-20261207-025642-4ab590/01/train/"): t for key, t in traces.items()
    }
    jsonl, stats = _build(first, ratio=0.6, seed=42)
    assert (stats.examples_total, stats.examples_kept) == (20, 12)
    assert _build(second, ratio=0.6, seed=42)[0] == jsonl


async def test_too_few_examples_are_flagged_not_crashed() -> None:
    _, stats = _build(await _traces(good=2, bad=2), ratio=0.6, seed=1)
    assert not stats.enough_for_azure
    assert any(f"at least {MIN_EXAMPLES}" in problem for problem in stats.problems)


async def test_failed_rollouts_contribute_no_examples() -> None:
    traces = await _traces(good=6, bad=0)
    recorder = TraceRecorder("r", Task(task_id="t", prompt="p", answer="a"), "agent")
    recorder.fail("RateLimitError: too many requests")
    traces["traces/failed.jsonl"] = parse_jsonl(recorder.to_jsonl())
    _, stats = _build(traces, ratio=1.0, seed=1)
    assert stats.failed_rollouts == 1 and stats.examples_total == 12
    summary = summarize(traces["traces/failed.jsonl"], "r", "x")
    assert summary.error is not None
    assert summary.status == "failed" and "RateLimitError" in summary.error


def test_bad_trace_line_is_named() -> None:
    with pytest.raises(TraceFormatError, match="trace line 2"):
        parse_jsonl(
            '{"trace_id": "a", "span_id": "b", "name": "n", "start_time": "s", "end_time": "e", '
            '"duration_ms": 1, "attributes": {}}\n{"oops": 1}\n'
        )


GOOD = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}


@pytest.mark.parametrize(
    ("example", "rule"),
    [
        ({"msgs": []}, "non-empty 'messages'"),
        (
            {"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "a"}]},
            "role must be",
        ),
        ({"messages": [{"role": "user", "content": "q"}]}, "at least one assistant"),
        (
            {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": None}]},
            "omitted rather than null",
        ),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant"}]}, "content or tool_calls"),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{bad"}}
                        ],
                    }
                ]
            },
            "JSON string",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": "q"},
                    {"role": "tool", "tool_call_id": "x", "content": "r"},
                    {"role": "assistant", "content": "a"},
                ]
            },
            "answers no earlier tool call",
        ),
        ({**GOOD, "tools": [{"type": "retrieval"}]}, "each tool must be"),
        (
            {
                "messages": [
                    {"role": "user", "content": "q"},
                    {"role": "assistant", "content": "a", "weight": 2},
                ]
            },
            "weight must be",
        ),
    ],
)
def test_each_azure_rule_is_enforced(example: Json, rule: str) -> None:
    lines = [json.dumps(GOOD)] * 10 + [json.dumps(example)]
    problems = jsonl_problems("\n".join(lines))
    assert any(rule in problem and "line 11" in problem for problem in problems), problems
    assert jsonl_problems("\n".join([json.dumps(GOOD)] * 10)) == []


async def test_min_reward_keeps_only_examples_whose_trace_earned_something() -> None:
    jsonl, stats = _build(await _traces(good=5, bad=10), ratio=0.6, seed=42, min_reward=DEFAULT_MIN_REWARD)
    kept = [json.loads(line) for line in jsonl.splitlines()]
    assert (stats.examples_total, stats.below_min_reward, stats.examples_kept) == (20, 10, 6)
    assert stats.min_reward == DEFAULT_MIN_REWARD
    assert all(example["messages"][-1].get("content") != "Lyon" for example in kept)
    assert stats.mean_reward_kept == 1.0


async def test_identical_examples_are_kept_once_at_their_best_reward() -> None:
    traces = {
        "a": await _trace(0.5, False, "same question"),
        "b": await _trace(1.0, False, "same question"),
        "c": await _trace(0.5, False, "another question"),
    }
    _, stats = _build(traces, ratio=1.0, seed=1, min_reward=DEFAULT_MIN_REWARD)
    assert (stats.examples_total, stats.duplicates, stats.examples_kept) == (3, 1, 2)
    assert stats.mean_reward_kept == 0.75


def _production(*conversations: tuple[str, str | None, bool]) -> dict[str, list[Span]]:
    """Traces as an instrumented agent exports them: (question, answer, failed) each."""
    recorder = Recorder()
    for question, answer, failed in conversations:
        conversation(recorder, question, answer=answer, failed=failed)
    traces: dict[str, list[Span]] = {}
    for _, span in spans_from_request(recorder.request()).items:
        traces.setdefault(span.trace_id, []).append(span)
    return traces


def _chat(spans: list[Span]) -> Span:
    return next(span for span in spans if span.operation == "chat")


def test_production_traces_are_counted_by_why_they_give_no_example() -> None:
    traces = _production(
        ("good", None, False),
        ("unrewarded", None, False),
        ("crashed", None, True),
        ("no content", None, False),
        ("image", None, False),
        ("orphan tool answer", None, False),
    )
    key = {
        _chat(spans).attributes["gen_ai.input.messages"][1]["parts"][0]["content"]: k
        for k, spans in traces.items()
    }
    chat = _chat(traces[key["no content"]])
    del chat.attributes["gen_ai.input.messages"], chat.attributes["gen_ai.output.messages"]
    _chat(traces[key["image"]]).attributes["gen_ai.input.messages"][1]["parts"].append(
        {"type": "image", "uri": "x"}
    )
    _chat(traces[key["orphan tool answer"]]).attributes["gen_ai.input.messages"].pop(2)
    rewards = {trace: 1.0 for name, trace in key.items() if name != "unrewarded"}

    jsonl, stats = build_dataset(
        [TraceSet("production", traces, lambda k, _: rewards.get(k))],
        ratio=1.0,
        seed=1,
        min_reward=DEFAULT_MIN_REWARD,
    )

    assert (stats.source, stats.rollouts, stats.failed_rollouts, stats.no_reward, stats.no_content) == (
        "production",
        6,
        1,
        1,
        1,
    )
    assert (stats.examples_total, stats.format_rejected, stats.examples_kept) == (3, 2, 1)
    assert json.loads(jsonl)["messages"][1] == {"role": "user", "content": "good"}
    assert sorted(stats.format_problems) == sorted(
        [
            f"{key['image']} call 0: input message 1 has parts of type ['image']; only "
            "['text', 'tool_call', 'tool_call_response'] can be trained on",
            f"{key['orphan tool answer']} call 0: message 2: tool message answers no earlier tool call",
        ]
    )


def test_system_instructions_and_flat_tool_definitions_become_chat_format() -> None:
    traces = _production(("capital of France?", None, False))
    chat = _chat(next(iter(traces.values())))
    chat.attributes["gen_ai.input.messages"].pop(0)
    chat.attributes["gen_ai.system_instructions"] = [{"type": "text", "content": "Be brief."}]
    chat.attributes["gen_ai.tool.definitions"] = [
        {"type": "function", "name": "lookup", "description": "d", "parameters": {"type": "object"}},
        {"type": "function", "name": "now", "description": "the time", "parameters": None},
    ]
    body = example_body(chat)
    assert body is not None
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["tools"] == [
        {
            "type": "function",
            "function": {"name": "lookup", "description": "d", "parameters": {"type": "object"}},
        },
        {"type": "function", "function": {"name": "now", "description": "the time"}},
    ]
    chat.attributes["gen_ai.tool.definitions"] = [{"type": "custom", "name": "grep", "description": "d"}]
    with pytest.raises(ExampleError, match="each tool must be"):
        example_body(chat)


async def test_sources_are_built_together_and_counted_apart() -> None:
    rollouts = await _traces(good=3, bad=2)
    production = _production(
        ("asked in production", None, False), ("crashed", None, True), ("unrated", None, False)
    )
    question = {
        k: _chat(spans).attributes["gen_ai.input.messages"][1]["parts"][0]["content"]
        for k, spans in production.items()
    }
    rated = {k: 0.5 for k in production if question[k] in ("asked in production", "crashed")}
    sets = [TraceSet("rollouts", rollouts), TraceSet("production", production, lambda k, _: rated.get(k))]

    jsonl, stats = build_dataset(sets, ratio=1.0, seed=1, min_reward=DEFAULT_MIN_REWARD)

    assert stats.source == "both"
    assert stats.sources["rollouts"] == SourceStats(
        traces=5,
        failed=0,
        no_reward=0,
        no_content=0,
        examples_total=8,
        format_rejected=0,
        duplicates=0,
        below_min_reward=2,
        examples_kept=6,
        mean_reward_all=0.75,
        mean_reward_kept=1.0,
    )
    assert stats.sources["production"] == SourceStats(
        traces=3,
        failed=1,
        no_reward=1,
        no_content=0,
        examples_total=1,
        format_rejected=0,
        duplicates=0,
        below_min_reward=0,
        examples_kept=1,
        mean_reward_all=0.5,
        mean_reward_kept=0.5,
    )
    assert (stats.rollouts, stats.failed_rollouts, stats.no_reward, stats.examples_total) == (8, 1, 1, 9)
    assert (stats.below_min_reward, stats.examples_kept, stats.mean_reward_kept) == (2, 7, 6.5 / 7)
    assert {"role": "user", "content": "asked in production"} in [
        m for line in jsonl.splitlines() for m in json.loads(line)["messages"]
    ]

    _, half = build_dataset(sets, ratio=0.5, seed=1, min_reward=DEFAULT_MIN_REWARD)
    assert (half.sources["rollouts"].examples_kept, half.sources["production"].examples_kept) == (4, 0), (
        "the sources compete on reward"
    )


def test_each_source_is_given_once() -> None:
    with pytest.raises(ValueError, match="one trace set per source"):
        build_dataset([], ratio=1.0, seed=1)
    with pytest.raises(ValueError, match="one trace set per source"):
        build_dataset([TraceSet("rollouts", {}), TraceSet("rollouts", {})], ratio=1.0, seed=1)


async def test_no_validation_or_test_task_and_no_trace_asking_one_reaches_the_file() -> None:
    """The contamination check: a rollout of a held-out task (by id, whatever its prompt says), and a
    production trace whose question is a held-out prompt once normalized, give no example; both are
    counted as held out, per source."""
    held_out = HeldOutTasks.of(
        [
            Task(task_id="t-val", prompt="What is the capital of Peru?", answer="Lima"),
            Task(task_id="t-test", prompt="Capital of Chile", answer="Santiago"),
        ]
    )
    rollouts = {
        "traces/train.jsonl": await _trace(1.0, True, "capital of France?", task_id="t-train"),
        "traces/val.jsonl": await _trace(1.0, True, "reworded, but task t-val", task_id="t-val"),
        "traces/same-prompt.jsonl": await _trace(1.0, True, "what is the CAPITAL of peru", task_id="t-x"),
    }
    production = _production(("capital of  chile!", None, False), ("capital of Spain?", None, False))
    sets = [TraceSet("rollouts", rollouts), TraceSet("production", production, lambda _k, _s: 1.0)]

    jsonl, stats = build_dataset(sets, ratio=1.0, seed=1, held_out=held_out)

    questions = {json.loads(line)["messages"][1]["content"] for line in jsonl.splitlines()}
    assert questions == {"capital of France?", "capital of Spain?"}
    assert (stats.held_out, stats.sources["rollouts"].held_out, stats.sources["production"].held_out) == (
        3,
        2,
        1,
    )
    assert stats.rollouts == 5, "held-out traces are read and counted, then left out"
    assert shortfall(stats) == (
        "5 traces (3 held out as validation or test tasks, 2 successful and rewarded) gave 3 examples and "
        "3 were kept"
    )
    unchecked, _ = build_dataset(sets, ratio=1.0, seed=1)
    assert len(unchecked.splitlines()) > len(jsonl.splitlines()), "without the check they would train"


# ------------------------------------------------------------------------------------- the shortfall
def _production_stats(
    traces: dict[str, list[Span]], rewards: dict[str, float], **options: Any
) -> DatasetStats:
    settings = {"ratio": 1.0, "seed": 1, "min_reward": DEFAULT_MIN_REWARD, **options}
    return build_dataset([TraceSet("production", traces, lambda k, _: rewards.get(k))], **settings)[1]


def _without_content(traces: dict[str, list[Span]]) -> dict[str, list[Span]]:
    """The traces as the instrumentation sends them with content capture off: chat spans without
    messages (their content, if any, went to log records nobody exported)."""
    for spans in traces.values():
        chat = _chat(spans)
        for attribute in ("gen_ai.input.messages", "gen_ai.output.messages", "gen_ai.tool.definitions"):
            del chat.attributes[attribute]
    return traces


def test_traces_without_content_are_named_as_the_cause_with_the_settings_that_fix_it() -> None:
    traces = _without_content(_production(*[(f"question {n}", None, False) for n in range(32)]))
    stats = _production_stats(traces, dict.fromkeys(traces, 1.0))
    assert (stats.examples_total, stats.no_content) == (0, 32)
    assert shortfall(stats) == (
        "32 traces, none with message content (32 chat calls of the 32 rewarded traces recorded no "
        "messages): set OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental and "
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only where the agent runs, or export its "
        "log records to /api/v1/logs (docs/production.md)"
    )


def test_the_shortfall_names_the_steps_that_lost_examples() -> None:
    questions = [(f"question {n}", f"answer {n}", False) for n in range(8)]
    traces = _production(*questions, ("crashed", None, True), ("no content", None, False))
    by_question = {
        _chat(s).attributes["gen_ai.input.messages"][1]["parts"][0]["content"]: k for k, s in traces.items()
    }
    _without_content({by_question["no content"]: traces[by_question["no content"]]})
    rewards = {
        k: 1.0 if q.endswith(("0", "1", "2", "3", "4")) or q in ("crashed", "no content") else 0.0
        for q, k in by_question.items()
    }
    stats = _production_stats(traces, rewards, ratio=0.5)
    assert shortfall(stats) == (
        "10 traces (9 successful and rewarded) gave 8 examples and 3 were kept: 1 chat calls recorded no "
        "message content (set OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental and "
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=span_only where the agent runs, or export its "
        "log records to /api/v1/logs (docs/production.md)); 3 earned less than min_reward 0.01; "
        "2 fell outside the top 50% (data_filter_ratio)"
    )


def test_the_shortfall_of_no_traces_or_no_rewards_says_where_to_look() -> None:
    assert shortfall(_production_stats({}, {})) == (
        "no traces: no production traces of the agent started in the window: check that the agent exports "
        "to /api/v1/traces under the service name production_agent names, and production_window_days"
    )
    assert (
        shortfall(_build({}, ratio=1.0, seed=1)[1])
        == "no traces: the iteration recorded no training rollouts"
    )
    traces = _production(("unrated", None, False), ("crashed", None, True))
    assert shortfall(_production_stats(traces, {})) == (
        "2 traces, none both successful and rewarded (1 failed, 1 without reward): send feedback "
        "(POST /api/feedback) for their trace ids, or name a grader (run setting grader)"
    )


async def test_a_dataset_with_enough_examples_has_no_shortfall() -> None:
    _, stats = _build(await _traces(good=5, bad=0), ratio=1.0, seed=1)
    assert stats.examples_kept == MIN_EXAMPLES
    assert shortfall(stats) is None


# ------------------------------------------------------------------------------ any content, no crash
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
PARTS = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "tool_call", "tool_call_response"])},
    optional={
        "content": st.text(max_size=8) | JSON_VALUES,
        "id": st.sampled_from(["call_1", "call_2"]) | JSON_VALUES,
        "name": st.just("lookup") | JSON_VALUES,
        "arguments": JSON_VALUES,
        "response": JSON_VALUES,
    },
)
WELL_FORMED = st.lists(
    st.fixed_dictionaries(
        {
            "role": st.sampled_from(["system", "user", "assistant", "tool"]),
            "parts": st.lists(PARTS, max_size=3),
        }
    ),
    min_size=1,
    max_size=4,
)
# Mostly messages of the right shape with anything in their fields, sometimes anything at all.
MESSAGES = st.one_of(WELL_FORMED, WELL_FORMED, st.lists(JSON_VALUES, max_size=3), JSON_VALUES)


@pytest.mark.property
@settings(max_examples=300, deadline=None, database=None)
@given(
    inputs=MESSAGES,
    outputs=MESSAGES,
    extra=st.dictionaries(
        st.sampled_from(["gen_ai.system_instructions", "gen_ai.tool.definitions"]), JSON_VALUES
    ),
)
def test_any_production_content_is_an_example_or_a_counted_rejection(
    inputs: Any, outputs: Any, extra: dict[str, Any]
) -> None:
    """Production content is whatever an agent sent: the builder never fails on it; each chat span is
    an example that meets Azure's rules, a format rejection with its reason, or no content."""
    spans = _production(("q", None, False))
    [trace] = spans.values()
    chat = _chat(trace)
    chat.attributes.update({"gen_ai.input.messages": inputs, "gen_ai.output.messages": outputs, **extra})
    jsonl, stats = build_dataset([TraceSet("production", spans, lambda *_: 1.0)], ratio=1.0, seed=1)
    assert stats.examples_kept + stats.format_rejected + stats.no_content == 1
    for line in jsonl.splitlines():
        assert example_problems(json.loads(line), 1) == []
