"""``POST /api/runs`` starts a run; ``GET /api/runs/{run_id}`` follows it; ``approve``, ``reject`` and
``cancel`` steer it.

They only validate input and talk to the Durable client and Blob; the run itself is the orchestrator's.
A lineage has one active run at a time: a start while another run holds it answers 409 naming that run;
a holder that ended without letting go (terminated, failed) is taken over, and a clean-up pass
(``reconcile_run``) stops what it left behind.

The status URL follows the asynchronous request-reply pattern: ``202`` with ``Retry-After`` and
``Location`` while the run is going, ``200`` once it has finished, so pollers that stop at the first
non-202 (Logic Apps, azure-core's LRO poller) wait for the end of the run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode, urlsplit

import azure.durable_functions as df
import azure.functions as func
from azure.core.exceptions import AzureError
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
from api.preflight import dependencies, first_job
from orchestrators.finetune_run import ORCHESTRATOR_NAME
from orchestrators.lineage import APPROVE, REJECT
from orchestrators.orchestration import CANCEL_EVENT
from orchestrators.reconcile import RECONCILE_SUFFIX, RECONCILER_NAME
from shared.agents import UnknownAgentError, get_agent
from shared.azure.clients import request_artifact_store
from shared.azure.preflight import settings_checks
from shared.contracts.payloads import CancelRequest, RunState
from shared.domain.layout import cancel_request_path, lineage_path, report_path
from shared.domain.lineage import Approval, Lineage
from shared.domain.models import Choice
from shared.domain.report import RunReport
from shared.domain.settings import AppSettings, RunId, RunSettings, Spelling, get_settings

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
Model = TypeVar("Model", bound=BaseModel)


class StartRun(RunSettings):
    """The body of ``POST /api/runs``: any run setting, and optionally the run's id."""

    run_id: RunId | None = Field(None, description="None: a new id is made")

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

    run_id: RunId


def new_run_id(now: datetime) -> str:
    return f"run-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


async def start_orchestration(
    client: df.DurableOrchestrationClient,
    run_id: str,
    run_settings: RunSettings,
    take_over: str | None,
    choices: list[Choice],
) -> None:
    state = RunState(
        run_id=run_id,
        settings=run_settings,
        started_at=datetime.now(UTC).isoformat(),
        take_over=take_over,
        choices=choices,
    )
    await client.start_new(ORCHESTRATOR_NAME, run_id, state.model_dump(mode="json"))


async def claimable(client: df.DurableOrchestrationClient, lineage: str) -> str | None:
    """Raises 409 while another run holds ``lineage`` or is about to (started, not yet claimed it);
    returns the id of a holder that ended without letting go (the new run takes over from it, and a
    clean-up pass reconciles it), else None. The run's own claim (an ETag write) settles any race left."""
    record = await read_blob(lineage_path(lineage), Lineage)
    holder = record.active_run if record else None
    if holder is None:
        for status in await durable_call(client.get_status_by(runtime_status=list(ACTIVE))):
            if status.name == ORCHESTRATOR_NAME and _lineage_of(status.input_) == lineage:
                message = f"lineage {lineage} is busy: run {status.instance_id} is starting"
                raise HttpError(409, message, active_run=status.instance_id)
        return None
    status = await durable_call(client.get_status(holder.instance_id))
    if status.runtime_status in ACTIVE:
        message = f"lineage {lineage} is busy: run {holder.run_id} is {status.runtime_status.value}"
        raise HttpError(409, f"{message}; start again when it ends, or cancel it", active_run=holder.run_id)
    await reconcile(client, holder.run_id)
    return holder.run_id


async def reconcile(client: df.DurableOrchestrationClient, run_id: str) -> None:
    """Starts the clean-up of a run whose orchestration ended while its report says running, once; the
    run's rollout stages (sub-orchestrations ``{run_id}:...``), which outlive a terminated parent, are
    terminated first so they stop calling the deployment."""
    children = await durable_call(
        client.get_status_by(runtime_status=list(ACTIVE), instance_id_prefix=f"{run_id}:")
    )
    for child in children:
        if child.instance_id and not child.instance_id.endswith(RECONCILE_SUFFIX):
            await durable_call(client.terminate(child.instance_id, f"run {run_id} ended"))
    reconciler = f"{run_id}{RECONCILE_SUFFIX}"
    earlier = (await durable_call(client.get_status(reconciler))).runtime_status
    if earlier is None or earlier not in ACTIVE | {df.OrchestrationRuntimeStatus.Completed}:
        await durable_call(client.start_new(RECONCILER_NAME, reconciler, run_id))


@bp.route(route="runs", methods=["POST"])
@bp.durable_client_input(client_name="client")
@endpoint
async def start_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Starts a run. The body may override any run setting; unknown fields and bad values get a 400,
    a run id that was ever used a 409."""
    settings = get_settings()
    body = read_json_object(req)
    merged = settings.with_run_defaults(body)
    request = validate(StartRun, merged)
    _check_agent(request)
    unused = request.unused_production_settings(body)
    if unused:
        raise bad_request(unused)
    planned = settings.plan(request.run_settings(), merged)
    if planned.problems:
        raise bad_request(planned.problems)
    run_id = request.run_id or new_run_id(datetime.now(UTC))
    await _refuse_existing(client, run_id)
    run_settings = planned.settings
    await _refuse_what_preflight_would(settings, run_settings)
    take_over = await claimable(client, run_settings.lineage or run_settings.deployment_prefix)
    try:
        await durable_call(start_orchestration(client, run_id, run_settings, take_over, planned.choices))
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
    # Status first, report second: a run writes its final report before its orchestration completes,
    # so a finished status is never shown beside a report that is still running.
    status = await durable_call(client.get_status(run_id))
    report = await read_blob(report_path(run_id), RunReport)
    runtime = status.runtime_status
    if runtime is None and report is None:
        raise HttpError(404, f"no run {run_id}")
    body = {
        "run_id": run_id,
        "instance_id": run_id,
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


Reason = Annotated[
    str,
    Field(max_length=500, pattern=r"^[^\x00-\x1f]*$"),
    Spelling("one line of text without control characters (no line breaks or tabs)"),
]


class Decision(BaseModel):
    """The optional body of ``approve``, ``reject`` and ``cancel``: why, for the record."""

    model_config = ConfigDict(extra="forbid", strict=True)

    reason: Reason | None = None


@bp.route(route="runs/{run_id}/approve", methods=["POST"])
@bp.durable_client_input(client_name="client")
@endpoint
async def approve_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Promotes the candidate a run with ``promotion: approval`` waits on; 409 unless it waits. The
    body's ``reason`` and the caller's name (App Service authentication) go with the decision."""
    return await _decide(req, client, APPROVE)


@bp.route(route="runs/{run_id}/reject", methods=["POST"])
@bp.durable_client_input(client_name="client")
@endpoint
async def reject_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Keeps the champion; the run goes on without promoting the candidate; 409 unless it waits."""
    return await _decide(req, client, REJECT)


@bp.route(route="runs/{run_id}/cancel", methods=["POST"])
@bp.durable_client_input(client_name="client")
@endpoint
async def cancel_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Stops a run: it cancels its job, deletes its deployments but the champion's and ends cancelled.
    A run whose orchestration already ended while its report says running is reconciled instead."""
    run_id = validate(RunRef, {"run_id": req.route_params.get("run_id", "")}).run_id
    decision = validate(Decision, read_json_object(req))
    status = await durable_call(client.get_status(run_id))
    report = await read_blob(report_path(run_id), RunReport)
    if status.runtime_status in ACTIVE:
        request = CancelRequest(requested=True, reason=decision.reason or "cancelled through the API")
        await write_blob(cancel_request_path(run_id), request)
        await durable_call(client.raise_event(run_id, CANCEL_EVENT, request.reason))
    elif report is not None and report.status == "running":
        await reconcile(client, run_id)
    elif status.runtime_status is None and report is None:
        raise HttpError(404, f"no run {run_id}")
    else:
        ended = report.status if report else status.runtime_status
        raise HttpError(409, f"run {run_id} has already ended ({ended}); nothing to cancel", run_id=run_id)
    return json_response(
        202, {"run_id": run_id, "cancel": "requested"}, _poll_headers(_run_url(req, run_id), req)
    )


async def _decide(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, event: str
) -> func.HttpResponse:
    """Raises ``event`` to a run that waits for a promotion decision."""
    run_id = validate(RunRef, {"run_id": req.route_params.get("run_id", "")}).run_id
    decision = validate(Decision, read_json_object(req))
    approved_by = principal_name(req)
    status = await durable_call(client.get_status(run_id))
    if status.runtime_status is None:
        raise HttpError(404, f"no run {run_id}")
    custom = status.custom_status if isinstance(status.custom_status, dict) else {}
    awaiting = custom.get("awaiting")
    if status.runtime_status not in ACTIVE or not isinstance(awaiting, dict) or "approval" not in awaiting:
        stage = custom.get("stage", status.runtime_status.value)
        raise HttpError(409, f"run {run_id} is not waiting for a promotion decision (it is at {stage})")
    approval = Approval(
        decision="approve" if event == APPROVE else "reject",
        reason=decision.reason,
        approved_by=approved_by,
        at=datetime.now(UTC).isoformat(),
    )
    await durable_call(client.raise_event(run_id, event, approval.model_dump(mode="json")))
    body = {
        "run_id": run_id,
        "decision": event,
        "candidate": awaiting["approval"],
        "reason": approval.reason,
        "approved_by": approval.approved_by,
    }
    return json_response(202, body, _poll_headers(_run_url(req, run_id), req))


PRINCIPAL_HEADER = "x-ms-client-principal-name"
"""Who is calling, as App Service authentication passes it to the app: "a human-readable name for the
caller set by the identity provider, such as email address or user principal name"; "external requests
aren't allowed to set these headers, so they're present only if set by App Service"
(learn.microsoft.com/azure/app-service/configure-authentication-user-identities). That holds where
authentication is turned on for the Function App; without it the header is whatever the caller (who
holds the function key) wrote, so docs/lineages.md calls the recorded name a claim there."""
PRINCIPAL_MAX_CHARS = 256


def principal_name(req: func.HttpRequest) -> str | None:
    """The caller's name from App Service authentication; None when the request has none; a 400 for a
    value no identity provider writes (control characters, or longer than 256 characters)."""
    value = (req.headers.get(PRINCIPAL_HEADER) or "").strip()
    if not value:
        return None
    if len(value) > PRINCIPAL_MAX_CHARS or any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        error = f"must be a name of at most {PRINCIPAL_MAX_CHARS} characters without control characters"
        raise bad_request([{"field": f"(header {PRINCIPAL_HEADER})", "error": error}])
    return value


# The setting each pre-start check is about, for the 400's ``field``.
CHECKED_SETTINGS = {
    "arm": "(app settings)",
    "deployment": "base_deployment",
    "serving": "base_deployment",
    "model": "base_model",
    "offer": "base_model",
    "budget": "budget_usd",
}


async def _refuse_what_preflight_would(app: AppSettings, run_settings: RunSettings) -> None:
    """Raises a 400 naming each setting the run's preflight would refuse it for, of the checks that
    cost nothing but two ARM reads (shared/azure/preflight.py ``settings_checks``), before a run id or
    lineage is taken. A check that failed only transiently refuses nothing: the run checks again."""
    request = first_job(app, run_settings)
    result = await asyncio.to_thread(settings_checks, dependencies(app), request, datetime.now(UTC))
    blocking = result.blocking()
    if blocking:
        errors = [
            {"field": CHECKED_SETTINGS[check.name], "error": f"{check.detail}; fix: {check.fix}"}
            for check in blocking
        ]
        raise HttpError(
            400,
            "the run would fail its preflight",
            errors=errors,
            checks=[check.model_dump(exclude={"transient"}) for check in blocking],
        )


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
    elif await read_blob(report_path(run_id), RunReport) is not None:
        state = "recorded (its report exists)"
    else:
        return
    raise HttpError(409, f"run {run_id} already exists ({state}); choose another run_id", run_id=run_id)


def _lineage_of(state: Any) -> str | None:
    """The lineage of a run orchestration's input (the Durable API may hand it over as JSON text)."""
    try:
        run = RunState.model_validate(json.loads(state) if isinstance(state, str) else state)
    except ValueError:
        return None
    return run.lineage


async def read_blob(path: str, model: type[Model]) -> Model | None:
    """A model from Blob for a request (short timeouts); storage trouble is a 503 to retry."""
    try:
        return await asyncio.to_thread(request_artifact_store().read_model, path, model)
    except AzureError as exc:
        log.warning("reading %s failed: %s", path, exc)
        raise unavailable("artifact storage") from None


async def write_blob(path: str, value: BaseModel) -> None:
    try:
        await asyncio.to_thread(request_artifact_store().write_json, path, value)
    except AzureError as exc:
        log.warning("writing %s failed: %s", path, exc)
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
