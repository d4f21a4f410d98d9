"""The deploy stage: make room, create the deployment, wait until ARM says Succeeded and it serves.

A fresh deployment can answer 404 DeploymentNotFound for minutes after ARM reports Succeeded, so the
stage also probes it with one tiny chat call before an evaluation's worth of traffic is sent to it.
"""

from __future__ import annotations

from activities.deployments import delete_deployments, get_deployment, probe_deployment, start_deployment
from orchestrators.errors import IterationEnded
from orchestrators.orchestration import Orchestration, Stage, Step, fixed
from shared.contracts import (
    DeleteDeployments,
    DeploymentRef,
    DeploymentResult,
    DeploymentsRemaining,
    ProbeResult,
    StartDeployment,
)
from shared.report import IterationReport

PROVISIONING_SETTLED = {"Succeeded", "Failed", "Canceled", "NotFound", "Conflict"}


def deploy(orch: Orchestration, entry: IterationReport, model: str) -> Step[str]:
    """Deploys the model as ``{prefix}_v{iteration}``; raises IterationEnded(failed); records the
    deployment (before waiting on it) and returns its name."""
    name = f"{orch.state.settings.deployment_prefix}_v{entry.iteration:02d}"
    yield from prune(orch)
    yield from provision(orch, entry, name, model)
    yield from wait_until_serving(orch, name)
    return name


def prune(orch: Orchestration) -> Step[list[str]]:
    """Deletes this run's oldest deployments so a new one fits ``max_deployments``, keeping the best
    while anything else can go; raises IterationEnded(failed) if they outlive the deadline; records them."""
    state, settings = orch.state, orch.state.settings
    excess = len(state.deployments) - (settings.max_deployments - 1)
    if excess <= 0:
        return []
    keep_last = [name for name in state.deployments if name == state.best_deployment]
    victims = ([name for name in state.deployments if name != state.best_deployment] + keep_last)[:excess]
    orch.show(Stage.DEPLOY, f"deleting {', '.join(victims)} to stay within {settings.max_deployments}")
    polled = yield from orch.poll(
        delete_deployments,
        DeleteDeployments(names=victims),
        DeploymentsRemaining,
        until=lambda answer: not answer.remaining,
        interval=fixed(settings.deployment_poll_seconds),
        deadline_seconds=settings.deployment_deadline_seconds,
    )
    if polled.timed_out:
        message = f"{', '.join(polled.result.remaining)} not deleted"
        raise IterationEnded("failed", {"code": "DeleteDeadlineExceeded", "message": message})
    state.deployments = [name for name in state.deployments if name not in victims]
    yield from orch.report(deployments_deleted=victims)
    return victims


def provision(orch: Orchestration, entry: IterationReport, name: str, model: str) -> Step[None]:
    """Creates the deployment and waits for ARM's verdict; raises IterationEnded(failed) unless it
    succeeds in time; records the deployment in the entry and the run's list of its deployments."""
    state, settings = orch.state, orch.state.settings
    request = StartDeployment(
        run_id=state.run_id,
        name=name,
        model=model,
        sku_name=settings.sku_name,
        sku_capacity=settings.sku_capacity,
    )
    started = yield from orch.call(start_deployment, request, DeploymentResult)
    if started.error:
        raise IterationEnded("failed", started.error)
    entry.deployment = name
    state.deployments.append(name)
    orch.show(Stage.DEPLOY, f"deployment {name} {started.state}", deployment=name)
    polled = yield from orch.poll(
        get_deployment,
        DeploymentRef(name=name),
        DeploymentResult,
        until=lambda deployment: deployment.state in PROVISIONING_SETTLED,
        interval=fixed(settings.deployment_poll_seconds),
        deadline_seconds=settings.deployment_deadline_seconds,
    )
    if polled.timed_out:
        message = f"{name} still {polled.result.state}"
        raise IterationEnded("failed", {"code": "DeploymentDeadlineExceeded", "message": message})
    if polled.result.state != "Succeeded":
        error = polled.result.error or {"code": f"Deployment{polled.result.state}", "message": name}
        raise IterationEnded("failed", error)


def wait_until_serving(orch: Orchestration, name: str) -> Step[None]:
    """Probes the deployment until it answers; raises IterationEnded(failed) if it never does;
    changes nothing."""
    settings = orch.state.settings
    orch.show(Stage.DEPLOY, f"deployment {name} succeeded; waiting until it serves")
    polled = yield from orch.poll(
        probe_deployment,
        DeploymentRef(name=name),
        ProbeResult,
        until=lambda probe: probe.ready or (probe.error or {}).get("code") != "DeploymentNotFound",
        interval=fixed(settings.deployment_poll_seconds),
        deadline_seconds=settings.deployment_deadline_seconds,
    )
    if not polled.result.ready:
        error = polled.result.error or {"code": "DeploymentNotServing", "message": name}
        raise IterationEnded("failed", error)
