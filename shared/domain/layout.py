"""Where each of a run's artefacts lives in Blob storage.

Every path is built here so that traces, datasets, intents and reports of one run sit under one
predictable layout that other tools (and people browsing Azurite) can rely on. Pure: the orchestrators
name blobs with these, and only ``shared/storage`` reads or writes them.
"""

from __future__ import annotations


def trace_path(run_id: str, iteration: int, split: str, rollout_id: str) -> str:
    return f"traces/{run_id}/{iteration:02d}/{split}/{rollout_id}.jsonl"


def traces_prefix(run_id: str, iteration: int, split: str) -> str:
    return f"traces/{run_id}/{iteration:02d}/{split}/"


def dataset_path(run_id: str, iteration: int) -> str:
    return f"datasets/{run_id}/{iteration:02d}/train.jsonl"


def dataset_stats_path(run_id: str, iteration: int) -> str:
    return f"datasets/{run_id}/{iteration:02d}/stats.json"


def kept_examples_path(dataset_blob: str) -> str:
    """Beside a training file: the iteration's own kept examples, each with the trace it came from."""
    return dataset_blob.rsplit("/", 1)[0] + "/kept.jsonl"


def dataset_sources_path(dataset_blob: str) -> str:
    """Beside a training file: where each of its lines came from (run, iteration, trace), line by line."""
    return dataset_blob.rsplit("/", 1)[0] + "/sources.jsonl"


def training_results_path(run_id: str, iteration: int, index: int = 0) -> str:
    """The job's results file (per-step loss and token accuracy), copied from Azure before deletion;
    Azure writes one per job (``index`` numbers any further ones)."""
    suffix = f"-{index}" if index else ""
    return f"datasets/{run_id}/{iteration:02d}/results{suffix}.csv"


def training_events_path(run_id: str, iteration: int) -> str:
    return f"datasets/{run_id}/{iteration:02d}/events.jsonl"


RUN_INDEX_PREFIX = "index/runs/"


def run_index_path(month: str) -> str:
    """One shard of the runs index: the summaries of the runs started in ``month`` (``YYYY-MM``)."""
    return f"{RUN_INDEX_PREFIX}{month}.json"


def report_path(run_id: str) -> str:
    return f"runs/{run_id}/report.json"


def lineage_path(lineage: str) -> str:
    return f"lineages/{lineage}/lineage.json"


def intent_path(run_id: str, name: str) -> str:
    return f"runs/{run_id}/intents/{name}.json"


def cancel_request_path(run_id: str) -> str:
    return f"runs/{run_id}/cancel.json"
