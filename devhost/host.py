"""``DevHost``: the facade tests and local tools use (see the package docstring and README)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import azure.durable_functions as df
import azure.functions as func
from aiohttp import web
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from azure.durable_functions.models.utils.df_serialization import df_dumps

from . import worker
from .client import make_client
from .clock import make_clock
from .durable_api import DurableApi, binding_json
from .engine import Engine
from .limits import Limits
from .registry import Registry
from .server import Server
from .stats import HistoryStats
from .store import make_store
from .triggers import invoke_http, invoke_timer


def read_host_json(directory: Path) -> dict[str, Any]:
    """``host.json`` of the app, or {} when there is none; a broken one is refused, as the host refuses it."""
    path = directory / "host.json"
    if not path.is_file():
        return {}
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{path} is not valid JSON ({error}); fix it or remove it") from error
    if not isinstance(settings, dict):
        raise ValueError(f"{path} must hold a JSON object, not {type(settings).__name__}")
    return settings


class DevHost:
    """An in-process Durable Functions host for one ``df.DFApp``.

    ``clock``: ``"virtual"`` (timers fire as soon as the host is idle, for tests) or ``"real"``.
    ``store_dir``: None keeps instances in memory; a directory keeps one JSON file per instance and makes
    a new DevHost on the same directory resume whatever was running.
    ``max_workers`` bounds the thread pool for ``def`` activities (the worker's thread pool).
    ``max_concurrent_activities`` / ``max_concurrent_orchestrations`` override host.json's
    ``extensions.durableTask.maxConcurrentActivityFunctions`` / ``maxConcurrentOrchestratorFunctions``
    (see ``limits``): the first bounds ``def`` and ``async def`` activities together.
    ``virtual_idle_seconds``: with the virtual clock, how long the host must be idle (real seconds)
    before it skips to the next timer (default 0: at once).
    The host starts on first use or on ``with``; ``close()`` stops it.
    """

    def __init__(
        self,
        app: Any,
        clock: str = "virtual",
        store_dir: str | Path | None = None,
        max_workers: int = 8,
        *,
        port: int = 0,
        bind: str = "127.0.0.1",
        route_prefix: str | None = None,
        hub_name: str | None = None,
        config_dir: str | Path = ".",
        virtual_idle_seconds: float = 0.0,
        max_concurrent_activities: int | None = None,
        max_concurrent_orchestrations: int | None = None,
    ) -> None:
        settings = read_host_json(Path(config_dir))
        extensions = settings.get("extensions", {})
        if route_prefix is None:
            route_prefix = extensions.get("http", {}).get("routePrefix", "api")
        self.route_prefix = route_prefix.strip("/")
        durable_task = extensions.get("durableTask", {})
        self.hub_name = hub_name or durable_task.get("hubName") or "TestHubName"
        limits = Limits.from_settings(durable_task, max_concurrent_activities, max_concurrent_orchestrations)
        self.registry = Registry.from_app(app)
        self.engine = Engine(
            self.registry, make_clock(clock, virtual_idle_seconds), make_store(store_dir), max_workers, limits
        )
        self._bind, self._port = bind, port
        self._server: Server | None = None
        self._client: df.DurableOrchestrationClient | None = None
        self.origin = ""
        self.binding = ""
        self._closed = False

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> DevHost:
        if self._server is not None:
            return self
        if self._closed:
            raise RuntimeError("this DevHost is closed")
        worker.worker_loop()
        self.engine.start()
        self._server = Server(
            self._durable_handler, self._app_handler, self.route_prefix, self._bind, self._port
        )
        port = self._server.start()
        self.origin = f"http://{self._bind}:{port}"
        self.binding = binding_json(self.origin, self.hub_name)
        self._api = DurableApi(self.engine, self.hub_name, self.origin)
        self._client = make_client(self.binding)
        return self

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._server is not None:
            self._server.stop()
        self.engine.stop()

    def __enter__(self) -> DevHost:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        self.start()
        assert self._server is not None
        return self._server.port

    # ------------------------------------------------------------------ the durable client
    @property
    def client(self) -> df.DurableOrchestrationClient:
        """The SDK's client, bound to this host's Durable HTTP API; usable from any event loop."""
        self.start()
        assert self._client is not None
        return self._client

    async def wait_for_completion(self, instance_id: str, timeout: float = 60) -> DurableOrchestrationStatus:
        """Wait (without blocking the caller's loop) until the instance is Completed, Failed or Terminated."""
        self.start()
        deadline = time.monotonic() + timeout
        while not self.engine.is_terminal(instance_id):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{instance_id} did not finish within {timeout} s: {self.engine.status(instance_id)}"
                )
            await asyncio.sleep(0.01)
        return _sdk_status(instance_id, self.engine.status(instance_id))

    def run_orchestration(
        self, name: str, client_input: Any = None, instance_id: str | None = None, timeout: float = 60
    ) -> DurableOrchestrationStatus:
        """Start ``name`` and block until it finishes; a failed run is returned (Failed), not raised."""
        self.start()
        input_json = df_dumps(client_input) if client_input is not None else None
        instance_id = self.engine.start_new(name, instance_id, input_json)
        status = self.engine.wait(instance_id, timeout)
        if not self.engine.is_terminal(instance_id):
            raise TimeoutError(f"{instance_id} did not finish within {timeout} s: {status}")
        return _sdk_status(instance_id, status)

    def get_status_sync(self, instance_id: str) -> DurableOrchestrationStatus | None:
        """The status the Durable API would return, for progress displays in synchronous code."""
        self.start()
        status = self.engine.status(instance_id)
        return None if status is None else DurableOrchestrationStatus.from_json(status)

    def history_stats(self, instance_id: str) -> HistoryStats:
        """History size and replay time of one instance (see ``stats``); KeyError if it is unknown."""
        self.start()
        stats = self.engine.history_stats(instance_id)
        if stats is None:
            raise KeyError(f"no orchestration instance {instance_id!r}")
        return stats

    # ------------------------------------------------------------------ triggers
    def http(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        body: bytes | str | None = None,
        headers: dict[str, str] | None = None,
    ) -> func.HttpResponse:
        """Call the app's HTTP function routed at ``path`` (``runs/1``, ``/api/runs/1?x=y``, ...)."""
        self.start()
        headers = dict(headers or {})
        raw = b""
        if json is not None:
            raw = _json_module.dumps(json).encode()
            headers.setdefault("Content-Type", "application/json")
        elif body is not None:
            raw = body.encode() if isinstance(body, str) else body
        return worker.run_sync(self._invoke_http(method, path, headers, raw), timeout=300)

    def fire_timer(self, function_name: str) -> Any:
        """Invoke the timer-triggered function ``function_name`` once, now."""
        self.start()
        function = self.registry.timers.get(function_name)
        if function is None:
            raise KeyError(f"no timer function {function_name!r}; known: {sorted(self.registry.timers)}")
        return worker.run_sync(invoke_timer(function, self.binding), timeout=300)

    async def _invoke_http(
        self, method: str, path: str, headers: dict[str, str], raw: bytes
    ) -> func.HttpResponse:
        split = urlsplit(path)
        route = split.path.strip("/")
        if self.route_prefix and (route == self.route_prefix or route.startswith(self.route_prefix + "/")):
            route = route[len(self.route_prefix) :].strip("/")
        found = self.registry.match_http(method, route)
        if found is None:
            return func.HttpResponse(f"no HTTP function for {method} /{route}", status_code=404)
        function, route_params = found
        params = dict(parse_qsl(split.query))
        prefix = f"/{self.route_prefix}" if self.route_prefix else ""
        url = f"{self.origin}{prefix}/{route}" + (f"?{urlencode(params)}" if params else "")
        return await invoke_http(function, self.binding, method, url, headers, params, route_params, raw)

    # ------------------------------------------------------------------ server handlers
    async def _durable_handler(self, request: web.Request) -> web.StreamResponse:
        return await self._api.handle(request)

    async def _app_handler(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        path = request.match_info.get("tail", "") + (
            f"?{request.query_string}" if request.query_string else ""
        )
        future = worker.submit(self._invoke_http(request.method, path, dict(request.headers), raw))
        response = await asyncio.wrap_future(future)
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        if response.mimetype and "content-type" not in {k.lower() for k in headers}:
            headers["Content-Type"] = response.mimetype
        return web.Response(status=response.status_code, body=response.get_body(), headers=headers)


_json_module = json


def _sdk_status(instance_id: str, status: dict[str, Any] | None) -> DurableOrchestrationStatus:
    """The SDK's status object for a finished instance; a KeyError if it was purged meanwhile (the SDK's
    ``from_json`` would fail on None with an unrelated TypeError)."""
    if status is None:
        raise KeyError(f"no orchestration instance {instance_id!r}")
    return DurableOrchestrationStatus.from_json(status)
