"""The run report: ``runs/{run_id}/report.json``, a stable JSON contract that other tools read.

The report is the run's lineage: for every iteration it names the traces it learned from, the dataset
blob, the uploaded file, the job, the model it started from and the model it produced, the deployment
and its evaluation. It is rewritten after every recorded step, so a reader sees the run as it goes.
Fields are only ever added (``schema_version`` says which shape a reader has); see docs/report.md.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, model_validator

from shared.domain.account import AccountUse
from shared.domain.cost import CostEstimate, HostingRecord, usd_of_tokens
from shared.domain.errors import ErrorInfo, Leak
from shared.domain.lineage import Approval, Champion, Rebase
from shared.domain.models import Choice

SCHEMA_VERSION = 1

RunStatus = Literal["running", "succeeded", "completed_with_failures", "failed", "cancelled", "terminated"]
RunKind = Literal["run", "upkeep"]
IterationStatus = Literal["running", "succeeded", "skipped", "failed", "cancelled"]
PromotionOutcome = Literal[
    "promoted", "not_better", "incomplete_evaluation", "rejected", "approval_timed_out", "not_evaluated"
]
Decision = Literal[
    "promoted", "not_significant", "worse", "incomplete_evaluation", "approval_rejected", "approval_timed_out"
]
"""Why a candidate was or was not promoted (docs/report.md, "Promotion"); ``promotion`` keeps the older
vocabulary, ``promotion_of`` maps one to the other."""


def promotion_of(decision: Decision, evaluated: bool) -> PromotionOutcome:
    """The ``promotion`` older readers know for a decision: not_significant and worse are not_better, a
    rejection rejected, an incomplete evaluation not_evaluated when nothing of it was scored."""
    if decision == "incomplete_evaluation":
        return decision if evaluated else "not_evaluated"
    mapped: dict[Decision, PromotionOutcome] = {
        "promoted": "promoted",
        "not_significant": "not_better",
        "worse": "not_better",
        "approval_rejected": "rejected",
        "approval_timed_out": "approval_timed_out",
    }
    return mapped[decision]


def shown_reward(value: float | None) -> str:
    """A reward as people read it (stage messages, the dashboard, `make run`): three decimals, "-" when
    there is none."""
    return "-" if value is None else f"{value:.3f}"


class RolloutStats(BaseModel):
    """One rollout stage (a training batch or an evaluation): what ran, how it ended, how fast, against
    which limit. ``rollouts = ok + failed + throttled + cancelled``; the mean reward counts ``ok`` and
    ``failed`` (agent errors score 0) and leaves out ``throttled`` (the deployment's limit or outage,
    not the model, stopped them) and ``cancelled`` (never started: the run was cancelled)."""

    group: str
    deployment: str
    traces_prefix: str
    rollouts: int = 0
    ok: int = 0
    failed: int = 0
    throttled: int = 0
    cancelled: int = 0
    throttled_retries: int = Field(0, description="429 answers the stage's rollouts waited out")
    reward: float | None = None
    llm_calls: int = 0
    seconds: float = 0.0
    concurrency: int = Field(0, description="rollouts in flight at most (lanes)")
    limit_rpm: int | None = None
    limit_tpm: int | None = None
    limit_source: str | None = None
    lowest_remaining_requests: int | None = None
    lowest_remaining_tokens: int | None = None
    input_tokens: int = Field(0, description="prompt tokens of the stage's chat calls, as Azure counted them")
    output_tokens: int = Field(0, description="completion tokens of the stage's chat calls")


class Comparison(BaseModel):
    """A candidate against the champion, both evaluated in the same iteration on the same validation
    tasks and samples: the mean paired difference, its one-sided bounds at ``confidence``, what they
    rest on, and the decision with its reason (docs/report.md, "Promotion")."""

    candidate_deployment: str
    champion_deployment: str
    candidate_reward: float | None = Field(None, description="mean over the paired samples")
    champion_reward: float | None = Field(None, description="mean over the paired samples")
    difference: float | None = Field(None, description="mean over tasks of candidate minus champion")
    lower: float | None = Field(None, description="one-sided lower bound at confidence")
    upper: float | None = Field(None, description="one-sided upper bound at confidence")
    confidence: float
    margin: float
    method: str | None = Field(None, description="sign_flip_exact or sign_flip_monte_carlo")
    arrangements: int | None = Field(None, description="sign patterns the bounds rest on")
    tasks: int = Field(0, description="n: validation tasks with a paired sample")
    samples_per_task: int
    pairs: int = Field(0, description="(task, sample) pairs both evaluations scored")
    unpaired: int = Field(0, description="samples only one side scored (throttled on the other)")
    decision: Decision
    reason: str


class Headroom(BaseModel):
    """Whether any candidate could be promoted over the champion: the lower bound a candidate earning
    the highest reward on every one of the champion's validation samples would get (docs/report.md,
    "Nothing to improve")."""

    champion_deployment: str
    champion_reward: float | None
    tasks: int
    samples_per_task: int
    best_lower: float = Field(description="that perfect candidate's lower bound")
    margin: float
    confidence: float
    room: bool = Field(description="best_lower > margin: a candidate could still be promoted")


class HeldOutScore(BaseModel):
    """The champion's score on the held-out test tasks: reported, never used to choose."""

    deployment: str
    model: str
    version: int | None = None
    reward: float | None = None
    tasks: int = 0
    samples_per_task: int = 1
    rollouts: int = 0
    failed: int = 0
    throttled: int = 0
    traces_prefix: str | None = None
    measured_at: str | None = None
    input_tokens: int = Field(0, description="prompt tokens of the evaluation's chat calls")
    output_tokens: int = Field(0, description="completion tokens of the evaluation's chat calls")


class Baseline(BaseModel):
    deployment: str
    model: str
    val_reward: float | None = None
    val_rollouts: int = 0
    val_failed: int = 0
    val_throttled: int = 0
    traces_prefix: str | None = None
    rollout_stages: list[RolloutStats] = Field(default_factory=list)
    start_from: str | None = None
    champion_model: str | None = None
    champion_deployment: str | None = None
    champion_val_reward: float | None = None
    samples_per_task: int = 1
    headroom: Headroom | None = Field(None, description="None: not measured (an incomplete evaluation)")
    teacher: bool = Field(
        False,
        description="the start is a deployment of another model than the one the run trains (a teacher: "
        "distillation), so val_reward is the teacher's score, not the base model's",
    )
    trains: str | None = Field(None, description="the base model the run's jobs start from")


class IterationCost(CostEstimate):
    """An iteration's training cost: the estimate made before its job, and the actual cost once the
    job reports ``trained_tokens`` (same price). ``total_usd`` is what the iteration costs as best
    known: the actual cost; 0 without a job or when the job failed (Azure does not bill failed jobs);
    else the estimate (a job still running, or cancelled, which Azure bills up to where it stopped)."""

    actual_tokens: int | None = Field(None, description="the job's trained_tokens")
    actual_usd: float | None = None
    total_usd: float | None = None


class RunCost(BaseModel):
    """The run's cost so far: training (estimated and actual) and hosting; ``total_usd`` is the sum of
    the iterations' ``total_usd`` and the hosting."""

    estimated_usd: float
    actual_usd: float
    training_usd: float
    hosting_hours: float
    hosting_usd: float
    total_usd: float
    budget_usd: float | None = None
    unpriced: list[str] = Field(default_factory=list, description="what has no price in PRICING")


class IterationReport(BaseModel):
    model_config = ConfigDict(extra="forbid")

    iteration: int
    status: IterationStatus = "running"
    stage: str | None = None
    tasks: int = 0
    rollouts_failed: int = 0
    rollouts_throttled: int = 0
    train_reward: float | None = None
    traces_prefix: str | None = None
    examples_total: int | None = None
    examples_kept: int | None = None
    examples_earlier: int | None = Field(
        None,
        description="examples in the training file kept by the lineage's earlier iterations (a job from "
        "the base model trains on them too)",
    )
    dataset_blob: str | None = None
    file_id: str | None = None
    job_id: str | None = None
    trained_tokens: int | None = None
    results_blobs: list[str] = Field(default_factory=list)
    events_blob: str | None = None
    base_model: str | None = None
    fine_tuned_model: str | None = None
    deployment: str | None = None
    rollout_deployment: str | None = None
    val_reward: float | None = None
    val_rollouts: int = 0
    val_failed: int = 0
    val_throttled: int = 0
    val_traces_prefix: str | None = None
    rollout_stages: list[RolloutStats] = Field(default_factory=list)
    promoted: bool = False
    version: int | None = None
    promotion: PromotionOutcome | None = None
    approval: Approval | None = Field(None, description="the decision a candidate waited for, if any")
    champion_val_reward: float | None = None
    comparison: Comparison | None = Field(None, description="the paired evaluation promotion rests on")
    started_at: str | None = None
    finished_at: str | None = None
    error: ErrorInfo | None = None
    cost: IterationCost | None = None

    @model_validator(mode="after")
    def _settle_cost(self) -> IterationReport:
        """Fills the actual and best-known cost from ``trained_tokens`` whenever the entry is read or
        sent to the report, so the orchestrator only records the estimate."""
        cost = self.cost
        if cost is None:
            return self
        if self.trained_tokens is not None:
            cost.actual_tokens = self.trained_tokens
            price = cost.price_per_1m_tokens
            cost.actual_usd = None if price is None else usd_of_tokens(self.trained_tokens, price)
        if cost.actual_usd is not None:
            cost.total_usd = cost.actual_usd
        elif self.job_id is None or self.status == "failed":
            cost.total_usd = 0.0
        else:
            cost.total_usd = cost.estimated_usd
        return self


class RunReport(BaseModel):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    instance_id: str
    kind: RunKind = Field("run", description="upkeep: a champion redeployed or rolled back between runs")
    status: RunStatus = "running"
    lineage: str | None = None
    settings: dict[str, Any]
    started_at: str
    finished_at: str | None = None
    baseline: Baseline | None = None
    iterations: list[IterationReport] = Field(default_factory=list)
    deployments_deleted: list[str] = Field(default_factory=list)
    promoted_model: str | None = None
    promoted_deployment: str | None = None
    promoted_val_reward: float | None = None
    champion: Champion | None = None
    warnings: list[ErrorInfo] = Field(default_factory=list)
    leaked: list[Leak] = Field(default_factory=list)
    error: ErrorInfo | None = None
    hosting: list[HostingRecord] = Field(default_factory=list)
    champion_test_start: HeldOutScore | None = Field(None, description="the champion the run started with")
    champion_test_end: HeldOutScore | None = Field(None, description="the champion the run left")
    choices: list[Choice] = Field(
        default_factory=list, description="settings the app chose from the base model's profile"
    )
    rebase: Rebase | None = Field(None, description="the new chain this run started from another base model")
    account: AccountUse | None = Field(
        None, description="what sharing the Azure OpenAI account cost the run: write and slot waits"
    )

    @computed_field  # type: ignore[prop-decorator]
    @property
    def cost(self) -> RunCost | None:
        """The run's cost, summed from its iterations and hosting whenever the report is written; None
        until a job has been priced or a deployment's hours recorded."""
        costs = [item.cost for item in self.iterations if item.cost is not None]
        if not costs and not self.hosting:
            return None
        unpriced = [
            f"iteration {item.iteration}"
            for item in self.iterations
            if item.cost and item.cost.total_usd is None
        ]
        unpriced += [f"deployment {record.deployment}" for record in self.hosting if record.usd is None]
        training = sum(cost.total_usd or 0.0 for cost in costs)
        hosting = sum(record.usd or 0.0 for record in self.hosting)
        budget = self.settings.get("budget_usd")
        return RunCost(
            estimated_usd=round(sum(cost.estimated_usd or 0.0 for cost in costs), 6),
            actual_usd=round(sum(cost.actual_usd or 0.0 for cost in costs), 6),
            training_usd=round(training, 6),
            hosting_hours=round(sum(record.hours for record in self.hosting), 6),
            hosting_usd=round(hosting, 6),
            total_usd=round(training + hosting, 6),
            budget_usd=budget if isinstance(budget, int | float) else None,
            unpriced=unpriced,
        )

    def upsert_iteration(self, entry: IterationReport) -> None:
        """Replaces the record for that iteration (a replayed write is a no-op), keeps order."""
        others = [item for item in self.iterations if item.iteration != entry.iteration]
        self.iterations = sorted([*others, entry], key=lambda item: item.iteration)
