"""Rollouts: the agent run on tasks, for training batches and for evaluations.

Each call runs one stage as a sub-orchestration (orchestrators/rollout_stage.py), so the run
orchestrator's history gets one entry per stage whatever the number of rollouts, and receives only
the stage's counts and mean reward, never per-rollout results.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from orchestrators.orchestration import CHILD_OUTPUT, Orchestration, Step
from orchestrators.rollout_stage import rollout_stage, stage_instance_id
from shared.contracts.payloads import RolloutStage
from shared.domain.report import RolloutStats

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


def roll_out(
    orch: Orchestration, group: str, split: Literal["train", "val"], tasks: TaskRange, deployment: str
) -> Step[RolloutStats]:
    """Runs the agent on ``tasks`` of ``split`` on ``deployment`` as the stage ``group``; raises
    RunCancelled (also when the run's cancel marker stopped the stage's lanes before its event
    arrived), or what outlasts retries; changes nothing in the state (traces go to Blob)."""
    state = orch.state
    settings = state.settings
    stage = RolloutStage(
        run_id=state.run_id,
        iteration=state.iteration,
        group=group,
        split=split,
        agent=settings.agent,
        dataset=settings.dataset,
        deployment=deployment,
        start=tasks.start,
        count=tasks.count,
        modulo=tasks.modulo,
        max_concurrent=settings.max_concurrent_rollouts,
        retry_interval_seconds=settings.retry_first_interval_seconds,
        retry_max_attempts=settings.retry_max_attempts,
    )
    child = orch.context.call_sub_orchestrator(
        rollout_stage,
        stage.model_dump(mode="json"),
        stage_instance_id(stage),
        expected_type=CHILD_OUTPUT,
    )
    stats = RolloutStats.model_validate((yield from orch.wait(child)))
    if stats.cancelled:
        orch.cancel(f"the cancel request stopped {stats.cancelled} rollouts of {group}")
    return stats


def evaluate(orch: Orchestration, deployment: str, group: str = VAL_GROUP) -> Step[Evaluation]:
    """Runs the agent on the validation tasks (up to ``val_limit``) as the stage ``group``; raises
    RunCancelled, or what outlasts retries; changes nothing."""
    state = orch.state
    count = min(state.val_size, state.settings.val_limit or state.val_size)
    stats = yield from roll_out(orch, group, "val", TaskRange(0, count, max(1, state.val_size)), deployment)
    return Evaluation(stats)
