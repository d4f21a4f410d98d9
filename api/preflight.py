"""``GET /api/preflight``: the checks a run makes before it pays for anything, without starting one.

Run settings may come as query parameters (each value read as JSON when it parses as JSON, else as a
string: ``?budget_usd=5&base_deployment=gpt-4.1-mini``; quote a string that looks like a number,
``?deployment_prefix="2024"``) or as a JSON body, not both; either is validated exactly as the body of
``POST /api/runs`` is (unknown fields and wrong types are a 400 naming the field). The checks are those
of a run starting from ``base_model`` on ``base_deployment`` (a lineage with a champion starts from
the champion instead), with its first dataset not yet built, so the budget check uses the expected
dataset size (docs/cost.md).

The settings are checked against the base model's profile first (a setting it does not allow is a 400;
those left out are chosen from it and listed as ``choices``). Beside the checks the answer carries
``warnings`` (retirements within ``LIFECYCLE_WARNING_DAYS`` touching the run or its lineage's champion)
and ``lifecycle``: the dates of the models the run touches against Azure's clock, and the models this
account can fine-tune now (docs/models.md).

The answer is 200 whenever the checks ran, ``{"ok": false, ...}`` when one failed: the request was
right and so was the service; the failed check is the finding, and each one says what to change.
Every client here has request-time timeouts, so an unreachable dependency is a failed check within
seconds.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import azure.durable_functions as df
import azure.functions as func

from api.http import bad_request, endpoint, json_response, read_json_object, validate
from shared.agents import UnknownAgentError, get_agent
from shared.azure.clients import request_artifact_store, request_openai_account, request_openai_client
from shared.azure.preflight import Dependencies, run_checks
from shared.contracts.payloads import PreflightRequest, PreflightResult
from shared.domain.layout import lineage_path
from shared.domain.lineage import Champion, Lineage
from shared.domain.settings import AppSettings, RunSettings, get_settings

bp = df.Blueprint(http_auth_level=func.AuthLevel.FUNCTION)

FUNCTION_KEY_PARAMETER = "code"
"""The function key travels as ``?code=``: it is the host's, not a run setting."""


@bp.route(route="preflight", methods=["GET"])
@endpoint
async def preflight(req: func.HttpRequest) -> func.HttpResponse:
    """Runs every preflight check for the given run settings and answers them all."""
    app = get_settings()
    overrides = read_overrides(req)
    merged = app.with_run_defaults(overrides)
    planned = app.plan(validate(RunSettings, merged), merged)
    if planned.problems:
        raise bad_request(planned.problems)
    request, result = await asyncio.to_thread(checks_of, app, planned.settings)
    body = {
        "ok": result.ok,
        "model": request.model,
        "deployment": request.deployment,
        "choices": [choice.model_dump() for choice in planned.choices],
        "checks": [check.model_dump(exclude={"transient"}) for check in result.checks],
        "warnings": [warning.model_dump(mode="json") for warning in result.warnings],
        "lifecycle": result.lifecycle.model_dump(mode="json") if result.lifecycle else None,
        "cost": result.cost.model_dump(mode="json"),
    }
    return json_response(200, body)


def checks_of(app: AppSettings, settings: RunSettings) -> tuple[PreflightRequest, PreflightResult]:
    """Every check of a run of ``settings`` before its first job, with its lineage's champion (Blob
    errors raise: the endpoint answers 503)."""
    deps = dependencies(app)
    lineage = deps.store.read_model(lineage_path(settings.lineage or settings.deployment_prefix), Lineage)
    request = first_job(app, settings, lineage.champion if lineage else None)
    return request, run_checks(deps, request, datetime.now(UTC))


def first_job(app: AppSettings, settings: RunSettings, champion: Champion | None = None) -> PreflightRequest:
    """The job a run of ``settings`` would pay for first: from its base model, on the dataset its
    settings lead to expect, with the lineage's champion (if any) for the lifecycle warnings."""
    return PreflightRequest(
        model=settings.base_model or app.base_model,
        deployment=settings.base_deployment or app.base_deployment,
        training_type=settings.training_type,
        n_epochs=settings.n_epochs,
        iterations=settings.iterations,
        budget_usd=settings.budget_usd,
        rollouts=settings.finetune_every_n_rollouts,
        batch_rollouts=settings.batch_rollouts,
        evaluation_rollouts=settings.evaluation_rollouts(validation_tasks(settings)),
        rollout_deployment=settings.base_deployment or app.base_deployment,
        data_filter_ratio=settings.data_filter_ratio,
        sku_name=settings.sku_name,
        champion_model=champion.model if champion else None,
        champion_deployment=champion.deployment if champion else None,
    )


def validation_tasks(settings: RunSettings) -> int:
    """The validation tasks a run of ``settings`` would evaluate on: the agent's, under the split those
    settings would record (a lineage that recorded one keeps its own, close to it); 0 for an agent the
    request check refuses anyway."""
    try:
        return len(get_agent(settings.agent).load_splits(settings.dataset, settings.split_rule()).val)
    except UnknownAgentError:
        return 0


def dependencies(app: AppSettings) -> Dependencies:
    """The checks' clients, with request-time timeouts."""
    return Dependencies(request_openai_account(), request_openai_client(), request_artifact_store(), app)


def read_overrides(req: func.HttpRequest) -> dict[str, Any]:
    """Run settings from the query string or the body; both at once is a 400."""
    query = {name: value for name, value in req.params.items() if name != FUNCTION_KEY_PARAMETER}
    body = read_json_object(req)
    if query and body:
        raise bad_request(
            [{"field": "(request)", "error": "send run settings as query parameters or as a body, not both"}]
        )
    return body or {name: query_value(value) for name, value in query.items()}


def query_value(text: str) -> Any:
    """A query value as JSON (numbers, true/false, null, quoted strings), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text
