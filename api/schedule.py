"""The retraining timer: registered only when RETRAIN_SCHEDULE is set (see function_app.py).

Every scheduled run uses one fixed instance id, so two scheduled runs never overlap: a tick that finds
the previous scheduled run still going is skipped. Each scheduled run still gets its own run id (and
report); ``GET /api/runs/{run_id}`` finds it through the report's instance id.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from api.runs import ACTIVE, SCHEDULED_PREFIX, new_run_id, start_orchestration
from shared.settings import get_settings

log = logging.getLogger("durable_finetune.api")

SCHEDULED_INSTANCE_ID = f"{SCHEDULED_PREFIX}retrain"


def blueprint(schedule: str) -> df.Blueprint:
    """The timer trigger for ``schedule`` (an NCRONTAB expression, checked by the app settings)."""
    bp = df.Blueprint()

    @bp.timer_trigger(schedule=schedule, arg_name="timer", run_on_startup=False)
    @bp.durable_client_input(client_name="client")
    async def scheduled_retrain(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
        """Starts a run with the default run settings unless the last scheduled one is still going."""
        existing = await client.get_status(SCHEDULED_INSTANCE_ID)
        if existing.runtime_status in ACTIVE:
            log.info(
                "scheduled retrain skipped: %s is still %s",
                SCHEDULED_INSTANCE_ID,
                existing.runtime_status.value,
            )
            return
        run_id = f"{SCHEDULED_PREFIX}{new_run_id(datetime.now(UTC))}"
        await start_orchestration(client, SCHEDULED_INSTANCE_ID, run_id, get_settings().run_settings())
        log.info("scheduled retrain started: run %s (instance %s)", run_id, SCHEDULED_INSTANCE_ID)

    return bp
