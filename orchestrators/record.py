"""What an iteration learns, stage by stage, and the one place it is written into the iteration's record.

Each stage returns a frozen result (``Rolled``, ``Priced``, ``Uploaded``, ``JobStarted``, ``Trained``,
``JobOutputs``, ``Deployed``, an ``Evaluation``, a ``PairedEvaluation``, a ``Promotion``, or an
activity's answer as the contract has it: ``DatasetResult``, ``VersionReserved``) and
``IterationRecord.fold`` writes it into the iteration's entry of the report and, where the lineage
keeps it too, into the iteration's ``ModelVersion``. Nothing else writes either: a new stage adds a
result and a case of ``fold``.

``run_iteration`` folds what a stage returns. A stage folds itself only what it learns before something
it may not return from: before a wait (a cancel or a failure there must not lose a file or a job that
exists) and before refusing to go on (the record shows what it refused). Before a wait that someone may
act on meanwhile (a job a reconciliation must find, a deployment), ``checkpoint`` also writes the
entry to the report. Otherwise the entry is written once the iteration has priced its dataset, and
once it ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from orchestrators.lifecycle import training_parent
from orchestrators.orchestration import Orchestration, Stage, Step
from orchestrators.rollouts import TRAIN_GROUP, Evaluation, PairedEvaluation
from shared.contracts.payloads import (
    DatasetResult,
    RecordVersion,
    ReportChange,
    VersionReserved,
)
from shared.contracts.specs import RECORD_LINEAGE_VERSION
from shared.domain.errors import ErrorInfo
from shared.domain.layout import traces_prefix
from shared.domain.lineage import Approval, ModelVersion
from shared.domain.report import (
    Comparison,
    IterationCost,
    IterationReport,
    IterationStatus,
    PromotionOutcome,
    RolloutStats,
    promotion_of,
)


@dataclass(frozen=True)
class Rolled:
    """The training batch's rollouts (what the dataset is built from)."""

    stats: RolloutStats


@dataclass(frozen=True)
class Priced:
    """What the job will cost, estimated by the preflight before it."""

    cost: IterationCost


@dataclass(frozen=True)
class Uploaded:
    """The training file, in Azure now (it must be deleted again whatever happens)."""

    file_id: str


@dataclass(frozen=True)
class JobStarted:
    """The fine-tuning job, running on the training file."""

    file_id: str
    job_id: str


@dataclass(frozen=True)
class JobOutputs:
    """The job's results file(s) and events, copied to Blob before its files were deleted from Azure."""

    results_blobs: tuple[str, ...]
    events_blob: str | None


@dataclass(frozen=True)
class Trained:
    """The fine-tuned model the job produced."""

    file_id: str
    job_id: str
    model: str
    trained_tokens: int | None


@dataclass(frozen=True)
class Deployed:
    """The candidate's deployment: requested (``checkpoint``, before provisioning), then serving."""

    name: str
    sku_name: str
    sku_capacity: int


@dataclass(frozen=True)
class Promotion:
    """Whether the candidate becomes champion: its comparison with the champion, with the final
    decision (after any approval) and its reason."""

    comparison: Comparison
    approval: Approval | None = None
    """The decision the candidate waited for (``promotion: approval``), its reason and who sent it."""

    @property
    def promoted(self) -> bool:
        return self.comparison.decision == "promoted"

    @property
    def outcome(self) -> PromotionOutcome:
        """The decision in the report's older ``promotion`` vocabulary."""
        return promotion_of(self.comparison.decision, self.comparison.candidate_reward is not None)


StageResult = (
    Rolled
    | DatasetResult
    | Priced
    | VersionReserved
    | Uploaded
    | JobStarted
    | JobOutputs
    | Trained
    | Deployed
    | Evaluation
    | PairedEvaluation
    | Promotion
)


class IterationRecord:
    """One iteration's record: its entry in the run report and its model's version in the lineage, each
    built once when the iteration begins and changed only by ``fold``."""

    def __init__(self, orch: Orchestration, entry: IterationReport, version: ModelVersion) -> None:
        self.orch = orch
        self.entry = entry
        self.version = version

    @classmethod
    def begin(cls, orch: Orchestration) -> IterationRecord:
        """The record of the iteration ``orch.state.iteration``, starting from the run's current model."""
        state = orch.state
        started_at = orch.now()
        train_traces = traces_prefix(state.run_id, state.iteration, TRAIN_GROUP)
        parent = training_parent(state)
        entry = IterationReport(
            iteration=state.iteration,
            started_at=started_at,
            base_model=parent,
            rollout_deployment=state.current_deployment,
            traces_prefix=train_traces,
        )
        version = ModelVersion(
            version=0,
            run_id=state.run_id,
            iteration=state.iteration,
            parent_model=parent,
            created_at=started_at,
            traces_prefix=train_traces,
            base_model=state.settings.base_model,
        )
        return cls(orch, entry, version)

    @property
    def iteration(self) -> int:
        return self.entry.iteration

    def fold(self, result: StageResult | None) -> None:
        """Writes what a stage learned into the entry and the version (None: the stage had nothing to
        do, e.g. no rollouts for a run that trains on production traces)."""
        entry, version = self.entry, self.version
        match result:
            case None:
                pass
            case Rolled(stats):
                entry.tasks, entry.train_reward = stats.rollouts, stats.reward
                entry.rollouts_failed, entry.rollouts_throttled = stats.failed, stats.throttled
                entry.rollout_stages.append(stats)
            case DatasetResult():
                entry.examples_total, entry.examples_kept = result.examples_total, result.examples_kept
                entry.examples_earlier = result.examples_earlier if result.accumulated else None
                entry.dataset_blob = version.dataset_blob = result.dataset_blob
            case Priced(cost):
                entry.cost = cost
            case VersionReserved():
                entry.version = version.version = result.version
            case Uploaded(file_id):
                entry.file_id = file_id
            case JobStarted(file_id, job_id):
                entry.file_id, entry.job_id = file_id, job_id
            case JobOutputs(results_blobs, events_blob):
                entry.results_blobs, entry.events_blob = list(results_blobs), events_blob
            case Trained():
                entry.file_id = version.file_id = result.file_id
                entry.job_id = version.job_id = result.job_id
                entry.fine_tuned_model = version.model = result.model
                entry.trained_tokens = result.trained_tokens
                version.status = "trained"
            case Deployed(name, sku_name, sku_capacity):
                entry.deployment = version.deployment = name
                version.sku_name, version.sku_capacity = sku_name, sku_capacity
            case Evaluation(stats):
                entry.val_reward = version.val_reward = stats.reward
                entry.val_rollouts = version.val_rollouts = stats.rollouts
                entry.val_failed, entry.val_throttled = stats.failed, stats.throttled
                entry.val_traces_prefix = stats.traces_prefix
                entry.rollout_stages.append(stats)
            case PairedEvaluation(candidate, champion, comparison):
                self.fold(candidate)
                entry.rollout_stages.append(champion.stats)
                entry.champion_val_reward, entry.comparison = champion.reward, comparison
            case Promotion(comparison, approval):
                entry.promotion, entry.promoted = result.outcome, result.promoted
                entry.comparison, entry.approval = comparison, approval
            case _:
                assert_never(result)

    def write(self) -> Step[None]:
        """Writes the entry into the run report (and what sharing the account cost the run so far);
        raises what outlasts retries."""
        yield from self.orch.report(ReportChange(iteration=self.entry, account=self.orch.state.account))

    def checkpoint(self, result: StageResult) -> Step[None]:
        """Folds ``result`` and writes the entry before the stage waits on what it names."""
        self.fold(result)
        yield from self.write()

    def save_version(self) -> Step[None]:
        """Writes what the lineage knows of the iteration's model; raises what outlasts retries."""
        request = RecordVersion(lineage=self.orch.state.lineage, entry=self.version)
        yield from self.orch.perform(RECORD_LINEAGE_VERSION, request)

    def finish(self, status: IterationStatus, error: ErrorInfo | None = None) -> Step[IterationReport]:
        """Ends the entry with ``status`` (and ``error``) and writes it; raises what outlasts retries."""
        entry = self.entry
        entry.status, entry.error, entry.finished_at = status, error, self.orch.now()
        self.orch.show(Stage.RECORD, f"iteration {status}", val_reward=entry.val_reward, last_status=status)
        yield from self.write()
        return entry
