"""Rollouts: the agent run on tasks in parallel, for training batches and for evaluations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from activities.rollouts import run_rollout
from orchestrators.orchestration import Orchestration, Step
from shared.contracts import RolloutRequest
from shared.traces import RolloutSummary


@dataclass(frozen=True)
class Evaluation:
    """A deployment's mean reward on the validation tasks, and how many rollouts it rests on."""

    reward: float | None
    rollouts: int
    failed: int


def roll_out(
    orch: Orchestration, split: Literal["train", "val"], indices: list[int], deployment: str
) -> Step[list[RolloutSummary]]:
    """Runs one rollout per task index on ``deployment``, all at once; raises what outlasts retries;
    changes nothing in the state (traces go to Blob)."""
    state = orch.state
    tasks = [
        orch.task(
            run_rollout,
            RolloutRequest(
                run_id=state.run_id,
                iteration=state.iteration,
                split=split,
                rollout_id=f"{split}-{state.iteration:02d}-{position:03d}-task{index:04d}",
                task_index=index,
                agent=state.settings.agent,
                dataset=state.settings.dataset,
                deployment=deployment,
            ),
        )
        for position, index in enumerate(indices)
    ]
    results = yield from orch.wait(orch.context.task_all(tasks))
    return [RolloutSummary.model_validate(result) for result in results]


def mean_reward(summaries: list[RolloutSummary]) -> float | None:
    """Average over every rollout; a failed rollout scores 0 rather than vanishing from the mean."""
    if not summaries:
        return None
    return sum(item.reward if item.status == "ok" else 0.0 for item in summaries) / len(summaries)


def evaluate(orch: Orchestration, deployment: str) -> Step[Evaluation]:
    """Runs the agent on the validation tasks (up to ``val_limit``); raises what outlasts retries;
    changes nothing."""
    state = orch.state
    count = min(state.val_size, state.settings.val_limit or state.val_size)
    summaries = yield from roll_out(orch, "val", list(range(count)), deployment)
    failed = sum(1 for item in summaries if item.status != "ok")
    return Evaluation(reward=mean_reward(summaries), rollouts=len(summaries), failed=failed)
