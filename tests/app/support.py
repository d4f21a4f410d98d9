"""What tests of the app read besides runs (tests/driver.py drives those): a lineage's record, and the
dataset a production run would build."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.azure.clients import artifact_store
from shared.contracts.payloads import BuildDataset, DatasetResult, ProductionWindow
from shared.domain.layout import lineage_path
from shared.domain.lineage import Lineage
from shared.storage.training_set import build_iteration_dataset


def lineage(name: str) -> Lineage:
    record = artifact_store().read_model(lineage_path(name), Lineage)
    assert record is not None
    return record


def production_dataset(
    agent: str, *, seed: int, days: int
) -> tuple[DatasetResult, list[dict[str, Any]], dict[str, Any]]:
    """Builds iteration 1's dataset of a run named after ``agent`` from its production traces of the
    last ``days`` (min_reward 0.01, every rewarded example kept), as a production run's dataset stage
    does; returns the result, the training file's examples and the stats blob's content."""
    request = BuildDataset(
        run_id=agent,
        iteration=1,
        data_filter_ratio=1.0,
        min_reward=0.01,
        seed=seed,
        source="production",
        production=ProductionWindow(agent=agent, end=datetime.now(UTC) + timedelta(seconds=1), days=days),
    )
    result = build_iteration_dataset(artifact_store(), request)
    text = artifact_store().read_text(result.dataset_blob) or ""
    examples = [json.loads(line) for line in text.splitlines()]
    return result, examples, json.loads(artifact_store().read_text(result.stats_blob) or "{}")
