"""The dataset activity: an iteration's traces in (its rollouts, production traces, or both), one
validated fine-tuning file out (shared/storage/training_set.py).

Only paths and counts go back to the orchestrator. Rebuilding from the same traces with the same seed
and window writes the same bytes, so a retry or replay is harmless.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from shared.azure.clients import artifact_store
from shared.contracts.payloads import BuildDataset
from shared.storage.training_set import build_iteration_dataset

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
def build_dataset(payload: dict[str, Any]) -> dict[str, Any]:
    return build_iteration_dataset(artifact_store(), BuildDataset.model_validate(payload)).model_dump()
