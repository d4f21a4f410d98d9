"""The dashboard's pages: data in, HTML out (Jinja templates in templates/, autoescaped).

Everything a page prints goes through Jinja's autoescaping, including values from reports, traces and
query strings, so nothing user-controlled reaches the HTML unescaped; SVG is drawn by the same
templates. ``None`` prints as "-" everywhere, which is how fields a report does not have yet show.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from api.dashboard.charts import (
    Interval,
    IntervalChart,
    LineChart,
    Point,
    RefLine,
    Series,
    interval_layout,
    layout,
)
from api.dashboard.data import IterationDetail
from api.dashboard.links import Links
from api.dashboard.metrics import TrainingMetrics
from api.dashboard.params import DEFAULT_PAGE_SIZE, MAX_COMPARED, RUN_STATUSES, RunsPageParams
from shared.azure.lifecycle import LineageLifecycle
from shared.domain.lifecycle import ModelDates
from shared.domain.lineage import BASE_VERSION, Chain, Lineage, base_of
from shared.domain.report import IterationReport
from shared.domain.report import shown_reward as _reward
from shared.domain.report_view import IterationView, ReportView
from shared.storage.run_index import RunPage

REFRESH_SECONDS = 10
LOSS_SERIES = (
    ("train_loss", "train loss"),
    ("valid_loss", "validation loss"),
    ("full_valid_loss", "full validation loss"),
)
# The dataset step's funnel, in order (shared/domain/dataset.py SourceStats): each row drops what it names.
FUNNEL = (
    ("traces", "Traces"),
    ("held_out", "Held out (validation, test)"),
    ("failed", "Failed"),
    ("no_reward", "No reward"),
    ("no_content", "No messages"),
    ("examples_total", "Examples"),
    ("format_rejected", "Format rejected"),
    ("duplicates", "Duplicates"),
    ("below_min_reward", "Below min reward"),
    ("examples_kept", "Kept"),
)
ACCURACY_SERIES = (
    ("train_mean_token_accuracy", "train token accuracy"),
    ("valid_mean_token_accuracy", "validation token accuracy"),
    ("full_valid_mean_token_accuracy", "full validation token accuracy"),
)


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}"


def _when(value: str | None) -> str:
    """An ISO time as ``2025-06-01 12:00:05 UTC`` (the report's times are UTC)."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _number(value: Any) -> str:
    return "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value)


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=lambda value: "-" if value is None else value,
    )
    env.filters.update(reward=_reward, usd=_usd, when=_when, number=_number)
    env.globals.update(layout=layout, interval_layout=interval_layout, statuses=RUN_STATUSES)
    return env


ENV = _environment()


def _render(template: str, **context: Any) -> str:
    return ENV.get_template(template).render(**context)


@dataclass(frozen=True)
class LiveStatus:
    """The orchestration as Durable sees it now; ``custom`` is the run's custom status (stage, ...)."""

    runtime_status: str | None
    custom: dict[str, Any] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.runtime_status in {"Running", "Pending", "ContinuedAsNew"}


def _iteration_points(
    iterations: list[IterationReport], value: Callable[[IterationReport], float | None], label: str
) -> list[Point]:
    """A point for each iteration that has a ``value``, labelled ``iteration i: {label} {value}``."""
    points = []
    for item in iterations:
        y = value(item)
        if y is not None:
            points.append(Point(item.iteration, y, f"iteration {item.iteration}: {label} {_reward(y)}"))
    return points


def reward_chart(view: ReportView, chart_id: str = "reward-chart") -> LineChart:
    """Validation reward per iteration (the baseline is iteration 0), train mean reward, the baseline
    as a line, promoted iterations marked."""
    report = view.report
    baseline = report.baseline.val_reward if report.baseline else None
    val = [Point(0, baseline, f"baseline: val reward {_reward(baseline)}")] if baseline is not None else []
    val += _iteration_points(report.iterations, lambda item: item.val_reward, "val reward")
    train = _iteration_points(report.iterations, lambda item: item.train_reward, "train mean")
    promoted = [
        Point(item.iteration, item.val_reward, f"iteration {item.iteration} promoted")
        for item in report.iterations
        if item.promoted and item.val_reward is not None
    ]
    best = report.promoted_val_reward
    return LineChart(
        chart_id=chart_id,
        title=f"Reward per iteration, run {report.run_id}",
        description=(
            f"{len(val)} validation points (baseline and {len(val) - (baseline is not None)} evaluated "
            f"iterations), {len(train)} train points; baseline {_reward(baseline)}, best {_reward(best)}."
        ),
        x_label="iteration (0 = baseline)",
        y_label="reward",
        series=[Series("val", "validation reward", val), Series("train", "train mean reward", train)],
        ref_lines=[RefLine("baseline", baseline)] if baseline is not None else [],
        highlighted=promoted,
        highlight_name="promoted",
        integer_x=True,
        y_floor=0.0,
        y_ceiling=1.0,
    )


def promotion_chart(view: ReportView) -> IntervalChart | None:
    """Each iteration's candidate minus champion, on the same validation tasks and samples, with its
    one-sided bounds and the margin the lower one had to clear; None before any comparison."""
    compared = [(item.iteration, item.comparison) for item in view.report.iterations if item.comparison]
    rows = [
        Interval(
            key=str(iteration),
            label=(
                f"iteration {iteration}: {c.difference:+.3f}, bounds {c.lower:+.3f} to {c.upper:+.3f} at "
                f"{c.confidence:.0%} each ({c.tasks} tasks x {c.samples_per_task} samples): "
                f"{c.decision.replace('_', ' ')}"
            ),
            estimate=c.difference,
            lower=c.lower,
            upper=c.upper,
            decision=c.decision,
        )
        for iteration, c in compared
        if c.difference is not None and c.lower is not None and c.upper is not None
    ]
    if not compared:
        return None
    margins = {c.margin for _, c in compared}
    return IntervalChart(
        chart_id="promotion-chart",
        title=f"Candidate minus champion, run {view.report.run_id}",
        description=(
            f"{len(rows)} iterations compared their candidate with the champion on the same validation "
            "tasks and samples: the mean difference, its lower and upper one-sided bounds, and the margin "
            "the lower bound had to exceed."
        ),
        x_label="reward difference, candidate minus champion",
        rows=rows,
        margin=margins.pop() if len(margins) == 1 else None,
    )


def metric_chart(
    metrics: TrainingMetrics, names: tuple[tuple[str, str], ...], chart_id: str, title: str, y_label: str
) -> LineChart | None:
    """One chart per kind of training metric (loss, token accuracy); None when the job logged none."""
    series = [
        Series(
            key,
            name,
            [Point(step, value, f"step {step}: {name} {value:.4g}") for step, value in metrics.series(key)],
        )
        for key, name in names
    ]
    series = [item for item in series if item.points]
    if not series:
        return None
    return LineChart(
        chart_id=chart_id,
        title=title,
        description=(
            f"{', '.join(item.name for item in series)} over {len(metrics.steps)} steps "
            f"(from {metrics.source})."
        ),
        x_label="step",
        y_label=y_label,
        series=series,
        integer_x=True,
        fmt=lambda value: f"{value:.3g}",
    )


def training_charts(iteration: int, metrics: TrainingMetrics | None) -> list[LineChart]:
    if metrics is None:
        return []
    charts = [
        metric_chart(
            metrics, LOSS_SERIES, f"loss-{iteration}", f"Training loss, iteration {iteration}", "loss"
        ),
        metric_chart(
            metrics,
            ACCURACY_SERIES,
            f"accuracy-{iteration}",
            f"Token accuracy, iteration {iteration}",
            "accuracy",
        ),
    ]
    return [chart for chart in charts if chart is not None]


def job_status(item: IterationView) -> str | None:
    """The job's state: the report's own field once it has one, else what the iteration shows."""
    entry = item.entry
    recorded = item.extra("job_status")
    if isinstance(recorded, str):
        return recorded
    if entry.job_id is None:
        return None
    if entry.fine_tuned_model:
        return "succeeded"
    if entry.status == "failed" and entry.deployment is None:
        return "failed"
    return "running" if entry.status == "running" else None


def deployment_state(view: ReportView, item: IterationView, lineage: Lineage | None = None) -> str | None:
    """The deployment's state now. The lineage record knows it best: later runs of the lineage prune
    deployments and crown champions after this run's report was closed. Without it, the report's own
    field once it has one, else what the run itself saw."""
    name = item.entry.deployment
    if name is None:
        return None
    if lineage is not None and lineage.owns_deployment(name):
        deleted = [v.deployment_deleted_at for v in lineage.versions if v.deployment == name]
        if any(deleted):
            return f"deleted {_when(next(at for at in deleted if at))}"
        if lineage.champion is not None and lineage.champion.deployment == name:
            return "serving (champion)"
    recorded = item.extra("deployment_state")
    if isinstance(recorded, str):
        return recorded
    if name in view.report.deployments_deleted:
        return "deleted (pruned)"
    if item.entry.status == "failed" and item.entry.val_reward is None:
        return "failed"
    if lineage is None and name == view.report.promoted_deployment:
        return "serving (champion)"
    return "in progress" if item.entry.status == "running" and item.entry.val_reward is None else "deployed"


def render_runs(links: Links, params: RunsPageParams, page: RunPage) -> str:
    picked = params.picked
    return _render(
        "runs.html",
        title="Runs",
        links=links,
        params=params,
        page=page,
        picked=picked,
        can_pick=len(picked) < MAX_COMPARED,
        refresh=None,
        filters={
            "lineage": params.lineage,
            "status": params.status,
            "limit": params.limit if params.limit != DEFAULT_PAGE_SIZE else None,
        },
    )


def render_run(
    links: Links,
    view: ReportView,
    live: LiveStatus,
    metrics: dict[int, TrainingMetrics],
    lineage: Lineage | None = None,
) -> str:
    run_id = view.report.run_id
    same_run = live.custom.get("run_id") in (None, run_id)
    return _render(
        "run.html",
        title=f"Run {run_id}",
        links=links,
        view=view,
        report=view.report,
        lineage=lineage,
        live=live if same_run else LiveStatus(None),
        refresh=REFRESH_SECONDS if live.running and same_run else None,
        chart=reward_chart(view),
        promotion=promotion_chart(view),
        comparisons=[(item.iteration, item.comparison) for item in view.report.iterations if item.comparison],
        training={i: training_charts(i, metrics.get(i)) for i in metrics},
        job_status=job_status,
        deployment_state=deployment_state,
    )


def render_iteration(
    links: Links, view: ReportView, detail: IterationDetail, lineage: Lineage | None = None
) -> str:
    run_id, number = detail.run_id, detail.iteration.entry.iteration
    return _render(
        "iteration.html",
        title=f"Run {run_id}, iteration {number}",
        links=links,
        view=view,
        report=view.report,
        lineage=lineage,
        item=detail.iteration,
        detail=detail,
        refresh=None,
        charts=training_charts(number, detail.metrics),
        funnel=FUNNEL,
        job_status=job_status,
        deployment_state=deployment_state,
    )


@dataclass(frozen=True)
class SettingRow:
    name: str
    values: list[str]

    @property
    def differs(self) -> bool:
        return len(set(self.values)) > 1


def _setting_rows(views: list[ReportView]) -> list[SettingRow]:
    names = sorted({name for view in views for name in view.report.settings})
    return [SettingRow(name, [_number(view.report.settings.get(name)) for view in views]) for name in names]


def compare_chart(views: list[ReportView]) -> LineChart:
    series = []
    for view in views:
        report = view.report
        points = []
        if report.baseline and report.baseline.val_reward is not None:
            points.append(
                Point(
                    0,
                    report.baseline.val_reward,
                    f"{report.run_id} baseline: {_reward(report.baseline.val_reward)}",
                )
            )
        points += [
            Point(
                item.iteration,
                item.val_reward,
                f"{report.run_id} iteration {item.iteration}: {_reward(item.val_reward)}",
            )
            for item in report.iterations
            if item.val_reward is not None
        ]
        series.append(Series(report.run_id, report.run_id, points))
    return LineChart(
        chart_id="compare-chart",
        title="Validation reward per iteration",
        description=f"Validation reward of {len(views)} runs, iteration 0 is each run's baseline.",
        x_label="iteration (0 = baseline)",
        y_label="validation reward",
        series=series,
        integer_x=True,
        y_floor=0.0,
        y_ceiling=1.0,
    )


def render_compare(links: Links, views: list[ReportView]) -> str:
    rows = _setting_rows(views)
    return _render(
        "compare.html",
        title="Compare runs",
        links=links,
        views=views,
        chart=compare_chart(views),
        rows=rows,
        differing=sum(1 for row in rows if row.differs),
        refresh=None,
    )


def lineage_chart(lineage: Lineage) -> LineChart:
    """Validation reward of each model version (0: the base model), champions ringed, the base model's
    reward as a line."""
    base = next((c for c in lineage.champion_history if c.version == BASE_VERSION), None)
    points = (
        [Point(BASE_VERSION, base.val_reward, f"base model: {_reward(base.val_reward)}")]
        if base and base.val_reward is not None
        else []
    )
    points += [
        Point(item.version, item.val_reward, f"version {item.version}: val reward {_reward(item.val_reward)}")
        for item in sorted(lineage.versions, key=lambda item: item.version)
        if item.val_reward is not None
    ]
    crowned = {c.version for c in lineage.champion_history if c.version != BASE_VERSION}
    return LineChart(
        chart_id="lineage-chart",
        title=f"Validation reward per model version, lineage {lineage.name}",
        description=(
            f"{len(points)} evaluated versions; {len(crowned)} became champion; the champion now is "
            f"version {lineage.champion.version if lineage.champion else '-'}."
        ),
        x_label="model version (0 = base model)",
        y_label="validation reward",
        series=[Series("val", "validation reward", points)],
        ref_lines=[RefLine("base model", base.val_reward)] if base and base.val_reward is not None else [],
        highlighted=[Point(p.x, p.y, f"version {p.x:g} was champion") for p in points if p.x in crowned],
        highlight_name="was champion",
        integer_x=True,
        y_floor=0.0,
        y_ceiling=1.0,
    )


@dataclass(frozen=True)
class ChainView:
    """One chain of a lineage as the page shows it: its base model, versions, the rebase that began it,
    and its base model's retirement dates (None when ARM did not answer)."""

    chain: Chain
    dates: ModelDates | None


def chain_views(lineage: Lineage, lifecycle: LineageLifecycle | None) -> list[ChainView]:
    dates = {item.model: item for item in lifecycle.view.models} if lifecycle else {}
    return [ChainView(chain, dates.get(chain.base_model)) for chain in lineage.chains()]


def render_lineage(
    links: Links, lineage: Lineage, runs: RunPage, lifecycle: LineageLifecycle | None = None
) -> str:
    champion = lineage.champion
    dates = {item.model: item for item in lifecycle.view.models} if lifecycle else {}
    return _render(
        "lineage.html",
        title=f"Lineage {lineage.name}",
        links=links,
        lineage=lineage,
        chart=lineage_chart(lineage),
        champions={c.version for c in lineage.champion_history},
        runs=runs,
        chains=chain_views(lineage, lifecycle),
        lifecycle=lifecycle,
        champion_dates=dates.get(champion.model) if champion else None,
        bases={item.version: base_of(item) for item in lineage.versions},
        refresh=None,
    )


def render_error(
    links: Links, status: int, heading: str, message: str, errors: list[dict[str, str]] | None = None
) -> str:
    return _render(
        "error.html",
        title=heading,
        links=links,
        status=status,
        heading=heading,
        message=message,
        errors=errors or [],
        refresh=None,
    )
