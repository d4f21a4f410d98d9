"""The dataset activity: an iteration's traces in (its rollouts, production traces, or both), one
validated fine-tuning file out (shared/storage/training_set.py).

Only paths and counts go back to the orchestrator. Rebuilding from the same traces with the same seed
and window writes the same bytes, so a retry or replay is harmless.
"""

from __future__ import annotations

import azure.durable_functions as df

from activities.implements import implements
from shared.azure.clients import artifact_store
from shared.contracts.payloads import BuildDataset, DatasetResult
from shared.contracts.specs import BUILD_DATASET
from shared.storage.training_set import build_iteration_dataset

bp = df.Blueprint()


@implements(bp, BUILD_DATASET)
def build_dataset(request: BuildDataset) -> DatasetResult:
    return build_iteration_dataset(artifact_store(), request)
