"""The dashboard's pure parts: chart scaling, training-metrics parsing, query validation, links."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from api.dashboard.charts import LineChart, Point, RefLine, Series, layout, nice_ticks
from api.dashboard.data import load_training_metrics
from api.dashboard.links import Links
from api.dashboard.metrics import parse_events, parse_results_csv
from api.dashboard.pages import reward_chart
from api.dashboard.params import CompareParams, InvalidParamsError, RunListParams, RunsPageParams
from scripts.azurite import REPO_ROOT
from shared.domain.report import Baseline, IterationReport, RunReport
from shared.domain.report_view import ReportView, usd
from shared.domain.settings import AppSettings
from shared.storage.artifacts import ArtifactStore
from shared.storage.run_index import Cursor
from tests.app.test_settings import REQUIRED


@pytest.mark.parametrize(
    ("low", "high", "ticks"),
    [
        (0.0, 1.0, [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0.0, 3.0, [0.0, 1.0, 2.0, 3.0]),
        (0.37, 0.52, [0.4, 0.45, 0.5]),
        (1.0, 1.0, [1.0]),
    ],
)
def test_nice_ticks(low: float, high: float, ticks: list[float]) -> None:
    assert nice_ticks(low, high) == ticks


def test_layout_maps_values_into_the_plot_area() -> None:
    chart = LineChart(
        chart_id="c",
        title="t",
        description="d",
        x_label="x",
        y_label="y",
        series=[Series("val", "val", [Point(2, 1.0, "b"), Point(0, 0.0, "a")])],
        ref_lines=[RefLine("baseline", 0.5)],
        y_floor=0.0,
        y_ceiling=1.0,
    )
    placed = layout(chart)
    (series,) = placed.series
    assert [p.point.label for p in series.points] == ["a", "b"], "points are drawn in x order"
    first, last = series.points
    assert (first.cx, first.cy) == (placed.left, placed.bottom)
    assert (last.cx, last.cy) == (placed.right, placed.top)
    assert placed.ref_lines[0].py == (placed.top + placed.bottom) / 2
    assert series.path == f"M{first.cx},{first.cy} L{last.cx},{last.cy}"


def test_results_csv_keeps_numbers_and_counts_rows_without_a_step() -> None:
    text = "step,train_loss,train_mean_token_accuracy,valid_loss\n2,0.5,0.9,\n1,0.7,nan,0.8\n,0.1,0.1,\n"
    metrics = parse_results_csv(text, "results.csv")
    assert [(s.step, s.values) for s in metrics.steps] == [
        (1, {"train_loss": 0.7, "valid_loss": 0.8}),
        (2, {"train_loss": 0.5, "train_mean_token_accuracy": 0.9}),
    ]
    assert metrics.unreadable == 1
    assert metrics.series("valid_loss") == [(1, 0.8)]


def test_events_give_metrics_from_metrics_events_only() -> None:
    events = [
        {"type": "message", "message": "Job started"},
        {"type": "metrics", "data": {"step": 1, "train_loss": 2.0}},
        {"type": "metrics", "data": {"step": 1, "train_loss": 1.5}},
        {"type": "metrics", "data": {"train_loss": 1.0}},
    ]
    text = "\n".join(json.dumps(event) for event in events) + "\nnot json\n"
    metrics = parse_events(text, "events.jsonl")
    assert [(s.step, s.values) for s in metrics.steps] == [(1, {"train_loss": 1.5})]
    assert metrics.unreadable == 2


@pytest.mark.parametrize(
    ("params", "field", "says"),
    [
        ({"status": "running,nope"}, "status", "one or more of"),
        ({"limit": "0"}, "limit", "greater than or equal to 1"),
        ({"before": "2025"}, "before", "cursor from a previous page"),
        ({"lineage": "a/b"}, "lineage", "must be a lineage: 1 to 64 letters, digits"),
        ({"sort": "name"}, "sort", "this view takes lineage, status, limit, before, after, code"),
    ],
)
def test_run_list_params_name_the_bad_parameter(params: dict[str, str], field: str, says: str) -> None:
    with pytest.raises(InvalidParamsError) as raised:
        RunListParams.parse(params)
    (error,) = raised.value.errors
    assert error["field"] == field
    assert says in error["error"]


def test_blank_values_and_the_function_key_are_not_parameters() -> None:
    parsed = RunsPageParams.parse({"status": "", "lineage": " ", "code": "secret", "compare": "run-a,run-b"})
    assert (parsed.status, parsed.lineage, parsed.picked) == (None, None, ["run-a", "run-b"])
    query = RunListParams.parse({"status": "failed,running", "limit": "7"}).query()
    assert (query.statuses, query.limit) == (frozenset({"failed", "running"}), 7)


@pytest.mark.parametrize(
    ("runs", "says"),
    [
        ("run-a", "give 2 to 8 run ids"),
        ("run-a,run-a", "names a run twice"),
        ("run-a,Run B", "is not a run id"),
        (",".join(f"run-{k}" for k in range(9)), "give 2 to 8 run ids"),
    ],
)
def test_compare_needs_two_to_eight_distinct_run_ids(runs: str, says: str) -> None:
    with pytest.raises(InvalidParamsError) as raised:
        CompareParams.parse({"runs": runs})
    assert says in raised.value.errors[0]["error"]


def test_cursor_round_trips() -> None:
    cursor = Cursor.parse("20250601T120000.000123Z~run-1")
    assert str(cursor) == "20250601T120000.000123Z~run-1"
    assert cursor.month == "2025-06"


def test_links_keep_the_route_prefix_and_the_function_key() -> None:
    links = Links.for_request(
        "https://app.example/api/dashboard/runs/x?code=a%2Bb", "dashboard", {"code": "a+b"}
    )
    assert links.run("run-1", "iteration-2") == "/api/dashboard/runs/run-1?code=a%2Bb#iteration-2"
    assert links.runs(status="failed", lineage=None) == "/api/dashboard?status=failed&code=a%2Bb"
    assert Links.for_request("http://h/api/runs", "runs", {}).api_runs() == "/api/runs"


def test_costs_and_added_fields_read_defensively() -> None:
    assert (usd(3), usd(2.5), usd({"total_usd": 4}), usd({"usd": 1.5})) == (3.0, 2.5, 4.0, 1.5)
    assert (usd(None), usd("3"), usd(True), usd({"eur": 3})) == (None, None, None, None)
    body = {"run_id": "r-1", "instance_id": "r-1", "settings": {}, "started_at": "2025-01-01T00:00:00+00:00"}
    assert ReportView.parse(json.dumps(body)).lineage is None
    assert ReportView.parse(json.dumps(body | {"lineage": "caps"})).lineage == "caps"


def test_reward_chart_points_only_where_an_iteration_has_a_reward() -> None:
    report = RunReport(
        run_id="r-1",
        instance_id="r-1",
        settings={},
        started_at="2025-01-01T00:00:00+00:00",
        baseline=Baseline(deployment="base", model="m", val_reward=0.25),
        iterations=[
            IterationReport(iteration=1, status="succeeded", train_reward=0.4, val_reward=0.5, promoted=True),
            IterationReport(iteration=2, status="failed", train_reward=0.375),
            IterationReport(iteration=3, status="skipped"),
        ],
    )
    chart = reward_chart(ReportView.of(report))
    val, train = chart.series
    assert [(p.x, p.y, p.label) for p in val.points] == [
        (0, 0.25, "baseline: val reward 0.250"),
        (1, 0.5, "iteration 1: val reward 0.500"),
    ]
    assert [(p.x, p.y, p.label) for p in train.points] == [
        (1, 0.4, "iteration 1: train mean 0.400"),
        (2, 0.375, "iteration 2: train mean 0.375"),
    ]
    assert [(p.x, p.label) for p in chart.highlighted] == [(1, "iteration 1 promoted")]


def test_dashboard_routes_need_a_function_key() -> None:
    """The real worker enforces the auth level declared here (devhost accepts any key), so check it."""
    script = (
        "import json, function_app\n"
        "print(json.dumps({f.get_function_name(): [f.get_trigger().route, f.get_trigger().auth_level.value]"
        " for f in function_app.app.get_functions() if f.get_trigger().type == 'httpTrigger'}))"
    )
    env = {
        k: v for k, v in os.environ.items() if k.upper() not in {f.upper() for f in AppSettings.model_fields}
    }
    env.update(REQUIRED)
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    routes = json.loads(result.stdout.splitlines()[-1])
    ours = {name: route for name, (route, _) in routes.items() if name.startswith("dashboard_")}
    assert sorted(ours.values()) == [
        "dashboard",
        "dashboard/compare",
        "dashboard/lineages/{lineage}",
        "dashboard/runs/{run_id}",
        "dashboard/runs/{run_id}/iterations/{iteration}",
    ]
    for name in [*ours, "list_runs", "get_iteration"]:
        assert routes[name][1] == "function", name


def test_training_metrics_come_from_the_blobs_the_report_names_else_the_usual_paths(
    store: ArtifactStore,
) -> None:
    report = RunReport(
        run_id="run-m",
        instance_id="run-m",
        settings={},
        started_at="2025-01-01T00:00:00+00:00",
        iterations=[IterationReport(iteration=i, status="succeeded") for i in (1, 2, 3, 4)],
    )
    raw = report.model_dump(mode="json")
    raw["iterations"][0] |= {
        "results_blobs": ["datasets/run-m/01/results.csv", "datasets/run-m/01/results-1.csv"]
    }
    raw["iterations"][1] |= {"results_blobs": [], "events_blob": "datasets/run-m/02/events.jsonl"}
    store.write_text("datasets/run-m/01/results.csv", "step,train_loss\n1,2.0\n2,1.5\n")
    store.write_text("datasets/run-m/01/results-1.csv", "step,train_loss\n3,1.0\n")
    store.write_text(
        "datasets/run-m/02/events.jsonl",
        json.dumps({"type": "metrics", "data": {"step": 5, "train_loss": 0.5}}),
    )
    store.write_text("datasets/run-m/03/results.csv", "step,train_loss\n1,0.9\n")

    found = load_training_metrics(store, ReportView(report, raw))
    assert {i: [(s.step, s.values["train_loss"]) for s in m.steps] for i, m in found.items()} == {
        1: [(1, 2.0), (2, 1.5), (3, 1.0)],
        2: [(5, 0.5)],
        3: [(1, 0.9)],
    }
    assert found[3].source == "datasets/run-m/03/results.csv"
