"""The dataset step of an iteration: the traces it trains on (its own training rollouts, an agent's
production traces of a time window, or both, as the run's ``source`` says) made into one fine-tuning
file by the one builder (shared/domain/dataset.py), written to Blob with its stats beside it.

Beside the training file, ``kept.jsonl`` holds the iteration's own kept examples with the trace each came
from, and ``sources.jsonl`` says where each line of the training file came from. A job that starts from
the base model (``request.accumulate``) trains on the lineage's kept examples so far too, read from the
earlier iterations' ``kept.jsonl`` (shared/domain/accumulate.py).

Only blob paths and counts go back to the orchestrator. The same traces, window and seed give the same
bytes, so a retried or replayed activity writes the same dataset.
"""

from __future__ import annotations

from shared.agents import get_agent
from shared.agents.traces import parse_jsonl
from shared.contracts.payloads import Accumulation, BuildDataset, DatasetResult, HeldOut
from shared.domain.accumulate import (
    AccumulatedStats,
    KeptExample,
    accumulate,
    kept_jsonl,
    legacy_kept,
    read_kept,
    training_jsonl,
)
from shared.domain.dataset import DatasetStats, HeldOutTasks, TraceSet, build_examples, shortfall
from shared.domain.finetune_format import jsonl_problems
from shared.domain.layout import (
    dataset_path,
    dataset_sources_path,
    dataset_stats_path,
    kept_examples_path,
    lineage_path,
    traces_prefix,
)
from shared.domain.lineage import Lineage
from shared.storage.artifacts import ArtifactStore
from shared.storage.production import ProductionStats, production_traces, read_blobs

MAX_RESULT_PROBLEMS = 5


class TrainingSetStats(DatasetStats):
    """``stats.json``: the builder's stats, where the production traces came from (if any) and, for a
    file that accumulates the lineage's examples, what went in (``examples_kept`` counts the file)."""

    production: ProductionStats | None = None
    accumulated: AccumulatedStats | None = None


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


def earlier_examples(
    store: ArtifactStore,
    accumulation: Accumulation,
    run_id: str,
    iteration: int,
    held_out: HeldOutTasks | None = None,
) -> tuple[list[list[KeptExample]], list[str], int]:
    """The kept examples of the lineage's earlier iterations (every version's dataset), newest first, read
    until ``max_examples`` distinct ones are in hand; the datasets that could not be read; and how many
    examples were left out as asking a ``held_out`` task (the contamination check holds for the whole
    training file, not only the iteration's own traces)."""
    lineage = store.read_model(lineage_path(accumulation.lineage), Lineage)
    versions = sorted(lineage.versions if lineage else [], key=lambda item: -item.version)
    groups: list[list[KeptExample]] = []
    missing: list[str] = []
    distinct: set[str] = set()
    contaminated = 0
    for version in versions:
        blob = version.dataset_blob
        if blob is None or (version.run_id, version.iteration) == (run_id, iteration):
            continue
        kept = store.read_text(kept_examples_path(blob))
        legacy = store.read_text(blob) if kept is None else None
        if kept is None and legacy is None:
            missing.append(blob)
            continue
        group = (
            read_kept(kept)
            if kept is not None
            else legacy_kept(version.run_id, version.iteration, legacy or "")
        )
        clean = [item for item in group if held_out is None or not held_out.holds_example(item.example)]
        contaminated += len(group) - len(clean)
        groups.append(clean)
        distinct.update(item.identity() for item in clean)
        if len(distinct) >= accumulation.max_examples:
            break
    return groups, missing, contaminated


def build_iteration_dataset(store: ArtifactStore, request: BuildDataset) -> DatasetResult:
    """Reads the sources ``request.source`` names, builds the dataset (min_reward, then the ratio, over
    all of them together), adds the lineage's earlier examples when asked, and writes the training file,
    its provenance and its stats beside the iteration's dataset blob."""
    sets: list[TraceSet] = []
    production: ProductionStats | None = None
    if request.source != "production":
        sets.append(rollout_traces(store, request.run_id, request.iteration))
    if request.production is not None:
        production_set, production = production_traces(store, request.production)
        sets.append(production_set)
    held_out = held_out_tasks(request.held_out)
    kept, jsonl, stats = build_examples(
        sets,
        ratio=request.data_filter_ratio,
        seed=request.seed,
        min_reward=request.min_reward,
        held_out=held_out,
    )
    data_blob = dataset_path(request.run_id, request.iteration)
    own = [KeptExample.of(request.run_id, request.iteration, example) for example in kept]
    store.write_text(kept_examples_path(data_blob), kept_jsonl(own))
    chosen, accumulated = own, None
    if request.accumulate is not None:
        earlier, missing, contaminated = earlier_examples(
            store, request.accumulate, request.run_id, request.iteration, held_out
        )
        chosen, accumulated = accumulate(own, earlier, request.accumulate.max_examples)
        accumulated.missing = missing
        accumulated.held_out = contaminated
        jsonl = training_jsonl(chosen)
        stats = accumulated_stats(stats, chosen, jsonl)
    stats_blob = dataset_stats_path(request.run_id, request.iteration)
    store.write_text(data_blob, jsonl)
    store.write_text(dataset_sources_path(data_blob), kept_jsonl(chosen, with_example=False))
    store.write_json(
        stats_blob, TrainingSetStats(**stats.model_dump(), production=production, accumulated=accumulated)
    )
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
        accumulated=accumulated is not None,
        examples_earlier=accumulated.earlier if accumulated else 0,
        examples_new=accumulated.new if accumulated else None,
        shortfall=shortfall(stats),
    )


def accumulated_stats(stats: DatasetStats, chosen: list[KeptExample], jsonl: str) -> DatasetStats:
    """The builder's stats with the training file's count, mean reward and problems in place of the
    iteration's own (what the job trains on is the accumulated file)."""
    rewards = [item.reward for item in chosen if item.reward is not None]
    problems = jsonl_problems(jsonl)
    return stats.model_copy(
        update={
            "examples_kept": len(chosen),
            "mean_reward_kept": sum(rewards) / len(rewards) if rewards else None,
            "enough_for_azure": not problems,
            "problems": problems,
        }
    )
