"""Leaving nothing behind: what a cancelled or reconciled run stops and deletes.

Whatever cannot be deleted is listed under ``leaked`` in the report with the reason, so nothing keeps
billing unnoticed.
"""

from __future__ import annotations

from activities.finetuning import delete_finetune_jobs
from activities.lineages import list_forgettable_jobs, mark_lineage_jobs_deleted
from orchestrators.deployment import retire
from orchestrators.errors import StageFailed, error_from
from orchestrators.orchestration import Orchestration, Stage, Step
from orchestrators.training import cancel_job, collect_outputs
from shared.contracts.payloads import JobIds, JobsDeleted, JobsMarked, LineageRef


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
            yield from orch.report(warnings=[failed.error])


def forget_old_models(orch: Orchestration) -> Step[None]:
    """Deletes the jobs (and with them the models) the lineage no longer needs: a resource holds at most
    100 jobs, finished ones included, so a weekly schedule would otherwise fill it in a year. Never the
    champion's, the previous champion's, the latest model's or a deployed one's; raises what outlasts
    retries; records what was deleted in the lineage and what Azure refused in the report."""
    state = orch.state
    forgettable = yield from orch.call(list_forgettable_jobs, LineageRef(lineage=state.lineage), JobIds)
    if not forgettable.job_ids:
        return
    orch.show(
        Stage.FINISH, f"deleting {len(forgettable.job_ids)} jobs whose models the lineage no longer needs"
    )
    try:
        answer = yield from orch.call(delete_finetune_jobs, forgettable, JobsDeleted)
    except Exception as exc:  # noqa: BLE001 - deletes that outlast retries are reported, not fatal
        reason = error_from(exc)["message"]
        answer = JobsDeleted(
            deleted=[], refused=[{"job_id": job, "reason": reason} for job in forgettable.job_ids]
        )
    marked = JobsMarked(lineage=state.lineage, job_ids=answer.deleted, at=orch.now())
    yield from orch.perform(mark_lineage_jobs_deleted, marked)
    refused = [{"kind": "job", "name": item["job_id"], "reason": item["reason"]} for item in answer.refused]
    if refused:
        yield from orch.report(leaked=refused)
