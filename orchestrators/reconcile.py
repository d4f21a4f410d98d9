"""Reconciling a run that ended without finishing (terminated through the Durable API, or failed in a
way its own clean-up could not record): its job is cancelled and its files deleted, its deployments but
the champion's are deleted, its report says ``terminated`` and its lineage is free again.

``terminate`` stops an orchestration at once, running nothing of the app's; this pass is what does the
app's part afterwards. It is started by ``POST /api/runs/{run_id}/cancel`` on such a run, by a new run
of the lineage that finds it still holding the lineage, and by the periodic janitor.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from orchestrators.account import give_up
from orchestrators.cleanup import stop_leftovers
from orchestrators.lineage import release
from orchestrators.orchestration import Orchestration, Step, call_activity
from shared.contracts.payloads import ReconcileOutput, ReportChange, RunRef, RunState
from shared.contracts.specs import DESCRIBE_STALE_RUN
from shared.domain.errors import ErrorInfo

bp = df.Blueprint()

RECONCILER_NAME = "reconcile_run"
RECONCILE_SUFFIX = ":reconcile"
RETRY = df.RetryOptions(first_retry_interval_in_milliseconds=5000, max_number_of_attempts=5)
"""A run's reconciler has the run's id plus this (run ids cannot hold ``:``), so there is one per run."""


@bp.orchestration_trigger(context_name="context", orchestration=RECONCILER_NAME)
def reconcile_run(context: df.DurableOrchestrationContext) -> Step[dict[str, Any]]:
    """Cleans up after the run whose id is the input; raises what outlasts retries."""
    run_id: str = context.get_input()
    stale = yield from call_activity(context, DESCRIBE_STALE_RUN, RunRef(run_id=run_id), RETRY)
    state = RunState(
        run_id=run_id,
        settings=stale.settings,
        started_at=stale.started_at,
        champion=stale.champion,
        active_job=stale.running_job,
        run_deployments=stale.deployments,
    )
    orch = Orchestration(context, state, cancellable=False)
    give_up(context, run_id)  # the account's gate: whatever the run held or waited for
    yield from stop_leftovers(orch)
    if stale.report_status == "running":
        error = ErrorInfo(code="Terminated", message="the run's orchestration ended before the run did")
        yield from orch.report(ReportChange(status="terminated", finished_at=orch.now(), error=error))
    yield from release(orch)
    job = stale.running_job.job_id if stale.running_job else None
    output = ReconcileOutput(run_id=run_id, deleted=stale.deployments, job=job)
    return output.model_dump(mode="json")  # the Durable extension stores an orchestration's output as JSON
