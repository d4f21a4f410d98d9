"""Azure OpenAI model deployments through ARM (azure-mgmt-cognitiveservices), without blocking.

ARM create/delete are long-running operations; the SDK's poller would hold a worker for minutes.
Here each call only sends the request (``polling=False``) and the orchestrator polls provisioning on
durable timers. Every call is idempotent: an existing deployment of the same model is reused, one of a
different model is a permanent conflict (Azure refuses ``ModelUpgradeNotSupported`` for fine-tuned
deployments anyway), and deleting what is already gone succeeds.
"""

from __future__ import annotations

from typing import Any, Literal

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.cognitiveservices import CognitiveServicesManagementClient
from azure.mgmt.cognitiveservices.models import Deployment, DeploymentModel, DeploymentProperties, Sku

from shared.azure.errors import describe
from shared.contracts.payloads import NAME_TAKEN, NO_SLOT, REQUEST_CONFLICT, DeploymentResult, StartDeployment
from shared.domain.errors import ErrorInfo
from shared.domain.models import deployment_format, other_format, platform_id
from shared.domain.rate_limits import FINE_TUNED_MARK

RUN_TAG = "durable-finetune-run"
GONE = "NotFound"
FORMAT_REFUSED = 500
"""How Azure answers an open model's deployment with the other ``model.format`` (skill: "HTTP 500, no
message")."""
CONFLICT_CODES = frozenset({"RequestConflict", "AnotherOperationInProgress"})
"""ARM's 409 codes for a write that came while another was in progress: on the account (Azure's
resource provider takes one deployment write at a time) or on the deployment itself."""
QUOTA_CODE = "InsufficientQuota"

Deletion = Literal["gone", "deleting", "conflict"]


def is_write_conflict(exc: HttpResponseError) -> bool:
    """A 409 that says "try again once the write in progress is done", not "this is wrong"."""
    return exc.status_code == 409 and exc.error is not None and exc.error.code in CONFLICT_CODES


def fine_tuned(item: Deployment) -> bool:
    """Whether the deployment serves a fine-tuned model (they count against the account's slots)."""
    model = item.properties.model.name if item.properties and item.properties.model else None
    return model is not None and FINE_TUNED_MARK in model


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

    def fine_tuned_in_use(self) -> list[str]:
        """The account's fine-tuned deployments, whatever their state: each holds a slot until it is
        gone."""
        deployments = self.client.deployments.list(self.resource_group, self.account)
        return sorted(item.name for item in deployments if item.name and fine_tuned(item))

    def start(
        self, request: StartDeployment, slot_limit: int | None = None, open_model_format: str = "provider"
    ) -> DeploymentResult:
        """Sends the PUT, unless the deployment exists (reused if it serves the same model) or, for a
        fine-tuned model, the account has no free slot of ``slot_limit`` (state NoSlot: the caller
        holds the account's write grant, so no write of the app can race the count); a PUT refused
        because another write is in progress is state RequestConflict, to be sent again later. An open
        model's ``model.format`` is ``open_model_format``'s (the ``OPEN_MODEL_DEPLOYMENT_FORMAT`` app
        setting); sources disagree on it and Azure answers a wrong one with a bare HTTP 500 (Microsoft's
        skill references, docs/models.md), so on that answer the other format is tried once, and the
        answer names the one refused."""
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
        if slot_limit is not None and FINE_TUNED_MARK in request.model:
            used = self.fine_tuned_in_use()
            if len(used) >= slot_limit:
                message = f"{len(used)} of {slot_limit} fine-tuned deployments in use: {', '.join(used)}"
                return DeploymentResult(
                    name=request.name,
                    state=NO_SLOT,
                    error=ErrorInfo(code="NoDeploymentSlot", message=message),
                )
        preferred = deployment_format(request.model, open_model_format)
        fallback = other_format(request.model, preferred)
        refused: str | None = None
        try:
            answer = self._put(request, preferred, retry_total=0 if fallback else None)
        except HttpResponseError as exc:
            if fallback is None or exc.status_code != FORMAT_REFUSED:
                raise
            answer = self._put(request, fallback, retry_total=0)
            refused = preferred
        if answer is not None:
            return answer
        started = self.state(request.name)
        return started if refused is None else started.model_copy(update={"format_refused": refused})

    def _put(
        self, request: StartDeployment, model_format: str, retry_total: int | None
    ) -> DeploymentResult | None:
        """Sends the PUT (the SDK's retries only when ``retry_total`` is None: a 500 that means a wrong
        format would otherwise be retried for seconds before the other format is tried); None once ARM
        took it, else the answer to a refusal the caller waits out (another write in progress, no quota).
        Raises any other refusal."""
        body = Deployment(
            sku=Sku(name=request.sku_name, capacity=request.sku_capacity),
            tags={RUN_TAG: request.run_id},
            properties=DeploymentProperties(
                model=DeploymentModel(format=model_format, name=request.model, version="1")
            ),
        )
        options: dict[str, Any] = {} if retry_total is None else {"retry_total": retry_total}
        try:
            self.client.deployments.begin_create_or_update(
                self.resource_group, self.account, request.name, body, polling=False, **options
            )
        except HttpResponseError as exc:
            if is_write_conflict(exc):
                return DeploymentResult(name=request.name, state=REQUEST_CONFLICT, error=describe(exc))
            if exc.error is not None and exc.error.code == QUOTA_CODE:
                return DeploymentResult(name=request.name, state=NO_SLOT, error=describe(exc))
            raise
        return None

    def delete(self, name: str) -> Deletion:
        """Sends the DELETE (again, while it is in progress: ARM accepts a deployment's own delete);
        ``conflict`` when ARM refused it because another write is in progress."""
        if self.get(name) is None:
            return "gone"
        try:
            self.client.deployments.begin_delete(self.resource_group, self.account, name, polling=False)
        except ResourceNotFoundError:
            return "gone"
        except HttpResponseError as exc:
            if is_write_conflict(exc):
                return "conflict"
            raise
        return "gone" if self.get(name) is None else "deleting"
