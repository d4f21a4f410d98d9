"""The run orchestrator: a baseline evaluation, then one iteration per execution, then the summary.

History stays bounded: after the baseline and after every iteration the orchestration continues as
new, carrying only ``RunState`` (ids, model names, counters). Custom status always shows the current
iteration and stage; the report in Blob is the durable record, finished before the orchestration is.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from activities.runs import init_run
from orchestrators.errors import error_from
from orchestrators.iteration import run_iteration
from orchestrators.orchestration import Orchestration, Stage, Step, log
from orchestrators.rollouts import evaluate
from shared.artifacts import report_path, traces_prefix
from shared.contracts import InitRun, RunState, TaskCounts
from shared.report import Baseline

bp = df.Blueprint()

ORCHESTRATOR_NAME = "finetune_run"


@bp.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR_NAME)
def finetune_run(context: df.DurableOrchestrationContext) -> Step[dict[str, Any] | None]:
    """Runs one execution of a run; fails the run (report first) on what outlasts retries."""
    orch = Orchestration(context, RunState.model_validate(context.get_input()))
    state = orch.state
    try:
        if state.iteration == 0:
            yield from evaluate_baseline(orch)
        else:
            yield from run_iteration(orch)
    except Exception as exc:
        yield from fail_run(orch, exc)
        raise
    if state.iteration < state.settings.iterations:
        state.iteration += 1
        context.continue_as_new(state.model_dump(mode="json"))
        return None
    return (yield from finish_run(orch))


def evaluate_baseline(orch: Orchestration) -> Step[None]:
    """Opens the report and evaluates the starting deployment; raises what outlasts retries; sets the
    run's starting model, deployment and baseline reward."""
    state = orch.state
    request = InitRun(
        run_id=state.run_id,
        instance_id=orch.context.instance_id,
        settings=state.settings,
        started_at=state.started_at,
    )
    counts = yield from orch.call(init_run, request, TaskCounts)
    state.train_size, state.val_size = counts.train_size, counts.val_size
    state.current_model = state.settings.base_model or ""
    state.current_deployment = state.settings.base_deployment or ""
    orch.show(Stage.BASELINE, f"evaluating {state.current_deployment} on {counts.val_size} validation tasks")
    result = yield from evaluate(orch, state.current_deployment)
    state.baseline_reward = state.last_val_reward = state.best_reward = result.reward
    state.best_deployment, state.best_model = state.current_deployment, state.current_model
    orch.show(Stage.BASELINE, f"baseline reward {result.reward}", baseline_val_reward=result.reward)
    baseline = Baseline(
        deployment=state.current_deployment,
        model=state.current_model,
        val_reward=result.reward,
        val_rollouts=result.rollouts,
        val_failed=result.failed,
        traces_prefix=traces_prefix(state.run_id, 0, "val"),
    )
    yield from orch.report(
        baseline=baseline,
        promoted_deployment=state.best_deployment,
        promoted_model=state.best_model,
        promoted_val_reward=result.reward,
    )


def finish_run(orch: Orchestration) -> Step[dict[str, Any]]:
    """Marks the report finished; raises what outlasts retries; returns the orchestration's output."""
    state = orch.state
    status = "succeeded" if state.failed_iterations == 0 else "completed_with_failures"
    yield from orch.report(status=status, finished_at=orch.now())
    return {
        "run_id": state.run_id,
        "status": status,
        "report_blob": report_path(state.run_id),
        "baseline_val_reward": state.baseline_reward,
        "last_val_reward": state.last_val_reward,
        "promoted_deployment": state.best_deployment,
        "promoted_model": state.best_model,
        "promoted_val_reward": state.best_reward,
        "failed_iterations": state.failed_iterations,
    }


def fail_run(orch: Orchestration, exc: Exception) -> Step[None]:
    """Records the run as failed with the failure's reason (its traceback goes to the log only)."""
    if not orch.context.is_replaying:
        log.error("run %s failed: %s", orch.state.run_id, exc)
    yield from orch.report(status="failed", finished_at=orch.now(), error=error_from(exc))
