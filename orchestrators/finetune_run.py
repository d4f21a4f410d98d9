"""The run orchestrator: baseline evaluation, then one iteration per execution.

History stays bounded: after the baseline and after every iteration the orchestration continues as
new, carrying only ``RunState`` (ids, model names, counters). Custom status always shows the current
iteration and stage; the report in Blob is the durable record.
"""

from __future__ import annotations

import azure.durable_functions as df

from orchestrators.iteration import evaluate, record, run_iteration
from orchestrators.steps import Run, Step
from shared.artifacts import report_path, traces_prefix
from shared.contracts import InitRun, ReportUpdate, RunState, TaskCounts
from shared.report import Baseline

bp = df.Blueprint()

ORCHESTRATOR_NAME = "finetune_run"


def start_run(run: Run) -> Step:
    state = run.state
    counts = TaskCounts.model_validate(
        (
            yield run.call(
                "init_run",
                InitRun(
                    run_id=state.run_id,
                    instance_id=run.context.instance_id,
                    settings=state.settings,
                    started_at=state.started_at,
                ),
            )
        )
    )
    state.train_size, state.val_size = counts.train_size, counts.val_size
    state.current_model = state.settings.base_model or ""
    state.current_deployment = state.settings.base_deployment or ""
    run.stage(0, f"evaluating {state.current_deployment} on {counts.val_size} validation tasks")
    reward, count, failed = yield from evaluate(run, 0, state.current_deployment)
    state.baseline_reward = state.last_val_reward = state.best_reward = reward
    state.best_deployment, state.best_model = state.current_deployment, state.current_model
    run.stage(0, f"baseline reward {reward}", baseline_val_reward=reward)
    yield from record(
        run,
        ReportUpdate(
            run_id=state.run_id,
            baseline=Baseline(
                deployment=state.current_deployment,
                model=state.current_model,
                val_reward=reward,
                val_rollouts=count,
                val_failed=failed,
                traces_prefix=traces_prefix(state.run_id, 0, "val"),
            ),
            promoted_deployment=state.best_deployment,
            promoted_model=state.best_model,
            promoted_val_reward=reward,
        ),
    )


def finish_run(run: Run) -> Step:
    state = run.state
    status = "succeeded" if state.failed_iterations == 0 else "completed_with_failures"
    yield from record(run, ReportUpdate(run_id=state.run_id, status=status, finished_at=run.now()))
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


@bp.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR_NAME)
def finetune_run(context: df.DurableOrchestrationContext) -> Step:
    run = Run(context, RunState.model_validate(context.get_input()))
    state = run.state
    try:
        if state.iteration == 0:
            yield from start_run(run)
        else:
            yield from run_iteration(run)
    except Exception as exc:
        error = {"code": "RunFailed", "message": str(exc)[:2000]}
        yield from record(
            run, ReportUpdate(run_id=state.run_id, status="failed", finished_at=run.now(), error=error)
        )
        raise
    if state.iteration < state.settings.iterations:
        state.iteration += 1
        context.continue_as_new(state.model_dump(mode="json"))
        return None
    return (yield from finish_run(run))
