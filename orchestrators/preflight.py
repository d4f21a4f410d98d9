"""Preflight and cost stages: check every dependency before anything is paid for, price each job and
hold the run to its budget.

``preflight_run`` runs before the baseline: a failed check ends the run before any rollout, with an
error naming what to change. ``preflight_job`` runs again before each job (before its file is
uploaded): it prices the iteration's dataset, and a failed check ends only that iteration. Which way it
ends says what kind of problem it is:

- ``skipped`` (``BudgetExceeded``, ``ResourceFull``): nothing is broken and nothing was spent on
  training; the budget or the resource's room are conditions a later iteration may meet (a smaller
  dataset, a deployment Azure expired meanwhile);
- ``failed`` (``PreflightFailed``): a dependency is broken (a role, a retired model, storage) and
  needs someone to fix it.

A check that failed on something transient (throttling, a 5xx, a timeout) ends nothing: it shows
nothing wrong with the configuration, and the stages that follow retry and record such failures
themselves. It is recorded as a ``PreflightUnverified`` warning.
"""

from __future__ import annotations

from orchestrators.errors import RunEnded, StageFailed
from orchestrators.lifecycle import rebasing_to, training_parent
from orchestrators.orchestration import Orchestration, Stage, Step, log
from orchestrators.record import IterationRecord, Priced
from shared.contracts.payloads import (
    Check,
    HostingRequest,
    PreflightRequest,
    PreflightResult,
    ReportChange,
    RunState,
)
from shared.contracts.specs import MEASURE_HOSTING, RUN_PREFLIGHT
from shared.domain.errors import CheckRecord, ErrorInfo
from shared.domain.report import IterationCost, IterationStatus

BUDGET_CHECK = "budget"
ROOM_CHECKS = frozenset({"deployments", "files"})


def preflight_run(orch: Orchestration) -> Step[None]:
    """Checks the run's start (``state.current_model`` and ``current_deployment``) and its expected
    first job before the baseline; raises RunEnded(failed) naming what to change; changes nothing."""
    state = orch.state
    orch.show(Stage.BASELINE, f"preflight: checking {state.current_deployment} and its dependencies")
    result = yield from orch.call(RUN_PREFLIGHT, preflight_request(state, None))
    yield from warn_unverified(orch, result)
    yield from warn_retirements(orch, result)
    if result.blocking():
        raise RunEnded("failed", preflight_error(result))


def preflight_job(orch: Orchestration, record: IterationRecord, dataset_blob: str) -> Step[None]:
    """Before the iteration's job: records hosting so far, checks every dependency again and prices the
    dataset against the budget; raises StageFailed (skipped: BudgetExceeded or ResourceFull; failed:
    PreflightFailed); writes the record with its estimate (and its dataset) before that."""
    yield from record_hosting(orch)
    orch.show(Stage.FINE_TUNE, "preflight: checking dependencies and pricing the dataset")
    request = preflight_request(orch.state, dataset_blob)
    result = yield from orch.call(RUN_PREFLIGHT, request)
    yield from record.checkpoint(Priced(IterationCost.model_validate(result.cost.model_dump())))
    yield from warn_unverified(orch, result)
    if result.blocking():
        raise StageFailed(iteration_status(result.blocking()), preflight_error(result))


def record_hosting(orch: Orchestration) -> Step[None]:
    """Measures the hours the run's hourly-billed deployments have been up (until now, or until their
    deletion); raises what outlasts retries; replaces the report's hosting records."""
    state = orch.state
    request = HostingRequest(run_id=state.run_id, lineage=state.lineage, at=orch.now())
    measured = yield from orch.call(MEASURE_HOSTING, request)
    yield from orch.report(ReportChange(hosting=measured.records))


def warn_unverified(orch: Orchestration, result: PreflightResult) -> Step[None]:
    """Records the checks that failed only transiently as warnings; raises what outlasts retries."""
    unverified = result.unverified()
    if unverified:
        message = " | ".join(f"{check.name}: {check.detail}" for check in unverified)
        warning = ErrorInfo(code="PreflightUnverified", message=f"not verified (transient): {message}")
        yield from orch.report(ReportChange(warnings=[warning]))


def warn_retirements(orch: Orchestration, result: PreflightResult) -> Step[None]:
    """Records in the report, and logs, the retirements within ``LIFECYCLE_WARNING_DAYS`` that touch the
    run or its lineage's champion (e.g. the champion's deployment stops serving and no rebase has
    succeeded); raises what outlasts retries."""
    if not result.warnings:
        return
    if not orch.context.is_replaying:
        for warning in result.warnings:
            log.warning("run %s: %s", orch.state.run_id, warning.message)
    yield from orch.report(ReportChange(warnings=result.warnings))


def preflight_request(state: RunState, dataset_blob: str | None) -> PreflightRequest:
    """The job the run is about to pay for: from the model its next job starts from, on
    ``dataset_blob`` (None: the dataset its settings lead to expect). The chat and serving checks ask the
    deployment the run's next rollouts go to before the baseline; before a job, which needs no
    deployment, the base deployment while the run still rolls out there, else none (a candidate's
    DeveloperTier deployment may have expired meanwhile and is redeployed when next needed, and a base
    deployment the run has left behind, a retired teacher say, is no reason to stop training)."""
    settings, champion = state.settings, state.champion
    return PreflightRequest(
        run_id=state.run_id,
        model=training_parent(state),
        deployment=state.current_deployment
        if dataset_blob is None or state.current_deployment == settings.base_deployment
        else None,
        training_type=settings.training_type,
        n_epochs=settings.n_epochs,
        iterations=settings.iterations - max(0, state.iteration - 1),
        budget_usd=settings.budget_usd,
        dataset_blob=dataset_blob,
        rollouts=settings.finetune_every_n_rollouts,
        batch_rollouts=settings.batch_rollouts,
        evaluation_rollouts=settings.evaluation_rollouts(state.val_size),
        rollout_deployment=state.current_deployment,
        data_filter_ratio=settings.data_filter_ratio,
        sku_name=settings.sku_name,
        champion_model=champion.model if champion else None,
        champion_deployment=champion.deployment if champion else None,
        rebasing_to=rebasing_to(state),
        kept_deployments=[state.champion.deployment] if state.champion else [],
    )


def iteration_status(failed: list[Check]) -> IterationStatus:
    """skipped when only conditions failed (budget, room on the resource), failed when anything broke."""
    conditions = ROOM_CHECKS | {BUDGET_CHECK}
    return "skipped" if all(check.name in conditions for check in failed) else "failed"


def preflight_error(result: PreflightResult) -> ErrorInfo:
    """``{code, message, checks}`` for the report: every blocking check with what to change."""
    failed = result.blocking()
    names = {check.name for check in failed}
    if names == {BUDGET_CHECK}:
        code = "BudgetExceeded"
    elif names <= ROOM_CHECKS:
        code = "ResourceFull"
    else:
        code = "PreflightFailed"
    message = " | ".join(f"{check.name}: {check.detail}; fix: {check.fix}" for check in failed)
    return ErrorInfo(
        code=code,
        message=f"preflight failed: {message}",
        checks=[CheckRecord.model_validate(check.model_dump(exclude={"transient"})) for check in failed],
    )
