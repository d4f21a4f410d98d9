"""The Durable extension's HTTP API (``HttpApiHandler``), served by devhost, and the client binding.

The SDK's ``DurableOrchestrationClient`` is an HTTP client of this API. devhost serves the routes it calls
(under ``/runtime/webhooks/durabletask/``, with the extension's status codes and status JSON) and hands
client functions the same binding JSON the Functions host would, so app code and
``create_check_status_response`` run unmodified. Locally no function keys are issued or checked.
Entities: ``entities/{name}/{key}`` GET reads the state, POST signals ``?op=...`` (DELETE signals
``delete``), as ``read_entity_state`` and ``signal_entity`` call them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .engine import (
    Engine,
    HostStoppedError,
    InstanceExistsError,
    UnknownEntityError,
    UnknownOrchestratorError,
)
from .entities import input_from_http
from .store import TERMINAL

WEBHOOK_PATH = "/runtime/webhooks/durabletask/"
INSTANCE_PLACEHOLDER = "INSTANCEID"


def binding_json(origin: str, hub: str) -> str:
    """The ``durableClient`` binding value (``taskHubName``, ``creationUrls``, ``managementUrls``, ...)."""
    base = origin.rstrip("/") + WEBHOOK_PATH
    query = f"taskHub={quote(hub)}&connection=Storage"
    instance = f"{base}instances/{INSTANCE_PLACEHOLDER}"
    management = {
        "id": INSTANCE_PLACEHOLDER,
        "statusQueryGetUri": f"{instance}?{query}",
        "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
        "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
        "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
        "purgeHistoryDeleteUri": f"{instance}?{query}",
        "restartPostUri": f"{instance}/restart?{query}",
        "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
        "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
    }
    creation = {
        "createNewInstancePostUri": f"{base}orchestrators/{{functionName}}[/{{instanceId}}]?{query}",
        "createAndWaitOnNewInstancePostUri": (
            f"{base}orchestrators/{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}"
            f"&pollingInterval={{intervalInSeconds}}&{query}"
        ),
    }
    return json.dumps(
        {
            "taskHubName": hub,
            "creationUrls": creation,
            "managementUrls": management,
            "rpcBaseUrl": base,
            "requiredQueryStringParameters": query,
            "httpBaseUrl": base,
        }
    )


def management_payload(binding: str, instance_id: str, origin: str | None = None) -> dict[str, str]:
    urls = json.loads(binding)["managementUrls"]
    return {key: value.replace(INSTANCE_PLACEHOLDER, instance_id) for key, value in urls.items()}


def body_to_json_text(raw: bytes) -> str | None:
    """Turn a request body into the JSON text devhost stores as an input.

    The SDK posts ``json=df_dumps(value)``, i.e. a JSON string whose content is the JSON of the value; a
    user with curl posts the JSON of the value directly. Both arrive at the same JSON text here.
    """
    if not raw.strip():
        return None
    value = json.loads(raw)
    if isinstance(value, str):
        try:
            json.loads(value)
            return value
        except ValueError:
            return json.dumps(value)
    return json.dumps(value)


def _error(status: int, message: str, exception: Exception | None = None) -> web.Response:
    body: dict[str, Any] = {"Message": message}
    if exception is not None:
        body.update(ExceptionMessage=str(exception), ExceptionType=type(exception).__name__)
    return web.json_response(body, status=status)


class DurableApi:
    """aiohttp handlers for the extension routes, backed by an :class:`Engine`."""

    def __init__(self, engine: Engine, hub: str, origin: str) -> None:
        self.engine = engine
        self.hub = hub
        self.origin = origin

    async def handle(self, request: web.Request) -> web.StreamResponse:
        tail = request.match_info.get("tail", "").strip("/")
        parts = tail.split("/") if tail else []
        try:
            if parts[:1] == ["orchestrators"] and 2 <= len(parts) <= 3:
                if request.method != "POST":
                    return web.Response(status=404)
                return await self._start(request, parts[1], parts[2] if len(parts) == 3 else None)
            if parts[:1] == ["instances"]:
                return await self._instances(request, parts[1:])
            if parts[:1] == ["entities"]:
                return await self._entity(request, parts[1:])
        except json.JSONDecodeError as error:
            return _error(400, "Invalid JSON content", error)
        except HostStoppedError as error:
            return _error(503, str(error))
        return web.Response(status=404)

    async def _start(self, request: web.Request, name: str, instance_id: str | None) -> web.Response:
        input_json = body_to_json_text(await request.read())
        try:
            instance_id = self.engine.start_new(name, instance_id or None, input_json)
        except UnknownOrchestratorError as error:
            return _error(400, str(error), error)
        except InstanceExistsError as error:
            return _error(409, str(error))
        payload = management_payload(binding_json(self._origin(request), self.hub), instance_id)
        headers = {"Location": payload["statusQueryGetUri"], "Retry-After": "10"}
        return web.json_response(payload, status=202, headers=headers)

    def _origin(self, request: web.Request) -> str:
        return f"{request.scheme}://{request.host}" if request.host else self.origin

    async def _instances(self, request: web.Request, rest: list[str]) -> web.Response:
        query = request.query
        if not rest:
            if request.method == "GET":
                return web.json_response(_filtered(self.engine.statuses(), query))
            return web.Response(status=404)
        instance_id = rest[0]
        if len(rest) == 1:
            if request.method == "GET":
                return self._status(request, instance_id)
            if request.method == "DELETE":
                outcome = self.engine.purge(instance_id)
                if outcome == "not_found":
                    return web.Response(status=404)
                if outcome == "running":
                    return _error(
                        412, f"Only orchestrations in a terminal state can be purged: {instance_id}"
                    )
                return web.json_response({"instancesDeleted": 1})
            return web.Response(status=404)
        if request.method != "POST":
            return web.Response(status=404)
        operation = rest[1]
        if operation == "raiseEvent" and len(rest) == 3:
            return await self._raise_event(request, instance_id, rest[2])
        if operation.lower() == "terminate":
            return web.Response(status=_CODES[self.engine.terminate(instance_id, query.get("reason"))])
        return _error(501, f"devhost does not implement the '{operation}' operation")

    async def _raise_event(self, request: web.Request, instance_id: str, event: str) -> web.Response:
        """``HandleRaiseEventRequestAsync``: 404 unknown, 410 finished, 400 not JSON, else 202."""
        status = self.engine.status(instance_id)
        if status is None:
            return web.Response(status=404)
        if status["runtimeStatus"] in TERMINAL:
            return web.Response(status=410)
        if request.content_type.lower() != "application/json":
            return _error(400, "Only application/json request content is supported")
        data = body_to_json_text(await request.read())
        return web.Response(status=_CODES[self.engine.raise_event(instance_id, event, data)])

    async def _entity(self, request: web.Request, rest: list[str]) -> web.Response:
        """``entities/{name?}/{key?}`` (``HandleGetEntityRequestAsync``,
        ``HandlePostEntityOperationRequestAsync``): GET answers 200 with the state or 404; POST (operation
        ``op``, default "") and DELETE (operation ``delete``) signal and answer 202; an invalid id or key,
        an entity the app has no function for, or an ``application/json`` body that does not parse is a 400.
        """
        if len(rest) > 2:
            return web.Response(status=404)
        name, key = [*rest, "", ""][:2]
        try:
            if request.method == "GET":
                if not key:
                    return _error(501, "devhost does not implement listing entities")
                exists, state = self.engine.read_entity_state(name, key)
                if not exists:
                    return web.Response(status=404)
                return web.Response(status=200, text=state or "null", content_type="application/json")
            if request.method not in ("POST", "DELETE"):
                return web.Response(status=404)
            operation = "delete" if request.method == "DELETE" else request.query.get("op", "")
            raw = await request.read()
            try:
                input_text = input_from_http(raw, request.content_type)
            except ValueError as error:
                return _error(400, f"Could not parse JSON content: {error}")
            self.engine.signal_entity(name, key, operation, input_text)
        except (ValueError, UnknownEntityError) as error:
            return _error(400, str(error))
        return web.Response(status=202)

    def _status(self, request: web.Request, instance_id: str) -> web.Response:
        show_history = request.query.get("showHistory", "").lower() == "true"
        status = self.engine.status(instance_id, show_history)
        if status is None:
            return web.Response(status=404)
        if request.query.get("showInput", "").lower() == "false":
            status["input"] = None
        runtime = status["runtimeStatus"]
        headers = {}
        if runtime in ("Running", "Pending", "ContinuedAsNew", "Suspended"):
            code = 202
            headers = {"Location": str(request.url), "Retry-After": "5"}
        elif (
            runtime == "Failed"
            and request.query.get("returnInternalServerErrorOnFailure", "").lower() == "true"
        ):
            code = 500
        else:
            code = 200
        return web.json_response(status, status=code, headers=headers)


_CODES = {"accepted": 202, "not_found": 404, "gone": 410}


def _filtered(statuses: list[dict[str, Any]], query: Mapping[str, str]) -> list[dict[str, Any]]:
    """The list query's filters, as the extension applies them: ``runtimeStatus`` (comma-separated),
    ``instanceIdPrefix``, ``createdTimeFrom``/``createdTimeTo`` (ISO 8601), ``showInput`` (default true)."""
    wanted = {item for item in query.get("runtimeStatus", "").split(",") if item}
    prefix = query.get("instanceIdPrefix", "")
    since, until = query.get("createdTimeFrom"), query.get("createdTimeTo")
    chosen = [
        status
        for status in statuses
        if (not wanted or status["runtimeStatus"] in wanted)
        and status["instanceId"].startswith(prefix)
        and (since is None or _instant(status["createdTime"]) >= _instant(since))
        and (until is None or _instant(status["createdTime"]) <= _instant(until))
    ]
    if query.get("showInput", "").lower() == "false":
        chosen = [{**status, "input": None} for status in chosen]
    return chosen


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
