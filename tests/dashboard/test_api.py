"""The dashboard's JSON twins, ``GET /api/runs`` and ``GET /api/runs/{run_id}/iterations/{i}``: what
scripts see must be what the pages show, and bad requests get a 400 naming the parameter."""

from __future__ import annotations

import json
from typing import Any

import pytest

from api.dashboard.data import PREVIEW_EXAMPLES, SAMPLE_TRACES
from tests.dashboard.conftest import FAILED, ONE, TWO, MadeRuns

pytestmark = pytest.mark.timeout(600)


def get(made_runs: MadeRuns, path: str, status: int = 200) -> dict[str, Any]:
    response = made_runs.host.http("GET", path)
    assert response.status_code == status, response.get_body()
    assert response.mimetype == "application/json"
    body: dict[str, Any] = json.loads(response.get_body())
    return body


def test_runs_list_has_each_run_with_its_reports_values(made_runs: MadeRuns) -> None:
    listed = {item["run_id"]: item for item in get(made_runs, "/api/runs?limit=200")["runs"]}
    for run_id, report in made_runs.reports.items():
        summary = listed[run_id]
        assert report.baseline is not None
        assert summary["status"] == report.status
        assert summary["started_at"] == report.started_at
        assert summary["finished_at"] == report.finished_at
        assert summary["iterations_planned"] == report.settings["iterations"]
        assert summary["iterations_done"] == len(report.iterations)
        assert summary["iterations_failed"] == sum(1 for i in report.iterations if i.status != "succeeded")
        assert summary["baseline_val_reward"] == report.baseline.val_reward
        assert summary["best_val_reward"] == report.promoted_val_reward
        assert summary["champion_deployment"] == report.promoted_deployment
        assert summary["champion_model"] == report.promoted_model
        assert summary["lineage"] == report.lineage
        cost = report.cost
        assert summary["cost_usd"] == (cost.total_usd if cost else None)


def test_runs_list_filters_and_pages_with_cursors(made_runs: MadeRuns) -> None:
    failing = get(made_runs, "/api/runs?status=completed_with_failures,failed&limit=200")["runs"]
    assert failing and {item["status"] for item in failing} <= {"completed_with_failures", "failed"}
    assert FAILED in {item["run_id"] for item in failing}

    everything = [item["run_id"] for item in get(made_runs, "/api/runs?limit=200")["runs"]]
    paged: list[str] = []
    path: str | None = "/api/runs?limit=2"
    while path:
        page = get(made_runs, path)
        assert len(page["runs"]) <= 2
        paged += [item["run_id"] for item in page["runs"]]
        path = page["older"]
    assert paged == everything
    last = get(made_runs, f"/api/runs?limit=2&before={get(made_runs, '/api/runs?limit=2')['older_cursor']}")
    back = get(made_runs, last["newer"])
    assert [item["run_id"] for item in back["runs"]] == everything[:2]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=done", "status"),
        ("limit=500", "limit"),
        ("limit=-1", "limit"),
        ("after=abc", "after"),
        ("lineage=a%20b", "lineage"),
        ("page=2", "page"),
    ],
)
def test_runs_list_refuses_bad_parameters_by_name(made_runs: MadeRuns, query: str, field: str) -> None:
    body = get(made_runs, f"/api/runs?{query}", status=400)
    assert [error["field"] for error in body["errors"]] == [field]


def test_runs_list_refuses_two_cursors(made_runs: MadeRuns) -> None:
    cursor = get(made_runs, "/api/runs?limit=1")["older_cursor"]
    body = get(made_runs, f"/api/runs?before={cursor}&after={cursor}", status=400)
    assert "at most one of before and after" in body["errors"][0]["error"]


def test_iteration_json_has_stats_preview_and_sample_traces(made_runs: MadeRuns) -> None:
    for run_id in (ONE, TWO):
        for item in made_runs.reports[run_id].iterations:
            body = get(made_runs, f"/api/runs/{run_id}/iterations/{item.iteration}")
            # The JSON twin's contract: the iteration's entry exactly as the report's JSON has it.
            assert body["iteration"] == item.model_dump(mode="json")
            stats = body["dataset"]["stats"]
            assert (stats["examples_kept"], stats["examples_total"]) == (
                item.examples_kept,
                item.examples_total,
            )
            assert item.examples_kept is not None
            assert len(body["dataset"]["preview"]) == min(PREVIEW_EXAMPLES, item.examples_kept)
            assert all("messages" in example for example in body["dataset"]["preview"])
            assert body["traces"]["count"] == item.tasks
            assert len(body["traces"]["samples"]) == min(SAMPLE_TRACES, item.tasks)
            assert body["page"] == f"/api/dashboard/runs/{run_id}/iterations/{item.iteration}"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        (f"/api/runs/{ONE}/iterations/7", 404),
        ("/api/runs/no-such-run/iterations/1", 404),
        (f"/api/runs/{ONE}/iterations/0", 400),
        (f"/api/runs/{ONE}/iterations/one", 400),
        ("/api/runs/BAD!/iterations/1", 400),
        (f"/api/runs/{ONE}/iterations/1?verbose=1", 400),
    ],
)
def test_iteration_json_errors(made_runs: MadeRuns, path: str, status: int) -> None:
    body = get(made_runs, path, status=status)
    assert body["error"]
