"""Lineages over HTTP: what production reads to know which deployment to call, and the two upkeep
operations between runs.

- ``GET /api/lineages/{lineage}``: the lineage record (every model, the champion and its history), its
  ``chains`` (the versions of each base model, and the rebase that started each) and ``lifecycle``: the
  dates of each chain's base model and of the champion, read live from ARM's model list against Azure's
  clock, with ``warnings`` from ``LIFECYCLE_WARNING_DAYS`` before a retirement (docs/models.md).
- ``GET /api/lineages/{lineage}/champion``: ``{deployment, model, val_reward, since, run_id, state}``,
  ``state`` checked live on ARM: ``serving``, ``expired`` (Azure removed the deployment: a DeveloperTier
  one lives 24 h, others go after 15 idle days), ``retired`` (its model is retired for inference: every
  call answers 404), ``provisioning`` or ``unknown`` (ARM did not answer).
- ``POST /api/lineages/{lineage}/champion/deploy``: brings the champion's deployment back.
- ``POST /api/lineages/{lineage}/rollback``: makes the previous champion current again.
Both POSTs start ``lineage_upkeep`` and answer 202 with its report and status URLs; the body may set run
settings such as ``sku_name``; a lineage with an active run answers 409 naming it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import UTC, datetime
from typing import Any, Literal

import azure.durable_functions as df
import azure.functions as func
from pydantic import BaseModel, ConfigDict

from api.http import HttpError, endpoint, json_response, read_json_object, validate
from api.runs import claimable, durable_call, read_blob
from orchestrators.upkeep import UPKEEP_NAME
from shared.azure.clients import request_openai_account
from shared.azure.lifecycle import LineageLifecycle, lifecycle_of
from shared.contracts.payloads import UpkeepRequest
from shared.domain.layout import lineage_path, report_path
from shared.domain.lineage import Champion, Lineage
from shared.domain.settings import LineageName, RunSettings, get_settings

log = logging.getLogger("durable_finetune.api")

bp = df.Blueprint(http_auth_level=func.AuthLevel.FUNCTION)

ARM_TIMEOUT_SECONDS = 8.0
SERVING_STATES = {"Succeeded": "serving", "NotFound": "expired"}


class LineageRef(BaseModel):
    model_config = ConfigDict(strict=True)

    lineage: LineageName


@bp.route(route="lineages/{lineage}", methods=["GET"])
@endpoint
async def get_lineage(req: func.HttpRequest) -> func.HttpResponse:
    """The lineage record with its champion's live state, its chains and their lifecycle."""
    record = await _lineage(req)
    lifecycle = await lineage_lifecycle(record)
    body = record.model_dump(mode="json")
    body["champion"] = await _champion_view(record.champion, lifecycle) if record.champion else None
    body["chains"] = [chain.model_dump(mode="json") for chain in record.chains()]
    body["lifecycle"] = lifecycle.as_json() if lifecycle else None
    return json_response(200, body)


@bp.route(route="lineages/{lineage}/champion", methods=["GET"])
@endpoint
async def get_champion(req: func.HttpRequest) -> func.HttpResponse:
    """Where production should send its calls now."""
    record = await _lineage(req)
    if record.champion is None:
        raise HttpError(404, f"lineage {record.name} has no champion yet: its first run crowns one")
    return json_response(200, await _champion_view(record.champion, await lineage_lifecycle(record)))


@bp.route(route="lineages/{lineage}/champion/deploy", methods=["POST"])
@bp.durable_client_input(client_name="client")
@endpoint
async def deploy_champion(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Brings the champion's deployment back (after Azure removed it)."""
    return await _upkeep(req, client, "redeploy")


@bp.route(route="lineages/{lineage}/rollback", methods=["POST"])
@bp.durable_client_input(client_name="client")
@endpoint
async def roll_back(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Makes the previous champion current again."""
    return await _upkeep(req, client, "rollback")


async def _lineage(req: func.HttpRequest) -> Lineage:
    name = validate(LineageRef, {"lineage": req.route_params.get("lineage", "")}).lineage
    record = await read_blob(lineage_path(name), Lineage)
    if record is None:
        raise HttpError(
            404, f"no lineage {name}: a run with lineage (or deployment_prefix) {name} creates it"
        )
    return record


async def _champion_view(champion: Champion, lifecycle: LineageLifecycle | None) -> dict[str, Any]:
    retired = lifecycle is not None and champion.model in lifecycle.retired
    state = "retired" if retired else await _serving_state(champion.deployment)
    return {**champion.model_dump(mode="json"), "state": state}


async def lineage_lifecycle(record: Lineage) -> LineageLifecycle | None:
    """Reads ARM's model list (Azure's clock) for the lineage's chains and champion; None when ARM does
    not answer in time (the rest of the answer does not wait on it)."""
    try:
        settings = get_settings()
        read = asyncio.to_thread(lifecycle_of, request_openai_account(), record, settings, datetime.now(UTC))
        return await asyncio.wait_for(read, ARM_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - any ARM trouble leaves the dates unknown, not the answer
        log.warning("ARM model list for lineage %s unavailable: %r", record.name, exc)
        return None


async def _serving_state(deployment: str) -> str:
    """What ARM says of the deployment now; ``unknown`` when it does not answer in time."""
    try:
        result = await asyncio.wait_for(
            asyncio.to_thread(request_openai_account().state, deployment), ARM_TIMEOUT_SECONDS
        )
    except Exception as exc:  # noqa: BLE001 - any ARM trouble leaves the state unknown, not the answer
        log.warning("ARM state of %s unavailable: %r", deployment, exc)
        return "unknown"
    return SERVING_STATES.get(result.state, "provisioning")


async def _upkeep(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, operation: Literal["redeploy", "rollback"]
) -> func.HttpResponse:
    name = (await _lineage(req)).name
    settings = get_settings()
    body = read_json_object(req)
    run_settings = settings.resolve(
        validate(RunSettings, settings.with_run_defaults({**body, "lineage": name}))
    )
    if await claimable(client, name) is not None:
        raise HttpError(409, f"lineage {name} is being reconciled after a run that ended; try again shortly")
    now = datetime.now(UTC)
    upkeep_id = f"upkeep-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"
    request = UpkeepRequest(
        operation=operation, upkeep_id=upkeep_id, settings=run_settings, started_at=now.isoformat()
    )
    await durable_call(client.start_new(UPKEEP_NAME, upkeep_id, request.model_dump(mode="json")))
    url = req.url.split("/lineages/")[0] + f"/runs/{upkeep_id}"
    payload = {
        "upkeep_id": upkeep_id,
        "operation": operation,
        "lineage": name,
        "run_url": url,
        "report_blob": f"{settings.artifacts_container}/{report_path(upkeep_id)}",
    }
    return json_response(202, payload, {"Location": url, "Retry-After": "10"})
