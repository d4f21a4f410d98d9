"""durable-finetune: the Function App's entry point (Azure Functions Python v2 programming model).

This module only assembles the app: it validates the app settings at import (a misconfigured app
fails at start-up with a message naming each bad setting instead of failing on its first run), sets
log levels, creates the app and registers the blueprints. HTTP endpoints live in api/, the
orchestration in orchestrators/, the work in activities/, the domain and Azure clients in shared/.
"""

from __future__ import annotations

import logging

import azure.durable_functions as df
import azure.functions as func

from activities.datasets import bp as dataset_activities
from activities.deployments import bp as deployment_activities
from activities.evaluations import bp as evaluation_activities
from activities.finetuning import bp as finetuning_activities
from activities.lineages import bp as lineage_activities
from activities.preflight import bp as preflight_activities
from activities.rollouts import bp as rollout_activities
from activities.runs import bp as run_activities
from api import schedule
from api.dashboard.routes import bp as dashboard_api
from api.lineages import bp as lineage_endpoints
from api.preflight import bp as preflight_api
from api.runs import bp as run_endpoints
from api.telemetry import bp as telemetry_api
from orchestrators.account import bp as account_gate
from orchestrators.finetune_run import bp as run_orchestrator
from orchestrators.reconcile import bp as reconciler
from orchestrators.rollout_stage import bp as rollout_orchestrators
from orchestrators.upkeep import bp as upkeep
from shared.domain.settings import get_settings

# The SDKs log every HTTP call: one 1-iteration run through devhost logged 324 request/response dumps
# from azure-core's HttpLoggingPolicy and 90 "HTTP Request: ..." lines from httpx2 (the openai SDK's
# HTTP client) at INFO, plus about 1,500 DEBUG lines from httpcore2, openai and urllib3. They bury the
# app's own stage log (16 lines), so only their warnings and errors come through.
QUIET_LOGGERS = (
    "azure",  # azure.core.pipeline.policies.http_logging_policy, azure.identity, azure.storage, ...
    "openai",
    "httpx2",
    "httpcore2",
    "urllib3",
)

settings = get_settings()

for name in QUIET_LOGGERS:
    logging.getLogger(name).setLevel(logging.WARNING)

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (
    run_endpoints,
    run_orchestrator,
    reconciler,
    upkeep,
    lineage_endpoints,
    rollout_orchestrators,
    account_gate,
    run_activities,
    rollout_activities,
    evaluation_activities,
    dataset_activities,
    finetuning_activities,
    deployment_activities,
    lineage_activities,
    preflight_activities,
    telemetry_api,
    dashboard_api,
    preflight_api,
):
    app.register_functions(blueprint)
app.register_functions(schedule.janitor())
if settings.retrain_schedule:
    app.register_functions(schedule.blueprint(settings.retrain_schedule))
