"""durable-finetune: the Function App's entry point (Azure Functions Python v2 programming model).

HTTP and timer triggers live here; they only validate input and talk to the Durable client. The
orchestration is in orchestrators/, the work in activities/, the domain and Azure clients in shared/.
App settings are read and validated at import, so a misconfigured app fails at start-up with a
message naming each bad setting instead of failing on its first run.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func
from pydantic import ValidationError

from activities.datasets import bp as dataset_activities
from activities.deployments import bp as deployment_activities
from activities.finetuning import bp as finetuning_activities
from activities.lineages import bp as lineage_activities
from activities.rollouts import bp as rollout_activities
from activities.runs import bp as run_activities
from api.telemetry import bp as telemetry_api
from orchestrators.finetune_run import ORCHESTRATOR_NAME
from orchestrators.finetune_run import bp as run_orchestrator
from shared.agents import UnknownAgentError, get_agent
from shared.artifacts import report_path
from shared.clients import artifact_store
from shared.contracts import RunState
from shared.report import RunReport
from shared.settings import RUN_ID_PATTERN, RunSettings, describe_errors, get_settings

log = logging.getLogger("durable_finetune")

settings = get_settings()

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (
    run_orchestrator,
    run_activities,
    rollout_activities,
    dataset_activities,
    finetuning_activities,
    deployment_activities,
    lineage_activities,
    telemetry_api,
):
    app.register_functions(blueprint)

SCHEDULED_INSTANCE_ID = "scheduled-retrain"
ACTIVE = {
    df.OrchestrationRuntimeStatus.Running,
    df.OrchestrationRuntimeStatus.Pending,
    df.OrchestrationRuntimeStatus.ContinuedAsNew,
    df.OrchestrationRuntimeStatus.Suspended,
}


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, default=str), status_code=status, mimetype="application/json", headers=headers
    )


def _bad_request(errors: list[dict[str, str]]) -> func.HttpResponse:
    return _json(400, {"error": "invalid request", "errors": errors})


def _new_run_id(now: datetime) -> str:
    return f"run-{now:%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _parse_start_body(req: func.HttpRequest) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """An empty body means "all defaults"; anything else must be a JSON object."""
    raw = req.get_body()
    if not raw.strip():
        return {}, []
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        return None, [{"field": "(body)", "error": f"not valid JSON: {exc.msg} at line {exc.lineno}"}]
    except UnicodeDecodeError:
        return None, [{"field": "(body)", "error": "not UTF-8 text"}]
    if not isinstance(body, dict):
        return None, [{"field": "(body)", "error": "must be a JSON object of run settings"}]
    return body, []


def _matches(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None


def _validate_agent(agent: str, dataset: str | None) -> list[dict[str, str]]:
    try:
        spec = get_agent(agent)
    except UnknownAgentError as exc:
        return [{"field": "agent", "error": str(exc)}]
    if dataset is not None and dataset not in spec.datasets:
        return [
            {
                "field": "dataset",
                "error": f"agent {agent} has no dataset {dataset!r}; use one of {sorted(spec.datasets)}",
            }
        ]
    return []


async def _start(
    client: df.DurableOrchestrationClient, instance_id: str, run_id: str, run_settings: RunSettings
) -> None:
    state = RunState(run_id=run_id, settings=run_settings, started_at=datetime.now(UTC).isoformat())
    await client.start_new(ORCHESTRATOR_NAME, instance_id, state.model_dump(mode="json"))


@app.route(route="runs", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """Starts a run. The body may override any run setting; unknown fields and bad values get a 400."""
    body, errors = _parse_start_body(req)
    if body is None:
        return _bad_request(errors)
    run_id = body.pop("run_id", None)
    if run_id is not None and (not isinstance(run_id, str) or not _matches(RUN_ID_PATTERN, run_id)):
        errors.append(
            {"field": "run_id", "error": f"must match {RUN_ID_PATTERN} (lower-case letters, digits, -)"}
        )
    try:
        run_settings = settings.run_settings(body)
    except ValidationError as exc:
        return _bad_request(errors + describe_errors(exc, env=False))
    errors += _validate_agent(run_settings.agent, run_settings.dataset)
    if errors:
        return _bad_request(errors)
    run_id = run_id or _new_run_id(datetime.now(UTC))
    existing = await client.get_status(run_id)
    if existing.runtime_status in ACTIVE:
        return _json(
            409, {"error": f"run {run_id} is already {existing.runtime_status.value}", "run_id": run_id}
        )
    await _start(client, run_id, run_id, run_settings)
    links = client.create_http_management_payload(run_id)
    base = req.url.split("/api/runs")[0]
    payload = {
        "run_id": run_id,
        "run_url": f"{base}/api/runs/{run_id}",
        "report_blob": f"{settings.artifacts_container}/{report_path(run_id)}",
        **links,
    }
    return _json(202, payload, headers={"Location": f"{base}/api/runs/{run_id}", "Retry-After": "10"})


@app.route(route="runs/{run_id}", methods=["GET"])
@app.durable_client_input(client_name="client")
async def get_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """The run's orchestration status, custom status (iteration, stage) and its report so far."""
    run_id = req.route_params.get("run_id", "")
    if not _matches(RUN_ID_PATTERN, run_id):
        return _bad_request([{"field": "run_id", "error": f"must match {RUN_ID_PATTERN}"}])
    report = await asyncio.to_thread(artifact_store().read_model, report_path(run_id), RunReport)
    instance_id = report.instance_id if report else run_id
    status = await client.get_status(instance_id)
    if status.runtime_status is None and report is None:
        return _json(404, {"error": f"no run {run_id}"})
    return _json(
        200,
        {
            "run_id": run_id,
            "instance_id": instance_id,
            "runtime_status": status.runtime_status.value if status.runtime_status else None,
            "custom_status": status.custom_status,
            "created_time": status.created_time,
            "last_updated_time": status.last_updated_time,
            "output": status.output,
            "report": report.model_dump(mode="json") if report else None,
        },
    )


if settings.retrain_schedule:

    @app.timer_trigger(schedule=settings.retrain_schedule, arg_name="timer", run_on_startup=False)
    @app.durable_client_input(client_name="client")
    async def scheduled_retrain(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
        """Scheduled retraining under one fixed instance id, so two scheduled runs never overlap."""
        existing = await client.get_status(SCHEDULED_INSTANCE_ID)
        if existing.runtime_status in ACTIVE:
            log.info(
                "scheduled retrain skipped: %s is still %s",
                SCHEDULED_INSTANCE_ID,
                existing.runtime_status.value,
            )
            return
        run_id = f"scheduled-{_new_run_id(datetime.now(UTC))}"
        await _start(client, SCHEDULED_INSTANCE_ID, run_id, settings.run_settings())
        log.info("scheduled retrain started: run %s (instance %s)", run_id, SCHEDULED_INSTANCE_ID)
