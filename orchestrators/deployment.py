"""Deployments: make room, create one, wait until ARM says Succeeded and it serves; delete them again.

A fresh deployment can answer 404 DeploymentNotFound for minutes after ARM reports Succeeded, so a
deployment is probed with one tiny chat call before an evaluation's worth of traffic is sent to it. A
deployment that fails or overruns its deadline is deleted at once, so nothing is left billing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from orchestrators.account import Grant, hold, let_go
from orchestrators.errors import RunCancelled, StageFailed, error_from
from orchestrators.orchestration import Orchestration, Polled, Stage, Step, fixed
from orchestrators.record import Deployed, IterationRecord
from shared.contracts.payloads import (
    NO_SLOT,
    REQUEST_CONFLICT,
    DeleteDeployments,
    DeploymentRef,
    DeploymentResult,
    DeploymentsDeleted,
    ReportChange,
    RunState,
    StartDeployment,
)
from shared.contracts.specs import (
    DELETE_DEPLOYMENTS,
    GET_DEPLOYMENT,
    MARK_LINEAGE_DEPLOYMENTS_DELETED,
    PROBE_DEPLOYMENT,
    START_DEPLOYMENT,
)
from shared.domain.account import SlotWait
from shared.domain.errors import ErrorInfo, Leak
from shared.domain.models import fit_sku, other_format
from shared.domain.rate_limits import FINE_TUNED_MARK

# ARM provisioning states (Accepted, Creating, Moving, Deleting, Succeeded, Failed, Canceled, Disabled):
# Accepted, Creating and Moving pass; a deployment that is Deleting is on its way to NotFound.
PROVISIONING_SETTLED = {"Succeeded", "Failed", "Canceled", "Disabled", "NotFound", "Conflict"}
GONE = {"NotFound"}
BROKEN = {"Failed", "Canceled", "Disabled"}
DELETING = "Deleting"
NOT_SERVING_YET = {"DeploymentNotFound", "DeploymentNotReady"}
"""What a fresh deployment answers for minutes after ARM reports it Succeeded (an open model's for longer:
docs/models.md)."""

Sku = tuple[str, int]


def deploy(orch: Orchestration, record: IterationRecord, model: str, name: str) -> Step[Deployed]:
    """Makes room and deploys the iteration's model as ``name``; raises StageFailed (with code
    DeploymentNameTaken when someone else took the name); records the deployment before waiting on it."""
    state, settings = orch.state, orch.state.settings
    yield from prune(orch)
    sku = fit_sku(model, settings.sku_name, settings.sku_capacity)
    deployed = Deployed(name, *sku)

    def recorded() -> Step[None]:
        state.deployments.append(name)
        yield from record.checkpoint(deployed)

    yield from provision(orch, name, model, sku=sku, before_waiting=recorded)
    yield from wait_until_serving(orch, name)
    return deployed


def prune(orch: Orchestration) -> Step[list[str]]:
    """Before a new candidate: deletes the candidate that lost (its rollouts are done) and the lineage's
    oldest candidate deployments so the new one fits ``max_deployments``, never the champion's; raises
    StageFailed if they outlive the deadline; records what it deleted."""
    state, settings = orch.state, orch.state.settings
    victims = prunable(state)
    if not victims:
        return []
    orch.show(Stage.DEPLOY, f"deleting {', '.join(victims)} to stay within {settings.max_deployments}")
    yield from retire(orch, victims)
    if state.current_deployment in victims and state.champion is not None:
        # The loser the chain rolled out on: should this iteration go no further, the next rolls out on
        # the champion (the job still starts from the latest model).
        state.current_deployment = state.champion.deployment
    return victims


def prunable(state: RunState) -> list[str]:
    """The candidates that lost, and the lineage's oldest candidate deployments that must go so a new
    one fits ``max_deployments``; never the champion's."""
    losers = [name for name in spares(state) if name in state.losers]
    pool = [name for name in spares(state) if name not in losers]
    return losers + pool[: max(0, len(pool) - (state.settings.max_deployments - 1))]


def spares(state: RunState, keep: str | None = None) -> list[str]:
    """The lineage's candidate deployments alive besides the champion's (and ``keep``), oldest first."""
    champion = state.champion.deployment if state.champion else None
    return [name for name in state.deployments if name not in {champion, keep}]


def let_go_of(orch: Orchestration, names: list[str], why: str) -> Step[None]:
    """Deletes deployments the lineage no longer needs (a candidate that lost, spares at the run's end)
    so their fine-tuned deployment slots go back to the account at once; raises nothing: what cannot
    be deleted is reported (leaked, with a warning); records the deletion."""
    if not names:
        return
    orch.show(orch.stage or Stage.DEPLOY, f"deleting {', '.join(names)}: {why}")
    try:
        yield from retire(orch, names)
    except StageFailed as failed:
        yield from orch.report(ReportChange(warnings=[failed.error]))


def drop_candidate(orch: Orchestration, name: str) -> Step[None]:
    """A candidate that lost its evaluation gives its fine-tuned deployment slot back as soon as nothing
    needs it: no rollback ever does (a rollback brings back the previous champion, whose model the
    lineage keeps). At once, unless the run's next iteration rolls out on it (``continue_from:
    latest``, the reference example's chain): then it goes before the next candidate is deployed
    (``prune``) or when the run ends. Raises nothing; records the deletion, or the leak."""
    state = orch.state
    settings = state.settings
    if settings.continue_from == "latest" and state.iteration < settings.iterations:
        state.losers.append(name)
        return
    yield from let_go_of(orch, [name], "it did not beat the champion")
    if state.current_deployment == name and state.champion is not None:
        state.current_deployment = state.champion.deployment


def trim_spares(orch: Orchestration) -> Step[None]:
    """At the end of a run the lineage keeps only its champion's deployment: the account's fine-tuned
    deployment slots are shared by every lineage, and a spare would hold one until someone deletes it.
    Raises nothing; records the deletions, or the leaks."""
    yield from let_go_of(orch, spares(orch.state), "the lineage keeps only its champion between runs")


def retire(orch: Orchestration, names: list[str]) -> Step[None]:
    """Deletes deployments one at a time, each holding the account's write grant until it is gone;
    raises StageFailed if any outlives the deadline (or its turn never comes); records the deletion
    in the lineage, the report and the state."""
    state = orch.state
    remaining: list[str] = []
    reasons: dict[str, str] = {}
    for name in names:
        reason = yield from delete(orch, name)
        if reason is not None:
            remaining.append(name)
            reasons[name] = reason
    gone = [name for name in names if name not in remaining]
    request = DeploymentsDeleted(lineage=state.lineage, names=gone, at=orch.now())
    yield from orch.perform(MARK_LINEAGE_DEPLOYMENTS_DELETED, request)
    state.deployments = [name for name in state.deployments if name not in gone]
    state.run_deployments = [name for name in state.run_deployments if name not in gone]
    state.losers = [name for name in state.losers if name not in gone]
    leaked = [Leak(kind="deployment", name=name, reason=reasons[name]) for name in remaining]
    yield from orch.report(ReportChange(deployments_deleted=gone, leaked=leaked or None))
    if remaining:
        message = f"{', '.join(remaining)} not deleted in time"
        raise StageFailed("failed", ErrorInfo(code="DeleteDeadlineExceeded", message=message))


def delete(orch: Orchestration, name: str) -> Step[str | None]:
    """Deletes one deployment under the account's write grant, held until ARM no longer lists it; a
    DELETE refused with 409 RequestConflict (a writer outside the app, or the deployment's own creation
    still in progress) is sent again after a durable wait, for up to ``account_wait_seconds``; once ARM
    has taken it, the deletion has ``deployment_deadline_seconds``. Raises RunCancelled; returns None
    once the deployment is gone, else why it is not."""
    current = yield from orch.call(GET_DEPLOYMENT, DeploymentRef(name=name))
    if current.state in GONE:  # Azure removed it already (a DeveloperTier deployment lives 24 h)
        return None
    try:
        grant = yield from hold(orch, f"delete {name}")
    except StageFailed as failed:
        return failed.error.message
    orch.state.account.waited(grant.waited, grant.queued)
    conflicted_at: list[datetime] = []
    try:
        reason = yield from delete_held(orch, name, grant, conflicted_at)
    except RunCancelled:
        let_go(orch, grant.ticket)
        raise
    except Exception as exc:  # noqa: BLE001 - deletes that outlast retries are reported, not fatal
        reason = error_from(exc).message
    let_go(orch, grant.ticket, freed=reason is None)
    note_conflicts(orch, conflicted_at)
    return reason


def delete_held(
    orch: Orchestration, name: str, grant: Grant, conflicted_at: list[datetime]
) -> Step[str | None]:
    """Sends the DELETE (again at every poll: ARM takes a deployment's own delete more than once) until
    the deployment is gone; returns None then, else why not."""
    context, settings = orch.context, orch.state.settings
    conflicts_until = context.current_utc_datetime + timedelta(seconds=settings.account_wait_seconds)
    deleting_until: datetime | None = None
    while True:
        answer = yield from orch.call(DELETE_DEPLOYMENTS, DeleteDeployments(names=[name]))
        now = context.current_utc_datetime
        if not answer.remaining:
            return None
        if answer.conflicts:
            conflicted_at.append(now)
            if now >= conflicts_until:
                return f"ARM answered {REQUEST_CONFLICT} until account_wait_seconds passed"
            yield from hold(orch, f"delete {name}", ticket=grant.ticket, since=grant.since)  # renews
        else:
            deleting_until = deleting_until or now + timedelta(seconds=settings.deployment_deadline_seconds)
            if now >= deleting_until:
                return "still deleting when the deadline passed"
        pause = now + timedelta(seconds=settings.deployment_poll_seconds)
        yield from orch.wait(context.create_timer(pause))


def note_conflicts(orch: Orchestration, at: list[datetime]) -> None:
    """Counts 409 RequestConflict answers a write waited out, and the time from the first to its end."""
    if at:
        use = orch.state.account
        use.conflicts += len(at)
        waited = (orch.context.current_utc_datetime - at[0]).total_seconds()
        use.conflict_wait_seconds = round(use.conflict_wait_seconds + waited, 3)


def provision(
    orch: Orchestration,
    name: str,
    model: str,
    *,
    sku: Sku | None = None,
    before_waiting: Callable[[], Step[None]] | None = None,
) -> Step[None]:
    """Creates a deployment and waits for ARM's verdict, holding the account's write grant from the PUT
    until ARM has settled (``before_waiting`` runs once the PUT is accepted, e.g. to record it); raises
    StageFailed (after deleting a deployment that failed or overran its deadline); changes nothing
    else."""
    grant = yield from start(orch, name, model, sku=sku)
    try:
        if before_waiting is not None:
            yield from before_waiting()
        polled = yield from orch.poll(
            GET_DEPLOYMENT,
            DeploymentRef(name=name),
            until=lambda deployment: deployment.state in PROVISIONING_SETTLED,
            interval=fixed(orch.state.settings.deployment_poll_seconds),
            deadline_seconds=orch.state.settings.deployment_deadline_seconds,
        )
    except Exception:
        let_go(orch, grant.ticket)
        raise
    let_go(orch, grant.ticket)
    yield from verdict(orch, name, polled)


def start(orch: Orchestration, name: str, model: str, *, sku: Sku | None) -> Step[Grant]:
    """Asks ARM for the deployment (the run's SKU unless ``sku`` is given) once the account's gate
    grants the write, and returns the grant, held: the caller lets go once ARM has settled. A 409
    RequestConflict (a writer outside the app) is sent again after a durable wait. A fine-tuned model
    needs a free slot of the account: finding none, the write gives its turn back, deletes the
    lineage's own spare deployments, and waits for a slot in line with every lineage (custom status
    and report show it). Raises StageFailed if ARM refuses, or a wait outlasts its deadline."""
    state, settings, context = orch.state, orch.state.settings, orch.context
    sku_name, capacity = fit_sku(model, *(sku or (settings.sku_name, settings.sku_capacity)))
    request = StartDeployment(
        run_id=state.run_id, name=name, model=model, sku_name=sku_name, sku_capacity=capacity
    )
    needs_slot = FINE_TUNED_MARK in model
    ticket, since = context.new_uuid(), context.current_utc_datetime
    slot_since: datetime | None = None
    queued = False
    while True:
        grant = yield from hold(orch, f"create {name}", needs_slot=needs_slot, ticket=ticket, since=since)
        queued = queued or grant.queued
        started = yield from send(orch, request, grant)
        if started.state != NO_SLOT:
            break
        let_go(orch, grant.ticket, no_slot=True)
        if slot_since is None:
            slot_since = context.current_utc_datetime
            yield from wait_for_slot(orch, name, slot_since)
        yield from let_go_of(orch, spares(state, keep=name), "the account has no free deployment slot")
    state.account.waited(grant.waited, queued)
    if slot_since is not None:
        yield from slot_found(orch, slot_since)
    if started.error:
        let_go(orch, grant.ticket)
        raise StageFailed("failed", started.error)
    if started.format_refused:
        accepted = other_format(model, started.format_refused)
        message = (
            f"Azure refused model.format {started.format_refused} for {model} (HTTP 500) and accepted "
            f"{accepted}: set OPEN_MODEL_DEPLOYMENT_FORMAT accordingly (docs/models.md)"
        )
        yield from orch.report(ReportChange(warnings=[ErrorInfo(code="DeploymentFormat", message=message)]))
    if name not in state.run_deployments:
        state.run_deployments.append(name)
    orch.show(Stage.DEPLOY, f"deployment {name} {started.state}", deployment=name)
    return grant


def send(orch: Orchestration, request: StartDeployment, grant: Grant) -> Step[DeploymentResult]:
    """Sends the PUT under ``grant``, again after a durable wait while ARM answers 409 RequestConflict
    (renewing the grant each time); raises StageFailed when the conflicts outlast
    ``account_wait_seconds``, and
    RunCancelled (letting the grant go) when the run is cancelled; returns ARM's answer."""
    context, settings = orch.context, orch.state.settings
    deadline = context.current_utc_datetime + timedelta(seconds=settings.account_wait_seconds)
    conflicted_at: list[datetime] = []
    try:
        while True:
            started = yield from orch.call(START_DEPLOYMENT, request)
            if started.state != REQUEST_CONFLICT:
                break
            conflicted_at.append(context.current_utc_datetime)
            if context.current_utc_datetime >= deadline:
                message = f"{request.name}: ARM answered {REQUEST_CONFLICT} until account_wait_seconds passed"
                raise StageFailed("failed", ErrorInfo(code=REQUEST_CONFLICT, message=message))
            orch.show(Stage.DEPLOY, f"{request.name}: another write on the account (409); waiting")
            pause = context.current_utc_datetime + timedelta(seconds=settings.deployment_poll_seconds)
            yield from orch.wait(context.create_timer(pause))
            yield from hold(orch, f"create {request.name}", ticket=grant.ticket, since=grant.since)
    except Exception:
        let_go(orch, grant.ticket)
        raise
    note_conflicts(orch, conflicted_at)
    return started


def wait_for_slot(orch: Orchestration, name: str, since: datetime) -> Step[None]:
    """Notes in the report (and the state) that ``name`` waits for a fine-tuned deployment slot."""
    use, settings = orch.state.account, orch.state.settings
    use.slot_waits += 1
    deadline = since + timedelta(seconds=settings.account_wait_seconds)
    use.waiting_for_slot = SlotWait(deployment=name, since=since, deadline=deadline)
    yield from orch.report(ReportChange(account=use))


def slot_found(orch: Orchestration, since: datetime) -> Step[None]:
    use = orch.state.account
    waited = (orch.context.current_utc_datetime - since).total_seconds()
    use.slot_wait_seconds = round(use.slot_wait_seconds + waited, 3)
    use.waiting_for_slot = None
    yield from orch.report(ReportChange(account=use))


def await_provisioned(orch: Orchestration, name: str) -> Step[None]:
    """Waits for ARM's verdict on a deployment someone else is creating; raises StageFailed unless it
    succeeds in time, after deleting the deployment (a failed or stuck deployment must not be left
    behind)."""
    settings = orch.state.settings
    polled = yield from orch.poll(
        GET_DEPLOYMENT,
        DeploymentRef(name=name),
        until=lambda deployment: deployment.state in PROVISIONING_SETTLED,
        interval=fixed(settings.deployment_poll_seconds),
        deadline_seconds=settings.deployment_deadline_seconds,
    )
    yield from verdict(orch, name, polled)


def verdict(orch: Orchestration, name: str, polled: Polled[DeploymentResult]) -> Step[None]:
    """Raises StageFailed unless ARM's last answer says the deployment succeeded in time, deleting it
    first (a failed or stuck deployment must not be left behind)."""
    if polled.result.state == "Succeeded" and not polled.timed_out:
        return
    if polled.result.state not in GONE:
        yield from retire(orch, [name])
    if polled.timed_out:
        message = f"{name} still {polled.result.state}; deleted"
        raise StageFailed("failed", ErrorInfo(code="DeploymentDeadlineExceeded", message=message))
    error = polled.result.error or ErrorInfo(code=f"Deployment{polled.result.state}", message=name)
    raise StageFailed("failed", error)


def wait_until_serving(orch: Orchestration, name: str) -> Step[None]:
    """Probes the deployment until it answers; raises StageFailed if it never does; changes nothing."""
    settings = orch.state.settings
    orch.show(Stage.DEPLOY, f"deployment {name} succeeded; waiting until it serves")
    polled = yield from orch.poll(
        PROBE_DEPLOYMENT,
        DeploymentRef(name=name),
        until=lambda probe: probe.ready or probe.error is None or probe.error.code not in NOT_SERVING_YET,
        interval=fixed(settings.deployment_poll_seconds),
        deadline_seconds=settings.deployment_deadline_seconds,
    )
    if not polled.result.ready:
        error = polled.result.error or ErrorInfo(code="DeploymentNotServing", message=name)
        raise StageFailed("failed", error)


def ensure_serving(orch: Orchestration, name: str, model: str) -> Step[None]:
    """Brings a deployment of ours back if Azure removed it (a DeveloperTier deployment lives 24 h) and
    waits until it serves; raises StageFailed if it cannot; changes nothing else."""
    current = yield from orch.call(GET_DEPLOYMENT, DeploymentRef(name=name))
    if current.state in BROKEN or current.state == DELETING:
        yield from retire(orch, [name])
    if current.state in GONE | BROKEN or current.state == DELETING:
        orch.show(Stage.DEPLOY, f"{name} is {current.state}; redeploying it")
        yield from provision(orch, name, model)
    elif current.state != "Succeeded":
        yield from await_provisioned(orch, name)
    yield from wait_until_serving(orch, name)
