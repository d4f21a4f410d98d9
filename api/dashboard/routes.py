"""The dashboard: HTML pages to watch and compare runs, and their JSON twins for scripts.

Pages (function-level auth like the API; pass the key as ``?code=`` and every link keeps it):
- ``GET /api/dashboard``: runs, newest first, filtered by lineage and status, paged by cursor (from the
  runs index, never from the reports).
- ``GET /api/dashboard/runs/{run_id}``: reward chart, live stage (refreshes while the run runs), and
  per iteration its lineage from traces to evaluation, training metrics when copied.
- ``GET /api/dashboard/runs/{run_id}/iterations/{i}``: dataset stats and first examples, sample traces.
- ``GET /api/dashboard/compare?runs=a,b``: reward curves on one chart, settings side by side.
- ``GET /api/dashboard/lineages/{lineage}``: models over time, its chains (a rebase starts one) with
  their base models' retirement dates, champion history, what is deployed.
JSON: ``GET /api/runs`` (the runs list) and ``GET /api/runs/{run_id}/iterations/{i}``.

Pages are rendered on the server and send a Content-Security-Policy that allows no script and no
request to any other host. Bad query parameters get a 400 naming them; unknown runs a 404 page.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, TypeVar

import azure.durable_functions as df
import azure.functions as func

from api.dashboard.data import (
    IterationDetail,
    UnreadableArtifactError,
    load_iteration,
    load_lineage,
    load_report,
    load_training_metrics,
)
from api.dashboard.links import Links
from api.dashboard.pages import (
    LiveStatus,
    render_compare,
    render_error,
    render_iteration,
    render_lineage,
    render_run,
    render_runs,
)
from api.dashboard.params import (
    LINEAGE_PATTERN,
    LINEAGE_RULE,
    CompareParams,
    InvalidParamsError,
    QueryParams,
    RunListParams,
    RunsPageParams,
)
from api.http import endpoint
from api.lineages import lineage_lifecycle
from shared.azure.clients import request_artifact_store
from shared.domain.lineage import Lineage, new_lineage
from shared.domain.report_view import ReportView
from shared.domain.settings import RUN_ID_PATTERN, RUN_ID_RULE
from shared.storage.run_index import RunPage, RunQuery, run_index

bp = df.Blueprint(http_auth_level=func.AuthLevel.FUNCTION)

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
MAX_ITERATION = 10_000

Params = TypeVar("Params", bound=QueryParams)


class NotFoundError(LookupError):
    """Something the URL names does not exist; the message says what."""


def _html(status: int, body: str) -> func.HttpResponse:
    return func.HttpResponse(
        body, status_code=status, mimetype="text/html", charset="utf-8", headers=PAGE_HEADERS
    )


def _json(status: int, body: dict[str, Any]) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps(body, default=str),
        status_code=status,
        mimetype="application/json",
        headers={"Cache-Control": "no-store"},
    )


def _route_errors(req: func.HttpRequest) -> list[dict[str, str]]:
    """Route parameters that are not what their route promises."""
    errors = []
    run_id = req.route_params.get("run_id")
    if run_id is not None and re.fullmatch(RUN_ID_PATTERN, run_id) is None:
        errors.append({"field": "run_id", "error": f"must be {RUN_ID_RULE}"})
    lineage = req.route_params.get("lineage")
    if lineage is not None and re.fullmatch(LINEAGE_PATTERN, lineage) is None:
        errors.append({"field": "lineage", "error": f"must be {LINEAGE_RULE}"})
    iteration = req.route_params.get("iteration")
    if iteration is not None and not (iteration.isdigit() and 1 <= int(iteration) <= MAX_ITERATION):
        errors.append({"field": "iteration", "error": f"must be a whole number from 1 to {MAX_ITERATION}"})
    return errors


def _validated(req: func.HttpRequest, params: type[Params]) -> Params:
    """The request's query parameters as ``params``; raises InvalidParamsError for them and the route."""
    route_errors = _route_errors(req)
    try:
        parsed = params.parse(req.params)
    except InvalidParamsError as exc:
        raise InvalidParamsError(route_errors + exc.errors) from None
    if route_errors:
        raise InvalidParamsError(route_errors)
    return parsed


async def _report(run_id: str) -> ReportView:
    view = await asyncio.to_thread(load_report, request_artifact_store(), run_id)
    if view is None:
        raise NotFoundError(f"There is no run {run_id}.")
    return view


async def _page(req: func.HttpRequest, render: Callable[[Links], Awaitable[str]]) -> func.HttpResponse:
    """Runs one page's ``render(links)`` coroutine and turns what it raises into an error page."""
    links = Links.for_request(req.url, "dashboard", req.params)
    try:
        return _html(200, await render(links))
    except InvalidParamsError as exc:
        return _html(400, render_error(links, 400, "Bad request", "This request is not valid:", exc.errors))
    except NotFoundError as exc:
        return _html(404, render_error(links, 404, "Not found", str(exc)))
    except UnreadableArtifactError as exc:
        return _html(500, render_error(links, 500, "Unreadable data", str(exc)))


@bp.route(route="dashboard", methods=["GET"])
@endpoint
async def dashboard_runs(req: func.HttpRequest) -> func.HttpResponse:
    """The runs page."""

    async def render(links: Links) -> str:
        params = _validated(req, RunsPageParams)
        page = await asyncio.to_thread(run_index(request_artifact_store()).page, params.query())
        return render_runs(links, params, page)

    return await _page(req, render)


@bp.route(route="dashboard/runs/{run_id}", methods=["GET"])
@bp.durable_client_input(client_name="client")
@endpoint
async def dashboard_run(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    """One run: its report, its live stage from Durable, its training metrics."""

    async def render(links: Links) -> str:
        _validated(req, QueryParams)
        view = await _report(req.route_params["run_id"])
        metrics, status, lineage = await asyncio.gather(
            asyncio.to_thread(load_training_metrics, request_artifact_store(), view),
            client.get_status(view.report.instance_id),
            _lineage_of(view),
        )
        live = LiveStatus(
            status.runtime_status.value if status.runtime_status else None,
            status.custom_status if isinstance(status.custom_status, dict) else {},
        )
        return render_run(links, view, live, metrics, lineage)

    return await _page(req, render)


async def _lineage_of(view: ReportView) -> Lineage | None:
    """The run's lineage as it is now (later runs prune and crown); None for a run without one."""
    if view.lineage is None:
        return None
    return await asyncio.to_thread(load_lineage, request_artifact_store(), view.lineage)


async def _iteration(req: func.HttpRequest) -> tuple[ReportView, IterationDetail]:
    _validated(req, QueryParams)
    run_id, number = req.route_params["run_id"], int(req.route_params["iteration"])
    view = await _report(run_id)
    detail = await asyncio.to_thread(load_iteration, request_artifact_store(), view, number)
    if detail is None:
        raise NotFoundError(f"Run {run_id} has no iteration {number} (yet).")
    return view, detail


@bp.route(route="dashboard/runs/{run_id}/iterations/{iteration}", methods=["GET"])
@endpoint
async def dashboard_iteration(req: func.HttpRequest) -> func.HttpResponse:
    """One iteration: dataset stats and preview, sample traces, training metrics."""

    async def render(links: Links) -> str:
        view, detail = await _iteration(req)
        return render_iteration(links, view, detail, await _lineage_of(view))

    return await _page(req, render)


@bp.route(route="dashboard/compare", methods=["GET"])
@endpoint
async def dashboard_compare(req: func.HttpRequest) -> func.HttpResponse:
    """Two or more runs side by side."""

    async def render(links: Links) -> str:
        params = _validated(req, CompareParams)
        store = request_artifact_store()
        found = await asyncio.gather(
            *(asyncio.to_thread(load_report, store, run_id) for run_id in params.run_ids)
        )
        missing = [run_id for run_id, view in zip(params.run_ids, found, strict=True) if view is None]
        if missing:
            raise NotFoundError(f"There is no run {', '.join(missing)}.")
        return render_compare(links, [view for view in found if view is not None])

    return await _page(req, render)


LINEAGE_RUNS_SHOWN = 20


@bp.route(route="dashboard/lineages/{lineage}", methods=["GET"])
@endpoint
async def dashboard_lineage(req: func.HttpRequest) -> func.HttpResponse:
    """A lineage: its models over time, champion history, what is deployed now, its latest runs."""

    async def render(links: Links) -> str:
        _validated(req, QueryParams)
        name = req.route_params["lineage"]
        store = request_artifact_store()
        latest_runs = RunQuery(lineage=name, limit=LINEAGE_RUNS_SHOWN)
        lineage, runs = await asyncio.gather(
            asyncio.to_thread(load_lineage, store, name),
            asyncio.to_thread(run_index(store).page, latest_runs),
        )
        if lineage is None and not runs.runs:
            raise NotFoundError(f"There is no lineage {name}.")
        if lineage is None:  # its runs ended before any of them claimed it: no models yet
            lineage = new_lineage(name, name, min(run.started_at for run in runs.runs))
        return render_lineage(links, lineage, runs, await lineage_lifecycle(lineage))

    return await _page(req, render)


# ---------------------------------------------------------------------------------------------- JSON


def _run_page_json(links: Links, params: RunListParams, page: RunPage) -> dict[str, Any]:
    filters = {"lineage": params.lineage, "status": params.status, "limit": params.limit}
    return {
        "runs": [summary.model_dump(mode="json") for summary in page.runs],
        "newer": links.api_runs(after=str(page.newer), **filters) if page.newer else None,
        "older": links.api_runs(before=str(page.older), **filters) if page.older else None,
        "newer_cursor": str(page.newer) if page.newer else None,
        "older_cursor": str(page.older) if page.older else None,
    }


@bp.route(route="runs", methods=["GET"])
@endpoint
async def list_runs(req: func.HttpRequest) -> func.HttpResponse:
    """The runs list as JSON, from the index: newest first, ``lineage``/``status`` filters, ``limit``,
    and ``before``/``after`` cursors that the answer gives as ``older``/``newer`` links."""
    links = Links.for_request(req.url, "runs", req.params)
    try:
        params = _validated(req, RunListParams)
    except InvalidParamsError as exc:
        return _json(400, {"error": "invalid request", "errors": exc.errors})
    page = await asyncio.to_thread(run_index(request_artifact_store()).page, params.query())
    return _json(200, _run_page_json(links, params, page))


def _iteration_json(links: Links, detail: IterationDetail) -> dict[str, Any]:
    number = detail.iteration.entry.iteration
    return {
        "run_id": detail.run_id,
        "iteration": detail.iteration.raw or detail.iteration.entry.model_dump(mode="json"),
        "dataset": {
            "stats": detail.stats.model_dump(mode="json") if detail.stats else None,
            "preview": detail.preview.examples if detail.preview else [],
            "blob": detail.preview.blob if detail.preview else None,
        },
        "traces": {
            "count": detail.traces_total,
            "prefix": detail.iteration.entry.traces_prefix,
            "samples": [
                {
                    **sample.summary.model_dump(mode="json"),
                    "prompt": sample.prompt,
                    "expected": sample.expected,
                    "answer": sample.answer,
                    "spans": [span.model_dump(mode="json") for span in sample.spans],
                }
                for sample in detail.traces
            ],
        },
        "training_metrics": (
            {
                "source": detail.metrics.source,
                "unreadable_rows": detail.metrics.unreadable,
                "steps": [asdict(step) for step in detail.metrics.steps],
            }
            if detail.metrics
            else None
        ),
        "page": links.iteration(detail.run_id, number),
    }


@bp.route(route="runs/{run_id}/iterations/{iteration}", methods=["GET"])
@endpoint
async def get_iteration(req: func.HttpRequest) -> func.HttpResponse:
    """What the iteration page shows, as JSON."""
    links = Links.for_request(req.url, "runs", req.params)
    try:
        _view, detail = await _iteration(req)
    except InvalidParamsError as exc:
        return _json(400, {"error": "invalid request", "errors": exc.errors})
    except NotFoundError as exc:
        return _json(404, {"error": str(exc)})
    except UnreadableArtifactError as exc:
        return _json(500, {"error": str(exc)})
    return _json(200, _iteration_json(links, detail))
