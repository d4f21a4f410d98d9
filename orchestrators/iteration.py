"""One fine-tuning iteration, stage by stage, as the README's diagram draws it:

    roll out the batch -> build the dataset -> fine-tune -> deploy -> evaluate -> promote -> record

A stage that fails for good raises ``StageFailed``: the iteration is recorded with its error and the
run goes on with the next iteration from the last good model. Only infrastructure failures that outlast
Durable retries propagate; the iteration is then recorded as failed and the run fails.
"""

from __future__ import annotations

from activities.datasets import build_dataset
from activities.lineages import record_lineage_version, reserve_lineage_version
from orchestrators.deployment import NAME_TAKEN, deploy
from orchestrators.errors import RunCancelled, StageFailed, error_from
from orchestrators.lineage import Start, promote, serve
from orchestrators.orchestration import Orchestration, Stage, Step
from orchestrators.preflight import preflight_job
from orchestrators.rollouts import TRAIN_GROUP, VAL_GROUP, TaskRange, evaluate, roll_out
from orchestrators.training import fine_tune
from shared.contracts.payloads import (
    BuildDataset,
    DatasetResult,
    ProductionWindow,
    RecordVersion,
    ReserveVersion,
    VersionReserved,
)
from shared.domain.finetune_format import MIN_EXAMPLES
from shared.domain.layout import traces_prefix
from shared.domain.lineage import BASE_VERSION, ModelVersion
from shared.domain.report import IterationReport


def batch_range(train_size: int, iteration: int, size: int) -> TaskRange:
    """The batch iterator: iteration i takes the next ``size`` training tasks, cycling the split."""
    return TaskRange(start=(iteration - 1) * size % train_size, count=size, modulo=train_size)


def run_iteration(orch: Orchestration) -> Step[IterationReport]:
    """Runs the iteration ``orch.state.iteration``; raises only what outlasts Durable retries (after
    recording the iteration as failed); records the iteration and moves the run's state on."""
    state = orch.state
    yield from choose_starting_model(orch)
    entry = IterationReport(
        iteration=state.iteration,
        started_at=orch.now(),
        base_model=state.current_model,
        rollout_deployment=state.current_deployment,
        traces_prefix=traces_prefix(state.run_id, state.iteration, TRAIN_GROUP),
    )
    try:
        yield from roll_out_batch(orch, entry)
        dataset_blob = yield from build_training_set(orch, entry)
        yield from preflight_job(orch, entry, dataset_blob)
        version = yield from reserve_version(orch, entry, avoid=[])
        model = yield from fine_tune(orch, entry, dataset_blob)
        yield from record_version(orch, entry, version)
        deployment = yield from deploy_candidate(orch, entry, model, version)
        yield from evaluate_candidate(orch, entry, deployment, version)
        entry.status = "succeeded"
    except StageFailed as failed:
        entry.status, entry.error = failed.status, failed.error
        state.failed_iterations += 1
    except RunCancelled:
        entry.status = "cancelled"
        yield from record_iteration(orch, entry)
        raise
    except Exception as exc:
        entry.status, entry.error = "failed", error_from(exc)
        state.failed_iterations += 1
        yield from record_iteration(orch, entry)
        raise
    yield from record_iteration(orch, entry)
    return entry


def choose_starting_model(orch: Orchestration) -> Step[None]:
    """``continue_from``: the latest model (the reference example's chain) or the champion; raises
    nothing; brings the chosen deployment back if Azure removed it, else falls back to the champion."""
    state = orch.state
    champion = state.champion
    if champion is not None and state.settings.continue_from == "champion":
        state.current_model, state.current_deployment = champion.model, champion.deployment
    if champion is None or state.current_deployment == champion.deployment:
        return
    base = state.current_deployment == state.settings.base_deployment
    latest = Start(state.current_model, state.current_deployment, BASE_VERSION if base else None, "latest")
    fallback = Start(champion.model, champion.deployment, champion.version, "champion")
    served = yield from serve(orch, latest, fallback)
    state.current_model, state.current_deployment = served.model, served.deployment


def roll_out_batch(orch: Orchestration, entry: IterationReport) -> Step[None]:
    """Runs the agent on this iteration's training batch, unless the run trains on production traces
    alone (their dataset reads no rollouts); raises RunCancelled or what outlasts retries; fills the
    rollout counts and the stage's stats."""
    state = orch.state
    if state.settings.source == "production":
        orch.show(Stage.ROLLOUTS, "none: this run trains on production traces", tasks=0)
        return
    tasks = batch_range(state.train_size, entry.iteration, state.settings.finetune_every_n_rollouts)
    orch.show(Stage.ROLLOUTS, f"{tasks.count} rollouts on {state.current_deployment}", tasks=tasks.count)
    stats = yield from roll_out(orch, TRAIN_GROUP, "train", tasks, state.current_deployment)
    entry.tasks, entry.train_reward = stats.rollouts, stats.reward
    entry.rollouts_failed, entry.rollouts_throttled = stats.failed, stats.throttled
    entry.rollout_stages.append(stats)
    orch.show(
        Stage.ROLLOUTS,
        f"mean reward {entry.train_reward}",
        train_reward=entry.train_reward,
        rollouts_failed=entry.rollouts_failed,
        rollouts_throttled=entry.rollouts_throttled,
    )


def build_training_set(orch: Orchestration, entry: IterationReport) -> Step[str]:
    """Keeps the examples that earned at least ``min_reward``, then the top share by reward; raises
    StageFailed (skipped: NothingToLearn, before anything is paid for; failed: a file Azure would
    refuse); records the dataset and returns its blob path."""
    settings = orch.state.settings
    rule = f"keeping the top {settings.data_filter_ratio:.0%} of rewards >= {settings.min_reward}"
    orch.show(Stage.DATASET, f"{settings.source}: {rule}")
    dataset = yield from orch.call(build_dataset, dataset_request(orch, entry), DatasetResult)
    entry.examples_total, entry.examples_kept = dataset.examples_total, dataset.examples_kept
    entry.dataset_blob = dataset.dataset_blob
    orch.show(Stage.DATASET, f"{dataset.examples_kept}/{dataset.examples_total} examples kept")
    learned = dataset.mean_reward_kept is not None and dataset.mean_reward_kept >= settings.min_reward
    if dataset.examples_kept < MIN_EXAMPLES or not learned:
        message = (
            f"{dataset.examples_kept} examples earned >= {settings.min_reward} and made the top "
            f"{settings.data_filter_ratio:.0%}; Azure needs at least {MIN_EXAMPLES}"
        )
        if dataset.shortfall:  # the dataset step's account of where the examples went
            message = f"{dataset.shortfall}. {message}"
        raise StageFailed("skipped", {"code": "NothingToLearn", "message": message})
    if not dataset.enough_for_azure:
        raise StageFailed("failed", {"code": "InvalidDataset", "message": "; ".join(dataset.problems)})
    yield from orch.report(iteration=entry)
    return dataset.dataset_blob


def dataset_request(orch: Orchestration, entry: IterationReport) -> BuildDataset:
    """What the dataset step reads: the iteration's rollouts and/or the production traces of the
    window ending now (the orchestration's clock, so a replay asks for the same window)."""
    settings = orch.state.settings
    window = None
    if settings.source != "rollouts":
        window = ProductionWindow(
            agent=settings.telemetry_agent,
            end=orch.context.current_utc_datetime,
            days=settings.production_window_days,
            grader=settings.grader,
        )
    return BuildDataset(
        run_id=orch.state.run_id,
        iteration=entry.iteration,
        data_filter_ratio=settings.data_filter_ratio,
        min_reward=settings.min_reward,
        seed=settings.seed,
        source=settings.source,
        production=window,
    )


def reserve_version(orch: Orchestration, entry: IterationReport, avoid: list[str]) -> Step[VersionReserved]:
    """Takes the lineage's next version (its deployment name skips names others took, and ``avoid``);
    raises what outlasts retries; records the version in the entry."""
    state = orch.state
    planned = ModelVersion(
        version=0,
        run_id=state.run_id,
        iteration=entry.iteration,
        parent_model=state.current_model,
        created_at=orch.now(),
        dataset_blob=entry.dataset_blob,
        traces_prefix=entry.traces_prefix,
    )
    request = ReserveVersion(lineage=state.lineage, entry=planned, avoid=avoid)
    reserved = yield from orch.call(reserve_lineage_version, request, VersionReserved)
    entry.version = reserved.version
    return reserved


def record_version(orch: Orchestration, entry: IterationReport, version: VersionReserved) -> Step[None]:
    """Writes what the lineage knows of the iteration's model; raises what outlasts retries."""
    state = orch.state
    record = ModelVersion(
        version=version.version,
        run_id=state.run_id,
        iteration=entry.iteration,
        parent_model=entry.base_model or "",
        created_at=entry.started_at or orch.now(),
        model=entry.fine_tuned_model,
        job_id=entry.job_id,
        file_id=entry.file_id,
        dataset_blob=entry.dataset_blob,
        traces_prefix=entry.traces_prefix,
        deployment=entry.deployment,
        sku_name=state.settings.sku_name if entry.deployment else None,
        val_reward=entry.val_reward,
        val_rollouts=entry.val_rollouts,
        status="trained" if entry.fine_tuned_model else "failed",
    )
    yield from orch.perform(record_lineage_version, RecordVersion(lineage=state.lineage, entry=record))


def deploy_candidate(
    orch: Orchestration, entry: IterationReport, model: str, version: VersionReserved
) -> Step[str]:
    """Deploys the model under its version's name, taking the next free version if someone else took
    that name meanwhile; raises StageFailed; records the deployment in the entry and the lineage."""
    orch.show(Stage.DEPLOY, f"deploying {model}")
    try:
        name = yield from deploy(orch, entry, model, version.deployment)
    except StageFailed as failed:
        if failed.error.get("code") != NAME_TAKEN:
            raise
        version = yield from reserve_version(orch, entry, avoid=[version.deployment])
        name = yield from deploy(orch, entry, model, version.deployment)
    yield from record_version(orch, entry, version)
    return name


def evaluate_candidate(
    orch: Orchestration, entry: IterationReport, deployment: str, version: VersionReserved
) -> Step[None]:
    """Evaluates the new deployment and crowns it if it earns it; raises StageFailed if its champion
    deployment fails; moves the run onto it and records the evaluation in the lineage."""
    state = orch.state
    orch.show(Stage.EVALUATE, f"evaluating {deployment}")
    result = yield from evaluate(orch, deployment, VAL_GROUP)
    entry.val_reward, entry.val_rollouts, entry.val_failed = result.reward, result.rollouts, result.failed
    entry.val_throttled, entry.val_traces_prefix = result.throttled, result.stats.traces_prefix
    entry.rollout_stages.append(result.stats)
    state.current_deployment, state.last_val_reward = deployment, result.reward
    yield from record_version(orch, entry, version)
    yield from promote(orch, entry, result)


def record_iteration(orch: Orchestration, entry: IterationReport) -> Step[None]:
    """Finishes the iteration's entry in the report; raises what outlasts retries; changes the report."""
    entry.finished_at = orch.now()
    orch.show(
        Stage.RECORD, f"iteration {entry.status}", val_reward=entry.val_reward, last_status=entry.status
    )
    yield from orch.report(iteration=entry)
