"""Azure OpenAI model deployments through ARM (azure-mgmt-cognitiveservices), without blocking.

ARM create/delete are long-running operations; the SDK's poller would hold a worker for minutes.
Here each call only sends the request (``polling=False``) and the orchestrator polls provisioning on
durable timers. Every call is idempotent: an existing deployment of the same model is reused, one of a
different model is a permanent conflict (Azure refuses ``ModelUpgradeNotSupported`` for fine-tuned
deployments anyway), and deleting what is already gone succeeds.
"""

from __future__ import annotations

from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from azure.mgmt.cognitiveservices.models import Deployment, DeploymentModel, DeploymentProperties, Sku

from shared.contracts.payloads import NAME_TAKEN, DeploymentResult, StartDeployment
from shared.domain.errors import ErrorInfo
from shared.domain.models import deployment_format, other_format, platform_id

RUN_TAG = "durable-finetune-run"
GONE = "NotFound"
FORMAT_REFUSED = 500
"""How Azure answers an open model's deployment with the other ``model.format`` (skill: "HTTP 500, no
message")."""


class Account:
    """Which Azure OpenAI account the deployments belong to."""

    def __init__(self, client: CognitiveServicesManagementClient, resource_group: str, account: str) -> None:
        self.client = client
        self.resource_group = resource_group
        self.account = account

    def get(self, name: str) -> Deployment | None:
        try:
            return self.client.deployments.get(self.resource_group, self.account, name)
        except ResourceNotFoundError:
            return None

    def names(self) -> set[str]:
        """Every deployment on the account, whoever made it."""
        return {
            item.name for item in self.client.deployments.list(self.resource_group, self.account) if item.name
        }

    def made_by(self, run_id: str) -> list[str]:
        """The deployments a run created (they carry its id in the ``durable-finetune-run`` tag)."""
        deployments = self.client.deployments.list(self.resource_group, self.account)
        return sorted(
            item.name for item in deployments if item.name and (item.tags or {}).get(RUN_TAG) == run_id
        )

    def state(self, name: str) -> DeploymentResult:
        deployment = self.get(name)
        if deployment is None:
            return DeploymentResult(name=name, state=GONE)
        state = (deployment.properties.provisioning_state if deployment.properties else None) or "Unknown"
        error = None
        if state in {"Failed", "Canceled"}:
            error = ErrorInfo(
                code=f"Deployment{state}", message=f"deployment {name} provisioning ended {state}"
            )
        model = deployment.properties.model if deployment.properties else None
        served = platform_id(model.name, model.version or "") if model is not None and model.name else None
        return DeploymentResult(name=name, state=state, error=error, model=served)

    def start(self, request: StartDeployment, open_model_format: str = "provider") -> DeploymentResult:
        """Creates the deployment (or finds the one an earlier attempt created). An open model's
        ``model.format`` is ``open_model_format``'s (the ``OPEN_MODEL_DEPLOYMENT_FORMAT`` app setting);
        sources disagree on it and Azure answers a wrong one with a bare HTTP 500 (Microsoft's skill
        references, docs/models.md), so on that answer the other format is tried once, and the answer
        names the one refused."""
        existing = self.get(request.name)
        if existing is not None:
            model = (
                existing.properties.model.name if existing.properties and existing.properties.model else None
            )
            if model != request.model:
                return DeploymentResult(
                    name=request.name,
                    state="Conflict",
                    error=ErrorInfo(
                        code=NAME_TAKEN,
                        message=f"deployment {request.name} already serves {model}, not {request.model}; "
                        "choose another deployment_prefix",
                    ),
                )
            return self.state(request.name)
        preferred = deployment_format(request.model, open_model_format)
        fallback = other_format(request.model, preferred)
        try:
            self._put(request, preferred, retry_total=0 if fallback else None)
        except HttpResponseError as exc:
            if fallback is None or exc.status_code != FORMAT_REFUSED:
                raise
            self._put(request, fallback, retry_total=0)
            return self.state(request.name).model_copy(update={"format_refused": preferred})
        return self.state(request.name)

    def _put(self, request: StartDeployment, model_format: str, retry_total: int | None) -> None:
        """Sends the PUT (the SDK's retries only when ``retry_total`` is None: a 500 that means a wrong
        format would otherwise be retried for seconds before the other format is tried)."""
        body = Deployment(
            sku=Sku(name=request.sku_name, capacity=request.sku_capacity),
            tags={RUN_TAG: request.run_id},
            properties=DeploymentProperties(
                model=DeploymentModel(format=model_format, name=request.model, version="1")
            ),
        )
        options: dict[str, Any] = {} if retry_total is None else {"retry_total": retry_total}
        self.client.deployments.begin_create_or_update(
            self.resource_group, self.account, request.name, body, polling=False, **options
        )

    def start_delete(self, name: str) -> bool:
        """Sends the DELETE; True while the deployment still exists."""
        if self.get(name) is None:
            return False
        try:
            self.client.deployments.begin_delete(self.resource_group, self.account, name, polling=False)
        except ResourceNotFoundError:
            return False
        return self.get(name) is not None
