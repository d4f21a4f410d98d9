"""A rollout stage as sub-orchestrations: one stage orchestrator and its lanes.

A stage runs one group's rollouts (an iteration's training batch, an evaluation) on one deployment.
It reads the deployment's rate limit (``read_deployment_limits``: ARM), sizes from it how many
rollouts run at once, and starts that many lanes. Each lane works through its share of the tasks one
rollout after another (a throttled one again after a durable wait), continues as new every
``LANE_ROLLOUTS_PER_EXECUTION`` rollouts and hands back only totals. So history does not grow with
the number of rollouts N:

- the run orchestrator's history holds one sub-orchestration per stage;
- the stage's history holds one sub-orchestration per lane, and the lanes are bounded by the
  deployment's limit (``lane_count``), not by N;
- a lane's history holds at most ``LANE_ROLLOUTS_PER_EXECUTION`` rollouts.

Lanes rather than a refilled ``task_any``: a refilling orchestrator may not use retries, each refill
costs a timer, and the extension schedules refills one at a time (devhost/README.md, "Bounded
fan-out"); lanes retry freely and need neither.

Instance ids are deterministic (``stage_instance_id``, ``lane_instance_id``), so a replay finds the
same children and anything that knows the run id can reach them. A cancelled run stops its lanes
through its cancel marker: the rollout activity does not start a rollout once
``runs/{run_id}/cancel.json`` asks the run to stop, and the lane then counts what it had left as
cancelled and ends, so a stage outlives a cancel by about one rollout.
"""

from __future__ import annotations

import hashlib
import math
from datetime import timedelta
from typing import Any

import azure.durable_functions as df

from orchestrators.orchestration import CHILD_OUTPUT, Step, call_activity
from shared.agents.traces import RolloutSummary
from shared.azure.throttling import PACING_HEADROOM
from shared.contracts.payloads import (
    DeploymentLimits,
    DeploymentRef,
    LaneTotals,
    RateBudget,
    RolloutLane,
    RolloutRequest,
    RolloutStage,
)
from shared.contracts.specs import READ_DEPLOYMENT_LIMITS, RUN_ROLLOUT
from shared.domain.layout import traces_prefix
from shared.domain.report import RolloutStats

bp = df.Blueprint()

STAGE_ORCHESTRATOR = "rollout_stage"
LANE_ORCHESTRATOR = "rollout_lane"
LANE_ROLLOUTS_PER_EXECUTION = 8
"""Rollouts a lane runs before it continues as new: about 40 history events per execution."""
CALL_SECONDS_FOR_SIZING = 3.0
"""How long one chat call may take when sizing a stage: enough rollouts run at once that calls this
slow still fill the deployment's limit. Faster calls just wait for their slot in the pacing
(shared/azure/throttling.py), which holds the rate below the limit whatever the concurrency."""
MAX_LANES = 200
"""The most lanes sized from a limit (a 4,000-RPM deployment): the stage's history stays under about
1,000 events. ``max_concurrent_rollouts`` may ask for more."""
LANES_WITHOUT_A_LIMIT = 32
"""Lanes when no limit is known (a provisioned deployment, an unknown model): host.json's
maxConcurrentActivityFunctions, one instance's worth; 429s are still waited out."""
MAX_RETRY_WAIT_SECONDS = 60.0
"""The longest durable wait before a throttled rollout runs again: Azure's token window."""


def stage_instance_id(stage: RolloutStage) -> str:
    return f"{stage.run_id}:rollouts:{stage.iteration:02d}:{stage.group}"


def lane_instance_id(stage_id: str, lane: int) -> str:
    return f"{stage_id}:{lane:03d}"


def rollout_id(stage: RolloutStage, position: int) -> str:
    return f"{stage.group}-{stage.iteration:02d}-{position:04d}-task{stage.task_index(position):04d}"


def sample_seed(stage: RolloutStage, position: int) -> int | None:
    """The ``seed`` an evaluation's rollout sends with its chat calls: one per (run, iteration, stage,
    task, sample), so every sample is a draw of its own at the agent's temperature and a rerun of the
    same rollout asks for the same draw. Training rollouts send none."""
    if not stage.sampled:
        return None
    task, sample = stage.task_index(position), stage.sample(position)
    key = f"{stage.run_id}:{stage.iteration}:{stage.group}:{task}:{sample}"
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 2**31


def lane_count(stage: RolloutStage, budget: RateBudget | None) -> int:
    """Rollouts in flight: ``max_concurrent_rollouts`` if set, else enough to fill the limit's request
    rate with calls of CALL_SECONDS_FOR_SIZING (one call in flight per rollout), never more than the
    stage's rollouts."""
    if stage.max_concurrent is not None:
        wanted = stage.max_concurrent
    elif budget is not None:
        wanted = min(MAX_LANES, math.ceil(budget.rpm / 60 * PACING_HEADROOM * CALL_SECONDS_FOR_SIZING))
    else:
        wanted = LANES_WITHOUT_A_LIMIT
    return max(1, min(stage.count, wanted))


def retry_options(stage: RolloutStage) -> df.RetryOptions:
    """Retries of activities that raise (storage, ARM blips), as the run's settings say."""
    return df.RetryOptions(
        first_retry_interval_in_milliseconds=int(stage.retry_interval_seconds * 1000),
        max_number_of_attempts=stage.retry_max_attempts,
    )


@bp.orchestration_trigger(context_name="context", orchestration=STAGE_ORCHESTRATOR)
def rollout_stage(context: df.DurableOrchestrationContext) -> Step[dict[str, Any]]:
    """Runs one stage's rollouts in lanes sized from the deployment's limit; raises what outlasts
    retries (a lane's storage failure); returns the stage's ``RolloutStats``."""
    stage = RolloutStage.model_validate(context.get_input())
    started = context.current_utc_datetime
    request = DeploymentRef(name=stage.deployment)
    limits = yield from call_activity(context, READ_DEPLOYMENT_LIMITS, request, retry_options(stage))
    lanes = lane_count(stage, limits.budget) if stage.count else 0
    children = [
        context.call_sub_orchestrator(
            rollout_lane,
            RolloutLane(
                stage=stage, budget=limits.budget, lane=lane, lanes=lanes, next_position=lane
            ).model_dump(mode="json"),
            lane_instance_id(context.instance_id, lane),
            expected_type=CHILD_OUTPUT,
        )
        for lane in range(lanes)
    ]
    totals = LaneTotals()
    for result in (yield context.task_all(children)) if children else []:
        totals.merge(LaneTotals.model_validate(result))
    seconds = (context.current_utc_datetime - started).total_seconds()
    return stage_stats(stage, limits, lanes, totals, seconds).model_dump(mode="json")


def stage_stats(
    stage: RolloutStage, limits: DeploymentLimits, lanes: int, totals: LaneTotals, seconds: float
) -> RolloutStats:
    budget = limits.budget
    return RolloutStats(
        group=stage.group,
        deployment=stage.deployment,
        traces_prefix=traces_prefix(stage.run_id, stage.iteration, stage.group),
        rollouts=stage.count,
        ok=totals.ok,
        failed=totals.failed,
        throttled=totals.throttled,
        cancelled=totals.cancelled,
        throttled_retries=totals.throttled_retries,
        reward=totals.mean_reward,
        llm_calls=totals.llm_calls,
        input_tokens=totals.input_tokens,
        output_tokens=totals.output_tokens,
        seconds=seconds,
        concurrency=lanes,
        limit_rpm=budget.rpm if budget else None,
        limit_tpm=budget.tpm if budget else None,
        limit_source=budget.source if budget else limits.problem,
        lowest_remaining_requests=totals.lowest_remaining_requests,
        lowest_remaining_tokens=totals.lowest_remaining_tokens,
    )


@bp.orchestration_trigger(context_name="context", orchestration=LANE_ORCHESTRATOR)
def rollout_lane(context: df.DurableOrchestrationContext) -> Step[dict[str, Any] | None]:
    """Runs the lane's next few rollouts one after another and continues as new while more remain;
    stops early when the run was cancelled; raises what outlasts retries; returns the lane's totals."""
    lane = RolloutLane.model_validate(context.get_input())
    for _ in range(LANE_ROLLOUTS_PER_EXECUTION):
        if lane.next_position >= lane.stage.count:
            break
        summary = yield from roll_out_patiently(context, lane)
        lane.totals.add(summary)
        if summary.status == "cancelled":
            lane.totals.cancelled += len(range(lane.next_position, lane.stage.count, lane.lanes)) - 1
            return lane.totals.model_dump(mode="json")
        lane.next_position += lane.lanes
    if lane.next_position < lane.stage.count:
        context.continue_as_new(lane.model_dump(mode="json"))
        return None
    return lane.totals.model_dump(mode="json")


def roll_out_patiently(context: df.DurableOrchestrationContext, lane: RolloutLane) -> Step[RolloutSummary]:
    """Runs the rollout at the lane's position; runs a throttled one again after a durable wait
    (doubling, up to the stage's attempts); raises what outlasts retries; returns how it ended, with
    the 429s of every attempt counted."""
    stage, position = lane.stage, lane.next_position
    request = RolloutRequest(
        run_id=stage.run_id,
        iteration=stage.iteration,
        group=stage.group,
        split=stage.split,
        rule=stage.rule,
        rollout_id=rollout_id(stage, position),
        task_index=stage.task_index(position),
        sample=stage.sample(position),
        seed=sample_seed(stage, position),
        agent=stage.agent,
        dataset=stage.dataset,
        deployment=stage.deployment,
        budget=lane.budget,
    )
    waited_out = 0
    for attempt in range(1, stage.retry_max_attempts + 1):
        summary = yield from call_activity(context, RUN_ROLLOUT, request, retry_options(stage))
        waited_out += summary.throttled_retries
        if summary.status != "throttled" or attempt == stage.retry_max_attempts:
            break
        delay = min(MAX_RETRY_WAIT_SECONDS, stage.retry_interval_seconds * 2 ** (attempt - 1))
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=delay))
    return summary.model_copy(update={"throttled_retries": waited_out})
