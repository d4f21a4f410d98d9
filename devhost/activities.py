"""Runs activity functions the way the Python worker does.

Input: the worker decodes the activity input with the SDK's ``ActivityTriggerConverter`` (JSON text to a
Python value, falling back to the raw string) and encodes the return value with the same converter
(``df_dumps``). devhost calls that converter, so an activity sees exactly what it would see in Azure.

Concurrency: ``def`` activities run on a thread pool bounded by ``max_workers``; ``async def`` activities
are awaited on the shared worker loop, unbounded by the pool, so a fan-out of async activities really
runs in parallel.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from . import worker


@dataclass
class ActivityResult:
    """Either ``result`` (JSON text) or ``reason``/``details`` for a TaskFailed event."""

    ok: bool
    result: str | None = None
    reason: str = ""
    details: str = ""


class ActivityRunner:
    """Executes one activity invocation and reports its result through a callback."""

    def __init__(self, max_workers: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="devhost-activity")

    def start(
        self,
        name: str,
        function: Callable[..., Any] | None,
        parameter: str,
        input_json: str | None,
        done: Callable[[ActivityResult], None],
    ) -> None:
        """Start the activity; ``done`` is called from a worker thread when it finishes."""
        if function is None:
            done(
                ActivityResult(
                    False,
                    reason=f"The activity function '{name}' doesn't exist, is disabled, "
                    "or is not an activity function.",
                )
            )
            return

        def finish(future: Future[Any]) -> None:
            if future.cancelled():
                return  # the host is closing: the work stays in flight and is redone after a restart
            error = future.exception()  # keeps the traceback of the activity's own frames
            if error is not None:
                done(_failure(name, error))  # an activity failure becomes TaskFailed, as in Azure
                return
            try:
                encoded = ActivityTriggerConverter.encode(future.result(), expected_type=None).value
            except Exception as encode_error:
                done(_failure(name, encode_error))
                return
            done(ActivityResult(True, result=encoded))

        try:
            argument = _decode(input_json)
        except Exception as error:
            done(_failure(name, error))
            return
        kwargs = {parameter: argument}
        if inspect.iscoroutinefunction(function):
            future: Future[Any] = worker.submit(function(**kwargs))
        else:
            try:
                future = self._pool.submit(function, **kwargs)
            except RuntimeError:
                return  # the host is closing: the work stays in flight and is redone after a restart
        future.add_done_callback(finish)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _decode(input_json: str | None) -> Any:
    if input_json is None:
        return None
    return ActivityTriggerConverter.decode(meta.Datum(type="json", value=input_json), trigger_metadata={})


def _failure(name: str, error: BaseException) -> ActivityResult:
    details = "".join(traceback.format_exception(error))
    return ActivityResult(
        False, reason=f"Activity function '{name}' failed: {type(error).__name__}: {error}", details=details
    )
