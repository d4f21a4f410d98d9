"""The dataset activity: an iteration's traces in, one validated fine-tuning file out.

Reads traces from Blob and writes the dataset and its stats back to Blob; only paths and counts go
back to the orchestrator. Rebuilding from the same traces with the same seed writes the same bytes,
so a retry or replay is harmless.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from shared.artifacts import dataset_path, dataset_stats_path, traces_prefix
from shared.clients import artifact_store
from shared.contracts import BuildDataset, DatasetResult
from shared.dataset import build_dataset as build
from shared.traces import parse_jsonl

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
def build_dataset(payload: dict[str, Any]) -> dict[str, Any]:
    request = BuildDataset.model_validate(payload)
    store = artifact_store()
    traces = {
        path: parse_jsonl(store.read_text(path) or "")
        for path in store.list_paths(traces_prefix(request.run_id, request.iteration, "train"))
    }
    jsonl, stats = build(
        traces, ratio=request.data_filter_ratio, seed=request.seed, min_reward=request.min_reward
    )
    data_blob = dataset_path(request.run_id, request.iteration)
    stats_blob = dataset_stats_path(request.run_id, request.iteration)
    store.write_text(data_blob, jsonl)
    store.write_json(stats_blob, stats)
    return DatasetResult(
        dataset_blob=data_blob,
        stats_blob=stats_blob,
        rollouts=stats.rollouts,
        examples_total=stats.examples_total,
        examples_kept=stats.examples_kept,
        mean_reward_kept=stats.mean_reward_kept,
        enough_for_azure=stats.enough_for_azure,
        problems=stats.problems[:5],
    ).model_dump()
