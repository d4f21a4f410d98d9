"""From rewarded traces to a fine-tuning file: every successful LLM call becomes one chat example.

One builder serves every source, alone or together (a ``TraceSet`` each); only where a trace's reward
comes from differs: a rollout's root span carries ``durable_finetune.reward`` (``rollout_reward``), a
production trace gets its reward from feedback or a grader (``shared/storage/production.py``). The steps, each
counted in the stats, in total and per source:

0. A trace of a held-out task contributes nothing: a rollout of a validation or test task (by its task
   id), or any trace (a production one too) whose prompt is one of theirs once normalized (case,
   Unicode form, punctuation and spacing: ``shared.agents.tasks.normalized_prompt``). Counted as
   ``held_out``: the contamination check that keeps what chooses and reports a champion out of what
   trains it.
1. A failed trace (an ``invoke_agent`` span with status error: it may stop mid-conversation and its
   reward says nothing about the model) and a trace without a reward contribute nothing.
2. Each successful chat span becomes one example (tool calls included) that inherits its trace's
   reward. A chat span without recorded messages (content capture off) is counted as ``no_content``;
   an example Azure would reject is dropped as ``format_rejected``, with its reasons listed.
3. Examples are ranked by reward (best first) with a tie-break seeded by the run's seed and taken from
   each example's content, so independent of the order traces were listed in and of their blob paths
   (which name the run); of identical examples only the best-ranked is kept.
4. An example is kept only if its trace earned at least ``min_reward``, then the top
   ``ceil(ratio * n)`` of what is left are kept, whatever their source: the sources compete on reward.
   ``DEFAULT_MIN_REWARD`` (0.01: an example must have earned something) is the run setting's default.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.agents.tasks import Task, normalized_prompt
from shared.agents.traces import TASK_ID, TASK_PROMPT, root_span
from shared.domain.finetune_format import MIN_EXAMPLES, example_problems, jsonl_problems
from shared.telemetry.genai_messages import otel_to_chat
from shared.telemetry.spans import (
    CAPTURE_CONTENT_SETTINGS,
    INPUT_MESSAGES,
    OUTPUT_MESSAGES,
    REWARD,
    SYSTEM_INSTRUCTIONS,
    TOOL_DEFINITIONS,
    Span,
    jsonl_line,
)

DEFAULT_MIN_REWARD = 0.01
MAX_LISTED_PROBLEMS = 20
PART_TYPES = {"text", "tool_call", "tool_call_response"}
# The fields of each part type that must be strings when present (GenAI semantic conventions); production
# content is anyone's JSON, and a number or a list where text belongs cannot become a chat message.
STRING_FIELDS = {"text": ("content",), "tool_call": ("id", "name"), "tool_call_response": ("id",)}
NEEDS_CONTENT = {"system", "developer", "user", "tool"}

RewardFn = Callable[[str, list[Span]], float | None]
Source = Literal["rollouts", "production"]


class SourceStats(BaseModel):
    """What one source contributed at each step (DatasetStats' counts, for this source alone)."""

    traces: int
    held_out: int = 0
    failed: int
    no_reward: int
    no_content: int
    examples_total: int
    format_rejected: int
    duplicates: int
    below_min_reward: int
    examples_kept: int
    mean_reward_all: float | None
    mean_reward_kept: float | None


class DatasetStats(BaseModel):
    source: str = Field(default="rollouts", description="rollouts, production or both")
    rollouts: int = Field(description="traces read, from every source")
    held_out: int = Field(default=0, description="traces of a validation or test task, left out")
    failed_rollouts: int
    no_reward: int = Field(default=0, description="traces without a reward")
    no_content: int = Field(default=0, description="chat spans without recorded messages")
    examples_total: int = Field(description="chat calls of rewarded, successful traces")
    format_rejected: int = 0
    duplicates: int = 0
    below_min_reward: int = 0
    examples_kept: int
    ratio: float
    min_reward: float
    seed: int
    mean_reward_all: float | None
    mean_reward_kept: float | None
    enough_for_azure: bool
    problems: list[str]
    format_problems: list[str] = Field(default_factory=list, description="first reasons for format_rejected")
    sources: dict[str, SourceStats] = Field(default_factory=dict, description="the same counts per source")


class Example(BaseModel):
    source: str
    trace: str
    index: int
    reward: float
    body: dict[str, Any]

    def identity(self) -> str:
        """The example's content, canonically: what makes two examples the same example."""
        return json.dumps(self.body, sort_keys=True, ensure_ascii=False)


class ExampleError(ValueError):
    """A chat span that cannot be a fine-tuning example; the message says why."""


@dataclass(frozen=True)
class HeldOutTasks:
    """The validation and test tasks of a lineage's split, as the contamination check finds them: by
    task id and by normalized prompt."""

    ids: frozenset[str]
    prompts: frozenset[str]

    @classmethod
    def of(cls, tasks: Sequence[Task]) -> HeldOutTasks:
        return cls(
            frozenset(task.task_id for task in tasks),
            frozenset(normalized_prompt(task.prompt) for task in tasks),
        )

    def holds(self, spans: list[Span]) -> bool:
        """Whether the trace is of a held-out task: its rollout's task id is one, or one of its prompts
        (the rollout's task prompt, any user message a chat call sent) is one once normalized."""
        root = root_span(spans)
        if root is not None and root.attributes.get(TASK_ID) in self.ids:
            return True
        return any(normalized_prompt(text) in self.prompts for text in prompts_of(spans))

    def holds_example(self, body: dict[str, Any]) -> bool:
        """Whether a chat example (a line of a training file, as ``kept.jsonl`` keeps it) asks a held-out
        task: one of its user messages is one once normalized. An earlier iteration's example is checked
        again before it is trained on, since it may have been kept under another split or before there
        was one."""
        return any(normalized_prompt(text) in self.prompts for text in example_prompts(body))


def example_prompts(body: dict[str, Any]) -> list[str]:
    """The text of every user message of a chat example (content as a string or as text parts)."""
    texts = []
    for message in body.get("messages") or []:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(
                str(part.get("text"))
                for part in content
                if isinstance(part, dict) and part.get("type") == "text"
            )
        if isinstance(content, str):
            texts.append(content)
    return texts


def prompts_of(spans: list[Span]) -> list[str]:
    """What a trace asked: its rollout's task prompt and the text of every user message its chat calls
    sent."""
    root = root_span(spans)
    task_prompt = root.attributes.get(TASK_PROMPT) if root is not None else None
    texts = [task_prompt] if isinstance(task_prompt, str) else []
    for span in spans:
        inputs = span.attributes.get(INPUT_MESSAGES) if span.operation == "chat" else None
        for message in inputs if isinstance(inputs, list) else []:
            if isinstance(message, dict) and message.get("role") == "user":
                parts = message.get("parts") or []
                text = " ".join(
                    str(part.get("content"))
                    for part in parts
                    if isinstance(part, dict) and part.get("type") == "text"
                )
                texts.append(text)
    return texts


@dataclass
class _Tally:
    traces: int = 0
    held_out: int = 0
    failed: int = 0
    no_reward: int = 0
    no_content: int = 0
    total: int = 0
    rewards: list[float] = field(default_factory=list)
    format_problems: list[str] = field(default_factory=list)


def rollout_reward(key: str, spans: list[Span]) -> float | None:
    """A rollout's reward: its root span's ``durable_finetune.reward``."""
    root = root_span(spans)
    value = root.attributes.get(REWARD) if root else None
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class TraceSet:
    """The traces of one source by key (a rollout's blob path, a production trace id) and how a trace
    earns its reward (None: it has none)."""

    source: Source
    traces: dict[str, list[Span]]
    reward: RewardFn = rollout_reward


def trace_failed(spans: list[Span]) -> bool:
    return any(span.operation == "invoke_agent" and span.status == "error" for span in spans)


def _message(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("role"), str):
        raise ExampleError(f"{where} is not a message with a role")
    parts = value.get("parts")
    if not isinstance(parts, list) or not all(isinstance(part, dict) for part in parts):
        raise ExampleError(f"{where} has no list of parts")
    unsupported = sorted({str(part.get("type")) for part in parts} - PART_TYPES)
    if unsupported:
        raise ExampleError(
            f"{where} has parts of type {unsupported}; only {sorted(PART_TYPES)} can be trained on"
        )
    for index, part in enumerate(parts):
        wrong = [
            name for name in STRING_FIELDS[part["type"]] if not isinstance(part.get(name, ""), str | None)
        ]
        if wrong:
            raise ExampleError(f"{where} part {index} ({part['type']}): {', '.join(wrong)} must be a string")
    return value


def _conversation(span: Span) -> list[dict[str, Any]]:
    """The span's input messages and its first output as OTel messages, system instructions first."""
    inputs = span.attributes.get(INPUT_MESSAGES) or []
    outputs = span.attributes.get(OUTPUT_MESSAGES)
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise ExampleError(f"{INPUT_MESSAGES} and {OUTPUT_MESSAGES} must be lists of messages")
    messages = [_message(item, f"input message {i}") for i, item in enumerate(inputs)]
    output = _message(outputs[0], "output message 0")
    instructions = span.attributes.get(SYSTEM_INSTRUCTIONS)
    if instructions and not any(message["role"] in ("system", "developer") for message in messages):
        messages.insert(0, _message({"role": "system", "parts": instructions}, SYSTEM_INSTRUCTIONS))
    return [*messages, {"role": "assistant", "parts": output["parts"]}]


def _tools(value: Any) -> list[dict[str, Any]]:
    """Tool definitions in the chat format; the flat semantic-convention form is nested."""
    if not isinstance(value, list) or not all(isinstance(tool, dict) for tool in value):
        raise ExampleError(f"{TOOL_DEFINITIONS} must be a list of tool definitions")
    return [
        tool
        if "function" in tool
        else {
            "type": tool.get("type"),
            "function": {
                k: tool[k] for k in ("name", "description", "parameters") if tool.get(k) is not None
            },
        }
        for tool in value
    ]


def example_body(span: Span) -> dict[str, Any] | None:
    """The chat example of one successful chat span, or None when the span recorded no messages."""
    if not span.has_messages:
        return None
    messages = [otel_to_chat(message) for message in _conversation(span)]
    for index, message in enumerate(messages):
        if message["role"] in NEEDS_CONTENT and not message.get("content"):
            raise ExampleError(f"message {index} ({message['role']}) has no text content")
    body: dict[str, Any] = {"messages": messages}
    if span.attributes.get(TOOL_DEFINITIONS):
        body["tools"] = _tools(span.attributes[TOOL_DEFINITIONS])
    problems = example_problems(body, 1)
    if problems:
        raise ExampleError("; ".join(problem.removeprefix("line 1").lstrip(": ") for problem in problems))
    return body


def _trace_examples(
    source: str, key: str, spans: list[Span], reward: RewardFn, tally: _Tally, held_out: HeldOutTasks | None
) -> list[Example]:
    if held_out is not None and held_out.holds(spans):
        tally.held_out += 1
        return []
    if trace_failed(spans):
        tally.failed += 1
        return []
    value = reward(key, spans)
    if value is None:
        tally.no_reward += 1
        return []
    chats = sorted(
        (s for s in spans if s.operation == "chat" and s.status == "ok"), key=lambda s: s.start_time
    )
    examples = []
    for index, span in enumerate(chats):
        try:
            body = example_body(span)
        except ExampleError as exc:
            tally.total += 1
            tally.rewards.append(value)
            tally.format_problems.append(f"{key} call {index}: {exc}")
            continue
        if body is None:
            tally.no_content += 1
            continue
        tally.total += 1
        tally.rewards.append(value)
        examples.append(Example(source=source, trace=key, index=index, reward=value, body=body))
    return examples


def _tie_break(seed: int, example: Example) -> str:
    """Orders examples of equal reward by the seed and their content alone. Not by where their trace is
    stored: a rollout's blob path holds its run id (a wall-clock stamp and a random token), so a tie-break
    by path keeps different examples of the same traces in every run, whatever the seed."""
    return hashlib.sha256(f"{seed}:{example.identity()}".encode()).hexdigest()


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _unique(ranked: list[Example]) -> list[Example]:
    seen: set[str] = set()
    unique = []
    for example in ranked:
        identity = example.identity()
        if identity not in seen:
            seen.add(identity)
            unique.append(example)
    return unique


def _source_stats(source: str, tally: _Tally, steps: list[list[Example]]) -> SourceStats:
    """One source's counts, from the examples of that source left after each step (ranked, unique,
    eligible, kept)."""
    ranked, unique, eligible, kept = (Counter(example.source for example in step)[source] for step in steps)
    return SourceStats(
        traces=tally.traces,
        held_out=tally.held_out,
        failed=tally.failed,
        no_reward=tally.no_reward,
        no_content=tally.no_content,
        examples_total=tally.total,
        format_rejected=len(tally.format_problems),
        duplicates=ranked - unique,
        below_min_reward=unique - eligible,
        examples_kept=kept,
        mean_reward_all=_mean(tally.rewards),
        mean_reward_kept=_mean([example.reward for example in steps[-1] if example.source == source]),
    )


def _totals(sources: dict[str, SourceStats]) -> dict[str, int]:
    """The counts of every source added up, under DatasetStats' names."""
    names = {"traces": "rollouts", "failed": "failed_rollouts"}
    fields = [name for name in SourceStats.model_fields if not name.startswith("mean_")]
    return {names.get(name, name): sum(getattr(item, name) for item in sources.values()) for name in fields}


def build_dataset(
    sets: Sequence[TraceSet],
    *,
    ratio: float,
    seed: int,
    min_reward: float = 0.0,
    held_out: HeldOutTasks | None = None,
) -> tuple[str, DatasetStats]:
    """Builds one dataset from the given sources (one set per source, at least one), leaving out every
    trace of a ``held_out`` task; returns the JSONL and its stats, in total and per source."""
    _, jsonl, stats = build_examples(sets, ratio=ratio, seed=seed, min_reward=min_reward, held_out=held_out)
    return jsonl, stats


def build_examples(
    sets: Sequence[TraceSet],
    *,
    ratio: float,
    seed: int,
    min_reward: float = 0.0,
    held_out: HeldOutTasks | None = None,
) -> tuple[list[Example], str, DatasetStats]:
    """``build_dataset``, with the kept examples themselves (best first), each naming its trace."""
    names = [trace_set.source for trace_set in sets]
    if not names or len(set(names)) != len(names):
        raise ValueError(f"one trace set per source, at least one; got {names}")
    tallies: dict[str, _Tally] = {
        trace_set.source: _Tally(traces=len(trace_set.traces)) for trace_set in sets
    }
    examples: list[Example] = []
    for trace_set in sets:
        for key, spans in sorted(trace_set.traces.items()):
            examples += _trace_examples(
                trace_set.source, key, spans, trace_set.reward, tallies[trace_set.source], held_out
            )
    ranked = sorted(examples, key=lambda example: (-example.reward, _tie_break(seed, example)))
    unique = _unique(ranked)
    eligible = [example for example in unique if example.reward >= min_reward]
    kept = eligible[: math.ceil(ratio * len(eligible))]
    jsonl = "".join(jsonl_line(json.dumps(example.body, ensure_ascii=False)) for example in kept)
    problems = jsonl_problems(jsonl)
    sources = {
        name: _source_stats(name, tally, [ranked, unique, eligible, kept]) for name, tally in tallies.items()
    }
    stats = DatasetStats(
        source="both" if len(sets) > 1 else names[0],
        **_totals(sources),
        ratio=ratio,
        min_reward=min_reward,
        seed=seed,
        mean_reward_all=_mean([reward for tally in tallies.values() for reward in tally.rewards]),
        mean_reward_kept=_mean([example.reward for example in kept]),
        enough_for_azure=not problems,
        problems=problems,
        format_problems=[p for tally in tallies.values() for p in tally.format_problems][
            :MAX_LISTED_PROBLEMS
        ],
        sources=sources,
    )
    return kept, jsonl, stats


# ------------------------------------------------------------------------------------- the shortfall
NO_TRACES = {
    "rollouts": "the iteration recorded no training rollouts",
    "production": "no production traces of the agent started in the window: check that the agent exports "
    "to /api/v1/traces under the service name production_agent names, and production_window_days",
}
NO_REWARD_FIX = (
    "send feedback (POST /api/feedback) for their trace ids, or name a grader (run setting grader)"
)
CONTENT_FIX = (
    f"set {CAPTURE_CONTENT_SETTINGS} where the agent runs, or export its log records to /api/v1/logs "
    "(docs/production.md)"
)


def shortfall(stats: DatasetStats) -> str | None:
    """Why the dataset holds fewer examples than Azure needs, said by the step that lost them with what
    would change it; None when it has enough. The iteration's NothingToLearn shows it, so the cause is
    in the run's error and not only in ``stats.json`` (an agent without content capture gives 0
    examples out of many rewarded traces, and only this says why)."""
    if stats.examples_kept >= MIN_EXAMPLES:
        return None
    traces = f"{stats.rollouts} traces"
    if stats.rollouts == 0:
        return "no traces: " + "; ".join(NO_TRACES[source] for source in stats.sources or ["rollouts"])
    rewarded = stats.rollouts - stats.held_out - stats.failed_rollouts - stats.no_reward
    held_out = f"{stats.held_out} held out as validation or test tasks, " if stats.held_out else ""
    if rewarded == 0:
        fix = f": {NO_REWARD_FIX}" if stats.no_reward and "production" in stats.sources else ""
        counts = f"{held_out}{stats.failed_rollouts} failed, {stats.no_reward} without reward"
        return f"{traces}, none both successful and rewarded ({counts}){fix}"
    if stats.examples_total == 0 and stats.no_content:
        return (
            f"{traces}, none with message content ({stats.no_content} chat calls of the {rewarded} "
            f"rewarded traces recorded no messages): {CONTENT_FIX}"
        )
    first_format_problem = "".join(stats.format_problems[:1])
    eligible = stats.examples_total - stats.format_rejected - stats.duplicates - stats.below_min_reward
    losses = [
        (stats.no_content, f"{stats.no_content} chat calls recorded no message content ({CONTENT_FIX})"),
        (
            stats.format_rejected,
            f"{stats.format_rejected} break Azure's format (first: {first_format_problem})",
        ),
        (stats.duplicates, f"{stats.duplicates} repeat another"),
        (stats.below_min_reward, f"{stats.below_min_reward} earned less than min_reward {stats.min_reward}"),
        (
            eligible - stats.examples_kept,
            f"{eligible - stats.examples_kept} fell outside the top {stats.ratio:.0%} (data_filter_ratio)",
        ),
    ]
    lost = "; ".join(text for count, text in losses if count)
    return (
        f"{traces} ({held_out}{rewarded} successful and rewarded) gave {stats.examples_total} examples and "
        f"{stats.examples_kept} were kept" + (f": {lost}" if lost else "")
    )
