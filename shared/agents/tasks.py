"""Tasks an agent is run on: loaded from CSV, split into train/val, and batched per iteration.

The split is seeded and independent of file order quirks (tasks are sorted by id before shuffling),
so a run's training and validation tasks are the same wherever and whenever it runs.
"""

from __future__ import annotations

import csv
import hashlib
import random
from pathlib import Path

from pydantic import BaseModel, ConfigDict

SPLIT_SEED = 1234
VAL_FRACTION = 0.2


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
        raise TaskFileError(f"{path}: at least two tasks are needed to split train/val")
    return tasks


def split(tasks: list[Task], seed: int = SPLIT_SEED, val_fraction: float = VAL_FRACTION) -> TaskSplits:
    ordered = sorted(tasks, key=lambda task: task.task_id)
    random.Random(seed).shuffle(ordered)
    val_count = max(1, round(len(ordered) * val_fraction))
    return TaskSplits(train=ordered[val_count:], val=ordered[:val_count])
