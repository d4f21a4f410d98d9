"""Activities that read and change a lineage record (``lineages/{lineage}/lineage.json``).

Only these write the record, always through an ETag-conditional read-modify-write with the pure
functions of shared.domain.lineage, each idempotent, so a retried or replayed activity changes nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import azure.durable_functions as df

from shared.azure.clients import artifact_store, openai_account
from shared.contracts.payloads import (
    ClaimLineage,
    CrownChampion,
    DeploymentsDeleted,
    JobIds,
    JobsMarked,
    LineageClaim,
    LineageRef,
    RecordVersion,
    ReleaseLineage,
    ReserveVersion,
    VersionReserved,
)
from shared.domain.layout import lineage_path
from shared.domain.lineage import (
    ActiveRun,
    Lineage,
    LineageBusyError,
    claim,
    crown,
    deployment_name,
    mark_deleted,
    mark_jobs_deleted,
    models_to_forget,
    new_lineage,
    previous_champion,
    release,
    reserve_version,
    update_version,
)

bp = df.Blueprint()


def _update(name: str, change: Callable[[Lineage | None], Lineage]) -> Lineage:
    return artifact_store().update_model(lineage_path(name), Lineage, change)


def _existing(lineage: Lineage | None, name: str) -> Lineage:
    if lineage is None:
        raise RuntimeError(f"lineage {name} has no record: claim_lineage writes it first")
    return lineage


@bp.activity_trigger(input_name="payload")
def claim_lineage(payload: dict[str, Any]) -> dict[str, Any]:
    """Makes the run the lineage's active run (creating the lineage on first use); a lineage held by
    another run is an answer, not an error."""
    request = ClaimLineage.model_validate(payload)
    run = ActiveRun(run_id=request.run_id, instance_id=request.instance_id, since=request.since)

    def change(lineage: Lineage | None) -> Lineage:
        current = lineage or new_lineage(request.lineage, request.deployment_prefix, request.since)
        return claim(current, run, take_over=request.take_over)

    try:
        lineage = _update(request.lineage, change)
    except LineageBusyError as busy:
        return LineageClaim(claimed=False, holder=busy.holder.run_id).model_dump(mode="json")
    claimed = LineageClaim(
        claimed=True,
        champion=lineage.champion,
        previous_champion=previous_champion(lineage),
        latest=lineage.latest_model(),
        deployments=lineage.live_deployments(),
    )
    return claimed.model_dump(mode="json")


@bp.activity_trigger(input_name="payload")
def release_lineage(payload: dict[str, Any]) -> dict[str, Any]:
    request = ReleaseLineage.model_validate(payload)
    _update(request.lineage, lambda lineage: release(_existing(lineage, request.lineage), request.run_id))
    return {}


@bp.activity_trigger(input_name="payload")
def reserve_lineage_version(payload: dict[str, Any]) -> dict[str, Any]:
    """The version (and so the deployment name) of a new model; names other owners took are skipped."""
    request = ReserveVersion.model_validate(payload)
    existing = artifact_store().read_model(lineage_path(request.lineage), Lineage)
    lineage = _existing(existing, request.lineage)
    taken = {name for name in openai_account().names() if not lineage.owns_deployment(name)}
    taken |= set(request.avoid)

    def change(current: Lineage | None) -> Lineage:
        return reserve_version(_existing(current, request.lineage), request.entry, taken)

    updated = _update(request.lineage, change)
    entry = updated.version_of(request.entry.run_id, request.entry.iteration)
    if entry is None:
        raise RuntimeError(f"lineage {request.lineage} lost the version it just reserved")
    name = deployment_name(updated.deployment_prefix, entry.version)
    return VersionReserved(version=entry.version, deployment=name).model_dump()


@bp.activity_trigger(input_name="payload")
def record_lineage_version(payload: dict[str, Any]) -> dict[str, Any]:
    request = RecordVersion.model_validate(payload)
    _update(
        request.lineage, lambda lineage: update_version(_existing(lineage, request.lineage), request.entry)
    )
    return {}


@bp.activity_trigger(input_name="payload")
def crown_lineage_champion(payload: dict[str, Any]) -> dict[str, Any]:
    request = CrownChampion.model_validate(payload)
    _update(request.lineage, lambda lineage: crown(_existing(lineage, request.lineage), request.champion))
    return {}


@bp.activity_trigger(input_name="payload")
def mark_lineage_deployments_deleted(payload: dict[str, Any]) -> dict[str, Any]:
    request = DeploymentsDeleted.model_validate(payload)
    _update(
        request.lineage,
        lambda lineage: mark_deleted(_existing(lineage, request.lineage), request.names, request.at),
    )
    return {}


@bp.activity_trigger(input_name="payload")
def list_forgettable_jobs(payload: dict[str, Any]) -> dict[str, Any]:
    """The jobs of models the lineage no longer needs (see shared.domain.lineage.models_to_forget)."""
    request = LineageRef.model_validate(payload)
    lineage = _existing(artifact_store().read_model(lineage_path(request.lineage), Lineage), request.lineage)
    job_ids = [item.job_id for item in models_to_forget(lineage) if item.job_id]
    return JobIds(job_ids=job_ids).model_dump()


@bp.activity_trigger(input_name="payload")
def mark_lineage_jobs_deleted(payload: dict[str, Any]) -> dict[str, Any]:
    request = JobsMarked.model_validate(payload)
    _update(
        request.lineage,
        lambda lineage: mark_jobs_deleted(_existing(lineage, request.lineage), request.job_ids, request.at),
    )
    return {}
