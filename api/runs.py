"""``POST /api/runs`` starts a run; ``GET /api/runs/{run_id}`` follows it.

Both only validate input and talk to the Durable client and the report blob; the run itself is the
orchestrator's. The status URL follows the asynchronous request-reply pattern: ``202`` with
``Retry-After`` and ``Location`` while the run is going, ``200`` once it has finished, so pollers that
stop at the first non-202 (Logic Apps, azure-core's LRO poller) wait for the end of the run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import azure.durable_functions as df
import azure.functions as func
from azure.core.exceptions import AzureError
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from pydantic import BaseModel, ConfigDict, Field, field_validator

from api.http import (
    RETRY_AFTER_SECONDS,
    HttpError,
    bad_request,
    endpoint,
    json_response,
    read_json_object,
    unavailable,
    validate,
)
from orchestrators.finetune_run import ORCHESTRATOR_NAME
from shared.agents import UnknownAgentError, get_agent
from shared.artifacts import report_path
from shared.clients import request_artifact_store
from shared.contracts import RunState
from shared.report import RunReport
from shared.settings import RUN_ID_PATTERN, RunSettings, get_settings

log = logging.getLogger("durable_finetune.api")

bp = df.Blueprint(http_auth_level=func.AuthLevel.FUNCTION)

SCHEDULED_PREFIX = "scheduled-"
DURABLE_TIMEOUT_SECONDS = 10.0
ACTIVE = frozenset(
    {
        df.OrchestrationRuntimeStatus.Running,
        df.OrchestrationRuntimeStatus.Pending,
        df.OrchestrationRuntimeStatus.ContinuedAsNew,
        df.OrchestrationRuntimeStatus.Suspended,
    }
)

Result = TypeVar("Result")


class StartRun(RunSettings):
    """The body of ``POST /api/runs``: any run setting, and optionally the run's id."""

    run_id: str | None = Field(None, pattern=RUN_ID_PATTERN, description="None: a new id is made")

    @field_validator("run_id")
    @classmethod
    def _not_reserved(cls, value: str | None) -> str | None:
        if value is not None and value.startswith(SCHEDULED_PREFIX):
            raise ValueError(f"run ids starting with {SCHEDULED_PREFIX!r} are the timer's; choose another")
        return value

    def run_settings(self) -> RunSettings:
        return RunSettings.model_validate(self.model_dump(exclude={"run_id"}))


class RunRef(BaseModel):
    model_config = ConfigDict(strict=True)

    run_id: str = Field(pattern=RUN_ID_PATTERN)


def new_run_id(now: datetime) -> str:
    return f"run-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


async def start_orchestration(
    client: df.DurableOrchestrationClient, instance_id: str, run_id: str, run_settings: RunSettings
) -> None:
    state = RunState(run_id=run_id, settings=run_settings, started_at=datetime.now(UTC).isoformat())
    await client.start_new(ORCHESTRATOR_NAME, instance_id, state.model_dump(mode="json"))


@bp.route(route="runs", methods=["POST"])
@bp.durable_client_input(client_name="client")
@endpoint
async def start_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Starts a run. The body may override any run setting; unknown fields and bad values get a 400,
    a run id that was ever used a 409."""
    settings = get_settings()
    body = read_json_object(req)
    request = validate(StartRun, settings.with_run_defaults(body))
    _check_agent(request)
    unused = request.unused_production_settings(body)
    if unused:
        raise bad_request(unused)
    run_id = request.run_id or new_run_id(datetime.now(UTC))
    await _refuse_existing(client, run_id)
    try:
        await durable_call(
            start_orchestration(client, run_id, run_id, settings.resolve(request.run_settings()))
        )
    except HttpError:
        await _refuse_existing(client, run_id)  # another request took the id first
        raise
    url = _run_url(req, run_id)
    payload = {
        "run_id": run_id,
        "run_url": url,
        "report_blob": f"{settings.artifacts_container}/{report_path(run_id)}",
        **client.create_http_management_payload(run_id),
    }
    return json_response(202, payload, _poll_headers(url, req))


@bp.route(route="runs/{run_id}", methods=["GET"])
@bp.durable_client_input(client_name="client")
@endpoint
async def get_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The run's orchestration status, custom status (iteration, stage) and its report so far:
    202 while the run goes on, 200 once it has finished."""
    run_id = validate(RunRef, {"run_id": req.route_params.get("run_id", "")}).run_id
    report = await _read_report(run_id)
    instance_id = report.instance_id if report else run_id
    status = await durable_call(client.get_status(instance_id, show_input=instance_id != run_id))
    runtime = status.runtime_status if _belongs_to(status, run_id, instance_id) else None
    if runtime is None and report is None:
        raise HttpError(404, f"no run {run_id}")
    body = {
        "run_id": run_id,
        "instance_id": instance_id,
        "runtime_status": runtime.value if runtime else None,
        "custom_status": status.custom_status if runtime else None,
        "created_time": status.created_time if runtime else None,
        "last_updated_time": status.last_updated_time if runtime else None,
        "output": status.output if runtime else None,
        "report": report.model_dump(mode="json") if report else None,
    }
    if runtime in ACTIVE:
        return json_response(202, body, _poll_headers(_run_url(req, run_id), req))
    return json_response(200, body)


def _check_agent(request: StartRun) -> None:
    try:
        spec = get_agent(request.agent)
    except UnknownAgentError as exc:
        raise bad_request([{"field": "agent", "error": str(exc)}]) from None
    if request.dataset is not None and request.dataset not in spec.datasets:
        error = (
            f"agent {request.agent} has no dataset {request.dataset!r}; use one of {sorted(spec.datasets)}"
        )
        raise bad_request([{"field": "dataset", "error": error}])


async def _refuse_existing(client: df.DurableOrchestrationClient, run_id: str) -> None:
    """A run id names one run for ever: reusing it would mix a new run into the old one's report."""
    status = await durable_call(client.get_status(run_id))
    if status.runtime_status is not None:
        state = status.runtime_status.value
    elif await _read_report(run_id) is not None:
        state = "recorded (its report exists)"
    else:
        return
    raise HttpError(409, f"run {run_id} already exists ({state}); choose another run_id", run_id=run_id)


def _belongs_to(status: DurableOrchestrationStatus, run_id: str, instance_id: str) -> bool:
    """A scheduled run shares its instance with later scheduled runs: is the instance still this run?"""
    if status.runtime_status is None:
        return False
    if instance_id == run_id:
        return True
    state: Any = status.input_
    if isinstance(state, str):
        try:
            state = json.loads(state)
        except ValueError:
            return False
    return isinstance(state, dict) and state.get("run_id") == run_id


async def _read_report(run_id: str) -> RunReport | None:
    try:
        return await asyncio.to_thread(request_artifact_store().read_model, report_path(run_id), RunReport)
    except AzureError as exc:
        log.warning("reading the report of %s failed: %s", run_id, exc)
        raise unavailable("artifact storage") from None


async def durable_call(call: Awaitable[Result]) -> Result:
    """A Durable client call with a deadline; failures become a 503 the caller can retry."""
    try:
        return await asyncio.wait_for(call, DURABLE_TIMEOUT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - the Durable SDK raises bare Exception for any non-2xx answer
        log.warning("Durable client call failed: %r", exc)
        raise unavailable("the Durable Functions task hub") from None


def _run_url(req: func.HttpRequest, run_id: str) -> str:
    url = urlsplit(req.url)
    prefix = url.path.split("/runs")[0]
    return f"{url.scheme}://{url.netloc}{prefix}/runs/{run_id}"


def _poll_headers(run_url: str, req: func.HttpRequest) -> dict[str, str]:
    """Where and when to poll. The caller's function key (``code``) goes along, or the poll gets 401."""
    key = req.params.get("code")
    location = f"{run_url}?{urlencode({'code': key})}" if key else run_url
    return {"Location": location, "Retry-After": str(RETRY_AFTER_SECONDS)}
