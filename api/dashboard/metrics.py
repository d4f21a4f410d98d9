"""Training metrics of a fine-tuning job: loss and token accuracy per step.

Two sources, copied into Blob beside the iteration's dataset when the job ends:
- ``results.csv``, the job's result file. Azure's columns: ``step, train_loss, train_mean_token_accuracy,
  valid_loss, valid_mean_token_accuracy, full_valid_loss, full_valid_mean_token_accuracy`` (the same
  names as the checkpoint ``metrics`` object of the fine-tuning API).
- ``events.jsonl``, the job's events as the API lists them; those with ``type: "metrics"`` carry the same
  names in ``data``. Used when there is no results file.
Cells that are empty or not numbers are left out (Azure leaves validation columns empty on steps
without validation); rows without a step are counted as unreadable and shown as such.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

from shared.telemetry.spans import jsonl_lines

METRIC_NAMES = (
    "train_loss",
    "train_mean_token_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
)


@dataclass(frozen=True)
class StepMetrics:
    step: int
    values: dict[str, float]


@dataclass
class TrainingMetrics:
    """The steps read, where they came from, and how many rows could not be read."""

    source: str
    steps: list[StepMetrics] = field(default_factory=list)
    unreadable: int = 0

    def series(self, name: str) -> list[tuple[int, float]]:
        return [(item.step, item.values[name]) for item in self.steps if name in item.values]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _step(row: dict[str, Any]) -> StepMetrics | None:
    step = _number(row.get("step"))
    if step is None or step != int(step):
        return None
    values = {name: number for name in METRIC_NAMES if (number := _number(row.get(name))) is not None}
    return StepMetrics(int(step), values)


def parse_results_csv(text: str, source: str) -> TrainingMetrics:
    metrics = TrainingMetrics(source)
    for row in csv.DictReader(io.StringIO(text)):
        step = _step({key.strip(): value for key, value in row.items() if isinstance(key, str)})
        if step is None:
            metrics.unreadable += 1
        else:
            metrics.steps.append(step)
    metrics.steps.sort(key=lambda item: item.step)
    return metrics


def parse_events(text: str, source: str) -> TrainingMetrics:
    metrics = TrainingMetrics(source)
    for line in jsonl_lines(text):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            metrics.unreadable += 1
            continue
        if not isinstance(event, dict) or event.get("type") != "metrics":
            continue
        data = event.get("data")
        step = _step(data) if isinstance(data, dict) else None
        if step is None:
            metrics.unreadable += 1
        else:
            metrics.steps.append(step)
    by_step = {item.step: item for item in metrics.steps}  # events can repeat a step; keep the last
    metrics.steps = sorted(by_step.values(), key=lambda item: item.step)
    return metrics
