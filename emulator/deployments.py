"""ARM ``Microsoft.CognitiveServices/accounts/deployments``: PUT, GET, DELETE, LIST and the async
operation status that ``azure-mgmt-cognitiveservices`` pollers follow.

Provisioning is lazy: a deployment is ``Creating`` (``Accepted`` for an update) until ``ready_at``, then
``Succeeded`` or ``Failed``; a delete makes it ``Deleting`` until ``gone_at``, after which it no longer
exists. PUT answers 201 (create) or 200 (update) and DELETE 202, each with an ``Azure-AsyncOperation``
URL and a short, non-zero ``Retry-After`` so SDK pollers never fall back to their 30 s default.
"""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from emulator.errors import ArmError
from emulator.ids import new_hex
from emulator.ratelimit import arm_rate_limits, deployment_limits
from emulator.records import DeploymentRecord, OperationRecord
from emulator.store import Store

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


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def state_of(d: DeploymentRecord, now: float) -> str | None:
    """The deployment's provisioningState at ``now``; None once a delete has completed."""
    if d.gone_at is not None and now >= d.gone_at:
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
        "systemData": {"createdAt": _iso(d.created_at), "lastModifiedAt": _iso(d.state_since)},
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


async def _put(request: Request, store: Store, name: str, now: float) -> Response:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise ArmError(
            400, "InvalidRequestContent", "The request content was invalid and could not be deserialized."
        ) from None
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    sku = body.get("sku")
    if not isinstance(sku, dict) or not isinstance(sku.get("name"), str):
        raise _invalid("The deployment must have a sku with a name.", "sku.name")
    sku_name = SKUS.get(sku["name"].replace(" ", "").replace("-", "").lower())
    if sku_name is None:
        raise ArmError(
            400, "InvalidSkuName", f"The SKU name '{sku['name']}' is not valid.", target="sku.name"
        )
    capacity = sku.get("capacity", 1)
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity <= 0:
        raise ArmError(
            400,
            "InvalidCapacity",
            "The sku capacity must be an integer greater than 0.",
            target="sku.capacity",
        )
    properties = body.get("properties")
    model = properties.get("model") if isinstance(properties, dict) else None
    if not isinstance(model, dict) or not isinstance(model.get("name"), str) or not model["name"]:
        raise _invalid("properties.model.name is required.", "properties.model")
    model_format = model.get("format", "OpenAI")
    version = model.get("version")
    if not isinstance(model_format, str) or model_format.lower() != "openai":
        raise _invalid(f"The model format '{model_format}' is not supported.", "properties.model.format")
    model_id = _resolve_model(store, model["name"], version if isinstance(version, str) else None)
    if model_id is None:
        raise ArmError(
            400,
            "DeploymentModelNotSupported",
            f"The model 'Format:{model_format},Name:{model['name']},Version:{version}' of account deployment "
            "is not supported.",
            target="properties.model",
        )
    fine_tuned = is_fine_tuned(store, model_id)
    existing = store.data.deployments.get(name)
    existing_state = state_of(existing, now) if existing else None
    if existing is not None and existing_state in ("Creating", "Accepted", "Deleting"):
        raise ArmError(
            409,
            "AnotherOperationInProgress",
            f"Another operation is in progress on deployment '{name}' (state {existing_state}). Retry later.",
        )
    if existing is not None and existing_state is not None and existing.model_id != model_id:
        if fine_tuned or is_fine_tuned(store, existing.model_id):
            raise ArmError(
                400,
                "ModelUpgradeNotSupported",
                f"Changing the model of deployment '{name}' from '{existing.model_id}' to '{model_id}' "
                "is not supported. Create a new deployment instead.",
            )
    if (existing is None or existing_state is None) and fine_tuned:
        used = [
            d
            for d in store.data.deployments.values()
            if not d.preprovisioned and is_fine_tuned(store, d.model_id) and state_of(d, now) is not None
        ]
        quota = store.config.ft_deployment_quota
        if len(used) >= quota:
            raise ArmError(
                400,
                "InsufficientQuota",
                "This operation require 1 new capacity in quota Fine-tuned deployment count, which is bigger "
                "than the current available capacity 0. "
                f"The current quota usage is {len(used)} and the quota limit is {quota} "
                "for quota Fine-tuned deployment count.",
            )

    creating = existing is None or existing_state is None
    faults = store.faults
    failed = faults.take_deployment_failure(name)
    scale = store.config.scaled
    if creating:
        duration = scale(store.config.durations.provisioning) * faults.config.provisioning_slowdown
    else:
        duration = scale(store.config.durations.update) * faults.config.provisioning_slowdown
    ready_at = now + duration
    op = OperationRecord(
        id=new_hex(),
        deployment=name,
        kind="create" if creating else "update",
        started_at=now,
        ends_at=ready_at,
        failed=failed,
        error={
            "code": "DeploymentFailed",
            "message": f"Provisioning of deployment '{name}' failed (injected by the emulator).",
        }
        if failed
        else None,
    )
    extra = {k: v for k, v in properties.items() if k in ("raiPolicyName", "versionUpgradeOption")}
    record = DeploymentRecord(
        name=name,
        model_format="OpenAI",
        model_name=model["name"],
        model_version=version if isinstance(version, str) else "1",
        model_id=model_id,
        sku_name=sku_name,
        capacity=capacity,
        preprovisioned=existing.preprovisioned if existing is not None and not creating else False,
        created_at=now if creating else existing.created_at,  # type: ignore[union-attr]
        state_since=now,
        ready_at=ready_at,
        pending_state="Creating" if creating else "Accepted",
        failed=failed,
        error=op.error,
        not_found_until=ready_at + scale(faults.config.not_found_window) if creating else 0.0,
        operation_id=op.id,
        properties_extra=extra,
        tags={str(k): str(v) for k, v in (body.get("tags") or {}).items()},
    )
    store.data.deployments[name] = record
    store.data.operations[op.id] = op
    store.save()
    return JSONResponse(
        deployment_json(store, record, now),
        status_code=201 if creating else 200,
        headers=_operation_headers(store, request, op, now),
    )


async def _delete(request: Request, store: Store, name: str, now: float) -> Response:
    d = store.data.deployments.get(name)
    if d is None or state_of(d, now) is None:
        return Response(status_code=204)
    if d.deleting_at is None:
        d.deleting_at = now
        d.gone_at = now + store.config.scaled(store.config.durations.deleting)
        op = OperationRecord(id=new_hex(), deployment=name, kind="delete", started_at=now, ends_at=d.gone_at)
        d.operation_id = op.id
        store.data.operations[op.id] = op
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
        "startTime": _iso(op.started_at),
    }
    if done:
        body["endTime"] = _iso(op.ends_at)
    if done and op.failed:
        body["error"] = op.error
    headers = {} if done else {"Retry-After": _retry_after(op.ends_at - now)}
    return JSONResponse(body, headers=headers)


def _not_found(kind: str, message: str) -> ArmError:
    return ArmError(404, kind, message)


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
    if len(parts) == 9 and low[8] == "deployments":
        if request.method != "GET":
            raise ArmError(
                405, "MethodNotAllowed", f"{request.method} is not allowed on the deployments collection."
            )
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
    if request.method == "DELETE":
        return await _delete(request, store, name, now)
    raise ArmError(405, "MethodNotAllowed", f"{request.method} is not supported on a deployment.")
