"""The dataset step of an iteration: the traces it trains on (its own training rollouts, an agent's
production traces of a time window, or both, as the run's ``source`` says) made into one fine-tuning
file by the one builder (shared/domain/dataset.py), written to Blob with its stats beside it.

Only blob paths and counts go back to the orchestrator. The same traces, window and seed give the same
bytes, so a retried or replayed activity writes the same dataset.
"""

from __future__ import annotations

from shared.agents import get_agent
from shared.agents.traces import parse_jsonl
from shared.contracts.payloads import BuildDataset, DatasetResult, HeldOut
from shared.domain.dataset import DatasetStats, HeldOutTasks, TraceSet, build_dataset, shortfall
from shared.domain.layout import dataset_path, dataset_stats_path, traces_prefix
from shared.storage.artifacts import ArtifactStore
from shared.storage.production import ProductionStats, production_traces, read_blobs

MAX_RESULT_PROBLEMS = 5


class TrainingSetStats(DatasetStats):
    """``stats.json``: the builder's stats, and where the production traces came from (if any)."""

    production: ProductionStats | None = None


def rollout_traces(store: ArtifactStore, run_id: str, iteration: int) -> TraceSet:
    """The iteration's training rollouts, by blob path; each carries its reward on its root span."""
    paths = store.list_paths(traces_prefix(run_id, iteration, "train"))
    return TraceSet("rollouts", {path: parse_jsonl(text) for path, text in read_blobs(store, paths).items()})


def held_out_tasks(held_out: HeldOut | None) -> HeldOutTasks | None:
    """The validation and test tasks of the lineage's split, loaded from the agent's task set."""
    if held_out is None:
        return None
    splits = get_agent(held_out.agent).load_splits(held_out.dataset, held_out.rule)
    return HeldOutTasks.of(splits.held_out())


def build_iteration_dataset(store: ArtifactStore, request: BuildDataset) -> DatasetResult:
    """Reads the sources ``request.source`` names, builds the dataset (min_reward, then the ratio, over
    all of them together) and writes it and its stats to the iteration's dataset blobs."""
    sets: list[TraceSet] = []
    production: ProductionStats | None = None
    if request.source != "production":
        sets.append(rollout_traces(store, request.run_id, request.iteration))
    if request.production is not None:
        production_set, production = production_traces(store, request.production)
        sets.append(production_set)
    jsonl, stats = build_dataset(
        sets,
        ratio=request.data_filter_ratio,
        seed=request.seed,
        min_reward=request.min_reward,
        held_out=held_out_tasks(request.held_out),
    )
    data_blob = dataset_path(request.run_id, request.iteration)
    stats_blob = dataset_stats_path(request.run_id, request.iteration)
    store.write_text(data_blob, jsonl)
    store.write_json(stats_blob, TrainingSetStats(**stats.model_dump(), production=production))
    return DatasetResult(
        dataset_blob=data_blob,
        stats_blob=stats_blob,
        rollouts=stats.rollouts,
        examples_total=stats.examples_total,
        examples_kept=stats.examples_kept,
        mean_reward_kept=stats.mean_reward_kept,
        held_out=stats.held_out,
        enough_for_azure=stats.enough_for_azure,
        problems=stats.problems[:MAX_RESULT_PROBLEMS],
        shortfall=shortfall(stats),
    )
