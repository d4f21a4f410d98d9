"""Activities that open a run and keep its report current.

The report is read, changed and written whole by one writer (the run's orchestrator, one step at a
time), so a plain read-modify-write is safe; replaying an update writes the same content again.
"""

from __future__ import annotations

from typing import Any

import azure.durable_functions as df

from shared.agents import get_agent
from shared.azure.clients import artifact_store, openai_account
from shared.contracts.payloads import (
    CancelRequest,
    InitRun,
    JobInFlight,
    ReportUpdate,
    RunRef,
    StaleRun,
    TaskCounts,
)
from shared.domain.layout import cancel_request_path, lineage_path, report_path
from shared.domain.lineage import Lineage
from shared.domain.report import RunReport
from shared.domain.settings import RunSettings
from shared.storage.run_index import run_index

bp = df.Blueprint()


@bp.activity_trigger(input_name="payload")
def init_run(payload: dict[str, Any]) -> dict[str, Any]:
    """Counts the agent's tasks and writes the first report, unless an earlier attempt already did."""
    request = InitRun.model_validate(payload)
    splits = get_agent(request.settings.agent).load_splits(request.settings.dataset)
    store = artifact_store()
    path = report_path(request.run_id)
    if store.read_text(path) is None:
        report = RunReport(
            run_id=request.run_id,
            instance_id=request.instance_id,
            settings=request.settings.model_dump(mode="json"),
            started_at=request.started_at,
            kind=request.kind,
            lineage=request.settings.lineage,
        )
        store.write_json(path, report)
        run_index(store).record(report)
    return TaskCounts(train_size=len(splits.train), val_size=len(splits.val)).model_dump()


@bp.activity_trigger(input_name="payload")
def update_report(payload: dict[str, Any]) -> dict[str, Any]:
    """Applies one ``ReportUpdate`` to the report: read, change, write whole (a replay writes the same)."""
    update = ReportUpdate.model_validate(payload)
    store = artifact_store()
    path = report_path(update.run_id)
    report = store.read_model(path, RunReport)
    if report is None:
        raise RuntimeError(f"report {path} is missing: init_run must write it before anything is recorded")
    merged = {"run_id", "iteration", "deployments_deleted", "warnings", "leaked"}
    changes = update.model_dump(exclude_none=True, exclude=merged)
    report = report.model_copy(update={key: getattr(update, key) for key in changes})
    if update.iteration is not None:
        report.upsert_iteration(update.iteration)
    if update.deployments_deleted:
        report.deployments_deleted = sorted({*report.deployments_deleted, *update.deployments_deleted})
    for warning in update.warnings or []:
        if warning not in report.warnings:
            report.warnings.append(warning)
    for leak in update.leaked or []:
        if leak not in report.leaked:
            report.leaked.append(leak)
    store.write_json(path, report)
    # The runs list (dashboard, GET /api/runs) reads the index, not every report.
    run_index(store).record(report)
    return {"report_blob": path}


@bp.activity_trigger(input_name="payload")
def read_cancel_request(payload: dict[str, Any]) -> dict[str, Any]:
    """Whether someone asked the run to stop: the request outlives continue_as_new, which drops
    external events an execution did not consume."""
    request = RunRef.model_validate(payload)
    marker = artifact_store().read_model(cancel_request_path(request.run_id), CancelRequest)
    return (marker or CancelRequest(requested=False)).model_dump()


@bp.activity_trigger(input_name="payload")
def describe_stale_run(payload: dict[str, Any]) -> dict[str, Any]:
    """What a run that ended without finishing left behind: its report's state, the job of its last
    unfinished iteration, its lineage's champion and the deployments tagged with its id."""
    request = RunRef.model_validate(payload)
    store = artifact_store()
    report = store.read_model(report_path(request.run_id), RunReport)
    if report is None:
        raise RuntimeError(f"run {request.run_id} has no report: nothing to reconcile")
    settings = RunSettings.model_validate(report.settings)
    lineage = store.read_model(lineage_path(settings.lineage or settings.deployment_prefix), Lineage)
    unfinished = [item for item in report.iterations if item.status == "running" and item.file_id]
    running_job = (
        JobInFlight(
            file_id=unfinished[-1].file_id or "",
            iteration=unfinished[-1].iteration,
            job_id=unfinished[-1].job_id,
        )
        if unfinished
        else None
    )
    stale = StaleRun(
        run_id=request.run_id,
        settings=settings,
        started_at=report.started_at,
        report_status=report.status,
        running_job=running_job,
        champion=lineage.champion if lineage else None,
        deployments=openai_account().made_by(request.run_id),
    )
    return stale.model_dump(mode="json")
