"""Activities that read and change a lineage record (``lineages/{lineage}/lineage.json``).

Only these write the record, always through an ETag-conditional read-modify-write with the pure
functions of shared.domain.lineage, each idempotent, so a retried or replayed activity changes nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable

import azure.durable_functions as df

from activities.implements import implements
from shared.agents import get_agent
from shared.agents.tasks import task_set_digest
from shared.azure.clients import artifact_store, openai_account
from shared.contracts.payloads import (
    ClaimLineage,
    CrownChampion,
    DeploymentsDeleted,
    Done,
    JobIds,
    JobsMarked,
    LineageClaim,
    LineageRef,
    RecordVersion,
    ReleaseLineage,
    ReserveVersion,
    SplitRequest,
    TaskCounts,
    VersionReserved,
)
from shared.contracts.specs import (
    CLAIM_LINEAGE,
    CROWN_LINEAGE_CHAMPION,
    LIST_FORGETTABLE_JOBS,
    MARK_LINEAGE_DEPLOYMENTS_DELETED,
    MARK_LINEAGE_JOBS_DELETED,
    RECORD_LINEAGE_VERSION,
    RELEASE_LINEAGE,
    RESERVE_LINEAGE_VERSION,
)
from shared.domain.layout import lineage_path
from shared.domain.lineage import (
    ActiveRun,
    Lineage,
    LineageBusyError,
    LineageSplit,
    claim,
    crown,
    deployment_name,
    mark_deleted,
    mark_jobs_deleted,
    models_to_forget,
    new_lineage,
    previous_champion,
    record_rebase,
    record_split,
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


@implements(bp, CLAIM_LINEAGE)
def claim_lineage(request: ClaimLineage) -> LineageClaim:
    """Makes the run the lineage's active run (creating the lineage on first use); a lineage held by
    another run is an answer, not an error."""
    run = ActiveRun(run_id=request.run_id, instance_id=request.instance_id, since=request.since)
    proposed = proposed_split(request)

    def change(lineage: Lineage | None) -> Lineage:
        current = lineage or new_lineage(request.lineage, request.deployment_prefix, request.since)
        claimed = claim(current, run, take_over=request.take_over)
        claimed = claimed if proposed is None else record_split(claimed, proposed)
        if request.base_model is None:
            return claimed
        return record_rebase(claimed, request.run_id, request.since, request.base_model)

    try:
        lineage = _update(request.lineage, change)
    except LineageBusyError as busy:
        return LineageClaim(claimed=False, holder=busy.holder.run_id)
    return LineageClaim(
        claimed=True,
        champion=lineage.champion,
        previous_champion=previous_champion(lineage),
        latest=lineage.latest_model(),
        deployments=lineage.live_deployments(),
        split=lineage.split if proposed is not None else None,
        counts=task_counts(request.split, lineage.split) if request.split is not None else None,
        rebase=next((item for item in lineage.rebases if item.run_id == request.run_id), None),
    )


def proposed_split(request: ClaimLineage) -> LineageSplit | None:
    """The split the run would record for a lineage that has none: its rule over the agent's task set
    as it is now."""
    if request.split is None:
        return None
    agent = get_agent(request.split.agent)
    counts = task_counts(request.split, None)
    return LineageSplit(
        rule=request.split.rule,
        agent=agent.name,
        dataset=request.split.dataset or agent.default_dataset,
        tasks=counts.train_size + counts.val_size + counts.test_size,
        digest=counts.digest or "",
        train=counts.train_size,
        validation=counts.val_size,
        test=counts.test_size,
        recorded_at=request.since,
        run_id=request.run_id,
    )


def task_counts(wanted: SplitRequest, recorded: LineageSplit | None) -> TaskCounts:
    """The sizes of the agent's splits now under the lineage's rule (``wanted``'s for a new lineage)."""
    agent = get_agent(wanted.agent)
    rule = recorded.rule if recorded is not None else wanted.rule
    splits = agent.load_splits(wanted.dataset, rule)
    return TaskCounts(
        train_size=len(splits.train),
        val_size=len(splits.val),
        test_size=len(splits.test),
        digest=task_set_digest(agent.load_tasks(wanted.dataset)),
    )


@implements(bp, RELEASE_LINEAGE)
def release_lineage(request: ReleaseLineage) -> Done:
    _update(request.lineage, lambda lineage: release(_existing(lineage, request.lineage), request.run_id))
    return Done()


@implements(bp, RESERVE_LINEAGE_VERSION)
def reserve_lineage_version(request: ReserveVersion) -> VersionReserved:
    """The version (and so the deployment name) of a new model; names other owners took are skipped."""
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
    return VersionReserved(version=entry.version, deployment=name)


@implements(bp, RECORD_LINEAGE_VERSION)
def record_lineage_version(request: RecordVersion) -> Done:
    _update(
        request.lineage, lambda lineage: update_version(_existing(lineage, request.lineage), request.entry)
    )
    return Done()


@implements(bp, CROWN_LINEAGE_CHAMPION)
def crown_lineage_champion(request: CrownChampion) -> Done:
    _update(request.lineage, lambda lineage: crown(_existing(lineage, request.lineage), request.champion))
    return Done()


@implements(bp, MARK_LINEAGE_DEPLOYMENTS_DELETED)
def mark_lineage_deployments_deleted(request: DeploymentsDeleted) -> Done:
    _update(
        request.lineage,
        lambda lineage: mark_deleted(_existing(lineage, request.lineage), request.names, request.at),
    )
    return Done()


@implements(bp, LIST_FORGETTABLE_JOBS)
def list_forgettable_jobs(request: LineageRef) -> JobIds:
    """The jobs of models the lineage no longer needs (see shared.domain.lineage.models_to_forget)."""
    lineage = _existing(artifact_store().read_model(lineage_path(request.lineage), Lineage), request.lineage)
    job_ids = [item.job_id for item in models_to_forget(lineage) if item.job_id]
    return JobIds(job_ids=job_ids)


@implements(bp, MARK_LINEAGE_JOBS_DELETED)
def mark_lineage_jobs_deleted(request: JobsMarked) -> Done:
    _update(
        request.lineage,
        lambda lineage: mark_jobs_deleted(_existing(lineage, request.lineage), request.job_ids, request.at),
    )
    return Done()
