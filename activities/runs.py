"""Activities that open a run and keep its report current.

The report is read, changed and written whole by one writer (the run's orchestrator, one step at a
time), so a plain read-modify-write is safe; replaying an update writes the same content again.
"""

from __future__ import annotations

import azure.durable_functions as df

from activities.implements import implements
from shared.agents import get_agent
from shared.azure.clients import artifact_store, openai_account
from shared.contracts.payloads import (
    CancelRequest,
    Done,
    InitRun,
    JobInFlight,
    ReportUpdate,
    RunRef,
    StaleRun,
)
from shared.contracts.specs import DESCRIBE_STALE_RUN, INIT_RUN, READ_CANCEL_REQUEST, UPDATE_REPORT
from shared.domain.layout import cancel_request_path, lineage_path, report_path
from shared.domain.lineage import Lineage
from shared.domain.report import RunReport
from shared.domain.settings import RunSettings
from shared.storage.run_index import run_index

bp = df.Blueprint()


@implements(bp, INIT_RUN)
def init_run(request: InitRun) -> Done:
    """Checks the agent's tasks load and writes the first report, unless an earlier attempt already did
    (the lineage's claim sizes the splits: the split is the lineage's)."""
    get_agent(request.settings.agent).load_tasks(request.settings.dataset)
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
            choices=request.choices,
        )
        store.write_json(path, report)
        run_index(store).record(report)
    return Done()


@implements(bp, UPDATE_REPORT)
def update_report(update: ReportUpdate) -> Done:
    """Applies one ``ReportChange`` to the report: read, change, write whole (a replay writes the same)."""
    store = artifact_store()
    path = report_path(update.run_id)
    report = store.read_model(path, RunReport)
    if report is None:
        raise RuntimeError(f"report {path} is missing: init_run must write it before anything is recorded")
    change = update.change
    merged = {"iteration", "deployments_deleted", "warnings", "leaked"}
    replaced = change.model_dump(exclude_none=True, exclude=merged)
    report = report.model_copy(update={key: getattr(change, key) for key in replaced})
    if change.iteration is not None:
        report.upsert_iteration(change.iteration)
    if change.deployments_deleted:
        report.deployments_deleted = sorted({*report.deployments_deleted, *change.deployments_deleted})
    for warning in change.warnings or []:
        if warning not in report.warnings:
            report.warnings.append(warning)
    for leak in change.leaked or []:
        if leak not in report.leaked:
            report.leaked.append(leak)
    store.write_json(path, report)
    # The runs list (dashboard, GET /api/runs) reads the index, not every report.
    run_index(store).record(report)
    return Done()


@implements(bp, READ_CANCEL_REQUEST)
def read_cancel_request(request: RunRef) -> CancelRequest:
    """Whether someone asked the run to stop: the request outlives continue_as_new, which drops
    external events an execution did not consume."""
    marker = artifact_store().read_model(cancel_request_path(request.run_id), CancelRequest)
    return marker or CancelRequest(requested=False)


@implements(bp, DESCRIBE_STALE_RUN)
def describe_stale_run(request: RunRef) -> StaleRun:
    """What a run that ended without finishing left behind: its report's state, the job of its last
    unfinished iteration, its lineage's champion and the deployments tagged with its id."""
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
    return StaleRun(
        run_id=request.run_id,
        settings=settings,
        started_at=report.started_at,
        report_status=report.status,
        running_job=running_job,
        champion=lineage.champion if lineage else None,
        deployments=openai_account().made_by(request.run_id),
    )
