"""Runs activity functions the way the Python worker does.

Input: the worker decodes the activity input with the SDK's ``ActivityTriggerConverter`` (JSON text to a
Python value, falling back to the raw string) and encodes the return value with the same converter
(``df_dumps``). devhost calls that converter, so an activity sees exactly what it would see in Azure.

Concurrency: ``def`` activities run on a pool of ``max_workers`` daemon threads (the worker's thread pool,
``PYTHON_THREADPOOL_THREAD_COUNT``); ``async def`` activities are awaited on the shared worker loop, not
bounded by the pool. How many activities run at once overall is the engine's business
(``maxConcurrentActivityFunctions``). Entity batches (``def`` functions too) share that thread pool, as all
synchronous functions share the worker's (``call``).

Shutdown: ``close()`` cancels the async activities in flight and abandons the ``def`` ones (a thread
cannot be interrupted; see ``pool``). Their results are never reported, so the engine commits nothing
for them and they run again after a restart.
"""

from __future__ import annotations

import inspect
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from azure.functions import meta
from azure.functions.durable_functions import ActivityTriggerConverter

from . import worker
from .pool import DaemonPool

T = TypeVar("T")


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
        self._pool = DaemonPool(max_workers, "devhost-activity")
        self._async_in_flight: set[Future[Any]] = set()
        self._lock = threading.Lock()
        self._closed = False

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
            with self._lock:
                self._async_in_flight.discard(future)
                if self._closed or future.cancelled():
                    return  # the host is closing: the work stays in flight and is redone after a restart
            error = future.exception()  # keeps the traceback of the activity's own frames
            if error is not None:
                done(_failure(name, error))  # an activity failure becomes TaskFailed, as in Azure
                return
            try:
                encoded = ActivityTriggerConverter.encode(future.result(), expected_type=None).value
            except Exception as encode_error:  # noqa: BLE001 - any encoding error is a TaskFailed, as in the worker
                done(_failure(name, encode_error))
                return
            done(ActivityResult(True, result=encoded))

        try:
            argument = _decode(input_json)
        except Exception as error:  # noqa: BLE001 - any decoding error is a TaskFailed, as in the worker
            done(_failure(name, error))
            return
        kwargs = {parameter: argument}
        with self._lock:
            if self._closed:
                return  # the host is closing: the work stays in flight and is redone after a restart
            if inspect.iscoroutinefunction(function):
                future: Future[Any] = worker.submit(function(**kwargs))
                self._async_in_flight.add(future)
            else:
                future = self._pool.submit(function, **kwargs)
        future.add_done_callback(finish)

    def call(self, function: Callable[[], T], done: Callable[[Future[T]], None]) -> None:
        """Run another synchronous function (an entity batch) on the same thread pool; ``done`` gets its
        future from a pool thread, and is never called once the runner is closed (nothing is reported for
        abandoned work, so it runs again after a restart)."""

        def finish(future: Future[T]) -> None:
            with self._lock:
                if self._closed or future.cancelled():
                    return
            done(future)

        with self._lock:
            if self._closed:
                return
            submitted = self._pool.submit(function)
        submitted.add_done_callback(finish)

    def close(self) -> None:
        """Cancel async activities, abandon running ``def`` ones, drop queued ones; never waits."""
        with self._lock:
            self._closed = True
            in_flight = list(self._async_in_flight)
            self._async_in_flight.clear()
        for future in in_flight:
            future.cancel()
        self._pool.close()


def _decode(input_json: str | None) -> Any:
    if input_json is None:
        return None
    return ActivityTriggerConverter.decode(meta.Datum(type="json", value=input_json), trigger_metadata={})


def _failure(name: str, error: BaseException) -> ActivityResult:
    details = "".join(traceback.format_exception(error))
    return ActivityResult(
        False, reason=f"Activity function '{name}' failed: {type(error).__name__}: {error}", details=details
    )
