"""A bounded pool of daemon threads for the ``def`` functions devhost runs (activities, sync triggers).

``concurrent.futures.ThreadPoolExecutor`` joins its (non-daemon) worker threads at interpreter exit, so
one function blocked forever (an activity waiting on a storage account that went away) keeps the whole
process alive after ``python -m devhost serve`` was told to stop. A Python thread cannot be interrupted,
so devhost abandons such threads instead: they are daemon threads, and closing the pool drops queued
work and returns at once. Abandoned work is never committed, so it runs again after a restart
(the at-least-once contract of Azure).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[Future[Any], Callable[[], Any]]


class DaemonPool:
    """At most ``max_workers`` daemon threads, started on demand, fed from one FIFO queue."""

    def __init__(self, max_workers: int, name: str) -> None:
        if max_workers < 1:
            raise ValueError(f"max_workers must be a positive integer, not {max_workers}")
        self._max_workers = max_workers
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._unfinished = 0  # submitted jobs that have not returned yet
        self._closed = False

    def submit(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> Future[T]:
        """Queue ``function(*args, **kwargs)``; raises RuntimeError once the pool is closed."""
        future: Future[T] = Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the pool is closed")
            self._jobs.put((future, lambda: function(*args, **kwargs)))
            self._unfinished += 1
            if self._unfinished > len(self._threads) and len(self._threads) < self._max_workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
        return future

    def close(self) -> None:
        """Refuse new work, cancel queued work, and return without waiting for running functions."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            threads = len(self._threads)
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job[0].cancel()
        for _ in range(threads):
            self._jobs.put(None)  # wakes idle threads so they end

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, call = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as error:  # noqa: BLE001 - handed to the future's owner
                    future.set_exception(error)
            with self._lock:
                self._unfinished -= 1
                if self._closed:
                    return
