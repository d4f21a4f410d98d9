"""Leaving nothing behind: what a cancelled or reconciled run stops and deletes.

Whatever cannot be deleted is listed under ``leaked`` in the report with the reason, so nothing keeps
billing unnoticed.
"""

from __future__ import annotations

from orchestrators.deployment import retire
from orchestrators.errors import StageFailed, error_from
from orchestrators.orchestration import Orchestration, Stage, Step
from orchestrators.training import cancel_job, collect_outputs
from shared.contracts.payloads import JobsDeleted, JobsMarked, LineageRef, ReportChange
from shared.contracts.specs import DELETE_FINETUNE_JOBS, LIST_FORGETTABLE_JOBS, MARK_LINEAGE_JOBS_DELETED
from shared.domain.errors import Leak


def stop_leftovers(orch: Orchestration) -> Step[None]:
    """Cancels the run's job, deletes its files and its deployments but the champion's; raises what
    outlasts retries; lists what could not be deleted in the report."""
    state = orch.state
    orch.show(Stage.FINISH, "stopping the job and deleting this run's files and deployments")
    job = state.active_job
    yield from cancel_job(orch)
    if job is not None:
        yield from collect_outputs(orch, job)
    champion = state.champion.deployment if state.champion else None
    victims = [name for name in state.run_deployments if name != champion]
    if victims:
        try:
            yield from retire(orch, victims)
        except StageFailed as failed:
            yield from orch.report(ReportChange(warnings=[failed.error]))


def forget_old_models(orch: Orchestration) -> Step[None]:
    """Deletes the jobs (and with them the models) the lineage no longer needs: a resource holds at most
    100 jobs, finished ones included, so a weekly schedule would otherwise fill it in a year. Never the
    champion's, the previous champion's, the latest model's or a deployed one's; raises what outlasts
    retries; records what was deleted in the lineage and what Azure refused in the report."""
    state = orch.state
    forgettable = yield from orch.call(LIST_FORGETTABLE_JOBS, LineageRef(lineage=state.lineage))
    if not forgettable.job_ids:
        return
    orch.show(
        Stage.FINISH, f"deleting {len(forgettable.job_ids)} jobs whose models the lineage no longer needs"
    )
    try:
        answer = yield from orch.call(DELETE_FINETUNE_JOBS, forgettable)
    except Exception as exc:  # noqa: BLE001 - deletes that outlast retries are reported, not fatal
        reason = error_from(exc).message
        refused = [Leak(kind="job", name=job, reason=reason) for job in forgettable.job_ids]
        answer = JobsDeleted(deleted=[], refused=refused)
    marked = JobsMarked(lineage=state.lineage, job_ids=answer.deleted, at=orch.now())
    yield from orch.perform(MARK_LINEAGE_JOBS_DELETED, marked)
    if answer.refused:
        yield from orch.report(ReportChange(leaked=answer.refused))
