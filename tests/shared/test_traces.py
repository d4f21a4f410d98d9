"""The rollout recorder on the OpenTelemetry SDK: the JSONL contract, isolation, failures."""

from __future__ import annotations

import re

import pytest
from opentelemetry.sdk.trace import TracerProvider

from shared.agents.tasks import Task
from shared.agents.traces import TraceRecorder, parse_jsonl
from tests.shared.test_dataset import _trace

TASK = Task(task_id="t", prompt="capital of France?", answer="Paris")


async def test_a_rollout_is_one_trace_of_sdk_spans_in_the_jsonl_contract() -> None:
    spans = await _trace(1.0, True)
    root, first, tool, second = spans
    assert len({span.trace_id for span in spans}) == 1
    assert re.fullmatch(r"[0-9a-f]{32}", root.trace_id)
    assert all(re.fullmatch(r"[0-9a-f]{16}", span.span_id) for span in spans)
    assert root.parent_span_id is None
    assert {span.parent_span_id for span in (first, tool, second)} == {root.span_id}
    assert [span.name for span in spans] == [
        "invoke_agent agent",
        "chat dep",
        "execute_tool lookup",
        "chat dep",
    ]
    assert first.start_time < tool.start_time < second.start_time <= root.end_time
    assert root.attributes["durable_finetune.reward"] == 1.0
    assert root.attributes["gen_ai.agent.name"] == "agent"
    assert first.attributes["gen_ai.input.messages"][1] == {
        "role": "user",
        "parts": [{"type": "text", "content": "capital of France?"}],
    }
    assert first.attributes["gen_ai.response.finish_reasons"] == ["tool_calls"]
    assert first.attributes["gen_ai.usage.input_tokens"] == 12
    assert tool.attributes["gen_ai.tool.call.result"] == "Paris"


def test_a_rollout_starts_a_trace_of_its_own_inside_an_instrumented_host() -> None:
    host_tracer = TracerProvider().get_tracer("host")
    with host_tracer.start_as_current_span("host invocation") as host_span:
        recorder = TraceRecorder("r", TASK, "agent")
        recorder.finish(1.0)
    [root] = parse_jsonl(recorder.to_jsonl())
    assert root.parent_span_id is None
    assert root.trace_id == recorder.trace_id != format(host_span.get_span_context().trace_id, "032x")


async def test_attribute_limits_set_for_other_telemetry_do_not_cut_rollout_spans(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "8")
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2")
    spans = await _trace(1.0, True)
    assert spans[1].attributes["gen_ai.input.messages"][0]["parts"][0]["content"] == "sys"
    assert len(spans[0].attributes) == 9, "all of the root span's attributes, over the limit of 2"


class FailingLLM:
    def __init__(self) -> None:
        self.chat = self
        self.completions = self

    async def create(self, **_: object) -> object:
        raise TimeoutError("no answer")


async def test_a_failed_call_and_a_failed_rollout_are_recorded() -> None:
    recorder = TraceRecorder("r", TASK, "agent")
    with pytest.raises(TimeoutError):
        await recorder.chat(FailingLLM(), model="dep", messages=[{"role": "user", "content": "q"}])
    recorder.fail("TimeoutError: no answer")
    root, chat = parse_jsonl(recorder.to_jsonl())
    assert (root.status, root.status_message, root.attributes["durable_finetune.reward"]) == (
        "error",
        "TimeoutError: no answer",
        0.0,
    )
    assert (chat.status, chat.status_message) == ("error", "TimeoutError: no answer")
    assert "gen_ai.output.messages" not in chat.attributes
    summary = recorder.summary("traces/x.jsonl")
    assert (summary.status, summary.llm_calls, summary.error) == ("failed", 1, "TimeoutError: no answer")


def test_a_trace_is_finished_once() -> None:
    recorder = TraceRecorder("r", TASK, "agent")
    recorder.finish(1.0)
    with pytest.raises(RuntimeError, match="already finished"):
        recorder.fail("late")


def test_a_throttled_rollout_says_so_in_its_trace_and_is_never_scored() -> None:
    recorder = TraceRecorder("r", TASK, "agent")
    recorder.throttle("RateLimitReached: Please retry after 86400 seconds.", throttled_retries=3)
    [root] = parse_jsonl(recorder.to_jsonl())
    assert root.status == "error"
    assert root.status_message == "throttled: RateLimitReached: Please retry after 86400 seconds."
    assert root.attributes["durable_finetune.rollout.status"] == "throttled"
    assert root.attributes["durable_finetune.rollout.throttled_retries"] == 3
    summary = recorder.summary("traces/x.jsonl")
    assert (summary.status, summary.reward, summary.throttled_retries) == ("throttled", 0.0, 3)


def test_an_agent_error_is_failed_and_an_answer_keeps_its_429_count() -> None:
    failed = TraceRecorder("r", TASK, "agent")
    failed.fail("BadRequestError: invalid tool arguments", throttled_retries=1)
    assert failed.summary("x").status == "failed"
    done = TraceRecorder("r", TASK, "agent")
    done.finish(1.0, throttled_retries=2)
    assert (done.summary("x").status, done.summary("x").throttled_retries) == ("ok", 2)


class RecordingLLM:
    """Answers every call at once and keeps the requests it got."""

    def __init__(self) -> None:
        self.chat = self
        self.completions = self
        self.requests: list[dict[str, object]] = []

    async def create(self, **request: object) -> object:
        self.requests.append(request)
        raise TimeoutError("only the request matters here")


async def test_every_call_sends_the_agents_max_tokens_unless_it_sets_its_own() -> None:
    llm = RecordingLLM()
    recorder = TraceRecorder("r", TASK, "agent", max_tokens=100)
    for extra in ({}, {"max_tokens": 7}):
        with pytest.raises(TimeoutError):
            await recorder.chat(llm, model="dep", messages=[{"role": "user", "content": "q"}], **extra)
    assert [request["max_tokens"] for request in llm.requests] == [100, 7]
    recorder.fail("TimeoutError")
    first = parse_jsonl(recorder.to_jsonl())[1]
    assert first.attributes["gen_ai.request.max_tokens"] == 100
    unset = RecordingLLM()
    with pytest.raises(TimeoutError):
        await TraceRecorder("r", TASK, "agent").chat(unset, model="dep", messages=[])
    assert "max_tokens" not in unset.requests[0]
