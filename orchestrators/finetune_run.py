"""The run orchestrator: begin (claim the lineage, evaluate the start), one iteration per execution,
finish (release the lineage, close the report).

History stays bounded: after the beginning and after every iteration the orchestration continues as
new, carrying only ``RunState`` (ids, model names, counters). Custom status always shows the current
iteration and stage; the report in Blob is the durable record, finished before the orchestration is.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrators.cleanup import forget_old_models, stop_leftovers
from orchestrators.deployment import trim_spares
from orchestrators.errors import RunCancelled, RunEnded, error_from
from orchestrators.evaluation import measure_headroom, measure_test, stop_unless_improvable
from orchestrators.iteration import run_iteration
from orchestrators.lifecycle import identify_teacher
from orchestrators.lineage import (
    Start,
    adopt,
    champion_from,
    choose_start,
    claim,
    crown,
    keep_serving,
    release,
    serve,
)
from orchestrators.orchestration import Orchestration, Stage, Step, call_activity, log
from orchestrators.preflight import preflight_run, record_hosting
from orchestrators.rollouts import (
    BASELINE_GROUP,
    CHAMPION_GROUP,
    FALLBACK_GROUP,
    Evaluation,
    evaluate,
    evaluation_range,
)
from shared.contracts.payloads import InitRun, LineageClaim, ReportChange, RunOutput, RunRef, RunState
from shared.contracts.specs import INIT_RUN, READ_CANCEL_REQUEST
from shared.domain.errors import ErrorInfo, Leak
from shared.domain.layout import report_path
from shared.domain.lineage import Champion
from shared.domain.models import descends_from
from shared.domain.report import Baseline, Headroom, RunStatus, shown_reward

bp = df.Blueprint()

ORCHESTRATOR_NAME = "finetune_run"


@bp.orchestration_trigger(context_name="context", orchestration=ORCHESTRATOR_NAME)
def finetune_run(context: df.DurableOrchestrationContext) -> Step[dict[str, Any] | None]:
    """Runs one execution of a run; ends it early (report first) when it cannot go on, and fails it
    (report first) on what outlasts retries; returns its ``RunOutput`` as JSON when it ends (the
    Durable extension stores an orchestration's output as JSON), None when it continues as new."""
    orch = Orchestration(context, RunState.model_validate(context.get_input()))
    state = orch.state
    try:
        if state.iteration == 0:
            yield from begin_run(orch)
        else:
            yield from stop_if_cancelled(orch)
            yield from run_iteration(orch)
    except RunEnded as ended:
        output = yield from finish_run(orch, ended.status, ended.error)
        return output.model_dump(mode="json")
    except RunCancelled as cancelled:
        output = yield from cancel_run(orch, cancelled)
        return output.model_dump(mode="json")
    except Exception as exc:
        yield from fail_run(orch, exc)
        raise
    if state.iteration < state.settings.iterations:
        state.iteration += 1
        context.continue_as_new(state.model_dump(mode="json"))
        return None
    status: RunStatus = "succeeded" if state.failed_iterations == 0 else "completed_with_failures"
    output = yield from finish_run(orch, status, None)
    return output.model_dump(mode="json")


def begin_run(orch: Orchestration) -> Step[None]:
    """Opens the report, claims the lineage and evaluates where the run starts (and its champion);
    raises RunEnded if the lineage is busy; sets the run's start, champion and baseline."""
    state = orch.state
    request = InitRun(
        run_id=state.run_id,
        instance_id=orch.context.instance_id,
        settings=state.settings,
        started_at=state.started_at,
        choices=state.choices,
    )
    # Not raced against a cancellation: the report must exist before one can be recorded in it.
    yield from call_activity(orch.context, INIT_RUN, request, orch.retry)
    yield from orch.report(ReportChange(lineage=state.lineage))
    lineage = yield from claim(orch, state.settings.base_model, tasks=True)
    yield from adopt_split(orch, lineage)
    yield from identify_teacher(orch)
    start = yield from serve(orch, choose_start(orch, lineage))
    state.current_model, state.current_deployment = start.model, start.deployment
    yield from preflight_run(orch)
    evaluations = yield from evaluate_baseline(orch, start)
    headroom = yield from measure_headroom(orch, evaluations[1])
    yield from orch.report(ReportChange(baseline=baseline_of(orch, start, evaluations, headroom)))
    yield from test_champion_at_start(orch)
    yield from stop_unless_improvable(orch, headroom)


def adopt_split(orch: Orchestration, lineage: LineageClaim) -> Step[None]:
    """Takes the lineage's split of the tasks (the one this run proposed if the lineage had none); raises
    RunEnded(failed) when the run's settings ask for other shares, as that would let tasks that chose or
    reported a champion become training data; warns when the task set changed since it was recorded."""
    state, recorded, counts = orch.state, lineage.split, lineage.counts
    if recorded is None or counts is None:
        raise ValueError("a run's claim records the lineage's split and counts its tasks")
    given = {"validation_share": state.settings.validation_share, "test_share": state.settings.test_share}
    mismatched = [
        f"{name} {value} (the lineage's is {getattr(recorded.rule, name)})"
        for name, value in given.items()
        if value is not None and value != getattr(recorded.rule, name)
    ]
    if mismatched:
        message = (
            f"lineage {state.lineage} split its tasks on {recorded.recorded_at[:10]} and keeps that split: "
            f"this run asks for {', '.join(mismatched)}; leave the shares unset, or start a new lineage"
        )
        raise RunEnded("failed", ErrorInfo(code="SplitMismatch", message=message))
    state.split = recorded.rule
    state.train_size, state.val_size, state.test_size = counts.train_size, counts.val_size, counts.test_size
    if counts.digest != recorded.digest:
        total = counts.train_size + counts.val_size + counts.test_size
        message = (
            f"the task set changed since the lineage recorded its split ({recorded.tasks} tasks then, "
            f"{total} now): every task kept its split, a new one gets its own by the same rule"
        )
        yield from orch.report(ReportChange(warnings=[ErrorInfo(code="TaskSetChanged", message=message)]))


def evaluate_baseline(orch: Orchestration, start: Start) -> Step[tuple[Evaluation, Evaluation]]:
    """Evaluates the start, and the champion when it is another model, on the validation tasks and
    samples; raises what outlasts retries; crowns the start when the lineage has no champion or its
    champion is gone; returns the evaluations of the start and of the champion (the same one when the
    start is the champion)."""
    state = orch.state
    tasks = evaluation_range(orch, "val")
    samples = state.settings.eval_samples_per_task
    orch.show(Stage.BASELINE, f"evaluating {start.deployment} on {tasks.modulo} validation tasks x {samples}")
    result = yield from evaluate(orch, start.deployment, BASELINE_GROUP)
    state.baseline_reward = state.last_val_reward = result.reward
    champion = state.champion
    measured = result
    if champion is None:
        yield from crown(orch, champion_from(orch, start, result.reward, "baseline"), result.reward)
    elif start.fallback_from == "champion":
        yield from crown(orch, champion_from(orch, start, result.reward, "fallback"), result.reward)
    elif champion.model == start.model:
        yield from adopt(orch, champion, result.reward)
    else:
        measured = yield from evaluate_champion(orch, champion, start, result)
    orch.show(Stage.BASELINE, f"baseline reward {shown_reward(result.reward)}")
    return result, measured


def baseline_of(
    orch: Orchestration, start: Start, evaluations: tuple[Evaluation, Evaluation], headroom: Headroom | None
) -> Baseline:
    """The report's baseline: the start's evaluation, the champion's (when it is another), and how
    much room the champion leaves a candidate."""
    state, crowned = orch.state, orch.state.champion
    result, champion = evaluations
    return Baseline(
        deployment=start.deployment,
        model=start.model,
        val_reward=result.reward,
        val_rollouts=result.rollouts,
        val_failed=result.failed,
        val_throttled=result.throttled,
        traces_prefix=result.stats.traces_prefix,
        rollout_stages=[result.stats] if champion is result else [result.stats, champion.stats],
        start_from=start.label,
        champion_model=crowned.model if crowned else None,
        champion_deployment=crowned.deployment if crowned else None,
        champion_val_reward=state.champion_reward,
        samples_per_task=state.settings.eval_samples_per_task,
        headroom=headroom,
        teacher=not descends_from(start.model, state.settings.base_model or ""),
        trains=state.settings.base_model,
    )


def evaluate_champion(
    orch: Orchestration, champion: Champion, start: Start, baseline: Evaluation
) -> Step[Evaluation]:
    """Measures the champion on this run's validation tasks and samples, so candidates are compared on
    the same tasks; raises what outlasts retries; crowns the base model if the champion cannot serve;
    returns the champion's evaluation (the start's, when the start is the base model standing in)."""
    current = Start(champion.model, champion.deployment, champion.version, "champion")
    served = yield from serve(orch, current)
    if served.fallback_from is None:
        orch.show(Stage.BASELINE, f"evaluating the champion {served.deployment}")
        result = yield from evaluate(orch, served.deployment, CHAMPION_GROUP)
        yield from adopt(orch, champion, result.reward)
        return result
    if served.model != start.model:
        baseline = yield from evaluate(orch, served.deployment, FALLBACK_GROUP)
    yield from crown(orch, champion_from(orch, served, baseline.reward, "fallback"), baseline.reward)
    return baseline


def test_champion_at_start(orch: Orchestration) -> Step[None]:
    """Measures the champion the run starts with on the test tasks; raises what outlasts retries;
    records the score in the report and the state (the run's end reports it again if nothing changed)."""
    champion = orch.state.champion
    if champion is None:
        return
    start = Start(champion.model, champion.deployment, champion.version, "champion")
    score = yield from measure_test(orch, start)
    orch.state.champion_test = score
    if score is not None:
        yield from orch.report(ReportChange(champion_test_start=score))


def finish_run(orch: Orchestration, status: RunStatus, error: ErrorInfo | None) -> Step[RunOutput]:
    """Releases the lineage and closes the report; raises what outlasts retries; returns the output.
    A cancel that arrives now is too late to stop anything: the finish no longer races it."""
    state = orch.state
    orch.cancellable = False
    if status in {"succeeded", "completed_with_failures"}:
        yield from keep_serving(orch)
        yield from test_champion_at_end(orch)
        yield from trim_spares(orch)
        yield from forget_old_models(orch)
    yield from record_hosting(orch)
    orch.show(Stage.FINISH, status)
    yield from release(orch)
    closing = ReportChange(status=status, finished_at=orch.now(), error=error, account=state.account)
    yield from orch.report(closing)
    champion = state.champion
    return RunOutput(
        run_id=state.run_id,
        status=status,
        lineage=state.lineage,
        report_blob=report_path(state.run_id),
        baseline_val_reward=state.baseline_reward,
        last_val_reward=state.last_val_reward,
        champion_deployment=champion.deployment if champion else None,
        champion_model=champion.model if champion else None,
        champion_val_reward=state.champion_reward,
        failed_iterations=state.failed_iterations,
        error=error,
    )


def test_champion_at_end(orch: Orchestration) -> Step[None]:
    """Reports the test score of the champion the run leaves: measured again when the run changed the
    champion, else the start's; raises what outlasts retries."""
    state, champion = orch.state, orch.state.champion
    score = state.champion_test
    if champion is None:
        return
    if score is None or score.version != champion.version or score.model != champion.model:
        start = Start(champion.model, champion.deployment, champion.version, "champion")
        score = yield from measure_test(orch, start)
    if score is not None:
        yield from orch.report(ReportChange(champion_test_end=score))


def stop_if_cancelled(orch: Orchestration) -> Step[None]:
    """Raises RunCancelled if a cancel request arrived that no wait received (an event raised as an
    execution continued as new is not carried over); changes nothing otherwise."""
    request = yield from orch.call(READ_CANCEL_REQUEST, RunRef(run_id=orch.state.run_id))
    if request.requested:
        orch.cancel(request.reason)


def cancel_run(orch: Orchestration, cancelled: RunCancelled) -> Step[RunOutput]:
    """Stops what the run left running (its job; its deployments but the champion's), then ends it as
    cancelled; what cannot be deleted is listed as leaked in the report."""
    yield from stop_leftovers(orch)
    error = ErrorInfo(code="Cancelled", message=str(cancelled))
    return (yield from finish_run(orch, "cancelled", error))


def fail_run(orch: Orchestration, exc: Exception) -> Step[None]:
    """Stops what the run left running as far as the failure allows, records the run as failed with
    the failure's reason (its traceback goes to the log only) and releases the lineage."""
    orch.cancellable = False
    if not orch.context.is_replaying:
        log.error("run %s failed: %s", orch.state.run_id, exc)
    try:
        yield from stop_leftovers(orch)
    except Exception as cleanup:  # noqa: BLE001 - the run already failed; what is left is reported
        job = orch.state.active_job
        if job is not None:
            leak = Leak(kind="job", name=job.job_id or job.file_id, reason=error_from(cleanup).message)
            yield from orch.report(ReportChange(leaked=[leak]))
    yield from release(orch)
    closing = ReportChange(
        status="failed", finished_at=orch.now(), error=error_from(exc), account=orch.state.account
    )
    yield from orch.report(closing)
