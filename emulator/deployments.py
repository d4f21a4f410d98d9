"""ARM ``Microsoft.CognitiveServices/accounts``: deployments (PUT, PATCH, GET, DELETE, LIST), the account's
model list, and the async operation status that ``azure-mgmt-cognitiveservices`` pollers follow.

Provisioning is lazy: a deployment is ``Creating`` (``Accepted`` for an update) until ``ready_at``, then
``Succeeded`` or ``Failed``; a delete makes it ``Deleting`` until ``gone_at``, after which it no longer
exists. PUT answers 201 (create) or 200 (update), PATCH and DELETE 202, each with an
``Azure-AsyncOperation`` URL and a short, non-zero ``Retry-After`` so SDK pollers never fall back to their
30 s default. Fine-tuned deployments also end by themselves, as Azure removes them: DeveloperTier ones a
fixed lifetime after creation, the others after an idle lifetime without chat calls (``expires_at``).

Account rules (sources in emulator/README.md): deployment names follow the strictest documented rule;
with ``--serialize-deployment-writes`` a write while another is in progress on the account answers 409
``RequestConflict``; each model's profile (emulator/profiles.py) decides the ``model.format`` and SKUs
its deployments may use, and open models' fine-tuned deployments are not ready for a while after
``Succeeded`` and fail to load their LoRA adapter below 100 capacity units.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.catalog import (
    account_models,
    deployable_skus,
    deployment_format,
    inference_retired_since,
    iso,
    location_models,
    root_profile,
    serializes_writes,
)
from emulator.config import INT32_MAX
from emulator.errors import ApiError, ArmError
from emulator.ids import new_hex
from emulator.jsonbody import read_json
from emulator.ratelimit import arm_rate_limits, deployment_limits
from emulator.records import DeploymentRecord, OperationRecord
from emulator.store import Store

log = logging.getLogger("emulator")
PROVIDER = "microsoft.cognitiveservices"
SKUS = {
    "standard": "Standard",
    "globalstandard": "GlobalStandard",
    "datazonestandard": "DataZoneStandard",
    "provisionedmanaged": "ProvisionedManaged",
    "globalprovisionedmanaged": "GlobalProvisionedManaged",
    "datazoneprovisionedmanaged": "DataZoneProvisionedManaged",
    "globalbatch": "GlobalBatch",
    "datazonebatch": "DataZoneBatch",
    "developertier": "DeveloperTier",
    "developer": "DeveloperTier",
}
NOT_FOUND = (
    "The API deployment for this resource does not exist. If you created the deployment within the last 5 "
    "minutes, please wait a moment and try again."
)
MAX_TAGS = 50
# The strictest rule the sources give (emulator/README.md): 2-64 letters, digits, '-' and '_'; no '.'.
STRICT_NAME = re.compile(r"[A-Za-z0-9_-]{2,64}")
LORA_FAILURE = "Failed to load LoRA adapter for deployment '{name}'. Please retry later."
NOT_READY = "The deployment '{name}' is not ready yet. Please retry after some time."


def expires_at(d: DeploymentRecord) -> float | None:
    """When Azure removes the deployment by itself, or None if it never does (base models)."""
    if d.lifetime is not None:
        return d.created_at + d.lifetime
    if d.idle_lifetime is not None:
        return max(d.created_at, d.last_used_at or 0.0) + d.idle_lifetime
    return None


def state_of(d: DeploymentRecord, now: float) -> str | None:
    """The deployment's provisioningState at ``now``; None once it is gone (deleted or expired)."""
    if d.gone_at is not None and now >= d.gone_at:
        return None
    expiry = expires_at(d)
    if expiry is not None and now >= expiry:
        return None
    if d.deleting_at is not None and now >= d.deleting_at:
        return "Deleting"
    if now < d.ready_at:
        return d.pending_state
    return "Failed" if d.failed else "Succeeded"


def purge(store: Store, now: float) -> None:
    """Forget deployments whose delete has completed."""
    gone = [name for name, d in store.data.deployments.items() if state_of(d, now) is None]
    for name in gone:
        del store.data.deployments[name]
    if gone:
        store.save()


def is_fine_tuned(store: Store, model_id: str) -> bool:
    model = store.data.models.get(model_id)
    return model is not None and model.job_id is not None


def _ids(store: Store) -> tuple[str, str]:
    c = store.config
    provider = "providers/Microsoft.CognitiveServices"
    account = (
        f"/subscriptions/{c.subscription}/resourceGroups/{c.resource_group}/{provider}/accounts/{c.account}"
    )
    location = f"/subscriptions/{c.subscription}/{provider}/locations/{c.location}"
    return account, location


def deployment_json(store: Store, d: DeploymentRecord, now: float) -> dict[str, Any]:
    account, _ = _ids(store)
    state = state_of(d, now) or "Deleting"
    etag = hashlib.sha256(f"{d.name}{d.model_id}{d.sku_name}{d.capacity}{d.created_at}".encode()).hexdigest()[
        :32
    ]
    return {
        "id": f"{account}/deployments/{d.name}",
        "name": d.name,
        "type": "Microsoft.CognitiveServices/accounts/deployments",
        "etag": f'"{etag}"',
        "sku": {"name": d.sku_name, "capacity": d.capacity},
        **({"tags": d.tags} if d.tags else {}),
        "systemData": {"createdAt": iso(d.created_at), "lastModifiedAt": iso(d.state_since)},
        "properties": {
            "model": {"format": d.model_format, "name": d.model_name, "version": d.model_version},
            "provisioningState": state,
            "versionUpgradeOption": "NoAutoUpgrade"
            if is_fine_tuned(store, d.model_id)
            else "OnceNewDefaultVersionAvailable",
            "currentCapacity": d.capacity,
            "capabilities": {"chatCompletion": "true"},
            "rateLimits": arm_rate_limits(deployment_limits(store, d)),
            **d.properties_extra,
        },
    }


def _retry_after(seconds: float) -> str:
    """Short and non-zero. Under 1 s (tiny --time-scale) it is fractional, which azure-core accepts."""
    seconds = min(max(seconds, 0.02), 5.0)
    return str(math.ceil(seconds)) if seconds >= 1 else f"{seconds:.2f}"


def _operation_headers(store: Store, request: Request, op: OperationRecord, now: float) -> dict[str, str]:
    _, location = _ids(store)
    base = str(request.base_url).rstrip("/")
    api_version = request.query_params.get("api-version", "")
    return {
        "Azure-AsyncOperation": f"{base}{location}/operationStatuses/{op.id}?api-version={api_version}",
        "Retry-After": _retry_after(op.ends_at - now),
    }


def _resolve_model(store: Store, name: str, version: str | None) -> str | None:
    models = store.data.models
    if name in models:
        return name
    if version and f"{name}-{version}" in models:
        return f"{name}-{version}"
    for model_id, model in models.items():
        if (
            model.job_id is None
            and model_id.startswith(name + "-")
            and model_id[len(name) + 1 :][:2].isdigit()
        ):
            return model_id
    return None


def _invalid(message: str, target: str | None = None) -> ArmError:
    return ArmError(400, "InvalidResourceProperties", message, target=target)


def _content_error(message: str) -> ArmError:
    return ArmError(400, "InvalidRequestContent", message)


def _deserialize_error(value: Any, kind: str, path: str) -> ArmError:
    """ARM's message when a body field has the wrong JSON type (Json.NET's wording, as ARM relays it)."""
    shown = value if isinstance(value, (str, int, float)) else type(value).__name__
    return _content_error(
        f"The request content was invalid and could not be deserialized: 'Error converting value "
        f"\"{shown}\" to type '{kind}'. Path '{path}'.'"
    )


def _tags(body: dict[str, Any]) -> dict[str, str] | None:
    """The body's tags (None when absent): an object of at most 50 string values, as ARM requires."""
    tags = body.get("tags")
    if tags is None:
        return None
    if not isinstance(tags, dict):
        raise _deserialize_error(
            tags, "System.Collections.Generic.Dictionary`2[System.String,System.String]", "tags"
        )
    for key, value in tags.items():
        if not isinstance(value, str):
            raise _deserialize_error(value, "System.String", f"tags.{key}")
    if len(tags) > MAX_TAGS:
        raise ArmError(
            400, "InvalidTagCount", f"The resource has {len(tags)} tags; at most {MAX_TAGS} are allowed."
        )
    return dict(tags)


def _capacity(sku: Any) -> int:
    capacity = sku.get("capacity", 1) if isinstance(sku, dict) else None
    if isinstance(capacity, bool) or not isinstance(capacity, int) or not 0 < capacity <= INT32_MAX:
        raise ArmError(
            400,
            "InvalidCapacity",
            f"The sku capacity must be an integer between 1 and {INT32_MAX}.",
            target="sku.capacity",
        )
    return capacity


def _sku_name(sku: Any) -> str:
    if not isinstance(sku, dict) or not isinstance(sku.get("name"), str):
        raise _invalid("The deployment must have a sku with a name.", "sku.name")
    name = SKUS.get(sku["name"].replace(" ", "").replace("-", "").lower())
    if name is None:
        raise ArmError(
            400, "InvalidSkuName", f"The SKU name '{sku['name']}' is not valid.", target="sku.name"
        )
    return name


def _model_of(store: Store, properties: Any, now: float) -> tuple[dict[str, Any], str, str]:
    """(the body's model object, its resolved model id, its version) or the ARM error Azure gives."""
    model = properties.get("model") if isinstance(properties, dict) else None
    if not isinstance(model, dict) or not isinstance(model.get("name"), str) or not model["name"]:
        raise _invalid("properties.model.name is required.", "properties.model")
    model_format = model.get("format", "OpenAI")
    version = model.get("version")
    version = version if isinstance(version, str) else None
    model_id = _resolve_model(store, model["name"], version)
    profile = root_profile(store, model_id) if model_id is not None else None
    if profile is not None and profile.open_model:
        if model_format != deployment_format(store, profile):
            # skill: "HTTP 500, no message | Wrong model.format"; "OSS FT deployments may fail with
            # InternalServerError -- use the correct provider-specific model.format".
            raise ArmError(500, "InternalServerError", "")
    elif not isinstance(model_format, str) or model_format.lower() != "openai":
        raise _invalid(f"The model format '{model_format}' is not supported.", "properties.model.format")
    if model_id is None:
        raise ArmError(
            400,
            "DeploymentModelNotSupported",
            f"The model 'Format:{model_format},Name:{model['name']},Version:{version}' of account deployment "
            "is not supported.",
            target="properties.model",
        )
    retired = inference_retired_since(store, model_id, now)
    if retired is not None:
        shown = deployment_format(store, root_profile(store, model_id))
        raise ArmError(
            400,
            "ServiceModelDeprecated",
            f"The model 'Format:{shown},Name:{model['name']},Version:{version or '1'}' has been deprecated "
            f"since {_since_text(retired)}.",
        )
    return model, model_id, version or "1"


def _check_name(store: Store, name: str) -> None:
    """The strictest name rule of the sources, unless ``--deployment-names lenient``."""
    if store.config.deployment_names == "strict" and not STRICT_NAME.fullmatch(name):
        raise ArmError(
            400,
            "InvalidResourceName",
            f"The deployment name '{name}' is invalid: it must be 2 to 64 characters of letters, digits, "
            "'-' and '_' (no '.').",
            target="name",
        )


def _check_sku(store: Store, model_id: str, sku_name: str, model: dict[str, Any], version: str) -> None:
    """The SKU rules of the model's profile, refused with Azure's InvalidResourceProperties in one of its
    two observed wordings: open models deploy on GlobalStandard only; DeveloperTier is for fine-tuned
    models of a model with a Developer tier; a fine-tuned model deploys on Standard only in the regions
    that offer it. Other SKUs are not checked."""
    fine_tuned = is_fine_tuned(store, model_id)
    profile = root_profile(store, model_id)
    allowed = deployable_skus(store, profile, fine_tuned)
    if sku_name in allowed or not (profile.open_model or sku_name in ("DeveloperTier", "Standard")):
        return
    if sku_name == "Standard" and fine_tuned and not profile.open_model:
        raise _invalid(
            f"The specified SKU 'Standard' for model '{model['name']} {version}' is not supported in this "
            f"region '{store.config.location}'.",
            "sku.name",
        )
    raise _invalid(
        f"The specified SKU '{sku_name}' of account deployment is not supported by the model "
        f"'{model['name']}' version: '{version}'.",
        "sku.name",
    )


def _check_account_idle(store: Store, now: float, request: Request, name: str) -> None:
    """With serialized writes, no deployment of the account may be mid-operation (Azure's resource
    provider takes one write at a time; the answer is the one terraform, bicep and azd users report).
    Each refusal is counted (``/_emulator/account``) and logged with what was in progress."""
    if not serializes_writes(store):
        return
    busy = [
        (d.name, state) for d in store.data.deployments.values() if (state := state_of(d, now)) in BUSY_STATES
    ]
    if busy:
        store.data.request_conflicts += 1
        store.save()
        log.info(
            "409 RequestConflict: %s %s refused while %s (conflict %d)",
            request.method,
            name,
            ", ".join(f"{other} is {state}" for other, state in busy),
            store.data.request_conflicts,
        )
        account, _ = _ids(store)
        raise ArmError(
            409,
            "RequestConflict",
            f"Another operation is being performed on the parent resource '{account}'. Please try again "
            "later.",
        )


def _since_text(ts: float) -> str:
    """The .NET-style UTC time Azure writes in ServiceModelDeprecated messages: ``04/30/2025 00:00:00``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%m/%d/%Y %H:%M:%S")


def fine_tuned_in_use(store: Store, now: float) -> int:
    """Fine-tuned deployments that count against the quota at ``now``: every one that exists (creating,
    succeeded, failed or deleting), none that expired or whose delete completed."""
    return sum(
        1
        for d in store.data.deployments.values()
        if not d.preprovisioned and is_fine_tuned(store, d.model_id) and state_of(d, now) is not None
    )


def _check_quota(store: Store, now: float) -> None:
    used = fine_tuned_in_use(store, now)
    quota = store.config.limits.ft_deployments
    if used >= quota:
        raise ArmError(
            400,
            "InsufficientQuota",
            "This operation require 1 new capacity in quota Fine-tuned deployment count, which is bigger "
            "than the current available capacity 0. "
            f"The current quota usage is {used} and the quota limit is {quota} "
            "for quota Fine-tuned deployment count.",
        )


def _lifetimes(store: Store, model_id: str, sku_name: str) -> tuple[float | None, float | None]:
    """(fixed lifetime, idle lifetime) in emulated seconds for a new deployment of ``model_id``."""
    if not is_fine_tuned(store, model_id):
        return None, None
    durations, scale = store.config.durations, store.config.scaled
    if sku_name == "DeveloperTier":
        return scale(durations.developer_lifetime), None
    return None, scale(durations.idle_lifetime)


BUSY_STATES = ("Creating", "Accepted", "Deleting")


def _busy(name: str, state: str | None) -> ArmError | None:
    if state in BUSY_STATES:
        return ArmError(
            409,
            "AnotherOperationInProgress",
            f"Another operation is in progress on deployment '{name}' (state {state}). Retry later.",
        )
    return None


async def _put(request: Request, store: Store, name: str, now: float) -> Response:
    _check_name(store, name)
    body = await read_json(request, {})
    if not isinstance(body, dict):
        raise _content_error("The request content must be a JSON object.")
    sku = body.get("sku")
    sku_name = _sku_name(sku)
    capacity = _capacity(sku)
    tags = _tags(body)
    properties = body.get("properties")
    model, model_id, version = _model_of(store, properties, now)
    _check_sku(store, model_id, sku_name, model, version)
    _check_account_idle(store, now, request, name)
    fine_tuned = is_fine_tuned(store, model_id)
    existing = store.data.deployments.get(name)
    existing_state = state_of(existing, now) if existing else None
    busy = _busy(name, existing_state)
    if busy is not None:
        raise busy
    creating = existing is None or existing_state is None
    if not creating and existing is not None and existing.model_id != model_id:
        if fine_tuned or is_fine_tuned(store, existing.model_id):
            raise ArmError(
                400,
                "ModelUpgradeNotSupported",
                f"Changing the model of deployment '{name}' from '{existing.model_id}' to '{model_id}' "
                "is not supported. Create a new deployment instead.",
            )
    if creating and fine_tuned:
        _check_quota(store, now)

    faults = store.faults
    failed = faults.take_deployment_failure(name)
    scale = store.config.scaled
    duration = scale(store.config.durations.provisioning if creating else store.config.durations.update)
    ready_at = now + duration * faults.config.provisioning_slowdown
    op = _operation(store, name, "create" if creating else "update", now, ready_at, failed)
    lifetime, idle_lifetime = _lifetimes(store, model_id, sku_name)
    assert isinstance(properties, dict)  # _model_of checked it
    profile = root_profile(store, model_id)
    record = DeploymentRecord(
        name=name,
        model_format=deployment_format(store, profile),
        model_name=model["name"],
        model_version=version,
        model_id=model_id,
        sku_name=sku_name,
        capacity=capacity,
        preprovisioned=existing.preprovisioned if existing is not None and not creating else False,
        created_at=now if creating or existing is None else existing.created_at,
        state_since=now,
        ready_at=ready_at,
        pending_state="Creating" if creating else "Accepted",
        failed=failed,
        error=op.error,
        not_found_until=ready_at + scale(faults.config.not_found_window) if creating else 0.0,
        not_ready_until=ready_at + scale(store.config.durations.not_ready)
        if fine_tuned and profile.open_model
        else 0.0,
        operation_id=op.id,
        properties_extra={
            k: v for k, v in properties.items() if k in ("raiPolicyName", "versionUpgradeOption")
        },
        tags=tags or {},
        lifetime=lifetime,
        idle_lifetime=idle_lifetime,
        last_used_at=None if creating or existing is None else existing.last_used_at,
    )
    store.data.deployments[name] = record
    if creating and fine_tuned:
        # The count only rises here (deletes and expiry lower it), so a mark taken at each creation is
        # the most that were ever alive at once.
        store.data.peak_ft_deployments = max(store.data.peak_ft_deployments, fine_tuned_in_use(store, now))
    store.save()
    return JSONResponse(
        deployment_json(store, record, now),
        status_code=201 if creating else 200,
        headers=_operation_headers(store, request, op, now),
    )


def _operation(
    store: Store, name: str, kind: str, now: float, ends_at: float, failed: bool
) -> OperationRecord:
    error = (
        {
            "code": "DeploymentFailed",
            "message": f"Provisioning of deployment '{name}' failed (injected by the emulator).",
        }
        if failed
        else None
    )
    op = OperationRecord(
        id=new_hex(), deployment=name, kind=kind, started_at=now, ends_at=ends_at, failed=failed, error=error
    )
    store.data.operations[op.id] = op
    return op


async def _patch(request: Request, store: Store, name: str, now: float) -> Response:
    """``Deployments_Update``: a new capacity and/or tags for an existing deployment (202 + operation)."""
    d = store.data.deployments.get(name)
    state = state_of(d, now) if d is not None else None
    if d is None or state is None:
        raise _not_found(
            "DeploymentNotFound",
            f"The deployment '{name}' of account '{store.config.account}' was not found.",
        )
    _check_account_idle(store, now, request, name)
    busy = _busy(name, state)
    if busy is not None:
        raise busy
    body = await read_json(request, {})
    if not isinstance(body, dict):
        raise _content_error("The request content must be a JSON object.")
    tags = _tags(body)
    if "sku" in body:
        sku = body["sku"]
        if _sku_name(sku) != d.sku_name:
            raise _invalid(
                f"Changing the SKU of deployment '{name}' from {d.sku_name} is not supported by the "
                "emulator; delete it and create a new deployment.",
                "sku.name",
            )
        d.capacity = _capacity(sku)
    if tags is not None:
        d.tags = tags
    ends_at = (
        now + store.config.scaled(store.config.durations.update) * store.faults.config.provisioning_slowdown
    )
    op = _operation(store, name, "update", now, ends_at, failed=False)
    d.pending_state, d.ready_at, d.state_since, d.operation_id = "Accepted", ends_at, now, op.id
    store.save()
    return JSONResponse(
        deployment_json(store, d, now), status_code=202, headers=_operation_headers(store, request, op, now)
    )


async def _delete(request: Request, store: Store, name: str, now: float) -> Response:
    d = store.data.deployments.get(name)
    if d is None or state_of(d, now) is None:
        return Response(status_code=204)
    if d.deleting_at is None:
        _check_account_idle(store, now, request, name)
        d.deleting_at = now
        d.gone_at = now + store.config.scaled(store.config.durations.deleting)
        d.operation_id = _operation(store, name, "delete", now, d.gone_at, failed=False).id
        store.save()
    op = store.data.operations[d.operation_id or ""]
    return Response(status_code=202, headers=_operation_headers(store, request, op, now))


def _operation_status(store: Store, op_id: str, now: float) -> Response:
    op = store.data.operations.get(op_id)
    if op is None:
        raise ArmError(404, "OperationNotFound", f"The operation '{op_id}' was not found.")
    _, location = _ids(store)
    done = now >= op.ends_at
    if not done:
        status = {"create": "Creating", "update": "Accepted", "delete": "Deleting"}[op.kind]
    else:
        status = "Failed" if op.failed else "Succeeded"
    body: dict[str, Any] = {
        "id": f"{location}/operationStatuses/{op.id}",
        "name": op.id,
        "status": status,
        "startTime": iso(op.started_at),
    }
    if done:
        body["endTime"] = iso(op.ends_at)
    if done and op.failed:
        body["error"] = op.error
    headers = {} if done else {"Retry-After": _retry_after(op.ends_at - now)}
    return JSONResponse(body, headers=headers)


def _not_found(kind: str, message: str) -> ArmError:
    return ArmError(404, kind, message)


def account_json(store: Store, request: Request) -> dict[str, Any]:
    """The account itself (``accounts.get``), shaped as the spec's GetAccount example (2025-06-01):
    its kind (``--account-kind``: ``AIServices``, a Foundry resource, or ``OpenAI``), region, SKU and
    endpoint."""
    c = store.config
    return {
        "id": f"/subscriptions/{c.subscription}/resourceGroups/{c.resource_group}/providers/"
        f"Microsoft.CognitiveServices/accounts/{c.account}",
        "name": c.account,
        "type": "Microsoft.CognitiveServices/accounts",
        "location": c.location,
        "kind": c.account_kind,
        "sku": {"name": "S0"},
        "properties": {
            "endpoint": str(request.base_url).rstrip("/") + "/",
            "provisioningState": "Succeeded",
            "customSubDomainName": c.account,
        },
    }


async def handle(request: Request, store: Store) -> Response:
    """Dispatch one ARM request. Literal path segments compare case-insensitively, as ARM's do."""
    parts = [p for p in request.url.path.split("/") if p]
    low = [p.lower() for p in parts]
    if "api-version" not in request.query_params:
        raise ArmError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    c = store.config
    if len(parts) < 2 or low[0] != "subscriptions":
        raise ArmError(404, "InvalidResourceType", "The resource type could not be found.")
    if parts[1].lower() != c.subscription.lower():
        raise _not_found("SubscriptionNotFound", f"The subscription '{parts[1]}' could not be found.")
    now = store.now()
    purge(store, now)
    if len(parts) == 7 and low[2:5] == ["providers", PROVIDER, "locations"] and low[6] == "models":
        if request.method != "GET":
            raise ArmError(
                405, "MethodNotAllowed", f"{request.method} is not allowed on the models collection."
            )
        return JSONResponse({"value": location_models(store, parts[5], now)})
    if (
        len(parts) == 8
        and low[2:4] == ["providers", PROVIDER]
        and low[4] == "locations"
        and low[6] == "operationstatuses"
    ):
        if request.method != "GET":
            raise ArmError(405, "MethodNotAllowed", "Only GET is allowed on operation statuses.")
        return _operation_status(store, parts[7], now)
    if (
        len(parts) < 8
        or low[2] != "resourcegroups"
        or low[4:6] != ["providers", PROVIDER]
        or low[6] != "accounts"
    ):
        raise ArmError(404, "InvalidResourceType", "The resource type could not be found in the namespace.")
    if parts[3].lower() != c.resource_group.lower():
        raise _not_found("ResourceGroupNotFound", f"Resource group '{parts[3]}' could not be found.")
    if parts[7].lower() != c.account.lower():
        raise _not_found(
            "ResourceNotFound",
            f"The Resource 'Microsoft.CognitiveServices/accounts/{parts[7]}' under resource group "
            f"'{parts[3]}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix",
        )
    if len(parts) == 8:
        if request.method != "GET":
            raise ArmError(405, "MethodNotAllowed", f"{request.method} of the account is not emulated.")
        return JSONResponse(account_json(store, request))
    if len(parts) == 9 and low[8] in ("deployments", "models"):
        if request.method != "GET":
            raise ArmError(
                405, "MethodNotAllowed", f"{request.method} is not allowed on the {low[8]} collection."
            )
        if low[8] == "models":
            return JSONResponse({"value": account_models(store, now)})
        items = sorted(store.data.deployments.values(), key=lambda d: d.created_at)
        return JSONResponse({"value": [deployment_json(store, d, now) for d in items]})
    if len(parts) != 10 or low[8] != "deployments":
        raise ArmError(404, "InvalidResourceType", "The resource type could not be found in the namespace.")
    name = parts[9]
    if request.method == "GET":
        d = store.data.deployments.get(name)
        if d is None:
            raise _not_found(
                "DeploymentNotFound",
                f"The deployment '{name}' of account '{c.account}' was not found.",
            )
        return JSONResponse(deployment_json(store, d, now))
    if request.method == "PUT":
        return await _put(request, store, name, now)
    if request.method == "PATCH":
        return await _patch(request, store, name, now)
    if request.method == "DELETE":
        return await _delete(request, store, name, now)
    raise ArmError(405, "MethodNotAllowed", f"{request.method} is not supported on a deployment.")


def serving_deployment(store: Store, name: str, now: float) -> DeploymentRecord:
    """The deployment a chat call names, as Azure resolves it: 404 DeploymentNotFound unless it exists,
    is Succeeded and past any not-found window; once its model's inference is retired, 404 "Resource not
    found" (observed) or 410 (``--retired-chat-status 410``, the SDK's docstring); an open model's
    fine-tuned deployment answers 404 DeploymentNotReady for a while after Succeeded and 500 "Failed to
    load LoRA" below 100 capacity units. A call counts as use for the idle lifetime (kept to within 1 % of
    its length, so a busy deployment is not saved on every call)."""
    record = store.data.deployments.get(name)
    if record is None or state_of(record, now) != "Succeeded" or now < record.not_found_until:
        raise ApiError(404, "DeploymentNotFound", NOT_FOUND)
    retired = inference_retired_since(store, record.model_id, now)
    if retired is not None:
        if store.config.retired_chat_status == 410:
            raise ApiError(
                410,
                "ModelDeprecated",
                f"The model '{record.model_name}' of deployment '{name}' was retired on {iso(retired)}.",
            )
        raise ApiError(404, "404", "Resource not found")
    if now < record.not_ready_until:
        raise ApiError(404, "DeploymentNotReady", NOT_READY.format(name=name))
    if record.capacity < root_profile(store, record.model_id).min_capacity and is_fine_tuned(
        store, record.model_id
    ):
        raise ApiError(500, "500", LORA_FAILURE.format(name=name))
    if record.idle_lifetime is not None and now - (record.last_used_at or 0.0) > record.idle_lifetime / 100:
        record.last_used_at = now
        store.save()
    return record
