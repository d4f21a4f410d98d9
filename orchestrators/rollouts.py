"""Rollouts: the agent run on tasks, for training batches and for evaluations.

Each call runs one stage as a sub-orchestration (orchestrators/rollout_stage.py), so the run
orchestrator's history gets one entry per stage whatever the number of rollouts, and receives only
the stage's counts and mean reward, never per-rollout results.
"""

from __future__ import annotations

from dataclasses import dataclass

from azure.durable_functions.models.Task import TaskBase

from orchestrators.orchestration import CHILD_OUTPUT, Orchestration, Step
from orchestrators.rollout_stage import rollout_stage, stage_instance_id
from shared.agents.tasks import SplitName, SplitRule
from shared.contracts.payloads import EvaluatedStage, RolloutStage
from shared.domain.report import Comparison, RolloutStats

TRAIN_GROUP = "train"
"""The training batch; its traces are what the dataset is built from (``traces/{run}/{i}/train/``)."""
VAL_GROUP = "val"
"""An iteration's evaluation of its new deployment."""
BASELINE_GROUP = "baseline"
"""The run's starting deployment, evaluated before iteration 1."""
CHAMPION_GROUP = "champion"
"""The lineage's champion, evaluated on this run's validation tasks when it is not the start."""
FALLBACK_GROUP = "fallback"
"""The base model, evaluated when the champion cannot serve and the run did not start from base."""
CHAMPION_VAL_GROUP = "champion-val"
"""An iteration's evaluation of the champion, beside its candidate's, on the same tasks and samples."""
TEST_GROUP = "test"
"""The champion on the held-out test tasks: at the run's start (iteration 00) and, when it changed, at
its end (the last iteration's prefix)."""


@dataclass(frozen=True)
class TaskRange:
    """Tasks ``(start + k) % modulo`` for ``k`` in ``0..count-1`` of a split: batches cycle through it."""

    start: int
    count: int
    modulo: int

    def indices(self) -> list[int]:
        return [(self.start + k) % self.modulo for k in range(self.count)]


@dataclass(frozen=True)
class Evaluation:
    """A deployment's evaluation on the validation tasks: its mean reward and what it rests on,
    rollouts run, agent errors (scored 0) and throttled rollouts (not scored: the evaluation is
    incomplete)."""

    stats: RolloutStats

    @property
    def reward(self) -> float | None:
        return self.stats.reward

    @property
    def rollouts(self) -> int:
        return self.stats.rollouts

    @property
    def failed(self) -> int:
        return self.stats.failed

    @property
    def throttled(self) -> int:
        return self.stats.throttled

    @property
    def complete(self) -> bool:
        """Every rollout ran to an answer: none failed, was throttled or was cancelled."""
        return self.stats.reward is not None and self.stats.ok == self.stats.rollouts

    @property
    def stage(self) -> EvaluatedStage:
        return EvaluatedStage(deployment=self.stats.deployment, traces_prefix=self.stats.traces_prefix)


@dataclass(frozen=True)
class PairedEvaluation:
    """An iteration's candidate and champion, evaluated side by side on the same tasks and samples, and
    their comparison (its decision before any approval: orchestrators/evaluation.py)."""

    candidate: Evaluation
    champion: Evaluation
    comparison: Comparison


def start_stage(
    orch: Orchestration,
    group: str,
    split: SplitName,
    tasks: TaskRange,
    deployment: str,
    *,
    sampled: bool = False,
) -> TaskBase:
    """Starts the stage ``group``: the agent on ``tasks`` of ``split`` (the lineage's rule) on
    ``deployment``, each rollout a sample of its own when ``sampled``; returns its sub-orchestration."""
    state = orch.state
    settings = state.settings
    stage = RolloutStage(
        run_id=state.run_id,
        iteration=state.iteration,
        group=group,
        split=split,
        rule=state.split or SplitRule(),
        agent=settings.agent,
        dataset=settings.dataset,
        deployment=deployment,
        start=tasks.start,
        count=tasks.count,
        modulo=tasks.modulo,
        sampled=sampled,
        max_concurrent=settings.max_concurrent_rollouts,
        retry_interval_seconds=settings.retry_first_interval_seconds,
        retry_max_attempts=settings.retry_max_attempts,
    )
    return orch.context.call_sub_orchestrator(
        rollout_stage, stage.model_dump(mode="json"), stage_instance_id(stage), expected_type=CHILD_OUTPUT
    )


def finished(orch: Orchestration, child: TaskBase) -> RolloutStats:
    """A finished stage's stats; raises RunCancelled when the run's cancel marker stopped its lanes."""
    stats = RolloutStats.model_validate(child.result)
    if stats.cancelled:
        orch.cancel(f"the cancel request stopped {stats.cancelled} rollouts of {stats.group}")
    return stats


def roll_out(
    orch: Orchestration, group: str, split: SplitName, tasks: TaskRange, deployment: str
) -> Step[RolloutStats]:
    """Runs the agent on ``tasks`` of ``split`` on ``deployment`` as the stage ``group``; raises
    RunCancelled (also when the run's cancel marker stopped the stage's lanes before its event
    arrived), or what outlasts retries; changes nothing in the state (traces go to Blob)."""
    child = start_stage(orch, group, split, tasks, deployment)
    yield from orch.wait(child)
    return finished(orch, child)


def evaluation_range(orch: Orchestration, split: SplitName) -> TaskRange:
    """Every task of the split (validation: up to ``val_limit``) ``eval_samples_per_task`` times: the
    position ``p`` runs task ``p % n`` as its sample ``p // n``."""
    state = orch.state
    size = state.test_size if split == "test" else state.val_size
    count = size if split == "test" else min(size, state.settings.val_limit or size)
    return TaskRange(0, count * state.settings.eval_samples_per_task, max(1, count))


def evaluate(
    orch: Orchestration, deployment: str, group: str = VAL_GROUP, split: SplitName = "val"
) -> Step[Evaluation]:
    """Evaluates ``deployment`` on the split's tasks and samples as the stage ``group``; raises
    RunCancelled, or what outlasts retries; changes nothing."""
    evaluations = yield from evaluate_together(orch, [(deployment, group)], split)
    return evaluations[0]


def evaluate_together(
    orch: Orchestration, deployments: list[tuple[str, str]], split: SplitName = "val"
) -> Step[list[Evaluation]]:
    """Evaluates each (deployment, group) on the same tasks and samples of ``split``, the stages at the
    same time (each paced to its own deployment's limit); raises RunCancelled, or what outlasts
    retries; changes nothing."""
    tasks = evaluation_range(orch, split)
    children = [
        start_stage(orch, group, split, tasks, deployment, sampled=True) for deployment, group in deployments
    ]
    yield from orch.wait(orch.context.task_all(children))
    return [Evaluation(finished(orch, child)) for child in children]
