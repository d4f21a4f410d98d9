"""One fine-tuning iteration, stage by stage, as the README's diagram draws it:

    roll out the batch -> build the dataset -> fine-tune -> deploy -> evaluate beside the champion
    -> promote -> record

Each stage returns a frozen result that ``run_iteration`` folds into the iteration's record
(orchestrators/record.py). A stage that fails for good raises ``StageFailed``: the iteration is recorded
with its error and the run goes on with the next iteration from the last good model. Only
infrastructure failures that outlast Durable retries propagate; the iteration is then recorded as
failed and the run fails.
"""

from __future__ import annotations

from orchestrators.deployment import deploy, drop_candidate
from orchestrators.errors import RunCancelled, StageFailed, error_from
from orchestrators.evaluation import evaluate_pair, judge
from orchestrators.lifecycle import accumulation
from orchestrators.lineage import Start, promote, serve
from orchestrators.orchestration import Orchestration, Stage, Step
from orchestrators.preflight import preflight_job
from orchestrators.record import Deployed, IterationRecord, Rolled, Trained
from orchestrators.rollouts import TRAIN_GROUP, PairedEvaluation, TaskRange, roll_out
from orchestrators.training import fine_tune
from shared.agents.tasks import SplitRule
from shared.contracts.payloads import (
    NAME_TAKEN,
    BuildDataset,
    DatasetResult,
    HeldOut,
    ProductionWindow,
    ReserveVersion,
    VersionReserved,
)
from shared.contracts.specs import BUILD_DATASET, RESERVE_LINEAGE_VERSION
from shared.domain.errors import ErrorInfo
from shared.domain.finetune_format import MIN_EXAMPLES
from shared.domain.lineage import BASE_VERSION
from shared.domain.report import IterationReport, IterationStatus, shown_reward
from shared.domain.settings import RunSettings


def batch_range(train_size: int, iteration: int, size: int) -> TaskRange:
    """The batch iterator: iteration i takes the next ``size`` training tasks, cycling the split."""
    return TaskRange(start=(iteration - 1) * size % train_size, count=size, modulo=train_size)


def run_iteration(orch: Orchestration) -> Step[IterationReport]:
    """Runs the iteration ``orch.state.iteration``; raises only what outlasts Durable retries (after
    recording the iteration as failed); records the iteration and moves the run's state on."""
    state = orch.state
    yield from choose_starting_model(orch)
    record = IterationRecord.begin(orch)
    status: IterationStatus = "succeeded"
    error: ErrorInfo | None = None
    try:
        record.fold((yield from roll_out_batch(orch, record.iteration)))
        dataset = yield from build_training_set(orch, record)
        yield from preflight_job(orch, record, dataset.dataset_blob)
        reserved = yield from reserve_version(orch, record, avoid=[])
        trained = yield from train_candidate(orch, record, dataset)
        deployed = yield from deploy_candidate(orch, record, trained, reserved)
        paired = yield from evaluate_candidate(orch, record, deployed)
        yield from promote_candidate(orch, record, trained, deployed, paired)
    except StageFailed as failed:
        status, error = failed.status, failed.error
        state.failed_iterations += 1
    except RunCancelled:
        yield from record.finish("cancelled")
        raise
    except Exception as exc:
        state.failed_iterations += 1
        yield from record.finish("failed", error_from(exc))
        raise
    return (yield from record.finish(status, error))


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


def roll_out_batch(orch: Orchestration, iteration: int) -> Step[Rolled | None]:
    """Runs the agent on this iteration's training batch, unless the run trains on production traces
    alone (their dataset reads no rollouts: None); raises RunCancelled or what outlasts retries."""
    state = orch.state
    if state.settings.source == "production":
        orch.show(Stage.ROLLOUTS, "none: this run trains on production traces", tasks=0)
        return None
    tasks = batch_range(state.train_size, iteration, state.settings.finetune_every_n_rollouts)
    orch.show(Stage.ROLLOUTS, f"{tasks.count} rollouts on {state.current_deployment}", tasks=tasks.count)
    stats = yield from roll_out(orch, TRAIN_GROUP, "train", tasks, state.current_deployment)
    orch.show(
        Stage.ROLLOUTS,
        f"mean reward {shown_reward(stats.reward)}",
        train_reward=stats.reward,
        rollouts_failed=stats.failed,
        rollouts_throttled=stats.throttled,
    )
    return Rolled(stats)


def build_training_set(orch: Orchestration, record: IterationRecord) -> Step[DatasetResult]:
    """Keeps the examples that earned at least ``min_reward``, then the top share by reward; raises
    StageFailed when the dataset is not worth a job (after recording it); records the dataset."""
    settings = orch.state.settings
    rule = f"keeping the top {settings.data_filter_ratio:.0%} of rewards >= {settings.min_reward}"
    orch.show(Stage.DATASET, f"{settings.source}: {rule}")
    dataset = yield from orch.call(BUILD_DATASET, dataset_request(orch, record.iteration))
    kept = f"{dataset.examples_kept}/{dataset.examples_total} examples kept"
    if dataset.accumulated:  # the file counts the lineage's earlier examples too, not only this total's
        own = dataset.examples_kept - dataset.examples_earlier
        kept = (
            f"{own}/{dataset.examples_total} examples kept, with {dataset.examples_earlier} of the "
            f"lineage's earlier iterations: {dataset.examples_kept} to train on"
        )
    orch.show(Stage.DATASET, kept)
    record.fold(dataset)
    refuse_unless_learnable(settings, dataset)
    return dataset


def refuse_unless_learnable(settings: RunSettings, dataset: DatasetResult) -> None:
    """Raises StageFailed (skipped: NothingToLearn, before anything is paid for; failed: a file Azure
    would refuse) unless the dataset is worth a job."""
    learned = dataset.mean_reward_kept is not None and dataset.mean_reward_kept >= settings.min_reward
    # Too few first (the shortfall says why), then nothing new: a file of earlier examples alone
    # teaches nothing a model of the lineage has not learned.
    if dataset.examples_kept < MIN_EXAMPLES or not learned:
        message = (
            f"{dataset.examples_kept} examples earned >= {settings.min_reward} and made the top "
            f"{settings.data_filter_ratio:.0%}; Azure needs at least {MIN_EXAMPLES}"
        )
        if dataset.shortfall:  # the dataset step's account of where the examples went
            message = f"{dataset.shortfall}. {message}"
        raise StageFailed("skipped", ErrorInfo(code="NothingToLearn", message=message))
    if dataset.accumulated and dataset.examples_new == 0:
        message = (
            f"no new example: this iteration's kept examples are all in the lineage's earlier ones "
            f"({dataset.examples_earlier}), which a model has learned already"
        )
        raise StageFailed("skipped", ErrorInfo(code="NothingToLearn", message=message))
    if not dataset.enough_for_azure:
        raise StageFailed("failed", ErrorInfo(code="InvalidDataset", message="; ".join(dataset.problems)))


def dataset_request(orch: Orchestration, iteration: int) -> BuildDataset:
    """What the dataset step reads: the iteration's rollouts and/or the production traces of the
    window ending now (the orchestration's clock, so a replay asks for the same window), and what it
    must leave out: the lineage's validation and test tasks."""
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
        iteration=iteration,
        data_filter_ratio=settings.data_filter_ratio,
        min_reward=settings.min_reward,
        seed=settings.seed,
        source=settings.source,
        production=window,
        held_out=HeldOut(
            agent=settings.agent, dataset=settings.dataset, rule=orch.state.split or SplitRule()
        ),
        accumulate=accumulation(orch.state),
    )


def reserve_version(orch: Orchestration, record: IterationRecord, avoid: list[str]) -> Step[VersionReserved]:
    """Takes the lineage's next version for the iteration's model (its deployment name skips names
    others took, and ``avoid``); raises what outlasts retries; records the version."""
    request = ReserveVersion(lineage=orch.state.lineage, entry=record.version, avoid=avoid)
    reserved = yield from orch.call(RESERVE_LINEAGE_VERSION, request)
    record.fold(reserved)
    return reserved


def train_candidate(orch: Orchestration, record: IterationRecord, dataset: DatasetResult) -> Step[Trained]:
    """Fine-tunes on the dataset; raises StageFailed; records the model, in the lineage too, and moves
    the run's current model on (continuous fine-tuning starts the next job from it)."""
    trained = yield from fine_tune(orch, record, dataset.dataset_blob)
    record.fold(trained)
    orch.state.current_model = trained.model
    yield from record.save_version()
    return trained


def deploy_candidate(
    orch: Orchestration, record: IterationRecord, trained: Trained, reserved: VersionReserved
) -> Step[Deployed]:
    """Deploys the model under its version's name, taking the next free version if someone else took
    that name meanwhile; raises StageFailed; records the deployment (in the report before it is waited
    on), in the lineage too once it serves."""
    orch.show(Stage.DEPLOY, f"deploying {trained.model}")
    try:
        deployed = yield from deploy(orch, record, trained.model, reserved.deployment)
    except StageFailed as failed:
        if failed.error.code != NAME_TAKEN:
            raise
        reserved = yield from reserve_version(orch, record, avoid=[reserved.deployment])
        deployed = yield from deploy(orch, record, trained.model, reserved.deployment)
    yield from record.save_version()
    return deployed


def evaluate_candidate(
    orch: Orchestration, record: IterationRecord, deployed: Deployed
) -> Step[PairedEvaluation]:
    """Evaluates the new deployment and the champion side by side on the validation tasks and samples
    and compares them; raises RunCancelled, StageFailed (the champion's deployment failed), or what
    outlasts retries; records both evaluations and the comparison, in the lineage too, and moves the
    run onto the deployment (the next iteration's rollouts run there)."""
    state = orch.state
    paired = yield from evaluate_pair(orch, deployed.name)
    record.fold(paired)
    state.current_deployment, state.last_val_reward = deployed.name, paired.candidate.reward
    state.champion_reward = paired.champion.reward
    yield from record.save_version()
    return paired


def promote_candidate(
    orch: Orchestration,
    record: IterationRecord,
    trained: Trained,
    deployed: Deployed,
    paired: PairedEvaluation,
) -> Step[None]:
    """Crowns the iteration's model if it earns it; raises StageFailed if its champion deployment
    fails; records the outcome (before crowning: a failed crowning leaves it on the record)."""
    promotion = yield from judge(orch, deployed.name, paired)
    record.fold(promotion)
    if promotion.promoted:
        yield from promote(
            orch,
            trained.model,
            deployed.name,
            record.version.version,
            paired.candidate.reward,
            promotion.approval,
        )
    else:
        yield from drop_candidate(orch, deployed.name)
