"""Which failures are worth retrying, and how a failure is recorded.

Durable retries (RetryOptions) retry every exception an activity raises. So activities raise only
transient failures (throttling, 5xx, connection trouble) and return permanent ones (bad request,
auth, conflicts, a failed job) as data, which the orchestrator records instead of retrying in vain.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import openai
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError
from pydantic import BaseModel

from shared.domain.errors import ErrorInfo

TRANSIENT_STATUS = {408, 409, 429, 500, 502, 503, 504}

Answer = TypeVar("Answer", bound=BaseModel)


def _status(exc: BaseException) -> int | None:
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code
    if isinstance(exc, HttpResponseError):
        return exc.status_code
    return None


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIConnectionError | ServiceRequestError | ServiceResponseError):
        return True
    status = _status(exc)
    return status is not None and status in TRANSIENT_STATUS


def describe(exc: BaseException) -> ErrorInfo:
    """Azure's own error code and message where the service sent one."""
    status = _status(exc)
    code = type(exc).__name__
    message = str(exc)
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error", body) if isinstance(body.get("error", body), dict) else {}
        code = str(error.get("code") or exc.code or code)
        message = str(error.get("message") or exc.message)
    elif isinstance(exc, HttpResponseError) and exc.error is not None:
        code = exc.error.code or code
        message = exc.error.message or message
    info = ErrorInfo(code=code, message=message)
    return info if status is None else info.model_copy(update={"status": status})


def raise_if_transient(exc: BaseException) -> ErrorInfo:
    """Re-raises a transient failure for Durable to retry; describes a permanent one."""
    if is_transient(exc):
        raise exc
    return describe(exc)


def result_or_error(action: Callable[[], Answer], on_error: Callable[[ErrorInfo], Answer]) -> Answer:
    """Runs an Azure call for an activity: its result, or the permanent error as a result (transient
    errors propagate to Durable's retry)."""
    try:
        return action()
    except Exception as exc:  # noqa: BLE001 - classified by raise_if_transient
        return on_error(raise_if_transient(exc))
