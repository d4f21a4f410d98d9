"""Payloads that cross the orchestrator/activity boundary.

They stay small on purpose (Durable Functions copies every payload into the orchestration history):
blob paths, ids and numbers, never datasets or traces.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.agents.tasks import SplitName, SplitRule
from shared.agents.traces import RolloutSummary
from shared.domain.account import AccountUse
from shared.domain.cost import CostEstimate, HostingRecord
from shared.domain.errors import CheckRecord, ErrorInfo, Leak
from shared.domain.lifecycle import LifecycleView
from shared.domain.lineage import Champion, LineageSplit, ModelVersion, Rebase
from shared.domain.models import Choice
from shared.domain.report import Baseline, HeldOutScore, IterationReport, RunKind, RunStatus
from shared.domain.settings import MAX_WINDOW_DAYS, TELEMETRY_AGENT_PATTERN, RunSettings, TrainingSource


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Done(Payload):
    """The answer of an activity run for its effect (a record written): nothing to read."""


class RunOutput(Payload):
    """What a run's orchestration returns when it ends (``output`` of ``GET /api/runs/{id}``): where
    it left the lineage, in brief; the report holds the rest."""

    run_id: str
    status: RunStatus
    lineage: str
    report_blob: str
    baseline_val_reward: float | None = None
    last_val_reward: float | None = None
    champion_deployment: str | None = None
    champion_model: str | None = None
    champion_val_reward: float | None = None
    failed_iterations: int = 0
    error: ErrorInfo | None = None


class UpkeepOutput(Payload):
    """What an upkeep operation (a redeploy or a rollback) returns when it ends."""

    upkeep_id: str
    status: RunStatus
    champion: str | None = Field(None, description="the champion's deployment it left")


class ReconcileOutput(Payload):
    """What the clean-up after a stale run returns: the deployments it deleted and the job it stopped."""

    run_id: str
    deleted: list[str]
    job: str | None = None


class JobInFlight(Payload):
    """A training file and the job (if any) that uses it: what must be cleaned up after the job."""

    file_id: str
    iteration: int
    job_id: str | None = None


class RunState(Payload):
    """The orchestration's input, carried from one iteration to the next through continue_as_new."""

    run_id: str
    settings: RunSettings
    started_at: str
    take_over: str | None = Field(None, description="a run that ended still holding the lineage")
    iteration: int = 0
    split: SplitRule | None = Field(None, description="the lineage's split, once the run has claimed it")
    train_size: int = 0
    val_size: int = 0
    test_size: int = 0
    current_model: str = ""
    current_deployment: str = ""
    deployments: list[str] = Field(
        default_factory=list, description="the lineage's candidate deployments alive, oldest first"
    )
    baseline_reward: float | None = None
    last_val_reward: float | None = None
    champion: Champion | None = None
    champion_reward: float | None = Field(None, description="the champion as this run measured it")
    run_deployments: list[str] = Field(
        default_factory=list, description="deployments this run created, alive"
    )
    active_job: JobInFlight | None = Field(None, description="the fine-tuning job this run is waiting for")
    failed_iterations: int = 0
    champion_test: HeldOutScore | None = Field(None, description="the champion's test score at the start")
    choices: list[Choice] = Field(
        default_factory=list, description="settings the app chose from the base model's profile"
    )
    teacher_model: str | None = Field(
        None, description="the model base_deployment serves when it is not base_model (distillation)"
    )
    account: AccountUse = Field(default_factory=AccountUse, description="its deployment writes' waits")
    losers: list[str] = Field(
        default_factory=list,
        description="candidates that lost, kept only while the run's next rollouts run on them",
    )

    @property
    def lineage(self) -> str:
        return self.settings.lineage or self.settings.deployment_prefix


class InitRun(Payload):
    run_id: str
    instance_id: str
    settings: RunSettings
    started_at: str
    kind: RunKind = "run"
    choices: list[Choice] = Field(default_factory=list)


class TaskCounts(Payload):
    """The sizes of a task set's splits under a lineage's rule, and the set's fingerprint."""

    train_size: int
    val_size: int
    test_size: int = 0
    digest: str | None = None


GROUP_PATTERN = r"^[a-z][a-z0-9-]{0,31}$"
"""A rollout group names one stage of an iteration (``train``, ``val``, ``baseline``, ``champion``):
its traces' prefix and its sub-orchestrations' instance ids."""


class RateBudget(Payload):
    """The limits a deployment's rollouts pace their chat calls to: requests per minute (and the window
    Azure checks them over) and tokens per minute, with where the numbers come from."""

    rpm: int = Field(ge=1)
    tpm: int | None = Field(None, ge=1)
    window_seconds: float = Field(gt=0)
    source: str


class DeploymentLimits(Payload):
    """What ARM says about a deployment's rate limit; ``budget`` is None (with the reason in
    ``problem``) when neither ARM nor the model/SKU table gives one."""

    deployment: str
    found: bool
    model: str | None = None
    sku_name: str | None = None
    capacity: int | None = None
    budget: RateBudget | None = None
    problem: str | None = None


class RolloutRequest(Payload):
    run_id: str
    iteration: int
    group: str = Field(pattern=GROUP_PATTERN)
    split: SplitName
    rule: SplitRule = Field(default_factory=SplitRule, description="the lineage's split")
    rollout_id: str
    task_index: int
    sample: int = Field(0, ge=0, description="which of the task's samples in this stage")
    seed: int | None = Field(None, description="sent with every chat call: one sample of many (evaluations)")
    agent: str
    dataset: str | None
    deployment: str
    budget: RateBudget | None = Field(None, description="the deployment's limit, for pacing its calls")


class RolloutStage(Payload):
    """One stage's rollouts: positions ``0..count-1`` run the agent's ``split`` tasks
    ``(start + position) % modulo`` on ``deployment``. Positions, not a list of indices, so that the
    payload (copied into every lane's history) stays small whatever the count."""

    run_id: str
    iteration: int
    group: str = Field(pattern=GROUP_PATTERN)
    split: SplitName
    rule: SplitRule = Field(default_factory=SplitRule, description="the lineage's split")
    agent: str
    dataset: str | None
    deployment: str
    start: int = Field(ge=0)
    count: int = Field(ge=0)
    modulo: int = Field(ge=1)
    sampled: bool = Field(
        False, description="each rollout a sample of its own: (start + position) // modulo, with its seed"
    )
    max_concurrent: int | None = Field(None, ge=1, description="None: sized from the deployment's limit")
    retry_interval_seconds: float = Field(gt=0)
    retry_max_attempts: int = Field(ge=1)

    def task_index(self, position: int) -> int:
        return (self.start + position) % self.modulo

    def sample(self, position: int) -> int:
        """Which pass over the tasks a position is: an evaluation of S samples runs every task S times."""
        return (self.start + position) // self.modulo if self.sampled else 0


def lowest(first: int | None, second: int | None) -> int | None:
    """The lower of two header readings, either of which may be missing."""
    values = [value for value in (first, second) if value is not None]
    return min(values) if values else None


class LaneTotals(Payload):
    """What a lane hands back: counts and sums only, never per-rollout results, so the stage's
    history does not grow with the number of rollouts."""

    ok: int = 0
    failed: int = 0
    throttled: int = 0
    cancelled: int = 0
    throttled_retries: int = 0
    reward_sum: float = 0.0
    llm_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    lowest_remaining_requests: int | None = None
    lowest_remaining_tokens: int | None = None

    def add(self, summary: RolloutSummary) -> None:
        """Counts one rollout's outcome (a cancelled one counts as not run)."""
        if summary.status == "ok":
            self.ok += 1
        elif summary.status == "failed":
            self.failed += 1
        elif summary.status == "throttled":
            self.throttled += 1
        else:
            self.cancelled += 1
        self.reward_sum += summary.reward if summary.status == "ok" else 0.0
        self.throttled_retries += summary.throttled_retries
        self.llm_calls += summary.llm_calls
        self.input_tokens += summary.input_tokens
        self.output_tokens += summary.output_tokens
        self.lowest_remaining_requests = lowest(
            self.lowest_remaining_requests, summary.lowest_remaining_requests
        )
        self.lowest_remaining_tokens = lowest(self.lowest_remaining_tokens, summary.lowest_remaining_tokens)

    def merge(self, other: LaneTotals) -> None:
        self.ok += other.ok
        self.failed += other.failed
        self.throttled += other.throttled
        self.cancelled += other.cancelled
        self.throttled_retries += other.throttled_retries
        self.reward_sum += other.reward_sum
        self.llm_calls += other.llm_calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.lowest_remaining_requests = lowest(
            self.lowest_remaining_requests, other.lowest_remaining_requests
        )
        self.lowest_remaining_tokens = lowest(self.lowest_remaining_tokens, other.lowest_remaining_tokens)

    @property
    def scored(self) -> int:
        """Rollouts the mean reward counts: those that ran to an answer or an agent error."""
        return self.ok + self.failed

    @property
    def mean_reward(self) -> float | None:
        return self.reward_sum / self.scored if self.scored else None


class RolloutLane(Payload):
    """One lane of a stage: positions ``lane, lane + lanes, ...`` run one after another; the lane
    continues as new every few rollouts, carrying where it is and its totals."""

    stage: RolloutStage
    budget: RateBudget | None = None
    lane: int = Field(ge=0)
    lanes: int = Field(ge=1)
    next_position: int = Field(ge=0)
    totals: LaneTotals = Field(default_factory=LaneTotals)


class ProductionWindow(Payload):
    """Which production traces a dataset reads: the agent's traces that started in the ``days`` before
    ``end`` (the orchestration's time, so a replayed or retried call reads the same window), and the
    grader that rewards the ones without feedback."""

    agent: str = Field(pattern=TELEMETRY_AGENT_PATTERN)
    end: datetime = Field(description="UTC; the Durable context's current_utc_datetime may come naive")
    days: int = Field(ge=1, le=MAX_WINDOW_DAYS)
    grader: str | None = None

    @field_validator("end")
    @classmethod
    def _in_utc(cls, value: datetime) -> datetime:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class HeldOut(Payload):
    """The validation and test tasks of a lineage's split, named by what finds them (the agent's task
    set and the rule), not listed: the dataset step loads them."""

    agent: str
    dataset: str | None
    rule: SplitRule


class Accumulation(Payload):
    """A job from the base model trains on the lineage's kept examples so far too: the activity reads the
    lineage record and the earlier iterations' ``kept.jsonl`` from Blob (never through the payload)."""

    lineage: str
    max_examples: int = Field(ge=1)


class BuildDataset(Payload):
    """The dataset step of an iteration: which sources it reads and the reward rules it applies."""

    run_id: str
    iteration: int
    data_filter_ratio: float
    min_reward: float
    seed: int
    source: TrainingSource = "rollouts"
    production: ProductionWindow | None = Field(None, description="required unless source is rollouts")
    held_out: HeldOut | None = Field(None, description="tasks no example may come from; None: none known")
    accumulate: Accumulation | None = Field(None, description="None: the iteration's own examples only")

    @model_validator(mode="after")
    def _window_when_production(self) -> BuildDataset:
        if (self.production is None) != (self.source == "rollouts"):
            raise ValueError("production: required when source is production or both, refused for rollouts")
        return self


class DatasetResult(Payload):
    """The dataset an iteration built: where it is, how many examples made it and what Azure would find
    wrong with it. Frozen: the iteration's record folds it as it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset_blob: str
    stats_blob: str
    rollouts: int
    examples_total: int
    examples_kept: int
    mean_reward_kept: float | None = None
    held_out: int = Field(0, description="traces left out because their task is a validation or test one")
    enough_for_azure: bool
    problems: list[str] = Field(default_factory=list)
    accumulated: bool = Field(False, description="the file holds the lineage's earlier examples too")
    examples_earlier: int = Field(0, description="examples of earlier iterations in the file")
    examples_new: int | None = Field(
        None, description="the iteration's own kept examples no earlier iteration had (accumulated only)"
    )
    shortfall: str | None = Field(
        None, description="why there are fewer examples than Azure needs, and what would change it"
    )


class UploadFile(Payload):
    run_id: str
    iteration: int
    dataset_blob: str


class FileRef(Payload):
    file_id: str


class FileResult(Payload):
    file_id: str | None = None
    status: str
    error: ErrorInfo | None = None


class StartJob(Payload):
    run_id: str
    iteration: int
    file_id: str
    model: str
    suffix: str
    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    seed: int
    training_type: str


class JobRef(Payload):
    job_id: str


class JobResult(Payload):
    job_id: str | None = None
    status: str
    fine_tuned_model: str | None = None
    trained_tokens: int | None = None
    error: ErrorInfo | None = None


class StartDeployment(Payload):
    run_id: str
    name: str
    model: str
    sku_name: str
    sku_capacity: int


class DeploymentRef(Payload):
    name: str


NAME_TAKEN = "DeploymentNameTaken"
"""The error of a deployment whose name serves another model: the run takes its lineage's next version."""
REQUEST_CONFLICT = "RequestConflict"
"""A deployment write ARM refused because another write on the account (or on that deployment) was in
progress: 409 ``RequestConflict`` ("Another operation is being performed on the parent resource") or
``AnotherOperationInProgress``. The state of such an answer: waited out and sent again."""
NO_SLOT = "NoSlot"
"""The state of a create that found every fine-tuned deployment slot of the account taken (counted
under the account's write grant, or Azure's ``InsufficientQuota``): the write waits for a slot."""


class DeploymentResult(Payload):
    name: str
    state: str
    error: ErrorInfo | None = None
    model: str | None = Field(None, description="the model id it serves")
    format_refused: str | None = Field(
        None, description="an open model's model.format Azure refused before the one it accepted"
    )


class DeleteDeployments(Payload):
    names: list[str]


class DeploymentsRemaining(Payload):
    remaining: list[str]
    conflicts: list[str] = Field(
        default_factory=list,
        description="deletes ARM refused with 409 RequestConflict (another write on the account): sent again",
    )


class ProbeResult(Payload):
    ready: bool
    error: ErrorInfo | None = None


class ReportChange(Payload):
    """What one write changes in the run report; fields left None are kept as they are."""

    status: RunStatus | None = None
    lineage: str | None = None
    baseline: Baseline | None = None
    iteration: IterationReport | None = None
    deployments_deleted: list[str] | None = None
    promoted_model: str | None = None
    promoted_deployment: str | None = None
    promoted_val_reward: float | None = None
    champion: Champion | None = None
    rebase: Rebase | None = None
    warnings: list[ErrorInfo] | None = Field(None, description="appended to the report's warnings")
    leaked: list[Leak] | None = Field(None, description="appended: resources not cleaned up")
    hosting: list[HostingRecord] | None = Field(None, description="replaces the run's hosting records")
    champion_test_start: HeldOutScore | None = None
    champion_test_end: HeldOutScore | None = None
    account: AccountUse | None = Field(None, description="replaces what sharing the account cost the run")
    finished_at: str | None = None
    error: ErrorInfo | None = None


class ReportUpdate(Payload):
    run_id: str
    change: ReportChange


class SplitRequest(Payload):
    """The agent's task set a run evaluates on, and the split a new lineage records for it."""

    agent: str
    dataset: str | None
    rule: SplitRule


class ClaimLineage(Payload):
    lineage: str
    deployment_prefix: str
    run_id: str
    instance_id: str
    since: str
    take_over: str | None = Field(None, description="a run that ended without releasing the lineage")
    split: SplitRequest | None = Field(None, description="None: the claim needs no tasks (an upkeep)")
    base_model: str | None = Field(
        None, description="the run's base model: another than the lineage's rebases it"
    )


class LineageClaim(Payload):
    """What a run needs from its lineage to start: who holds it, its champion, latest model, the
    candidate deployments still alive, and its split with the sizes it gives the task set now."""

    claimed: bool
    holder: str | None = None
    champion: Champion | None = None
    previous_champion: Champion | None = Field(None, description="the one a rollback brings back")
    latest: ModelVersion | None = None
    deployments: list[str] = Field(default_factory=list)
    split: LineageSplit | None = None
    counts: TaskCounts | None = Field(None, description="the task set now, under the lineage's split")
    rebase: Rebase | None = Field(
        None, description="this run's rebase of the lineage, if it starts a new chain"
    )


class ReleaseLineage(Payload):
    lineage: str
    run_id: str


class ReserveVersion(Payload):
    lineage: str
    entry: ModelVersion
    avoid: list[str] = Field(default_factory=list, description="deployment names found taken meanwhile")


class VersionReserved(Payload):
    """The lineage version (and deployment name) reserved for an iteration's model. Frozen: the
    iteration's record folds it as it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int
    deployment: str


class RecordVersion(Payload):
    lineage: str
    entry: ModelVersion


class CrownChampion(Payload):
    lineage: str
    champion: Champion


class DeploymentsDeleted(Payload):
    lineage: str
    names: list[str]
    at: str


class RunRef(Payload):
    run_id: str


class CancelRequest(Payload):
    requested: bool
    reason: str | None = None


class CollectOutputs(Payload):
    run_id: str
    iteration: int
    training_file_id: str
    job_id: str | None = None


class CollectedOutputs(Payload):
    """What a settled job left: its results and events copied to Blob, and every file of the job's
    that must now be deleted from Azure (the training file, then its results files), so that each one
    the deletion misses can be named as leaked."""

    results_blobs: list[str] = Field(default_factory=list)
    events_blob: str | None = None
    files: list[str] = Field(default_factory=list, description="to delete: training file, results files")
    warnings: list[ErrorInfo] = Field(default_factory=list)


class StaleRun(Payload):
    """What a run that ended without finishing (terminated, failed) left behind, for its clean-up."""

    run_id: str
    settings: RunSettings
    started_at: str
    report_status: RunStatus | None
    running_job: JobInFlight | None = None
    champion: Champion | None = None
    deployments: list[str] = Field(default_factory=list, description="tagged with the run's id")


class DeploymentNames(Payload):
    names: list[str]


class UpkeepRequest(Payload):
    """The input of ``lineage_upkeep``: bring the champion back, or make the previous champion current."""

    operation: Literal["redeploy", "rollback"]
    upkeep_id: str
    settings: RunSettings
    started_at: str


class Check(CheckRecord):
    """One preflight check: what was checked, whether it passed, what was found and, if it failed, what
    to change, and whether it failed only on something transient (an error records it without that)."""

    transient: bool = Field(False, description="failed on a throttle, 5xx or timeout: retry, not a fix")


class PreflightRequest(Payload):
    """What a run is about to do: train ``model`` (served as ``deployment``) on a dataset, either built
    (``dataset_blob``) or expected from the run's settings."""

    run_id: str | None = Field(None, description="None: no run yet (GET /api/preflight)")
    model: str
    deployment: str | None = Field(description="where the next rollouts go; None: none before this job")
    training_type: str
    n_epochs: int
    iterations: int = 1
    budget_usd: float | None = None
    dataset_blob: str | None = Field(None, description="None: estimate from the settings below")
    rollouts: int = Field(description="rollouts per iteration (finetune_every_n_rollouts)")
    batch_rollouts: int = Field(0, description="the iteration's training batch (RunSettings.batch_rollouts)")
    evaluation_rollouts: int = Field(
        0, description="each side of its paired evaluation (RunSettings.evaluation_rollouts)"
    )
    rollout_deployment: str | None = Field(
        None, description="the deployment serving the batch, priced at its model's rate (None: model's)"
    )
    data_filter_ratio: float
    sku_name: str | None = Field(None, description="the SKU its candidates deploy on")
    champion_model: str | None = Field(None, description="the lineage's champion, for lifecycle warnings")
    champion_deployment: str | None = None
    rebasing_to: str | None = Field(None, description="the new base model when the run rebases its lineage")
    kept_deployments: list[str] = Field(
        default_factory=list, description="deployments the run keeps while it deploys: its champion's"
    )


class PreflightResult(Payload):
    ok: bool
    checks: list[Check]
    cost: CostEstimate
    spent_usd: float = 0.0
    warnings: list[ErrorInfo] = Field(
        default_factory=list, description="retirements within LIFECYCLE_WARNING_DAYS that touch the run"
    )
    lifecycle: LifecycleView | None = Field(None, description="the dates of what the run touches")

    def failed(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def blocking(self) -> list[Check]:
        """Failed checks that need a change (not a retry): the ones that stop a run."""
        return [check for check in self.failed() if not check.transient]

    def unverified(self) -> list[Check]:
        """Checks that failed on something transient: nothing is known to be wrong."""
        return [check for check in self.failed() if check.transient]


class HostingRequest(Payload):
    run_id: str
    lineage: str
    at: str = Field(description="now, in orchestration time (ISO 8601)")


class HostingMeasured(Payload):
    records: list[HostingRecord]


class LineageRef(Payload):
    lineage: str


class JobIds(Payload):
    job_ids: list[str]


class JobsDeleted(Payload):
    deleted: list[str]
    refused: list[Leak] = Field(default_factory=list, description="the jobs Azure would not delete, and why")


class JobsMarked(Payload):
    lineage: str
    job_ids: list[str]
    at: str


class EvaluatedStage(Payload):
    """One evaluation's traces: a rollout stage of ``deployment`` under ``traces_prefix``."""

    deployment: str
    traces_prefix: str


class CompareEvaluations(Payload):
    """Pairs two evaluations' rewards by (task, sample) and bounds the difference; without a
    ``candidate``, the difference a candidate earning the highest reward on every sample would make."""

    candidate: EvaluatedStage | None
    champion: EvaluatedStage
    confidence: float = Field(gt=0, lt=1)


class PairedDifference(Payload):
    """The paired difference of two evaluations and its one-sided bounds (None: nothing paired)."""

    tasks: int = 0
    pairs: int = 0
    unpaired: int = 0
    candidate_reward: float | None = None
    champion_reward: float | None = None
    difference: float | None = None
    lower: float | None = None
    upper: float | None = None
    method: str | None = None
    arrangements: int | None = None
