"""Soak: a year of weekly retraining in minutes. ``python -m bench.soak --weeks 52``

Weekly scheduled runs of one lineage through devhost (the real timer trigger, ``RUN_DEFAULTS`` naming
the lineage) against Azurite and the emulator, whose clock is advanced a week between runs: every
DeveloperTier deployment Azure would have removed after 24 h is gone by the next run, jobs and files
pile up unless the app deletes them, and the emulator enforces Azure's per-resource limits (10
fine-tuned deployments, 100 jobs, 100 files). Prints one row per week (``COLUMNS``), then the line

    soak: weeks=N succeeded=N completed_with_failures=N failed_runs=N champion_changes=N
          max_deployments_alive=N max_files_at_week_end=N jobs_listed=N leaked=N

Measured, not assumed: the deployments alive are the emulator's peak (``/_emulator/peaks``: the most
fine-tuned deployments alive at once, taken at every creation, restarted at each week's start), besides
those left at the week's end; files are counted at every week's end; a run that ends
``completed_with_failures`` is counted apart from one that ``succeeded``, and ``failed_runs`` counts the
rest. The exit status is 0 only if every run succeeded. ``--json PATH`` writes the results
(``SoakResult``) for ``scripts/figures.py`` and the tests.

Two invocations measure two different years, from week 1 on. Each run's id is made at its start
(wall-clock stamp and a random token), and every evaluation sample sends a seed derived from it
(``sample_seed``): each run draws fresh samples, by design, so a champion is never judged again on
the draws that crowned it (docs/report.md, "Promotion"). Its validation rewards, and with them which
candidate is promoted, are one draw of the evaluation's noise. The rest repeats: the emulator answers
a request as a function of its content (with ``--seed 7``), training rollouts send no seed, and a
training file follows from its rollouts and the ``seed`` setting alone (shared/domain/dataset.py).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from bench.table import Column, cells, collapse_repeats, console_header, console_row, fixed, markdown
from devhost import DevHost
from emulator.launch import EmulatorHandle
from scripts.local_env import local_services
from shared.domain.cost import DEFAULT_PRICING, usd_of_tokens
from shared.domain.report import RunReport

WEEK = 7 * 24 * 3600
LINEAGE = "soak"
# Each weekly run: the quote agent (graded tasks the emulated model keeps learning from for many
# iterations), three iterations of 24 training rollouts, the candidate and the champion evaluated on
# every validation task twice, polling often (the emulator's durations are scaled down; the devhost
# clock is virtual).
# The model: gpt-oss-20b, the path the year ahead leaves (docs/models.md): gpt-4.1-mini trains only until
# 2027-04-14, and only for accounts that already fine-tune it. Its profile's defaults apply (Global
# training, GlobalStandard candidates of 100 units, each iteration from the base model on the lineage's
# accumulated examples); the first rollouts are served by the teacher (BASE_DEPLOYMENT, gpt-5.1).
SOAK_RUN_DEFAULTS = {
    "lineage": LINEAGE,
    "agent": "quote",
    "deployment_prefix": "quote-agent",
    "base_model": "gpt-oss-20b",
    "iterations": 3,
    "eval_samples_per_task": 2,
    "file_poll_seconds": 5,
    "job_poll_initial_seconds": 5,
    "job_poll_max_seconds": 60,
    "deployment_poll_seconds": 5,
    "retry_first_interval_seconds": 1,
}


class Week(BaseModel):
    """One week's run, as the report and the emulator show it once the run has ended."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    week: int
    status: str
    champion: str
    reason: str
    val: float | None
    test: float | None = None
    decision: str = "-"
    trained: int = 0
    trained_tokens: int = Field(0, description="what its jobs trained on, as Azure counted it")
    promoted: int = 0
    stopped: bool = False
    cost_usd: float = 0.0
    deployments_at_end: int
    most_deployments_alive: int
    files_at_end: int
    jobs_listed: int
    leaked: int
    failures: list[str] = Field(
        default_factory=list, description="the error code of each iteration that did not succeed"
    )


COLUMNS: tuple[Column[Week], ...] = (
    Column("week", lambda w: str(w.week), 5),
    Column("status", lambda w: w.status, 23, text=True),
    Column("champion", lambda w: w.champion, 22, text=True),
    Column("reason", lambda w: w.reason, 9, text=True),
    Column("val", lambda w: fixed(3)(w.val), 6),
    Column("test", lambda w: fixed(3)(w.test), 6),
    Column("decision", lambda w: w.decision, 30, text=True),
    Column("deployments at end", lambda w: str(w.deployments_at_end), 18),
    Column("most deployments alive", lambda w: str(w.most_deployments_alive), 22),
    Column("files at end", lambda w: str(w.files_at_end), 12),
    Column("jobs listed", lambda w: str(w.jobs_listed), 11),
    Column("leaked", lambda w: str(w.leaked), 6),
)


class SoakResult(BaseModel):
    """The weeks, the lineage's ``max_deployments`` they ran with, and the wall time they took."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    weeks: list[Week]
    max_deployments: int
    seconds: float
    agent: str | None = None
    """The agent the weeks ran; None for results kept from before the soak recorded it with each week's
    test score, decision, training and cost (their defaults then mean "not measured", not zero)."""

    def count(self, status: str) -> int:
        return sum(1 for week in self.weeks if week.status == status)

    @property
    def failed_runs(self) -> int:
        """Runs that ended neither ``succeeded`` nor ``completed_with_failures``."""
        return len(self.weeks) - self.count("succeeded") - self.count("completed_with_failures")

    @property
    def champion_changes(self) -> int:
        return sum(1 for a, b in itertools.pairwise(self.weeks) if a.champion != b.champion)

    @property
    def trained_weeks(self) -> list[Week]:
        return [week for week in self.weeks if week.trained]

    @property
    def stopped_weeks(self) -> list[Week]:
        return [week for week in self.weeks if week.stopped]

    @property
    def nothing_new_weeks(self) -> list[Week]:
        """Weeks that trained nothing because every iteration's kept examples were ones the lineage had
        trained on already (``NothingToLearn``): they paid for their rollouts and evaluations only."""
        return [
            week
            for week in self.weeks
            if not week.trained and week.failures and set(week.failures) == {"NothingToLearn"}
        ]

    @property
    def priced(self) -> bool:
        """Whether the weeks' costs were estimated: a week that trained costs something at any price, so
        none above zero means the model has no price in the table (gpt-oss-20b: docs/cost.md)."""
        return any(week.cost_usd > 0 for week in self.trained_weeks)

    @property
    def saved_usd(self) -> float:
        """What the weeks that stopped early did not spend: a week that trained cost, on average, this
        much more than each of them did."""
        trained, stopped = self.trained_weeks, self.stopped_weeks
        if not trained or not stopped:
            return 0.0
        mean = sum(week.cost_usd for week in trained) / len(trained)
        return round(sum(mean - week.cost_usd for week in stopped), 4)

    def savings(self) -> str:
        """How many weeks trained, promoted or stopped early, and what stopping saved, in words."""
        if self.agent is None:
            return (
                "These weeks were measured before the soak recorded each week's test score, decision, "
                "training and cost, so none is shown: `python -m scripts.figures --only soak` measures them."
            )
        trained, stopped = self.trained_weeks, self.stopped_weeks
        promoted = [week for week in self.weeks if week.promoted]
        jobs = sum(week.trained for week in self.weeks)
        line = (
            f"Of the {len(self.weeks)} weeks, {len(trained)} trained ({jobs} fine-tuning jobs), "
            f"{len(promoted)} promoted a candidate ({sum(week.promoted for week in self.weeks)} promotions) "
            f"and {len(stopped)} stopped after their baseline because no candidate could have been "
            "promoted (`NothingToImprove`)."
        )
        unlearned = self.nothing_new_weeks
        if unlearned:
            line += (
                f" {len(unlearned)} weeks trained nothing because every example their rollouts earned was "
                "one the lineage had trained on already (each iteration skipped with `NothingToLearn`; the "
                f"first was week {unlearned[0].week}: the champion answers the same tasks the same way, "
                "so a fixed task set stops teaching it anything new); they paid for their rollouts only. "
                "On Azure the same tasks would give other answers: training rollouts send no seed, and the "
                "emulator gives a request without one the same draw every time where Azure samples anew "
                "(emulator/README.md, B1), so this count is an upper bound for a fixed task set."
            )
        if trained and not self.priced:
            line += (
                " No week's cost is estimated in dollars: a week that trained came to $0 by estimate, so its "
                "model has no price in the default table (docs/cost.md; set `PRICING` to price it)."
            )
            tokens = sum(week.trained_tokens for week in trained) // len(trained)
            idle_weeks = len(stopped) + len(unlearned)
            if tokens and idle_weeks:
                line += (
                    f" Counted in what is billed per token instead: a week that trained trained {tokens:,} "
                    f"tokens on average; the {idle_weeks} weeks that stopped or learned nothing new trained "
                    f"none, about {tokens * idle_weeks:,} trained tokens (and their candidates' hosting) not "
                    "paid for."
                )
        elif trained and stopped:
            mean = sum(week.cost_usd for week in trained) / len(trained)
            idle = sum(week.cost_usd for week in stopped) / len(stopped)
            line += (
                f" A week that trained cost ${mean:.4f} by estimate (training, hosting and the chat calls "
                f"of its rollouts), a week that stopped ${idle:.4f} (its baseline and test evaluations): "
                f"stopping saved ${self.saved_usd:.2f} in estimated cost."
            )
        return line

    def summary(self) -> str:
        last = self.weeks[-1]
        return (
            f"soak: weeks={len(self.weeks)} succeeded={self.count('succeeded')} "
            f"completed_with_failures={self.count('completed_with_failures')} "
            f"failed_runs={self.failed_runs} champion_changes={self.champion_changes} "
            f"max_deployments_alive={max(w.most_deployments_alive for w in self.weeks)} "
            f"max_files_at_week_end={max(w.files_at_end for w in self.weeks)} "
            f"jobs_listed={last.jobs_listed} leaked={sum(w.leaked for w in self.weeks)}"
            + (
                ""
                if self.agent is None
                else f" agent={self.agent} trained_weeks={len(self.trained_weeks)} "
                f"promoted_weeks={sum(1 for w in self.weeks if w.promoted)} "
                f"stopped_weeks={len(self.stopped_weeks)} "
                + (f"saved_usd={self.saved_usd:.2f}" if self.priced else "saved_usd=unpriced")
            )
        )

    def figures(self) -> list[str]:
        """The README's block: the weeks (a steady run of them on one row), the summary, the time."""
        return [
            *markdown(COLUMNS, collapse_repeats(cells(COLUMNS, self.weeks))),
            "",
            f"`{self.summary()}`",
            "",
            self.savings(),
            "",
            f"The {len(self.weeks)} weeks took {self.seconds:.0f} s; `max_deployments` was "
            f"{self.max_deployments}, so at most {self.max_deployments + 1} fine-tuned deployments "
            "(the candidates it keeps and the champion's) may be alive at once.",
        ]


def scheduled_run(host: DevHost, before: set[str]) -> str:
    """Fires the weekly timer once and returns the run it started."""
    host.fire_timer("scheduled_retrain")
    statuses = asyncio.run(host.client.get_status_all())
    started = {
        s.instance_id or "" for s in statuses if (s.instance_id or "").startswith("scheduled-")
    } - before
    if len(started) != 1:
        raise RuntimeError(f"the timer started {sorted(started)}, expected one run")
    return started.pop()


def run_report(host: DevHost, run_id: str) -> RunReport:
    body = json.loads(host.http("GET", f"/api/runs/{run_id}").get_body())
    return RunReport.model_validate(body["report"])


SHORT = {
    "promoted": "promoted",
    "not_significant": "not significant",
    "worse": "worse",
    "incomplete_evaluation": "incomplete",
    "approval_rejected": "rejected",
    "approval_timed_out": "timed out",
}
STOPPED = "stopped: nothing to improve"


def decision_of(report: RunReport) -> str:
    """The week's decisions, counted (iterations that ended before their evaluation by their status):
    ``promoted 1, not significant 2``; ``stopped: nothing to improve`` for a run that trained nothing."""
    if any(warning.code == "NothingToImprove" for warning in report.warnings):
        return STOPPED
    outcomes = [
        SHORT[item.comparison.decision] if item.comparison else item.status for item in report.iterations
    ]
    order = [*SHORT.values(), "skipped", "failed", "cancelled", "running"]
    counted = [f"{name} {outcomes.count(name)}" for name in order if name in outcomes]
    return ", ".join(counted) or "-"


def estimated_usd(report: RunReport) -> float:
    """What the week cost by estimate: training (actual where the job reported its tokens), hosting, and
    the chat tokens of every rollout it ran (training, evaluations, tests) at the model's inference price."""
    cost = report.cost
    spent = cost.training_usd + cost.hosting_usd if cost is not None else 0.0
    stages = [*(report.baseline.rollout_stages if report.baseline else [])]
    stages += [stage for item in report.iterations for stage in item.rollout_stages]
    tests = [score for score in (report.champion_test_start, report.champion_test_end) if score]
    if report.champion_test_end is not None and report.champion_test_end == report.champion_test_start:
        tests = tests[:1]  # the end repeats the start's measurement
    tokens = [(stage.input_tokens, stage.output_tokens) for stage in stages]
    tokens += [(score.input_tokens, score.output_tokens) for score in tests]
    rates = DEFAULT_PRICING.inference_per_1m(report.champion.model if report.champion else "gpt-4.1-mini")
    if rates is None:
        return round(spent, 6)
    chat = sum(usd_of_tokens(read, rates[0]) + usd_of_tokens(written, rates[1]) for read, written in tokens)
    return round(spent + chat, 6)


def week_row(week: int, report: RunReport, emulator: EmulatorHandle) -> Week:
    state = emulator.state()
    champion = report.champion
    decision = decision_of(report)
    test = report.champion_test_end
    return Week(
        week=week,
        status=report.status,
        champion=champion.deployment if champion else "-",
        reason=champion.reason if champion else "-",
        val=champion.val_reward if champion else None,
        test=test.reward if test else None,
        decision=decision,
        trained=sum(1 for item in report.iterations if item.fine_tuned_model),
        trained_tokens=sum(item.trained_tokens or 0 for item in report.iterations),
        promoted=sum(1 for item in report.iterations if item.promoted),
        stopped=decision == STOPPED,
        cost_usd=estimated_usd(report),
        deployments_at_end=sum(1 for d in state["deployments"] if ".ft-" in d.get("model_id", "")),
        most_deployments_alive=state["peaks"]["fine_tuned_deployments"],
        files_at_end=len(state["files"]),
        jobs_listed=len(state["jobs"]),
        leaked=len(report.leaked),
        failures=[
            item.error.code if item.error else item.status
            for item in report.iterations
            if item.status != "succeeded"
        ],
    )


def soak(weeks: int, timeout: float, emulator: EmulatorHandle) -> SoakResult:
    import function_app  # noqa: PLC0415 - reads the app settings local_services exported

    started = time.monotonic()
    rows: list[Week] = []
    max_deployments = 0
    with DevHost(function_app.app, clock="virtual", max_workers=8) as host:
        print(console_header(COLUMNS), flush=True)
        for week in range(1, weeks + 1):
            emulator.restart_peaks()
            known = {s.instance_id or "" for s in asyncio.run(host.client.get_status_all())}
            run_id = scheduled_run(host, known)
            asyncio.run(host.wait_for_completion(run_id, timeout=timeout))
            report = run_report(host, run_id)
            max_deployments = int(report.settings["max_deployments"])
            rows.append(week_row(week, report, emulator))
            print(console_row(COLUMNS, rows[-1]), flush=True)
            emulator.advance_clock(WEEK)
    return SoakResult(
        weeks=rows,
        max_deployments=max_deployments,
        seconds=time.monotonic() - started,
        agent=str(SOAK_RUN_DEFAULTS["agent"]),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--weeks", type=int, default=12)
    parser.add_argument("--timeout", type=float, default=600, help="seconds a week's run may take")
    parser.add_argument("--json", type=Path, help="also write the results (SoakResult) here")
    args = parser.parse_args(argv)
    flags = ("--time-scale", "0.01", "--chat-latency", "0", "--seed", "7", "--rate-limit-scale", "100")
    with (
        tempfile.TemporaryDirectory(prefix="soak-azurite-") as azurite_dir,
        local_services(
            *flags,
            azurite_dir=Path(azurite_dir),
            default_ports=False,
            run_defaults=SOAK_RUN_DEFAULTS,
            extra_env={"RETRAIN_SCHEDULE": "0 0 3 * * Mon"},
        ) as services,
    ):
        result = soak(args.weeks, args.timeout, services.emulator)
    print(f"({result.seconds:.0f} s)")
    print(result.summary())
    if args.json:
        args.json.write_text(result.model_dump_json(indent=1) + "\n")
    # A week whose iterations were skipped for want of a new example (NothingToLearn) ends
    # completed_with_failures by design; a failed run is what fails the benchmark.
    return 0 if result.failed_runs == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
