"""The local HTTP server: the app's routes under ``/<routePrefix>/`` and the Durable API beside them.

It runs an aiohttp application on its own thread and event loop, bound to loopback. App functions are
not run on this loop but on the shared worker loop (see ``worker``), as the Functions host forwards
requests to the language worker.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from .durable_api import WEBHOOK_PATH

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Seconds ``stop()`` lets requests in flight finish before it cancels them (aiohttp's default is 60).
SHUTDOWN_GRACE_SECONDS = 1.0


class Server:
    def __init__(
        self, durable: Handler, app_routes: Handler, route_prefix: str, host: str, port: int
    ) -> None:
        self._host, self._port = host, port
        self._web = web.Application(client_max_size=64 * 1024 * 1024)
        self._web.router.add_route("*", WEBHOOK_PATH + "{tail:.*}", durable)
        prefix = "/" + route_prefix.strip("/") + "/" if route_prefix.strip("/") else "/"
        self._web.router.add_route("*", prefix + "{tail:.*}", app_routes)
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def start(self) -> int:
        """Start listening; returns the bound port (a free one when constructed with port 0)."""
        ready: dict[str, Any] = {}
        started = threading.Event()

        async def setup() -> None:
            # Bodies reach the app as sent, Content-Encoding and all, as the Functions host passes them
            # (aiohttp would otherwise inflate gzip bodies and leave the header in place).
            self._runner = web.AppRunner(
                self._web, access_log=None, auto_decompress=False, shutdown_timeout=SHUTDOWN_GRACE_SECONDS
            )
            await self._runner.setup()
            site = web.TCPSite(self._runner, self._host, self._port)
            await site.start()
            ready["port"] = self._runner.addresses[0][1]

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._loop.run_until_complete(setup())
            except BaseException as error:  # noqa: BLE001 - re-raised by start() in the caller's thread
                ready["error"] = error
                started.set()
                return
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="devhost-server", daemon=True)
        self._thread.start()
        started.wait(30)
        if "error" in ready:
            raise ready["error"]
        self.port = ready["port"]
        return self.port

    def stop(self) -> None:
        """Stop listening, give requests in flight a short grace, then cancel them; bounded in time."""
        if self._thread is None:
            return
        try:
            if self._runner is not None and self._loop.is_running():
                cleanup = asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop)
                cleanup.result(SHUTDOWN_GRACE_SECONDS + 2)
        except TimeoutError:
            pass  # a handler that ignores cancellation: the thread is a daemon and is abandoned
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(2)
            if not self._thread.is_alive():
                self._loop.close()
            self._thread = None
