"""How the run orchestrator ends an iteration or a run, and what it writes about the failure."""

from __future__ import annotations

from typing import Any

from shared.report import IterationStatus

# Durable hands an activity's failure to the orchestrator as Exception(f"{reason} \n {details}"),
# where details is the activity's traceback: the report keeps the reason, the log keeps the rest.
DETAILS_SEPARATOR = " \n "


class IterationEnded(Exception):
    """A stage failed for good; carries the iteration's final status and the error for the report."""

    def __init__(self, status: IterationStatus, error: dict[str, Any]) -> None:
        super().__init__(error.get("message", status))
        self.status: IterationStatus = status
        self.error = error


def error_from(exc: Exception) -> dict[str, str]:
    """``{code, message}`` for the report: the failure's reason without its traceback."""
    reason = str(exc).split(DETAILS_SEPARATOR, 1)[0].strip() or type(exc).__name__
    return {"code": "InfrastructureFailure", "message": reason[:2000]}
