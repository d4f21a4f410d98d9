"""What every stage of the run orchestrator is built from: activity calls, durable polling, progress.

All of it is deterministic: time comes from ``context.current_utc_datetime`` and every wait is a durable
timer, so a wait of hours costs nothing and survives restarts. Activities are called by their spec
(shared/contracts/specs.py): the spec names the activity and types its request and result, so a call's
result is typed without the orchestrators importing the activities.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar, Unpack

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskBase, TimerTask

from orchestrators.errors import RunCancelled
from shared.contracts.payloads import Done, ReportChange, ReportUpdate, RunState
from shared.contracts.progress import AwaitingAccount, AwaitingApproval, RunProgress, StageDetail, StageFields
from shared.contracts.specs import UPDATE_REPORT, ActivitySpec, Request, Result

log = logging.getLogger("durable_finetune")

T = TypeVar("T")

Step = Generator[Any, Any, T]
"""A stage: a generator the orchestrator runs with ``yield from``; it yields Durable tasks."""

CHILD_OUTPUT: type = object
"""What a sub-orchestration's output decodes as: any JSON value. Left unset, the SDK takes the type
from its own orchestrator wrapper's ``-> str`` and logs a warning for every dict on every replay."""

CANCEL_EVENT = "cancel"
"""The external event ``POST /api/runs/{run_id}/cancel`` raises; every wait of the run races it."""


class Stage(StrEnum):
    """Where a run is; published in custom status and in the log."""

    BASELINE = "baseline"
    ROLLOUTS = "rollouts"
    DATASET = "dataset"
    FINE_TUNE = "fine-tune"
    DEPLOY = "deploy"
    EVALUATE = "evaluate"
    PROMOTE = "promote"
    RECORD = "record"
    FINISH = "finish"


@dataclass(frozen=True)
class Polled(Generic[Result]):
    """The last answer of a poll, and whether the deadline passed before it was the awaited one."""

    result: Result
    timed_out: bool


class Orchestration:
    """One execution of the run orchestrator: its Durable context, the state it carries to the next
    execution, how it calls activities (with retries) and how it shows progress."""

    def __init__(
        self, context: df.DurableOrchestrationContext, state: RunState, *, cancellable: bool = True
    ) -> None:
        self.context = context
        self.state = state
        self.retry = df.RetryOptions(
            first_retry_interval_in_milliseconds=int(state.settings.retry_first_interval_seconds * 1000),
            max_number_of_attempts=state.settings.retry_max_attempts,
        )
        self.stage: Stage | None = None
        """The stage last shown; None before the first."""
        self.detail = StageDetail()
        """What stages added to the progress (each field kept until a stage sets it again)."""
        self.awaiting: AwaitingApproval | AwaitingAccount | None = None
        """What the run waits for, shown until ``stop_awaiting``."""
        self.cancellable = cancellable
        """Whether waits race the cancel event: a run's do until it is cancelled; its clean-up, a
        reconciliation and an upkeep do not."""
        self.cancelled_by: RunCancelled | None = None
        """A cancel that arrived during ``call_through``, for its caller to raise once it is done."""

    def now(self) -> str:
        return self.context.current_utc_datetime.isoformat()

    def task(self, spec: ActivitySpec[Request, Result], request: Request) -> TaskBase:
        """Schedules the activity; Durable retries it only on exceptions, which activities raise only
        for transient failures."""
        return schedule(self.context, spec, request, self.retry)

    def race(self, *tasks: TaskBase) -> Step[TaskBase]:
        """Waits for the first of ``tasks`` or the run's cancellation; raises RunCancelled when the
        cancellation comes first (cancelling the losing timers, which would otherwise keep the
        instance running); returns the task that finished.

        Each race waits for the cancel event afresh: the Durable extension takes a wait into account
        only in the first WhenAny that yields it (devhost/README.md, "External events")."""
        cancellation = self.context.wait_for_external_event(CANCEL_EVENT)
        winner: TaskBase = yield self.context.task_any([*tasks, cancellation])
        if winner is cancellation:
            for task in tasks:
                if isinstance(task, TimerTask):
                    task.cancel()
            self.cancel(cancellation.result)
        return winner

    def wait(self, task: TaskBase) -> Step[Any]:
        """Waits for ``task`` unless the run is cancelled first; raises RunCancelled, or the task's own
        failure; returns the task's result. Once cancelled, the clean-up's own waits race nothing."""
        if not self.cancellable:
            return (yield task)
        yield from self.race(task)
        if isinstance(task.result, Exception):
            raise task.result
        return task.result

    def cancel(self, reason: object) -> None:
        """Stops the run's work: raises RunCancelled into the stage that is running."""
        self.cancellable = False
        raise RunCancelled(reason)

    def perform(self, spec: ActivitySpec[Request, Done], request: Request) -> Step[None]:
        """Runs the activity for its effect (a record written), unless the run is cancelled first.

        Every wait of a cancellable run races the cancel event, writes included: an event that arrives
        while no race is waiting goes to the newest earlier wait, which nobody watches any more."""
        yield from self.wait(self.task(spec, request))

    def call(self, spec: ActivitySpec[Request, Result], request: Request) -> Step[Result]:
        """Runs the activity (unless the run is cancelled first); returns its answer as the spec's result."""
        answer = yield from self.wait(self.task(spec, request))
        return spec.decode_result(answer)

    def stop_if_cancelled_meanwhile(self) -> None:
        """Raises the cancel that arrived during a ``call_through``, once the caller has recorded what
        that call made (so the clean-up knows it); does nothing otherwise. It is raised once: the
        clean-up's own ``call_through``s must not raise it again."""
        cancelled, self.cancelled_by = self.cancelled_by, None
        if cancelled is not None:
            raise cancelled

    def call_through(self, spec: ActivitySpec[Request, Result], request: Request) -> Step[Result]:
        """Runs the activity to its end even if the run is cancelled meanwhile (clean-up that must
        finish: the cancel then waits for it); raises what outlasts retries; returns its answer. A
        cancel that arrives is kept in ``cancelled_by`` for the caller to raise afterwards."""
        while True:
            try:
                return (yield from self.call(spec, request))
            except RunCancelled as stop:  # the run no longer races its waits: ask again, to the end
                self.cancelled_by = stop

    def poll(
        self,
        spec: ActivitySpec[Request, Result],
        request: Request,
        *,
        until: Callable[[Result], bool],
        interval: Callable[[int], float],
        deadline_seconds: float,
    ) -> Step[Polled[Result]]:
        """Calls the activity until ``until`` holds or the deadline passes, sleeping on durable timers."""
        deadline = self.context.current_utc_datetime + timedelta(seconds=deadline_seconds)
        attempt = 0
        while True:
            answer = yield from self.call(spec, request)
            if until(answer):
                return Polled(answer, timed_out=False)
            now = self.context.current_utc_datetime
            if now >= deadline:
                return Polled(answer, timed_out=True)
            timer = self.context.create_timer(min(now + timedelta(seconds=interval(attempt)), deadline))
            yield from self.wait(timer)
            attempt += 1

    def report(self, change: ReportChange) -> Step[None]:
        """Writes ``change`` into the run report before the run goes on."""
        yield from self.perform(UPDATE_REPORT, ReportUpdate(run_id=self.state.run_id, change=change))

    def show(
        self,
        stage: Stage,
        detail: str = "",
        *,
        awaiting: AwaitingApproval | AwaitingAccount | None = None,
        **fields: Unpack[StageFields],
    ) -> None:
        """Publishes the stage as custom status (``RunProgress``) and logs ``[FT i/N] stage: detail`` once
        (not on replay); ``fields`` and ``awaiting`` stay shown until changed."""
        state = self.state
        prefix = f"[FT {state.iteration}/{state.settings.iterations}]" if state.iteration else "[FT baseline]"
        if not self.context.is_replaying:
            log.info("%s %s%s", prefix, stage.value, f": {detail}" if detail else "")
        self.stage = stage
        self.detail = self.detail.model_copy(update=fields)
        if awaiting is not None:
            self.awaiting = awaiting
        progress = RunProgress(
            **self.detail.model_dump(exclude_unset=True),
            run_id=state.run_id,
            iteration=state.iteration,
            iterations=state.settings.iterations,
            stage=stage.value,
            message=detail,
            current_model=state.current_model,
            current_deployment=state.current_deployment,
            baseline_val_reward=state.baseline_reward,
            last_val_reward=state.last_val_reward,
            champion_deployment=state.champion.deployment if state.champion else None,
            champion_val_reward=state.champion_reward,
            updated_at=self.now(),
            **({"awaiting": self.awaiting} if self.awaiting is not None else {}),
        )
        self.context.set_custom_status(progress.model_dump(mode="json", exclude_unset=True))

    def stop_awaiting(self) -> None:
        """The wait shown is over; the next ``show`` no longer shows it."""
        self.awaiting = None


def schedule(
    context: df.DurableOrchestrationContext,
    spec: ActivitySpec[Request, Result],
    request: Request,
    retry: df.RetryOptions,
) -> TaskBase:
    """The Durable task of one activity call, by the spec's name with the request's JSON."""
    return context.call_activity_with_retry(spec.name, retry, spec.encode_request(request))


def call_activity(
    context: df.DurableOrchestrationContext,
    spec: ActivitySpec[Request, Result],
    request: Request,
    retry: df.RetryOptions,
) -> Step[Result]:
    """Runs the activity without racing anything (for orchestrations that are not a run's, and for what
    must happen before a cancellation can be recorded); returns its answer as the spec's result."""
    answer = yield schedule(context, spec, request, retry)
    return spec.decode_result(answer)


def fixed(seconds: float) -> Callable[[int], float]:
    """The same interval every time: file processing and provisioning take seconds to minutes."""
    return lambda _attempt: seconds


def backoff(initial: float, cap: float) -> Callable[[int], float]:
    """Doubling intervals from ``initial`` up to ``cap``: fine-tuning queues take minutes to hours."""
    return lambda attempt: min(initial * 2 ** min(attempt, 30), cap)
