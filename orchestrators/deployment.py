"""Deployments: make room, create one, wait until ARM says Succeeded and it serves; delete them again.

A fresh deployment can answer 404 DeploymentNotFound for minutes after ARM reports Succeeded, so a
deployment is probed with one tiny chat call before an evaluation's worth of traffic is sent to it. A
deployment that fails or overruns its deadline is deleted at once, so nothing is left billing.
"""

from __future__ import annotations

from orchestrators.errors import RunCancelled, StageFailed, error_from
from orchestrators.orchestration import Orchestration, Stage, Step, fixed
from orchestrators.record import Deployed, IterationRecord
from shared.contracts.payloads import (
    DeleteDeployments,
    DeploymentRef,
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
from shared.domain.errors import ErrorInfo, Leak
from shared.domain.models import fit_sku, other_format

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
    state = orch.state
    yield from prune(orch)
    yield from start(orch, name, model, sku=None)
    deployed = Deployed(name, state.settings.sku_name)
    state.deployments.append(name)
    yield from record.checkpoint(deployed)
    yield from await_provisioned(orch, name)
    yield from wait_until_serving(orch, name)
    return deployed


def prune(orch: Orchestration) -> Step[list[str]]:
    """Deletes the lineage's oldest candidate deployments so a new one fits ``max_deployments``, never
    the champion's; raises StageFailed if they outlive the deadline; records what it deleted."""
    settings = orch.state.settings
    victims = prunable(orch.state)
    if not victims:
        return []
    orch.show(Stage.DEPLOY, f"deleting {', '.join(victims)} to stay within {settings.max_deployments}")
    yield from retire(orch, victims)
    return victims


def prunable(state: RunState) -> list[str]:
    """The lineage's oldest candidate deployments that must go so a new one fits ``max_deployments``;
    never the champion's."""
    champion = state.champion.deployment if state.champion else None
    pool = [name for name in state.deployments if name != champion]
    return pool[: max(0, len(pool) - (state.settings.max_deployments - 1))]


def retire(orch: Orchestration, names: list[str]) -> Step[None]:
    """Deletes deployments and waits until they are gone; raises StageFailed if any outlives the
    deadline; records the deletion in the lineage, the report and the state."""
    state, settings = orch.state, orch.state.settings
    reason = "still deleting when the deadline passed"
    try:
        polled = yield from orch.poll(
            DELETE_DEPLOYMENTS,
            DeleteDeployments(names=names),
            until=lambda answer: not answer.remaining,
            interval=fixed(settings.deployment_poll_seconds),
            deadline_seconds=settings.deployment_deadline_seconds,
        )
        remaining = polled.result.remaining
    except RunCancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - deletes that outlast retries are reported, not fatal
        remaining, reason = names, error_from(exc).message
    gone = [name for name in names if name not in remaining]
    request = DeploymentsDeleted(lineage=state.lineage, names=gone, at=orch.now())
    yield from orch.perform(MARK_LINEAGE_DEPLOYMENTS_DELETED, request)
    state.deployments = [name for name in state.deployments if name not in gone]
    state.run_deployments = [name for name in state.run_deployments if name not in gone]
    leaked = [Leak(kind="deployment", name=name, reason=reason) for name in remaining]
    yield from orch.report(ReportChange(deployments_deleted=gone, leaked=leaked or None))
    if remaining:
        message = f"{', '.join(remaining)} not deleted in time"
        raise StageFailed("failed", ErrorInfo(code="DeleteDeadlineExceeded", message=message))


def start(orch: Orchestration, name: str, model: str, *, sku: Sku | None) -> Step[None]:
    """Asks ARM for the deployment (the run's SKU unless ``sku`` is given); raises StageFailed if ARM
    refuses; changes nothing in the state."""
    state, settings = orch.state, orch.state.settings
    sku_name, capacity = fit_sku(model, *(sku or (settings.sku_name, settings.sku_capacity)))
    request = StartDeployment(
        run_id=state.run_id, name=name, model=model, sku_name=sku_name, sku_capacity=capacity
    )
    started = yield from orch.call(START_DEPLOYMENT, request)
    if started.error:
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


def await_provisioned(orch: Orchestration, name: str) -> Step[None]:
    """Waits for ARM's verdict; raises StageFailed unless it succeeds in time, after deleting the
    deployment (a failed or stuck deployment must not be left behind)."""
    settings = orch.state.settings
    polled = yield from orch.poll(
        GET_DEPLOYMENT,
        DeploymentRef(name=name),
        until=lambda deployment: deployment.state in PROVISIONING_SETTLED,
        interval=fixed(settings.deployment_poll_seconds),
        deadline_seconds=settings.deployment_deadline_seconds,
    )
    if polled.result.state == "Succeeded" and not polled.timed_out:
        return
    if polled.result.state not in GONE:
        yield from retire(orch, [name])
    if polled.timed_out:
        message = f"{name} still {polled.result.state}; deleted"
        raise StageFailed("failed", ErrorInfo(code="DeploymentDeadlineExceeded", message=message))
    error = polled.result.error or ErrorInfo(code=f"Deployment{polled.result.state}", message=name)
    raise StageFailed("failed", error)


def provision(orch: Orchestration, name: str, model: str, *, sku: Sku | None = None) -> Step[None]:
    """Creates a deployment and waits for ARM's verdict; raises StageFailed; changes nothing else."""
    yield from start(orch, name, model, sku=sku)
    yield from await_provisioned(orch, name)


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
