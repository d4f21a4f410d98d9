"""The dashboard does not mislead (issue 21): a deleted candidate is not shown as deployed,
no table is wider than the room it has on a desktop or a phone, a run the user cancelled reads as
cancelled rather than failed, and an approval's reason and approver are shown where the promotion is."""

from __future__ import annotations

from typing import Any

import pytest

from api.runs import PRINCIPAL_HEADER
from devhost import DevHost
from tests.app.test_lineages import PROMOTING
from tests.dashboard.conftest import FAILED, ONE, TWO, MadeRuns, Tab, _tab
from tests.driver import Runs

pytestmark = pytest.mark.timeout(600)

# Every table's own width against its box's (a .table-wrap scrolls what does not fit: that is the
# clipping a reader does not see), with details opened so tables inside them are laid out.
OVERFLOWING = """() => {
  document.querySelectorAll('details').forEach(d => { d.open = true; });
  return [...document.querySelectorAll('table')]
    .map(t => ({table: t.id || (t.caption ? t.caption.innerText : t.outerHTML.slice(0, 60)),
                width: t.scrollWidth, room: t.parentElement.clientWidth}))
    .filter(t => t.width > t.room);
}"""


@pytest.fixture(params=[1280, 390], ids=["desktop", "phone"])
def screen(browser: Any, request: pytest.FixtureRequest) -> Any:
    yield from _tab(browser, request.param, 900)


@pytest.mark.parametrize(
    "path",
    [
        "/api/dashboard?limit=200",  # every run of the session's index: long ids, every status
        f"/api/dashboard/runs/{TWO}",
        f"/api/dashboard/runs/{FAILED}",
        f"/api/dashboard/runs/{TWO}/iterations/1",
        f"/api/dashboard/runs/{FAILED}/iterations/1",
        f"/api/dashboard/compare?runs={TWO},{ONE},{FAILED}",
        "/api/dashboard/lineages/dash-two",
    ],
)
def test_no_table_is_wider_than_its_room(made_runs: MadeRuns, screen: Tab, path: str) -> None:
    response = screen.open(made_runs.url(path))
    assert response.status == 200
    width = screen.page.viewport_size["width"]
    assert screen.page.locator("table").count() > 0, "the page has tables to check"
    overflowing = screen.page.evaluate(OVERFLOWING)
    assert overflowing == [], f"{path} at {width}px: {overflowing}"
    assert screen.page.evaluate("document.documentElement.scrollWidth") <= width


def chain_states(tab: Tab) -> dict[str, str]:
    """Each iteration's deployment state as the run page's chain shows it, by iteration anchor."""
    states: dict[str, str] = tab.page.eval_on_selector_all(
        "article.iteration",
        "els => Object.fromEntries(els.map(e => [e.id, e.querySelector('[data-deployment-state]')"
        ".innerText]))",
    )
    return states


def test_a_deployment_a_later_run_deleted_is_not_shown_as_deployed(made_runs: MadeRuns, tab: Tab) -> None:
    """The first run's candidate becomes champion; a rollback makes the base model champion again, so
    that deployment is a spare, which the lineage's next run gives back at its end (a lineage keeps only
    its champion's deployment between runs). The first run's report cannot know; its pages must."""
    runs = made_runs.runs
    pruned = {"deployment_prefix": "dash-pruned", "lineage": "dash-pruned"}
    first = runs.finish(runs.start("dash-pruned-first", **pruned, **PROMOTING))
    (mine,) = first.iterations
    assert mine.promoted, mine.comparison
    status, rollback = runs.post("/api/lineages/dash-pruned/rollback")
    assert status == 202, rollback
    assert runs.finish(rollback["upkeep_id"]).status == "succeeded"
    again = {"iterations": 1, "data_filter_ratio": 1.0}
    second = runs.finish(runs.start("dash-pruned-second", **pruned, **again))
    assert mine.deployment in second.deployments_deleted, "the second run gave the spare back"
    assert mine.deployment not in first.deployments_deleted, "which the first run's report cannot know"

    tab.open(made_runs.url("/api/dashboard/runs/dash-pruned-first"))
    assert chain_states(tab)["iteration-1"].startswith("deleted "), chain_states(tab)
    models_made = tab.page.locator("dl.facts div", has_text="Models made").locator("dd").inner_text()
    assert mine.version is not None
    assert models_made == f"v{mine.version:02d}", "the run names the models it made (not 'Version -')"
    tab.open(made_runs.url("/api/dashboard/runs/dash-pruned-first/iterations/1"))
    assert tab.page.locator("[data-deployment-state]").inner_text().startswith("deleted ")


def test_a_cancelled_run_reads_as_cancelled_not_failed(
    function_app: Any, emulator_reset: Any, tab: Tab
) -> None:
    """A run cancelled while its job trains (the emulator trains 1000 times slower)."""
    emulator_reset.set_faults(training_slowdown=1000)
    with DevHost(function_app.app, clock="virtual", max_workers=8, virtual_idle_seconds=0.5) as host:
        runs = Runs(host)
        run_id = runs.start(
            "dash-cancelled", deployment_prefix="dash-cancelled", iterations=1, data_filter_ratio=1.0
        )
        runs.wait_until(run_id, lambda custom: "training from" in str(custom.get("message")))
        runs.cancel(run_id, "enough for today")
        report = runs.finish(run_id)
        assert (report.status, report.iterations[0].status) == ("cancelled", "cancelled")

        tab.open(f"{host.origin}/api/dashboard/runs/{run_id}")
    emulator_reset.clear_faults()
    facts = tab.page.locator("dl.facts").inner_text()
    assert "cancelled" in tab.page.locator("dl.facts .status").first.inner_text()
    assert "0 / 1 (cancelled in iteration 1)" in facts
    assert tab.page.locator(".error-box").count() == 0, "a cancel someone asked for is not an error"
    notice = tab.page.locator(".notice").first.inner_text()
    assert notice.startswith("Cancelled:")
    assert "enough for today" in notice
    assert "failed" not in tab.page.locator("main").inner_text()


def test_an_approvals_reason_and_approver_are_shown(function_app: Any, emulator_reset: Any, tab: Tab) -> None:
    """A candidate that waits for approval (it beats the base model: trained hard on one batch) is
    approved with a reason by a caller App Service authentication named."""
    with DevHost(function_app.app, clock="virtual", max_workers=8, virtual_idle_seconds=0.5) as host:
        runs = Runs(host)
        run_id = runs.start(
            "dash-approved",
            deployment_prefix="dash-approved",
            iterations=1,
            n_epochs=3,
            learning_rate_multiplier=2.0,
            data_filter_ratio=1.0,
            eval_samples_per_task=4,  # enough samples that the bound promotes it (test_lineages PROMOTING)
            promotion="approval",
            approval_timeout_seconds=3600,
        )
        runs.wait_until(run_id, lambda custom: isinstance(custom.get("awaiting"), dict))
        response = host.http(
            "POST",
            f"/api/runs/{run_id}/approve",
            json={"reason": "better on the hard questions"},
            headers={PRINCIPAL_HEADER: "reviewer@contoso.com"},
        )
        assert response.status_code == 202, response.get_body()
        report = runs.finish(run_id)
        assert report.iterations[0].promoted is True

        tab.open(f"{host.origin}/api/dashboard/runs/{run_id}")
        shown = tab.page.locator("#iteration-1 .approval").inner_text()
        tab.open(f"{host.origin}/api/dashboard/lineages/dash-approved")
        since = tab.page.locator("dl.facts .approval").inner_text()
        history = tab.page.locator('tr[data-champion="1"] .approval').inner_text()
    expected = "approved by reviewer@contoso.com: “better on the hard questions”"
    assert shown == since == history == expected
