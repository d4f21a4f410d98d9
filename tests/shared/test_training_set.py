"""The dataset step against Blob (shared/storage/training_set.py, on Azurite): a job from the base model
trains on the lineage's earlier kept examples too, and the contamination check holds for them as for the
iteration's own traces."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.storage.blob import BlobServiceClient

from shared.agents import get_agent
from shared.agents.tasks import SplitRule
from shared.contracts.payloads import Accumulation, BuildDataset, HeldOut
from shared.domain.accumulate import KeptExample, kept_jsonl
from shared.domain.layout import dataset_path, kept_examples_path, lineage_path
from shared.domain.lineage import ModelVersion, new_lineage
from shared.storage.artifacts import ArtifactStore
from shared.storage.training_set import TrainingSetStats, build_iteration_dataset

AGENT, LINEAGE = "capital_lookup", "contaminated"


@pytest.fixture
def store(azurite: Any) -> Iterator[ArtifactStore]:
    service = BlobServiceClient.from_connection_string(azurite.connection_string)
    container = service.get_container_client(f"training-set-{uuid.uuid4().hex[:12]}")
    yield ArtifactStore(container)
    container.delete_container()


def example(run_id: str, index: int, question: str) -> KeptExample:
    messages = [{"role": "user", "content": question}, {"role": "assistant", "content": f"answer {index}"}]
    return KeptExample(
        run_id=run_id,
        iteration=1,
        trace=f"traces/{run_id}/01/train/{index}.jsonl",
        call=0,
        reward=1.0,
        source="rollouts",
        example={"messages": messages},
    )


def questions(jsonl: str) -> set[str]:
    return {json.loads(line)["messages"][0]["content"] for line in jsonl.splitlines()}


def test_earlier_examples_of_a_validation_or_test_task_never_reach_the_training_file(
    store: ArtifactStore,
) -> None:
    """An earlier iteration kept examples under no split (or another one): one asks a validation task, one
    a test task (reworded only in case and punctuation), one a training task. The accumulated file of the
    next iteration holds the training task's alone, and its stats count the two left out."""
    splits = get_agent(AGENT).load_splits(None, SplitRule())
    train, val, test = splits.train[0], splits.val[0], splits.test[0]
    earlier_blob = dataset_path("run-a", 1)
    kept = [
        example("run-a", 0, val.prompt),
        example("run-a", 1, test.prompt.upper() + "!!"),
        example("run-a", 2, train.prompt),
    ]
    store.write_text(kept_examples_path(earlier_blob), kept_jsonl(kept))
    version = ModelVersion(
        version=1, run_id="run-a", iteration=1, parent_model="m", created_at="t", dataset_blob=earlier_blob
    )
    lineage = new_lineage(LINEAGE, "prefix", "t").model_copy(update={"versions": [version]})
    store.write_json(lineage_path(LINEAGE), lineage)
    request = BuildDataset(
        run_id="run-b",
        iteration=1,
        data_filter_ratio=1.0,
        min_reward=0.0,
        seed=1,
        accumulate=Accumulation(lineage=LINEAGE, max_examples=100),
    )

    checked = build_iteration_dataset(
        store, request.model_copy(update={"held_out": HeldOut(agent=AGENT, dataset=None, rule=SplitRule())})
    )

    assert questions(store.read_text(checked.dataset_blob) or "") == {train.prompt}
    stats = store.read_model(checked.stats_blob, TrainingSetStats)
    assert stats is not None and stats.accumulated is not None
    assert (stats.accumulated.held_out, stats.accumulated.earlier, checked.examples_earlier) == (2, 1, 1)

    unchecked = build_iteration_dataset(store, request)
    assert len(questions(store.read_text(unchecked.dataset_blob) or "")) == 3, "without the check all three"
