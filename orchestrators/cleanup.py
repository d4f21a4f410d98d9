"""Leaving nothing behind: what a cancelled or reconciled run stops and deletes.

Whatever cannot be deleted is listed under ``leaked`` in the report with the reason, so nothing keeps
billing unnoticed.
"""

from __future__ import annotations

from orchestrators.deployment import retire
from orchestrators.errors import StageFailed
from orchestrators.orchestration import Orchestration, Stage, Step
from orchestrators.training import cancel_job, collect_outputs


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
