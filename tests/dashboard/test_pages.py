"""The dashboard's pages in headless Chromium, read from devhost's HTTP server, for runs made through
``POST /api/runs`` against the emulator: what the pages show must be what the reports say."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest

from devhost import DevHost
from shared.agents.traces import parse_jsonl, root_span
from shared.azure.clients import artifact_store
from shared.domain.layout import lineage_path, training_results_path
from shared.domain.lineage import Champion, Lineage, ModelVersion
from shared.domain.report import RunReport
from shared.telemetry.spans import REWARD
from tests.dashboard.conftest import FAILED, ONE, TWO, MadeRuns, Tab
from tests.driver import Runs

pytestmark = pytest.mark.timeout(600)

PAGE_ATTRS = "els => els.map(e => [Number(e.dataset.x), Number(e.dataset.y)])"


def chart_points(tab: Tab, chart: str, series: str) -> list[tuple[float, float]]:
    selector = f'#{chart} circle.point[data-series="{series}"]'
    return [tuple(point) for point in tab.page.eval_on_selector_all(selector, PAGE_ATTRS)]


def texts(tab: Tab, selector: str) -> list[str]:
    return [text.strip() for text in tab.page.locator(selector).all_inner_texts()]


def row_cells(tab: Tab, run_id: str) -> list[str]:
    return texts(tab, f'tr[data-run="{run_id}"] > *')


def expected_val_points(report: RunReport) -> list[tuple[float, float]]:
    assert report.baseline is not None
    assert report.baseline.val_reward is not None
    baseline = [(0.0, report.baseline.val_reward)]
    return baseline + [
        (float(item.iteration), item.val_reward) for item in report.iterations if item.val_reward is not None
    ]


def fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


@pytest.mark.parametrize("run_id", [TWO, ONE, FAILED])
def test_run_page_chart_has_the_baseline_and_one_point_per_evaluated_iteration(
    made_runs: MadeRuns, tab: Tab, run_id: str
) -> None:
    report = made_runs.reports[run_id]
    response = tab.open(made_runs.url(f"/api/dashboard/runs/{run_id}"))

    assert response.status == 200
    assert run_id in tab.page.locator("h1").inner_text()
    assert chart_points(tab, "reward-chart", "val") == expected_val_points(report)
    assert chart_points(tab, "reward-chart", "train") == [
        (float(item.iteration), item.train_reward)
        for item in report.iterations
        if item.train_reward is not None
    ]
    assert report.baseline is not None
    baseline_line = tab.page.locator('#reward-chart g.ref[data-ref="baseline"]')
    assert float(baseline_line.get_attribute("data-y") or "nan") == report.baseline.val_reward
    promoted = tab.page.eval_on_selector_all("#reward-chart circle.highlight", PAGE_ATTRS)
    assert [tuple(point) for point in promoted] == [
        (float(item.iteration), item.val_reward) for item in report.iterations if item.promoted
    ]
    svg = tab.page.locator("#reward-chart svg")
    assert svg.get_attribute("role") == "img"
    assert tab.page.get_by_role("img", name=f"Reward per iteration, run {run_id}").count() == 1
    # The chart's numbers are also a table, one row per iteration after the baseline row.
    rows = texts(tab, "#reward-heading ~ .table-wrap tbody tr")
    assert len(rows) == 1 + len(report.iterations)
    assert fmt(report.baseline.val_reward) in rows[0]
    assert tab.outside_requests(made_runs.host.origin) == []


INTERVALS = (
    "els => els.map(e => [e.dataset.interval, Number(e.dataset.difference), Number(e.dataset.lower), "
    "Number(e.dataset.upper), e.dataset.decision, e.getBoundingClientRect().width])"
)


def test_each_candidate_is_drawn_against_the_champion_with_its_interval_and_decision(
    made_runs: MadeRuns, tab: Tab
) -> None:
    """The run page's promotion chart: one bar per compared iteration from its lower to its upper bound,
    a dot at the difference, its decision, the zero and margin lines; the table beside it says the same
    with n and the method; the facts show the champion's test score at the start and at the end."""
    report = made_runs.reports[TWO]
    compared = [(item.iteration, item.comparison) for item in report.iterations if item.comparison]
    assert compared, "the run compared its candidates with the champion"
    tab.open(made_runs.url(f"/api/dashboard/runs/{TWO}"))

    drawn = tab.page.eval_on_selector_all("#promotion-chart g.interval", INTERVALS)
    assert [row[:5] for row in drawn] == [
        [str(iteration), comparison.difference, comparison.lower, comparison.upper, comparison.decision]
        for iteration, comparison in compared
    ]
    for _, _, lower, upper, _, width in drawn:
        assert (width > 0) == (upper > lower), "the bar spans the interval"
    margin = tab.page.locator('#promotion-chart g[data-ref="margin"]')
    assert margin.get_attribute("data-x") == str(report.settings["promotion_margin"])
    assert tab.page.locator('#promotion-chart g[data-ref="zero"]').count() == 1
    for iteration, comparison in compared:
        assert comparison.difference is not None
        assert comparison.lower is not None
        assert comparison.upper is not None
        cells = texts(tab, f'#promotion-chart-table tr[data-iteration="{iteration}"] > *')
        assert cells[3] == f"{comparison.difference:+.3f}"
        assert cells[4].startswith(f"{comparison.lower:+.3f} to {comparison.upper:+.3f}")
        assert "90% each, sign flip exact" in cells[4]
        assert cells[5] == f"{comparison.tasks} x {comparison.samples_per_task}"
        assert cells[6].startswith(comparison.decision.replace("_", " "))
        assert comparison.reason in cells[6]
    start, end = report.champion_test_start, report.champion_test_end
    assert start is not None
    assert end is not None
    shown = tab.page.locator("[data-test-scores]").inner_text()
    assert shown.startswith(f"{fmt(start.reward)} → {fmt(end.reward)}")
    assert f"{end.tasks} test tasks x {end.samples_per_task}" in shown


def test_iterations_show_their_lineage_and_a_failed_one_its_error(made_runs: MadeRuns, tab: Tab) -> None:
    two = made_runs.reports[TWO]
    tab.open(made_runs.url(f"/api/dashboard/runs/{TWO}"))
    for item in two.iterations:
        chain = tab.page.locator(f"#iteration-{item.iteration} ol.chain").inner_text()
        assert f"{item.tasks} rollouts" in chain
        assert f"{item.examples_kept} / {item.examples_total} kept" in chain
        for value in (item.file_id, item.job_id, item.fine_tuned_model, item.deployment):
            if value:
                assert value in chain.replace("\n", ""), value
        assert item.trained_tokens is not None
        assert f"{item.trained_tokens:,} tokens" in chain

    failed = made_runs.reports[FAILED]
    (only,) = failed.iterations
    assert only.status == "failed"
    assert only.error is not None
    tab.open(made_runs.url(f"/api/dashboard/runs/{FAILED}"))
    box = tab.page.locator("#iteration-1 .error-box").inner_text()
    assert only.error.code in box
    assert only.error.message[:40] in box
    assert "failed" in tab.page.locator("#iteration-1 ol.chain").inner_text()


def test_runs_page_lists_runs_newest_first_with_the_reports_values(made_runs: MadeRuns, tab: Tab) -> None:
    tab.open(made_runs.url("/api/dashboard?limit=200"))
    listed = tab.page.eval_on_selector_all("tr[data-run]", "els => els.map(e => e.dataset.run)")
    ours = [run_id for run_id in listed if run_id in made_runs.reports]
    newest_first = sorted(made_runs.reports, key=lambda r: (made_runs.reports[r].started_at, r), reverse=True)
    assert ours == newest_first
    for run_id, report in made_runs.reports.items():
        cells = row_cells(tab, run_id)
        done = sum(1 for item in report.iterations if item.status != "running")
        assert report.baseline is not None
        assert cells[0] == run_id
        assert cells[1] == report.status
        assert cells[5].startswith(f"{done} / {report.settings['iterations']}")
        assert cells[6] == f"{fmt(report.baseline.val_reward)} → {fmt(report.promoted_val_reward)}"
        assert cells[7] == report.promoted_deployment
        cost = report.cost
        assert cells[8] == (f"${cost.total_usd:,.2f}" if cost else "-")


def test_status_filter_and_cursor_pages(made_runs: MadeRuns, tab: Tab) -> None:
    tab.open(made_runs.url("/api/dashboard"))
    tab.page.select_option("#f-status", "completed_with_failures")
    tab.page.click("form.filters button")
    tab.page.wait_for_load_state()
    statuses = texts(tab, "tr[data-run] td:nth-child(2)")
    assert statuses and set(statuses) == {"completed_with_failures"}
    assert "status=completed_with_failures" in tab.page.url

    tab.open(made_runs.url("/api/dashboard?limit=1"))
    first = tab.page.eval_on_selector_all("tr[data-run]", "els => els.map(e => e.dataset.run)")
    tab.page.click("a[rel=next]")
    second = tab.page.eval_on_selector_all("tr[data-run]", "els => els.map(e => e.dataset.run)")
    tab.page.click("a[rel=prev]")
    back = tab.page.eval_on_selector_all("tr[data-run]", "els => els.map(e => e.dataset.run)")
    assert len(first) == len(second) == 1
    assert first != second
    assert back == first


def _check_links(made_runs: MadeRuns, tab: Tab, path: str) -> int:
    tab.open(made_runs.url(path))
    hrefs = tab.page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    for href in hrefs:
        if href.startswith("#"):
            assert tab.page.locator(href).count() == 1, f"{path}: anchor {href} has no target"
            continue
        assert href.startswith("/api/"), f"{path}: {href} is not a link into the app"
        response = tab.page.request.get(made_runs.url(href))
        assert response.status == 200, f"{path}: {href} answered {response.status}"
        fragment = urlsplit(href).fragment
        if fragment:
            target = tab.page.context.new_page()
            target.goto(made_runs.url(href))
            assert target.locator(f"#{fragment}").count() == 1, f"{path}: {href} has no #{fragment}"
            target.close()
    return len(hrefs)


@pytest.mark.parametrize(
    "path",
    [
        "/api/dashboard",
        f"/api/dashboard/runs/{TWO}",
        f"/api/dashboard/runs/{TWO}/iterations/2",
        f"/api/dashboard/compare?runs={TWO},{ONE}",
        f"/api/dashboard?compare={ONE}",
    ],
)
def test_every_link_resolves(made_runs: MadeRuns, tab: Tab, path: str) -> None:
    assert _check_links(made_runs, tab, path) >= 3


def test_the_function_key_is_carried_into_every_link_and_form(made_runs: MadeRuns, tab: Tab) -> None:
    for path in ("/api/dashboard?code=k3y", f"/api/dashboard/runs/{TWO}?code=k3y"):
        tab.open(made_runs.url(path))
        hrefs = tab.page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
        outside_page = [href for href in hrefs if not href.startswith("#")]
        assert outside_page
        assert all("code=k3y" in href for href in outside_page), outside_page
    tab.open(made_runs.url("/api/dashboard?code=k3y"))
    assert tab.page.locator('form.filters input[name="code"]').get_attribute("value") == "k3y"


def test_compare_draws_each_run_and_highlights_the_settings_that_differ(
    made_runs: MadeRuns, tab: Tab
) -> None:
    tab.open(made_runs.url(f"/api/dashboard?compare={TWO}"))
    tab.page.click(f'tr[data-run="{ONE}"] a:has-text("pick")')
    tab.page.click("section.picked a:has-text('Compare these 2 runs')")
    assert "/api/dashboard/compare" in tab.page.url

    for run_id in (TWO, ONE):
        assert chart_points(tab, "compare-chart", run_id) == expected_val_points(made_runs.reports[run_id])
    iterations = {x for run_id in (TWO, ONE) for x, _ in expected_val_points(made_runs.reports[run_id])}
    table = tab.page.locator("#compare-chart details.chart-data tbody th").all_text_contents()
    assert table == [f"{x:g}" for x in sorted(iterations)], "the chart's numbers are offered as a table"
    differing = tab.page.eval_on_selector_all("tr[data-differs]", "els => els.map(e => e.dataset.setting)")
    assert sorted(differing) == ["data_filter_ratio", "deployment_prefix", "iterations", "lineage"]
    assert tab.page.locator('tr[data-setting="seed"]').get_attribute("data-differs") is None
    assert "4 of" in tab.page.locator("#settings-heading + p").inner_text()


def test_iteration_page_previews_the_dataset_and_samples_the_traces(made_runs: MadeRuns, tab: Tab) -> None:
    item = made_runs.reports[ONE].iterations[0]
    assert item.examples_kept is not None
    assert item.traces_prefix is not None
    tab.open(made_runs.url(f"/api/dashboard/runs/{ONE}/iterations/1"))
    stats = tab.page.locator("#dataset dl.facts").inner_text()
    assert f"{item.examples_kept} / {item.examples_total}" in stats
    assert tab.page.locator("#dataset ol > li").count() == min(5, item.examples_kept)
    body = json.loads(made_runs.host.http("GET", f"/api/runs/{ONE}/iterations/1").get_body())
    (counts,) = body["dataset"]["stats"]["sources"].values()
    steps = ["traces", "held_out", "failed", "no_reward", "no_content", "examples_total", "format_rejected"]
    steps += ["duplicates", "below_min_reward", "examples_kept"]
    assert texts(tab, "#dataset-sources thead th") == ["Step", "rollouts"]
    shown = tab.page.eval_on_selector_all(
        "#dataset-sources tbody tr",
        "rows => rows.map(r => [r.dataset.step, r.querySelector('td').innerText])",
    )
    assert shown == [
        *([step, f"{counts[step]:,}"] for step in steps),
        ["mean_reward", f"{fmt(counts['mean_reward_all'])} → {fmt(counts['mean_reward_kept'])}"],
    ]
    assert counts["traces"] == item.tasks
    assert counts["examples_kept"] == item.examples_kept
    assert (
        f"{item.tasks} traces under {item.traces_prefix}" in tab.page.locator("#traces p").first.inner_text()
    )

    store = artifact_store()
    blobs = store.list_paths(item.traces_prefix)[:5]
    for index, blob in enumerate(blobs, start=1):
        root = root_span(parse_jsonl(store.read_text(blob) or ""))
        assert root is not None
        cells = texts(tab, f"#traces tbody tr:nth-child({index}) > *")
        assert cells[0] == blob.rsplit("/", 1)[-1].removesuffix(".jsonl")
        assert cells[3] == fmt(float(root.attributes[REWARD]) if root.status == "ok" else 0.0)


def test_training_metrics_copied_to_blob_are_drawn_as_curves(made_runs: MadeRuns, tab: Tab) -> None:
    rows = [(1, 2.5, 0.41, ""), (2, 1.9, 0.52, ""), (3, 1.2, 0.66, "1.4"), (4, 0.8, 0.75, "")]
    csv = "step,train_loss,train_mean_token_accuracy,valid_loss\n" + "".join(
        f"{step},{loss},{accuracy},{valid}\n" for step, loss, accuracy, valid in rows
    )
    artifact_store().write_text(training_results_path(ONE, 1), csv)

    tab.open(made_runs.url(f"/api/dashboard/runs/{ONE}"))
    assert chart_points(tab, "loss-1", "train_loss") == [(float(s), loss) for s, loss, _, _ in rows]
    assert chart_points(tab, "loss-1", "valid_loss") == [(3.0, 1.4)]
    assert chart_points(tab, "accuracy-1", "train_mean_token_accuracy") == [
        (float(s), a) for s, _, a, _ in rows
    ]
    tab.open(made_runs.url(f"/api/dashboard/runs/{ONE}/iterations/1"))
    assert chart_points(tab, "loss-1", "train_loss") == [(float(s), loss) for s, loss, _, _ in rows]
    body = json.loads(made_runs.host.http("GET", f"/api/runs/{ONE}/iterations/1").get_body())
    assert [step["values"]["train_loss"] for step in body["training_metrics"]["steps"]] == [
        r[1] for r in rows
    ]


@pytest.mark.parametrize(
    ("path", "status", "names"),
    [
        ("/api/dashboard?status=nope", 400, "status"),
        ("/api/dashboard?limit=0", 400, "limit"),
        ("/api/dashboard?limit=ten", 400, "limit"),
        ("/api/dashboard?bogus=1", 400, "bogus"),
        ("/api/dashboard?before=yesterday", 400, "before"),
        ("/api/dashboard?lineage=%3Cscript%3E", 400, "lineage"),
        ("/api/dashboard/runs/Not%20A%20Run!", 400, "run_id"),
        (f"/api/dashboard/runs/{TWO}?x=1", 400, "x"),
        (f"/api/dashboard/runs/{TWO}/iterations/zero", 400, "iteration"),
        ("/api/dashboard/compare", 400, "runs"),
        (f"/api/dashboard/compare?runs={TWO}", 400, "runs"),
        ("/api/dashboard/runs/no-such-run", 404, "no-such-run"),
        (f"/api/dashboard/runs/{TWO}/iterations/9", 404, "iteration 9"),
        (f"/api/dashboard/compare?runs={TWO},no-such-run", 404, "no-such-run"),
    ],
)
def test_bad_requests_get_a_page_naming_the_problem(
    made_runs: MadeRuns, tab: Tab, path: str, status: int, names: str
) -> None:
    response = tab.open(made_runs.url(path))
    assert response.status == status
    assert response.headers["content-type"].startswith("text/html")
    assert tab.page.locator("h1").inner_text() == ("Bad request" if status == 400 else "Not found")
    assert names in tab.page.locator("main").inner_text()
    assert tab.page.locator("script").count() == 0


def test_nothing_from_the_data_reaches_the_html_unescaped(made_runs: MadeRuns, tab: Tab) -> None:
    """A report is data from Blob: markup in it must show as text, never run or render."""
    hostile = '<img src=x onerror="document.title=1"><script>document.title=2</script>'
    report = made_runs.reports[ONE].model_dump(mode="json")  # written as JSON, as the run writes it
    report |= {
        "run_id": "dash-hostile",
        "instance_id": "dash-hostile",
        "error": {"code": "Bad<b>", "message": hostile},
        "settings": {**report["settings"], "agent": hostile},
        "lineage": "evil<i>",
    }
    store = artifact_store()
    store.write_json("runs/dash-hostile/report.json", report)

    response = tab.open(made_runs.url("/api/dashboard/runs/dash-hostile"))
    assert response.status == 200
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert tab.page.locator("main script, main img, main b, main i").count() == 0
    assert hostile in tab.page.locator(".error-box").first.inner_text()
    assert "evil<i>" in tab.page.locator("dl.facts").inner_text()
    assert tab.page.title().startswith("Run dash-hostile")


@pytest.mark.parametrize(
    "path",
    [
        "/api/dashboard",
        f"/api/dashboard/runs/{TWO}",
        f"/api/dashboard/runs/{TWO}/iterations/1",
        f"/api/dashboard/compare?runs={TWO},{ONE},{FAILED}",
    ],
)
def test_pages_fit_a_phone(made_runs: MadeRuns, phone: Tab, path: str) -> None:
    phone.open(made_runs.url(path))
    width = phone.page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"{path} is {width}px wide on a 375px screen"
    for chart in phone.page.locator("figure.chart svg").all():
        box = chart.bounding_box()
        assert box is not None and box["width"] <= 375


def test_a_running_runs_page_shows_its_stage_and_refreshes_until_it_ends(
    function_app: Any, emulator_reset: Any, tab: Tab
) -> None:
    """A real clock and a job poll of an hour hold the run in its fine-tune stage while we look."""
    with DevHost(function_app.app, clock="real", max_workers=8) as host:
        runs = Runs(host)
        run_id = runs.start(
            "dash-live",
            deployment_prefix="dash-live",
            lineage="dash-live",
            iterations=1,
            data_filter_ratio=1.0,
            file_poll_seconds=1,
            job_poll_initial_seconds=3600,
            job_poll_max_seconds=3600,
        )
        custom = runs.wait_until(
            run_id, lambda custom: str(custom.get("message", "")).startswith("job "), timeout=180
        )

        tab.open(f"{host.origin}/api/dashboard/runs/{run_id}")
        assert tab.page.locator("#live-heading").inner_text() == f"Now: {custom['stage']}"
        assert custom["stage"] == "fine-tune"
        assert custom["message"] in tab.page.locator("section.live").inner_text()
        assert tab.page.locator('meta[http-equiv="refresh"]').get_attribute("content") == "10"
        tab.open(f"{host.origin}/api/dashboard?status=running")
        assert row_cells(tab, run_id)[1] == "running"

        runs.terminate(run_id, "the test has seen enough")
        tab.open(f"{host.origin}/api/dashboard/runs/{run_id}")
        assert tab.page.locator("section.live").count() == 0
        assert tab.page.locator('meta[http-equiv="refresh"]').count() == 0
        assert "orchestration Terminated" in tab.page.locator("dl.facts").inner_text()


def write_lineage(made_runs: MadeRuns) -> Lineage:
    """The lineage record the lead's lineage activities keep (shared/domain/lineage.py), for models made by
    this package's runs: ONE's iteration 1 and TWO's iterations became versions 1, 2, 3."""
    made = [(ONE, item) for item in made_runs.reports[ONE].iterations]
    made += [(TWO, item) for item in made_runs.reports[TWO].iterations]
    versions: list[ModelVersion] = []
    for number, (run_id, item) in enumerate(made, start=1):
        assert item.base_model is not None
        assert item.started_at is not None
        versions.append(
            ModelVersion(
                version=number,
                run_id=run_id,
                iteration=item.iteration,
                parent_model=item.base_model,
                created_at=item.started_at,
                model=item.fine_tuned_model,
                job_id=item.job_id,
                deployment=item.deployment,
                val_reward=item.val_reward,
                status="trained" if item.fine_tuned_model else "failed",
                deployment_deleted_at=item.finished_at if number == 2 else None,
            )
        )
    first = versions[0]
    baseline = made_runs.reports[ONE].baseline
    assert baseline is not None
    base = Champion(
        version=0,
        model=baseline.model,
        deployment=baseline.deployment,
        val_reward=baseline.val_reward,
        since=made_runs.reports[ONE].started_at,
        run_id=ONE,
        reason="baseline",
    )
    crowned = Champion(
        version=1,
        model=first.model or "",
        deployment=first.deployment or "",
        val_reward=first.val_reward,
        since=first.created_at,
        run_id=ONE,
        reason="promoted",
    )
    lineage = Lineage(
        name="dash-lineage",
        deployment_prefix="dash",
        created_at=base.since,
        next_version=len(versions) + 1,
        versions=versions,
        champion=crowned,
        champion_history=[base, crowned],
    )
    artifact_store().write_json(lineage_path(lineage.name), lineage)
    return lineage


def test_lineage_page_shows_models_over_time_champions_and_what_is_deployed(
    made_runs: MadeRuns, tab: Tab
) -> None:
    lineage = write_lineage(made_runs)
    response = tab.open(made_runs.url("/api/dashboard/lineages/dash-lineage"))
    assert response.status == 200

    base = lineage.champion_history[0]
    evaluated = [(float(v.version), v.val_reward) for v in lineage.versions if v.val_reward is not None]
    assert chart_points(tab, "lineage-chart", "val") == [(0.0, base.val_reward), *evaluated]
    ringed = tab.page.eval_on_selector_all("#lineage-chart circle.highlight", PAGE_ATTRS)
    assert [tuple(point) for point in ringed] == [(1.0, lineage.versions[0].val_reward)]
    assert tab.page.locator("tr[data-version]").count() == len(lineage.versions)
    history = tab.page.eval_on_selector_all("tr[data-champion]", "els => els.map(e => e.dataset.champion)")
    assert history == ["0", "1"]
    deployed = tab.page.locator("#deployed-heading + ul").inner_text()
    assert f"{lineage.versions[0].deployment}: the champion (version 1)" in deployed
    assert str(lineage.versions[1].deployment) not in deployed, "a deleted deployment is not deployed"
    assert _check_links(made_runs, tab, "/api/dashboard/lineages/dash-lineage") >= 5


@pytest.mark.parametrize(
    ("path", "status", "names"),
    [("/api/dashboard/lineages/bad%20name", 400, "lineage"), ("/api/dashboard/lineages/nope", 404, "nope")],
)
def test_lineage_page_errors(made_runs: MadeRuns, tab: Tab, path: str, status: int, names: str) -> None:
    response = tab.open(made_runs.url(path))
    assert response.status == status
    assert names in tab.page.locator("main").inner_text()
