"""The timers: retraining, registered only when RETRAIN_SCHEDULE is set (see function_app.py), and the
janitor, always.

A tick starts a run of the default run settings' lineage (RUN_DEFAULTS), unless a run of that lineage
is still going: the lineage's claim is the singleton, so a scheduled run never overlaps a manual one of
the same lineage either. Each scheduled run has its own run id and instance
(``scheduled-run-{UTC start:%Y%m%d-%H%M%S}-{6 random hex digits}``, ``new_run_id``), so each draws its own
evaluation samples (``sample_seed`` in orchestrators/rollout_stage.py).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import azure.durable_functions as df
import azure.functions as func

from api.http import HttpError
from api.runs import ACTIVE, SCHEDULED_PREFIX, claimable, new_run_id, reconcile, start_orchestration
from shared.azure.clients import artifact_store
from shared.domain.settings import get_settings
from shared.storage.run_index import RunQuery, run_index

log = logging.getLogger("durable_finetune.api")


def blueprint(schedule: str) -> df.Blueprint:
    """The timer trigger for ``schedule`` (an NCRONTAB expression, checked by the app settings)."""
    bp = df.Blueprint()

    @bp.timer_trigger(schedule=schedule, arg_name="timer", run_on_startup=False)
    @bp.durable_client_input(client_name="client")
    async def scheduled_retrain(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
        """Starts a run with the default run settings unless its lineage is busy, or they do not suit
        their base model's profile (then it logs why, as POST /api/runs would answer 400)."""
        app = get_settings()
        planned = app.plan(app.run_settings(), app.with_run_defaults({}))
        if planned.problems:
            problems = "; ".join(f"{item['field']}: {item['error']}" for item in planned.problems)
            log.error("scheduled retrain skipped: RUN_DEFAULTS do not suit the base model: %s", problems)
            return
        settings = planned.settings
        lineage = settings.lineage or settings.deployment_prefix
        try:
            take_over = await claimable(client, lineage)
        except HttpError as busy:
            log.info("scheduled retrain skipped: %s", busy)
            return
        run_id = f"{SCHEDULED_PREFIX}{new_run_id(datetime.now(UTC))}"
        await start_orchestration(client, run_id, settings, take_over, planned.choices)
        log.info("scheduled retrain started: run %s of lineage %s", run_id, lineage)

    return bp


JANITOR_SCHEDULE = "0 */30 * * * *"
"""Every half hour: how long a terminated run's job may train on before someone notices at the latest."""
STALE_CANDIDATES = 200


def janitor() -> df.Blueprint:
    """A timer that reconciles runs whose orchestration ended while their report still says running
    (terminated through the Durable API, or failed before they could record it): their jobs are
    cancelled and their files and deployments deleted (``reconcile_run``)."""
    bp = df.Blueprint()

    @bp.timer_trigger(schedule=JANITOR_SCHEDULE, arg_name="timer", run_on_startup=False)
    @bp.durable_client_input(client_name="client")
    async def reconcile_stale_runs(timer: func.TimerRequest, client: df.DurableOrchestrationClient) -> None:
        """Starts ``reconcile_run`` for every run reported running whose orchestration has ended."""
        query = RunQuery(statuses=frozenset({"running"}), limit=STALE_CANDIDATES)
        page = await asyncio.to_thread(run_index(artifact_store()).page, query)
        for run in page.runs:
            status = await client.get_status(run.run_id)
            if status.runtime_status is None or status.runtime_status in ACTIVE:
                continue
            await reconcile(client, run.run_id)
            log.info(
                "run %s ended %s with its report running: reconciling",
                run.run_id,
                status.runtime_status.value,
            )

    return bp
