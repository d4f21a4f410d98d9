"""Tasks an agent is run on: loaded from CSV, split into train, validation and test, and batched per
iteration.

A task's split is a function of its id and the lineage's ``SplitRule`` alone (a seeded hash of the id
into shares), so adding or removing tasks never moves another task between splits, and a lineage
keeps the split it recorded on its first run (docs/lineages.md): validation chooses the champion,
test only reports it, and neither ever reaches a training file (shared/domain/dataset.py).
"""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SPLIT_SEED = 1234
VALIDATION_SHARE = 0.2
"""The reference example's held-out 20 %, which chose its best checkpoint: validation keeps that role."""
TEST_SHARE = 0.1
"""Taken from training's 80 %: a held-out score no choice was made on (70/20/10)."""
SplitName = Literal["train", "val", "test"]
HASH_SCALE = float(16**13)


class TaskFileError(ValueError):
    """A task CSV that cannot be used; the message names the file and line."""


class Task(BaseModel):
    model_config = ConfigDict(frozen=True)

    task_id: str
    prompt: str
    answer: str


class TaskSplits(BaseModel):
    train: list[Task]
    val: list[Task]
    test: list[Task] = Field(default_factory=list)

    def of(self, name: SplitName) -> list[Task]:
        return {"train": self.train, "val": self.val, "test": self.test}[name]

    def held_out(self) -> list[Task]:
        """The tasks no training file may contain: validation and test."""
        return [*self.val, *self.test]


class SplitRule(BaseModel):
    """Which split a task belongs to: ``h``, a seeded hash of its id read as a number in [0, 1), puts it
    in validation below ``validation_share``, in test below ``validation_share + test_share``, else in
    training. Each task's split depends on its id alone, so the sizes are close to the shares
    (binomially) rather than exact, and a changed task set moves no task that stayed."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    seed: int = Field(SPLIT_SEED, ge=0, le=2**31 - 1)
    validation_share: float = Field(VALIDATION_SHARE, gt=0, le=0.5, allow_inf_nan=False)
    test_share: float = Field(TEST_SHARE, ge=0, le=0.5, allow_inf_nan=False)

    def position(self, task_id: str) -> float:
        digest = hashlib.sha256(f"{self.seed}:{task_id}".encode()).hexdigest()
        return int(digest[:13], 16) / HASH_SCALE

    def split_of(self, task_id: str) -> SplitName:
        h = self.position(task_id)
        if h < self.validation_share:
            return "val"
        return "test" if h < self.validation_share + self.test_share else "train"


DEFAULT_SPLIT = SplitRule()


def load_csv(path: Path) -> list[Task]:
    """Reads ``prompt,answer`` rows; a task's id is a hash of its prompt, stable across edits elsewhere."""
    if not path.is_file():
        raise TaskFileError(f"{path}: no such task file")
    tasks: list[Task] = []
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"prompt", "answer"} <= set(reader.fieldnames):
            raise TaskFileError(f"{path}:1: the header must name the columns prompt and answer")
        for line, row in enumerate(reader, start=2):
            prompt, answer = (row.get("prompt") or "").strip(), (row.get("answer") or "").strip()
            if not prompt or not answer:
                raise TaskFileError(f"{path}:{line}: prompt and answer must both be non-empty")
            digest = hashlib.sha256(prompt.encode()).hexdigest()[:12]
            tasks.append(Task(task_id=f"t-{digest}", prompt=prompt, answer=answer))
    if len({task.task_id for task in tasks}) != len(tasks):
        raise TaskFileError(f"{path}: duplicate prompts")
    if len(tasks) < 2:
        raise TaskFileError(f"{path}: at least two tasks are needed to split train and validation")
    return tasks


def split(tasks: list[Task], rule: SplitRule = DEFAULT_SPLIT) -> TaskSplits:
    """The tasks of each split, in the order of their hash (a seeded shuffle independent of file order).
    A set so small that training or validation comes out empty gets one task there: validation the
    task the hash puts first, training the one it puts last."""
    ordered = sorted(tasks, key=lambda task: (rule.position(task.task_id), task.task_id))
    splits: dict[SplitName, list[Task]] = {"train": [], "val": [], "test": []}
    for task in ordered:
        splits[rule.split_of(task.task_id)].append(task)
    if not splits["val"]:
        first = ordered[0]
        splits[rule.split_of(first.task_id)].remove(first)
        splits["val"].insert(0, first)
    if not splits["train"]:
        last = next(task for task in reversed(ordered) if task not in splits["val"][:1])
        splits[rule.split_of(last.task_id)].remove(last)
        splits["train"].append(last)
    return TaskSplits(train=splits["train"], val=splits["val"], test=splits["test"])


def task_set_digest(tasks: list[Task]) -> str:
    """A fingerprint of a task set (its ids, in any order): a lineage records it with its split, so a
    later run can tell that the task file changed."""
    ids = "\n".join(sorted(task.task_id for task in tasks))
    return hashlib.sha256(ids.encode()).hexdigest()[:16]


_NOT_WORD = re.compile(r"[\W_]+")


def normalized_prompt(text: str) -> str:
    """A prompt as the contamination check compares it: Unicode-normalized (NFKC), case-folded, every
    run of punctuation and spacing one space, so "What's the price of 4 pots?" and "what s the price
    of 4 POTS" are the same question."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _NOT_WORD.sub(" ", folded).strip()
