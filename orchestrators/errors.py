"""How a stage of the run orchestrator fails, how a run ends early, and what the report says about it."""

from __future__ import annotations

from shared.domain.errors import ErrorInfo
from shared.domain.report import IterationStatus, RunStatus

# Durable hands an activity's failure to the orchestrator as Exception(f"{reason} \n {details}"),
# where details is the activity's traceback: the report keeps the reason, the log keeps the rest.
DETAILS_SEPARATOR = " \n "


class StageFailed(Exception):
    """A stage failed for good; carries the iteration's final status and the error for the report."""

    def __init__(self, status: IterationStatus, error: ErrorInfo) -> None:
        super().__init__(error.message)
        self.status: IterationStatus = status
        self.error = error


class RunEnded(Exception):
    """The run cannot go on (its lineage is busy, a preflight check failed, it was cancelled) or need
    not (nothing is left to improve: no error); it ends cleanly with this status and error in its
    report rather than as a failed orchestration."""

    def __init__(self, status: RunStatus, error: ErrorInfo | None) -> None:
        super().__init__(error.message if error else status)
        self.status: RunStatus = status
        self.error = error


def error_from(exc: Exception) -> ErrorInfo:
    """The failure's reason without its traceback, for the report."""
    reason = str(exc).split(DETAILS_SEPARATOR, 1)[0].strip() or type(exc).__name__
    return ErrorInfo(code="InfrastructureFailure", message=reason)


class RunCancelled(Exception):
    """Someone asked the run to stop (``POST /api/runs/{run_id}/cancel``); the run cleans up and ends."""

    def __init__(self, reason: object = None) -> None:
        super().__init__(f"cancelled: {reason}" if reason else "cancelled")
        self.reason = reason
