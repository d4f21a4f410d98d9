"""Lineages: the chain of fine-tuned models that runs of the same lineage build on, and its champion.

A run is an island no longer: runs of one lineage continue its version counter (so deployment names
never collide across runs), start from its champion, and promote a candidate to champion only when it
beats the champion on the same validation tasks. The record lives in Blob at
``lineages/{lineage}/lineage.json``; activities change it through ``ArtifactStore.update_model``
(ETag-conditional), with the pure functions below, each idempotent so that a retried or replayed
activity changes nothing the second time. See docs/lineages.md.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.agents.tasks import SplitRule
from shared.domain.models import root_model

SCHEMA_VERSION = 1
BASE_VERSION = 0
"""The version number of the lineage's base model (the first champion)."""

ChampionReason = Literal["baseline", "promoted", "rollback", "redeployed", "fallback"]


class LineageBusyError(Exception):
    """Another run holds the lineage; the message names it."""

    def __init__(self, holder: ActiveRun) -> None:
        super().__init__(f"lineage is held by run {holder.run_id} (since {holder.since})")
        self.holder = holder


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ActiveRun(Record):
    """The one run that may change the lineage now."""

    run_id: str
    instance_id: str
    since: str


class ModelVersion(Record):
    """One model of the chain: where it came from, where it is deployed, how it evaluated."""

    version: int
    run_id: str
    iteration: int
    parent_model: str
    created_at: str
    base_model: str | None = Field(
        None, description="the base model of the version's chain (None: recorded before chains were)"
    )
    model: str | None = Field(None, description="the fine-tuned model id, once the job has succeeded")
    job_id: str | None = None
    file_id: str | None = None
    dataset_blob: str | None = None
    traces_prefix: str | None = None
    deployment: str | None = None
    sku_name: str | None = None
    sku_capacity: int | None = Field(None, description="the deployment's capacity, as deployed")
    val_reward: float | None = None
    val_rollouts: int = 0
    status: Literal["training", "trained", "failed"] = "training"
    deployment_deleted_at: str | None = None
    job_deleted_at: str | None = Field(None, description="deleting the job deleted its model too")


class Approval(Record):
    """Someone's decision on a candidate that waited for one (``promotion: approval``): ``POST
    /api/runs/{run_id}/approve`` or ``/reject``, the optional reason of its body, and who sent it."""

    decision: Literal["approve", "reject"]
    reason: str | None = None
    approved_by: str | None = Field(
        None,
        description="who decided, approving or rejecting: the caller's name as App Service "
        "authentication passes it (X-MS-CLIENT-PRINCIPAL-NAME); None when the request carried none",
    )
    at: str | None = Field(None, description="when the decision was sent (ISO 8601, UTC)")

    @classmethod
    def of_event(cls, data: object, decision: Literal["approve", "reject"]) -> Approval:
        """The decision an ``approve``/``reject`` event carries: this record, or (events raised before
        it existed) the reason alone, or the event's name when no reason was given."""
        if isinstance(data, dict):
            return cls.model_validate({**data, "decision": decision})
        reason = data if isinstance(data, str) and data != decision else None
        return cls(decision=decision, reason=reason)


class Champion(Record):
    """What production calls: a deployment of the lineage's best model so far."""

    version: int
    model: str
    deployment: str
    val_reward: float | None
    since: str
    run_id: str
    reason: ChampionReason
    approval: Approval | None = Field(None, description="the approval that let it take over, if one did")


class LineageSplit(Record):
    """The lineage's split of its tasks into train, validation and test, recorded by its first run and
    used by every later one (so a task that chose or reported a champion never becomes training data),
    with the task set it was recorded on: a later run that finds another set says so."""

    rule: SplitRule
    agent: str
    dataset: str = Field(description="the task set, by its name in the agent's datasets")
    tasks: int
    digest: str = Field(description="a fingerprint of the task ids (shared.agents.tasks.task_set_digest)")
    train: int
    validation: int
    test: int
    recorded_at: str
    run_id: str


class Rebase(Record):
    """A run that started a new chain of the lineage from another base model (its first version and later
    ones train from that base on the lineage's accumulated examples; the champion changes only when one
    of them beats it)."""

    run_id: str
    at: str
    from_base: str
    to_base: str


class Chain(Record):
    """The versions of a lineage that share a base model, oldest first: what the lineage API and the
    dashboard show (derived from ``versions``, never stored)."""

    base_model: str
    versions: list[int]
    rebase: Rebase | None = Field(None, description="the rebase that started it; None for the first chain")


class Lineage(Record):
    schema_version: int = SCHEMA_VERSION
    name: str
    deployment_prefix: str
    created_at: str
    next_version: int = 1
    active_run: ActiveRun | None = None
    versions: list[ModelVersion] = Field(default_factory=list)
    champion: Champion | None = None
    champion_history: list[Champion] = Field(default_factory=list, description="oldest first")
    split: LineageSplit | None = Field(None, description="None until a run records it (docs/lineages.md)")
    rebases: list[Rebase] = Field(default_factory=list, description="oldest first")

    def version(self, number: int) -> ModelVersion | None:
        return next((item for item in self.versions if item.version == number), None)

    def version_of(self, run_id: str, iteration: int) -> ModelVersion | None:
        return next(
            (item for item in self.versions if item.run_id == run_id and item.iteration == iteration), None
        )

    def latest_model(self) -> ModelVersion | None:
        """The newest model that exists (its job succeeded)."""
        trained = [item for item in self.versions if item.status == "trained"]
        return max(trained, key=lambda item: item.version, default=None)

    def chain_base(self) -> str | None:
        """The base model of the lineage's newest chain (its newest version's), None before any version."""
        newest = max(self.versions, key=lambda item: item.version, default=None)
        return base_of(newest) if newest is not None else None

    def chains(self) -> list[Chain]:
        """The lineage's versions grouped by base model, in the order each chain began."""
        groups: dict[str, list[int]] = {}
        for item in sorted(self.versions, key=lambda item: item.version):
            groups.setdefault(base_of(item), []).append(item.version)
        started = {rebase.to_base: rebase for rebase in self.rebases}
        return [
            Chain(base_model=base, versions=numbers, rebase=started.get(base))
            for base, numbers in groups.items()
        ]

    def owns_deployment(self, name: str) -> bool:
        return any(item.deployment == name for item in self.versions)

    def live_deployments(self) -> list[str]:
        """Candidate deployments the lineage made and has not deleted, oldest first (Azure may have
        removed some since: a DeveloperTier deployment lives 24 h)."""
        return [
            item.deployment
            for item in sorted(self.versions, key=lambda item: item.version)
            if item.deployment and item.deployment_deleted_at is None
        ]


def base_of(version: ModelVersion) -> str:
    """The base model of a version's chain: recorded, or (older records) the root of its parent model."""
    return version.base_model or root_model(version.parent_model)


def record_rebase(lineage: Lineage, run_id: str, at: str, base_model: str) -> Lineage:
    """Notes that run ``run_id`` trains a new chain from ``base_model`` when the lineage's newest chain has
    another base; changes nothing otherwise or when the run's rebase is noted already (a retry)."""
    current = lineage.chain_base()
    if current is None or current == base_model or any(r.run_id == run_id for r in lineage.rebases):
        return lineage
    rebase = Rebase(run_id=run_id, at=at, from_base=current, to_base=base_model)
    return lineage.model_copy(update={"rebases": [*lineage.rebases, rebase]})


def deployment_name(prefix: str, version: int) -> str:
    """``{prefix}_v{NN}``: two digits, growing as needed (``_v100``)."""
    return f"{prefix}_v{version:02d}"


def champion_deployment_name(prefix: str, version: int) -> str:
    """``{prefix}_champion_v{NN}``: the champion's deployment on a billed SKU (``champion_sku_name``)."""
    return f"{prefix}_champion_v{version:02d}"


def new_lineage(name: str, prefix: str, now: str) -> Lineage:
    return Lineage(name=name, deployment_prefix=prefix, created_at=now)


def claim(lineage: Lineage, run: ActiveRun, *, take_over: str | None = None) -> Lineage:
    """Makes ``run`` the lineage's active run; raises LineageBusyError if another run holds it, unless
    that run is ``take_over`` (a run the caller knows has ended without releasing it)."""
    holder = lineage.active_run
    if holder is not None and holder.run_id not in {run.run_id, take_over}:
        raise LineageBusyError(holder)
    if holder is not None and holder.run_id == run.run_id:
        return lineage
    return lineage.model_copy(update={"active_run": run})


def record_split(lineage: Lineage, split: LineageSplit) -> Lineage:
    """Records the lineage's split unless it has one: the first run's stays (a replay changes nothing)."""
    return lineage if lineage.split is not None else lineage.model_copy(update={"split": split})


def release(lineage: Lineage, run_id: str) -> Lineage:
    """Frees the lineage if ``run_id`` holds it; otherwise changes nothing."""
    if lineage.active_run is None or lineage.active_run.run_id != run_id:
        return lineage
    return lineage.model_copy(update={"active_run": None})


def reserve_version(lineage: Lineage, entry: ModelVersion, taken: set[str]) -> Lineage:
    """Gives the (run, iteration) of ``entry`` the next version whose deployment name is free (names in
    ``taken`` belong to something outside the lineage and are skipped, never reused). A second call for
    the same (run, iteration) keeps the version it got the first time, so a retried reservation changes
    nothing, unless that version's name is now in ``taken``: someone outside the lineage created a
    deployment of that name after it was reserved, so the entry moves to the next free version (and the
    number it leaves stays unused, as the name belongs to someone else)."""
    current = lineage.version_of(entry.run_id, entry.iteration)
    if current is not None and deployment_name(lineage.deployment_prefix, current.version) not in taken:
        return lineage
    number = lineage.next_version
    while deployment_name(lineage.deployment_prefix, number) in taken:
        number += 1
    reserved = (current or entry).model_copy(update={"version": number})
    others = [item for item in lineage.versions if item is not current]
    return lineage.model_copy(update={"next_version": number + 1, "versions": [*others, reserved]})


def update_version(lineage: Lineage, entry: ModelVersion) -> Lineage:
    """Replaces the record of ``entry.version`` (a replayed update writes the same)."""
    versions = [entry if item.version == entry.version else item for item in lineage.versions]
    return lineage.model_copy(update={"versions": versions})


def crown(lineage: Lineage, champion: Champion) -> Lineage:
    """Makes ``champion`` current and appends it to the history; crowning the current one again changes
    nothing."""
    current = lineage.champion
    if current is not None and current.model_dump(exclude={"since"}) == champion.model_dump(
        exclude={"since"}
    ):
        return lineage
    return lineage.model_copy(
        update={"champion": champion, "champion_history": [*lineage.champion_history, champion]}
    )


def previous_champion(lineage: Lineage) -> Champion | None:
    """The champion before the current one (the one a rollback brings back), if any."""
    current = lineage.champion
    earlier = [item for item in lineage.champion_history if current is None or item.model != current.model]
    return earlier[-1] if earlier else None


def _stamp(lineage: Lineage, field: str, key: str, values: list[str], at: str) -> Lineage:
    """Sets ``field`` to ``at`` on the versions whose ``key`` is among ``values`` and that have none yet
    (a replayed stamp keeps the first time)."""
    versions = [
        item.model_copy(update={field: at})
        if getattr(item, key) in values and getattr(item, field) is None
        else item
        for item in lineage.versions
    ]
    return lineage.model_copy(update={"versions": versions})


def mark_deleted(lineage: Lineage, names: list[str], at: str) -> Lineage:
    """Notes that these deployments are gone (deleted by the app, or found gone)."""
    return _stamp(lineage, "deployment_deleted_at", "deployment", names, at)


def models_to_forget(lineage: Lineage) -> list[ModelVersion]:
    """The versions whose jobs can go: a resource keeps at most 100 jobs, finished ones included, and
    deleting a job deletes its model. Kept: the champion and the one before it (a rollback's target),
    the latest model (``start_from: latest``) and every model that is still deployed."""
    keep = {champion.model for champion in [lineage.champion, previous_champion(lineage)] if champion}
    latest = lineage.latest_model()
    if latest is not None and latest.model is not None:
        keep.add(latest.model)
    live = set(lineage.live_deployments())
    return [
        item
        for item in lineage.versions
        if item.job_id
        and item.job_deleted_at is None
        and item.status != "training"
        and item.model not in keep
        and item.deployment not in live
    ]


def mark_jobs_deleted(lineage: Lineage, job_ids: list[str], at: str) -> Lineage:
    """Notes that these jobs (and with them their models) are deleted."""
    return _stamp(lineage, "job_deleted_at", "job_id", job_ids, at)
