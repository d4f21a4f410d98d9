"""Building blocks the run orchestrator composes: activity calls, polling on durable timers, stage
reporting. All of it is deterministic: time comes from ``context.current_utc_datetime`` and every
wait is a durable timer, so a wait of hours costs nothing and survives restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from datetime import timedelta
from typing import Any

import azure.durable_functions as df
from pydantic import BaseModel

from shared.contracts import RunState

log = logging.getLogger("durable_finetune")

Step = Generator[Any, Any, Any]

STAGES = {
    0: "baseline evaluation",
    1: "select batch",
    2: "target deployment",
    3: "rollouts",
    4: "build dataset",
    5: "fine-tune",
    6: "deploy",
    7: "evaluate",
    8: "record",
}


class Run:
    """One execution of the run orchestrator: its context, state and the way it calls activities."""

    def __init__(self, context: df.DurableOrchestrationContext, state: RunState) -> None:
        self.context = context
        self.state = state
        self.retry = df.RetryOptions(
            first_retry_interval_in_milliseconds=int(state.settings.retry_first_interval_seconds * 1000),
            max_number_of_attempts=state.settings.retry_max_attempts,
        )
        self.status: dict[str, Any] = {}

    def now(self) -> str:
        return self.context.current_utc_datetime.isoformat()

    def call(self, activity: str, payload: BaseModel) -> df.Task:
        return self.context.call_activity_with_retry(activity, self.retry, payload.model_dump(mode="json"))

    def stage(self, number: int, detail: str = "", **fields: Any) -> None:
        """Logs ``[FT i/N] stage k`` once (not on replay) and publishes it as the custom status."""
        state = self.state
        prefix = f"[FT {state.iteration}/{state.settings.iterations}]" if state.iteration else "[FT baseline]"
        if not self.context.is_replaying:
            log.info("%s stage %d %s%s", prefix, number, STAGES[number], f": {detail}" if detail else "")
        self.status.update(fields)
        self.status.update(
            {
                "run_id": state.run_id,
                "iteration": state.iteration,
                "iterations": state.settings.iterations,
                "stage": number,
                "stage_name": STAGES[number],
                "message": detail,
                "current_model": state.current_model,
                "current_deployment": state.current_deployment,
                "baseline_val_reward": state.baseline_reward,
                "last_val_reward": state.last_val_reward,
                "best_deployment": state.best_deployment,
                "updated_at": self.now(),
            }
        )
        self.context.set_custom_status(self.status)

    def poll(
        self,
        activity: str,
        payload: BaseModel,
        *,
        done: Callable[[dict[str, Any]], bool],
        interval: Callable[[int], float],
        deadline_seconds: float,
    ) -> Step:
        """Calls ``activity`` until ``done`` holds or the deadline passes, sleeping on durable timers.

        Returns ``(last_result, timed_out)``.
        """
        deadline = self.context.current_utc_datetime + timedelta(seconds=deadline_seconds)
        attempt = 0
        while True:
            result = yield self.call(activity, payload)
            if done(result):
                return result, False
            now = self.context.current_utc_datetime
            if now >= deadline:
                return result, True
            yield self.context.create_timer(min(now + timedelta(seconds=interval(attempt)), deadline))
            attempt += 1


def fixed(seconds: float) -> Callable[[int], float]:
    return lambda _attempt: seconds


def backoff(initial: float, cap: float) -> Callable[[int], float]:
    """Doubling intervals from ``initial`` up to ``cap``: fine-tuning queues take minutes to hours."""
    return lambda attempt: min(initial * 2 ** min(attempt, 30), cap)
