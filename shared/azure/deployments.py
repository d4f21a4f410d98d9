"""Azure OpenAI model deployments through ARM (azure-mgmt-cognitiveservices), without blocking.

ARM create/delete are long-running operations; the SDK's poller would hold a worker for minutes.
Here each call only sends the request (``polling=False``) and the orchestrator polls provisioning on
durable timers. Every call is idempotent: an existing deployment of the same model is reused, one of a
different model is a permanent conflict (Azure refuses ``ModelUpgradeNotSupported`` for fine-tuned
deployments anyway), and deleting what is already gone succeeds.
"""

from __future__ import annotations

from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from azure.mgmt.cognitiveservices.models import Deployment, DeploymentModel, DeploymentProperties, Sku

from shared.contracts.payloads import NAME_TAKEN, DeploymentResult, StartDeployment
from shared.domain.errors import ErrorInfo

RUN_TAG = "durable-finetune-run"
GONE = "NotFound"


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
        return DeploymentResult(name=name, state=state, error=error)

    def start(self, request: StartDeployment) -> DeploymentResult:
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
        body = Deployment(
            sku=Sku(name=request.sku_name, capacity=request.sku_capacity),
            tags={RUN_TAG: request.run_id},
            properties=DeploymentProperties(
                model=DeploymentModel(format="OpenAI", name=request.model, version="1")
            ),
        )
        self.client.deployments.begin_create_or_update(
            self.resource_group, self.account, request.name, body, polling=False
        )
        return self.state(request.name)

    def start_delete(self, name: str) -> bool:
        """Sends the DELETE; True while the deployment still exists."""
        if self.get(name) is None:
            return False
        try:
            self.client.deployments.begin_delete(self.resource_group, self.account, name, polling=False)
        except ResourceNotFoundError:
            return False
        return self.get(name) is not None
