"""From rewarded traces to a fine-tuning file: every LLM call becomes one chat example.

Ranking is per example (as the reference does): examples inherit their rollout's reward, are sorted by
reward (best first) with a tie-break seeded by the run's seed and independent of the order traces were
listed in, and the top ``ceil(ratio * n)`` are kept. Failed rollouts contribute no examples: their
trace may stop mid-conversation, and their reward says nothing about the model.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from pydantic import BaseModel

from shared.finetune_format import jsonl_problems
from shared.genai_messages import otel_to_chat
from shared.traces import REWARD, Span, root_span


class DatasetStats(BaseModel):
    rollouts: int
    failed_rollouts: int
    examples_total: int
    examples_kept: int
    ratio: float
    seed: int
    mean_reward_all: float | None
    mean_reward_kept: float | None
    enough_for_azure: bool
    problems: list[str]


class Example(BaseModel):
    trace: str
    index: int
    reward: float
    body: dict[str, Any]


def examples_from_trace(key: str, spans: list[Span]) -> list[Example] | None:
    """The trace's chat examples in call order, or None for a failed or unrewarded rollout."""
    root = root_span(spans)
    if root is None or root.status == "error" or REWARD not in root.attributes:
        return None
    reward = float(root.attributes[REWARD])
    examples = []
    chats = sorted(
        (span for span in spans if span.operation == "chat" and span.status == "ok"),
        key=lambda s: s.start_time,
    )
    for index, span in enumerate(chats):
        outputs = span.attributes.get("gen_ai.output.messages") or []
        if not outputs:
            continue
        messages = [otel_to_chat(message) for message in span.attributes.get("gen_ai.input.messages", [])]
        messages.append(otel_to_chat({"role": "assistant", "parts": outputs[0].get("parts", [])}))
        body: dict[str, Any] = {"messages": messages}
        if span.attributes.get("gen_ai.tool.definitions"):
            body["tools"] = span.attributes["gen_ai.tool.definitions"]
        examples.append(Example(trace=key, index=index, reward=reward, body=body))
    return examples


def _tie_break(seed: int, example: Example) -> str:
    return hashlib.sha256(f"{seed}:{example.trace}:{example.index}".encode()).hexdigest()


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def build_dataset(traces: dict[str, list[Span]], *, ratio: float, seed: int) -> tuple[str, DatasetStats]:
    """``traces`` maps a trace's key (its blob path) to its spans; returns the JSONL and its stats."""
    examples: list[Example] = []
    failed = 0
    rewards: list[float] = []
    for key in sorted(traces):
        found = examples_from_trace(key, traces[key])
        if found is None:
            failed += 1
            continue
        examples += found
    rewards = [example.reward for example in examples]
    ranked = sorted(examples, key=lambda example: (-example.reward, _tie_break(seed, example)))
    kept = ranked[: math.ceil(ratio * len(ranked))]
    jsonl = "".join(json.dumps(example.body, ensure_ascii=False) + "\n" for example in kept)
    problems = jsonl_problems(jsonl)
    stats = DatasetStats(
        rollouts=len(traces),
        failed_rollouts=failed,
        examples_total=len(examples),
        examples_kept=len(kept),
        ratio=ratio,
        seed=seed,
        mean_reward_all=_mean(rewards),
        mean_reward_kept=_mean([example.reward for example in kept]),
        enough_for_azure=not problems,
        problems=problems,
    )
    return jsonl, stats
