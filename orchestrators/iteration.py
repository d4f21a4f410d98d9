"""One fine-tuning iteration, stage by stage, as the README's diagram draws it:

    roll out the batch -> build the dataset -> fine-tune -> deploy -> evaluate -> record

A stage that fails for good raises ``IterationEnded``: the iteration is recorded with its error and the
run goes on with the next iteration from the last good model. Only infrastructure failures that outlast
Durable retries propagate; the iteration is then recorded as failed and the run fails.
"""

from __future__ import annotations

from activities.datasets import build_dataset
from orchestrators.deployment import deploy
from orchestrators.errors import IterationEnded, error_from
from orchestrators.orchestration import Orchestration, Stage, Step
from orchestrators.rollouts import Evaluation, evaluate, mean_reward, roll_out
from orchestrators.training import fine_tune
from shared.artifacts import traces_prefix
from shared.contracts import BuildDataset, DatasetResult
from shared.report import IterationReport


def batch_indices(train_size: int, iteration: int, size: int) -> list[int]:
    """The batch iterator: iteration i takes the next ``size`` training tasks, cycling the split."""
    start = (iteration - 1) * size
    return [(start + k) % train_size for k in range(size)]


def run_iteration(orch: Orchestration) -> Step[IterationReport]:
    """Runs the iteration ``orch.state.iteration``; raises only what outlasts Durable retries (after
    recording the iteration as failed); records the iteration and moves the run's state on."""
    state = orch.state
    entry = IterationReport(
        iteration=state.iteration,
        started_at=orch.now(),
        base_model=state.current_model,
        rollout_deployment=state.current_deployment,
        traces_prefix=traces_prefix(state.run_id, state.iteration, "train"),
    )
    try:
        yield from roll_out_batch(orch, entry)
        dataset_blob = yield from build_training_set(orch, entry)
        model = yield from fine_tune(orch, entry, dataset_blob)
        deployment = yield from deploy(orch, entry, model)
        yield from evaluate_candidate(orch, entry, deployment, model)
        entry.status = "succeeded"
    except IterationEnded as ended:
        entry.status, entry.error = ended.status, ended.error
        state.failed_iterations += 1
    except Exception as exc:
        entry.status, entry.error = "failed", error_from(exc)
        state.failed_iterations += 1
        yield from record_iteration(orch, entry)
        raise
    yield from record_iteration(orch, entry)
    return entry


def roll_out_batch(orch: Orchestration, entry: IterationReport) -> Step[None]:
    """Runs the agent on this iteration's training batch; raises nothing; fills the rollout counts."""
    state = orch.state
    indices = batch_indices(state.train_size, entry.iteration, state.settings.finetune_every_n_rollouts)
    orch.show(Stage.ROLLOUTS, f"{len(indices)} rollouts on {state.current_deployment}", tasks=len(indices))
    summaries = yield from roll_out(orch, "train", indices, state.current_deployment)
    entry.tasks = len(summaries)
    entry.rollouts_failed = sum(1 for summary in summaries if summary.status != "ok")
    entry.train_reward = mean_reward(summaries)
    orch.show(
        Stage.ROLLOUTS,
        f"mean reward {entry.train_reward}",
        train_reward=entry.train_reward,
        rollouts_failed=entry.rollouts_failed,
    )


def build_training_set(orch: Orchestration, entry: IterationReport) -> Step[str]:
    """Keeps the batch's best examples; raises IterationEnded(skipped) when Azure would refuse the file;
    records the dataset and returns its blob path."""
    settings = orch.state.settings
    orch.show(Stage.DATASET, f"keeping the top {settings.data_filter_ratio:.0%} by reward")
    request = BuildDataset(
        run_id=orch.state.run_id,
        iteration=entry.iteration,
        data_filter_ratio=settings.data_filter_ratio,
        seed=settings.seed,
    )
    dataset = yield from orch.call(build_dataset, request, DatasetResult)
    entry.examples_total, entry.examples_kept = dataset.examples_total, dataset.examples_kept
    entry.dataset_blob = dataset.dataset_blob
    orch.show(Stage.DATASET, f"{dataset.examples_kept}/{dataset.examples_total} examples kept")
    if not dataset.enough_for_azure:
        problems = "; ".join(dataset.problems) or "not enough examples"
        raise IterationEnded("skipped", {"code": "TooFewExamples", "message": problems})
    yield from orch.report(iteration=entry)
    return dataset.dataset_blob


def evaluate_candidate(
    orch: Orchestration, entry: IterationReport, deployment: str, model: str
) -> Step[None]:
    """Evaluates the new deployment; raises nothing; moves the run onto it and promotes it if it is the
    best so far."""
    state = orch.state
    orch.show(Stage.EVALUATE, f"evaluating {deployment}")
    result: Evaluation = yield from evaluate(orch, deployment)
    entry.val_reward, entry.val_rollouts, entry.val_failed = result.reward, result.rollouts, result.failed
    state.current_deployment, state.last_val_reward = deployment, result.reward
    if result.reward is not None and (state.best_reward is None or result.reward >= state.best_reward):
        state.best_deployment, state.best_model, state.best_reward = deployment, model, result.reward
        entry.promoted = True


def record_iteration(orch: Orchestration, entry: IterationReport) -> Step[None]:
    """Finishes the iteration's entry in the report; raises what outlasts retries; changes the report."""
    state = orch.state
    entry.finished_at = orch.now()
    orch.show(
        Stage.RECORD, f"iteration {entry.status}", val_reward=entry.val_reward, last_status=entry.status
    )
    yield from orch.report(
        iteration=entry,
        promoted_deployment=state.best_deployment,
        promoted_model=state.best_model,
        promoted_val_reward=state.best_reward,
    )
