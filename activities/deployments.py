"""Activities for Azure OpenAI deployments (ARM) and for checking that a deployment serves.

ARM calls only send requests; the orchestrator waits on durable timers. A fresh deployment can answer
404 DeploymentNotFound for minutes after it reports Succeeded, so the orchestrator also probes it with
one tiny chat completion before sending it an evaluation's worth of traffic.
"""

from __future__ import annotations

import azure.durable_functions as df
import openai

from activities.implements import implements
from shared.azure.clients import async_openai_client, openai_account
from shared.azure.errors import describe, raise_if_transient
from shared.contracts.payloads import (
    DeleteDeployments,
    DeploymentLimits,
    DeploymentRef,
    DeploymentResult,
    DeploymentsRemaining,
    ProbeResult,
    RateBudget,
    StartDeployment,
)
from shared.contracts.specs import (
    DELETE_DEPLOYMENTS,
    GET_DEPLOYMENT,
    PROBE_DEPLOYMENT,
    READ_DEPLOYMENT_LIMITS,
    START_DEPLOYMENT,
)
from shared.domain.rate_limits import (
    RateLimit,
    UnknownModelFamily,
    UnsupportedSku,
    deployment_rate_limit,
    reported_rate_limit,
)
from shared.domain.settings import get_settings

bp = df.Blueprint()


@implements(bp, START_DEPLOYMENT)
def start_deployment(request: StartDeployment) -> DeploymentResult:
    """Sends the PUT (the caller holds the account's write grant) unless the account has no free
    fine-tuned deployment slot (``MAX_FINE_TUNED_DEPLOYMENTS``); a 409 RequestConflict is an answer."""
    try:
        return openai_account().start(
            request,
            slot_limit=get_settings().max_fine_tuned_deployments,
            open_model_format=get_settings().open_model_deployment_format,
        )
    except Exception as exc:  # noqa: BLE001 - classified: transient re-raised, permanent recorded
        return DeploymentResult(name=request.name, state="Failed", error=raise_if_transient(exc))


@implements(bp, GET_DEPLOYMENT)
def get_deployment(request: DeploymentRef) -> DeploymentResult:
    return openai_account().state(request.name)


@implements(bp, DELETE_DEPLOYMENTS)
def delete_deployments(request: DeleteDeployments) -> DeploymentsRemaining:
    """Sends (or sends again) each DELETE; answers those still there and those ARM refused because
    another write was in progress (409 RequestConflict), which the caller's next poll sends again."""
    outcomes = {name: openai_account().delete(name) for name in request.names}
    return DeploymentsRemaining(
        remaining=[name for name, outcome in outcomes.items() if outcome != "gone"],
        conflicts=[name for name, outcome in outcomes.items() if outcome == "conflict"],
    )


@implements(bp, READ_DEPLOYMENT_LIMITS)
def read_deployment_limits(request: DeploymentRef) -> DeploymentLimits:
    """The rate limit a rollout stage paces itself to: what ARM reports for the deployment
    (``properties.rateLimits``), else what its model, SKU and capacity buy (docs/rate-limits.md)."""
    deployment = openai_account().get(request.name)
    if deployment is None:
        return DeploymentLimits(deployment=request.name, found=False, problem="not found")
    properties, sku = deployment.properties, deployment.sku
    limits = DeploymentLimits(
        deployment=request.name,
        found=True,
        model=properties.model.name if properties and properties.model else None,
        sku_name=sku.name if sku else None,
        capacity=sku.capacity if sku else None,
    )
    derived, problem = _derived_rate_limit(limits)
    rules = [
        (rule.key, rule.renewal_period, rule.count) for rule in (properties and properties.rate_limits) or []
    ]
    limit = reported_rate_limit(rules, derived) or derived
    if limit is None:
        return limits.model_copy(update={"problem": problem})
    budget = RateBudget(
        rpm=limit.rpm, tpm=limit.tpm, window_seconds=limit.window_seconds, source=limit.source
    )
    return limits.model_copy(update={"budget": budget})


def _derived_rate_limit(limits: DeploymentLimits) -> tuple[RateLimit | None, str | None]:
    """What the deployment's model, SKU and capacity buy, or why that is not known."""
    if not (limits.model and limits.sku_name and limits.capacity):
        return None, f"ARM shows no model, SKU or capacity for {limits.deployment}"
    try:
        return deployment_rate_limit(limits.model, limits.sku_name, limits.capacity), None
    except (UnknownModelFamily, UnsupportedSku) as exc:
        return None, str(exc)


@implements(bp, PROBE_DEPLOYMENT)
async def probe_deployment(request: DeploymentRef) -> ProbeResult:
    try:
        await async_openai_client().chat.completions.create(
            model=request.name, messages=[{"role": "user", "content": "ping"}], max_tokens=1
        )
    except openai.NotFoundError as exc:
        return ProbeResult(ready=False, error=describe(exc))
    except Exception as exc:  # noqa: BLE001 - transient re-raised for a retry, permanent: not ready
        return ProbeResult(ready=False, error=raise_if_transient(exc))
    return ProbeResult(ready=True)
