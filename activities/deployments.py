"""Activities for Azure OpenAI deployments (ARM) and for checking that a deployment serves.

ARM calls only send requests; the orchestrator waits on durable timers. A fresh deployment can answer
404 DeploymentNotFound for minutes after it reports Succeeded, so the orchestrator also probes it with
one tiny chat completion before sending it an evaluation's worth of traffic.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df
import openai

from shared.clients import async_openai_client, openai_account
from shared.contracts import (
    DeleteDeployments,
    DeploymentRef,
    DeploymentResult,
    DeploymentsRemaining,
    ProbeResult,
    StartDeployment,
)
from shared.errors import describe, raise_if_transient

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
def start_deployment(payload: dict[str, Any]) -> dict[str, Any]:
    request = StartDeployment.model_validate(payload)
    try:
        return openai_account().start(request).model_dump()
    except Exception as exc:  # noqa: BLE001 - classified: transient re-raised, permanent recorded
        return DeploymentResult(
            name=request.name, state="Failed", error=raise_if_transient(exc).as_dict()
        ).model_dump()


@bp.activity_trigger(input_name="payload")
def get_deployment(payload: dict[str, Any]) -> dict[str, Any]:
    request = DeploymentRef.model_validate(payload)
    return openai_account().state(request.name).model_dump()


@bp.activity_trigger(input_name="payload")
def delete_deployments(payload: dict[str, Any]) -> dict[str, Any]:
    request = DeleteDeployments.model_validate(payload)
    remaining = [name for name in request.names if openai_account().start_delete(name)]
    return DeploymentsRemaining(remaining=remaining).model_dump()


@bp.activity_trigger(input_name="payload")
async def probe_deployment(payload: dict[str, Any]) -> dict[str, Any]:
    request = DeploymentRef.model_validate(payload)
    try:
        await async_openai_client().chat.completions.create(
            model=request.name, messages=[{"role": "user", "content": "ping"}], max_tokens=1
        )
    except openai.NotFoundError as exc:
        return ProbeResult(ready=False, error=describe(exc).as_dict()).model_dump()
    except Exception as exc:  # noqa: BLE001 - transient re-raised for a retry, permanent: not ready
        return ProbeResult(ready=False, error=raise_if_transient(exc).as_dict()).model_dump()
    return ProbeResult(ready=True).model_dump()
