"""A lineage's kept examples, accumulated: what a job that starts from the base model trains on.

A model that cannot be fine-tuned again (open models), a new base model (a rebase) or a chain that had
to start over learns from the base each time, so its training file holds the lineage's kept examples so
far, not only the iteration's own: the iteration's first, then earlier iterations', newest first, each
iteration's best first (as it kept them); an example identical to one already taken is dropped; at most
``max_examples`` are taken. Each example carries where it came from (``KeptExample``: run, iteration,
trace and call), so every line of a training file is traceable to a rollout or production trace, and the
stats say which runs' data went in. Nothing here does I/O (shared/storage/training_set.py reads and
writes the files).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.domain.dataset import Example
from shared.telemetry.spans import jsonl_line


class KeptExample(BaseModel):
    """One kept example and its provenance: a line of ``kept.jsonl`` (the example under ``example``), or
    of ``sources.jsonl`` (without it)."""

    model_config = ConfigDict(extra="forbid")

    run_id: str
    iteration: int
    trace: str | None = Field(description="the trace's blob path or production id; None: recorded before")
    call: int | None = Field(None, description="which chat call of the trace (0 = first)")
    reward: float | None = None
    source: str | None = Field(None, description="rollouts or production")
    example: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, run_id: str, iteration: int, example: Example) -> KeptExample:
        return cls(
            run_id=run_id,
            iteration=iteration,
            trace=example.trace,
            call=example.index,
            reward=example.reward,
            source=example.source,
            example=example.body,
        )

    def identity(self) -> str:
        return json.dumps(self.example, sort_keys=True, ensure_ascii=False)


class RunShare(BaseModel):
    """How many of a training file's examples one run's iterations kept."""

    run_id: str
    iterations: list[int]
    examples: int


class AccumulatedStats(BaseModel):
    """What went into a training file that accumulates the lineage's examples."""

    max_examples: int
    own: int = Field(description="the iteration's own kept examples")
    new: int = Field(description="of those, the ones no earlier iteration had")
    earlier: int = Field(description="examples of earlier iterations in the file")
    duplicates: int = Field(description="examples dropped as identical to one taken before")
    over_limit: int = Field(description="examples left out by max_examples (the oldest, then the worst)")
    runs: list[RunShare] = Field(description="the runs whose data went in, newest first")
    missing: list[str] = Field(default_factory=list, description="earlier datasets that could not be read")
    held_out: int = Field(
        0, description="earlier examples left out as asking a validation or test task (contamination check)"
    )


def kept_jsonl(examples: Iterable[KeptExample], *, with_example: bool = True) -> str:
    exclude = None if with_example else {"example"}
    return "".join(
        jsonl_line(json.dumps(item.model_dump(exclude=exclude), ensure_ascii=False)) for item in examples
    )


def training_jsonl(examples: Iterable[KeptExample]) -> str:
    """The training file of ``examples``: their chat examples alone, one per line (Azure's format)."""
    return "".join(jsonl_line(json.dumps(item.example, ensure_ascii=False)) for item in examples)


def read_kept(text: str) -> list[KeptExample]:
    return [KeptExample.model_validate_json(line) for line in text.split("\n") if line.strip()]


def legacy_kept(run_id: str, iteration: int, train_jsonl: str) -> list[KeptExample]:
    """The examples of a training file written before ``kept.jsonl`` existed (always the iteration's own
    then), traceable to their run and iteration only."""
    return [
        KeptExample(run_id=run_id, iteration=iteration, trace=None, example=json.loads(line))
        for line in train_jsonl.split("\n")
        if line.strip()
    ]


def accumulate(
    own: Sequence[KeptExample], earlier: Sequence[Sequence[KeptExample]], max_examples: int
) -> tuple[list[KeptExample], AccumulatedStats]:
    """The training file's examples: ``own`` first, then each of ``earlier`` (newest iteration first),
    identical ones once, at most ``max_examples``; and what went in."""
    seen: set[str] = set()
    taken: list[KeptExample] = []
    duplicates = 0
    for group in [own, *earlier]:
        for item in group:
            identity = item.identity()
            if identity in seen:
                duplicates += 1
                continue
            seen.add(identity)
            taken.append(item)
    known = {item.identity() for group in earlier for item in group}
    new = len({item.identity() for item in own} - known)
    chosen = taken[:max_examples]
    earlier_count = sum(1 for item in chosen if (item.run_id, item.iteration) != _key(own))
    return chosen, AccumulatedStats(
        max_examples=max_examples,
        own=len(own),
        new=new,
        earlier=earlier_count,
        duplicates=duplicates,
        over_limit=len(taken) - len(chosen),
        runs=_shares(chosen),
    )


def _key(own: Sequence[KeptExample]) -> tuple[str, int] | None:
    return (own[0].run_id, own[0].iteration) if own else None


def _shares(chosen: Sequence[KeptExample]) -> list[RunShare]:
    counts = Counter(item.run_id for item in chosen)
    iterations: dict[str, set[int]] = {}
    for item in chosen:
        iterations.setdefault(item.run_id, set()).add(item.iteration)
    return [
        RunShare(run_id=run_id, iterations=sorted(iterations[run_id]), examples=counts[run_id])
        for run_id in dict.fromkeys(item.run_id for item in chosen)
    ]
