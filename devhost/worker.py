"""The process-wide event loop on which devhost runs async functions, as the Python worker does.

The Functions Python worker runs every ``async def`` function (activities, HTTP and timer triggers) on a
single event loop that lives as long as the process. devhost does the same: one daemon thread owns one
loop for the whole process, shared by every DevHost. Besides being faithful, this matters in practice:
objects bound to a loop (the SDK's module-level aiohttp session used by client functions, async HTTP
clients an app caches at module level) stay valid across hosts, tests and restarts.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from azure.durable_functions.models.utils import http_utils

from .pool import DaemonPool

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
#: ``def`` client functions run here, as the worker runs them on its thread pool (whose default size,
#: ``PYTHON_THREADPOOL_THREAD_COUNT`` unset, is ``ThreadPoolExecutor``'s: min(32, CPUs + 4)).
_sync_pool = DaemonPool(min(32, (os.cpu_count() or 1) + 4), "devhost-sync-function")


def worker_loop() -> asyncio.AbstractEventLoop:
    """Return the shared loop, starting its thread on first use."""
    global _loop
    with _lock:
        if _loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="devhost-worker-loop", daemon=True)
            thread.start()
            _loop = loop
            atexit.register(_close_sdk_session, loop)
        return _loop


def submit(coroutine: Coroutine[Any, Any, T]) -> Future[T]:
    """Schedule ``coroutine`` on the worker loop from any thread."""
    return asyncio.run_coroutine_threadsafe(coroutine, worker_loop())


async def call_blocking(function: Callable[[], T]) -> T:
    """Await ``function()`` run on a daemon thread (a hung function never blocks process exit)."""
    return await asyncio.wrap_future(_sync_pool.submit(function))


def run_sync(coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coroutine`` on the worker loop and block the calling thread for its result."""
    if _loop is not None and threading.current_thread().name == "devhost-worker-loop":
        raise RuntimeError("devhost: a blocking DevHost call was made from the worker loop itself")
    return submit(coroutine).result(timeout)


def _close_sdk_session(loop: asyncio.AbstractEventLoop) -> None:
    """Close the SDK's module-level aiohttp session (created on this loop by client functions) at exit,
    so the process ends without "Unclosed client session" noise."""
    try:
        if loop.is_running():
            asyncio.run_coroutine_threadsafe(http_utils._close_session(), loop).result(2)
    except Exception:  # noqa: BLE001 - best effort at interpreter exit
        pass
