"""An index of the functions a ``df.DFApp`` (or any ``FunctionRegister``) declares, by trigger kind.

devhost executes the app's own registered callables (the SDK's orchestrator handler, the activity
function, the entity handler ``Entity.create`` made, the ``durable_client_input`` middleware of client
functions); this module only finds them. Function names are case-insensitive for the extension
(``FunctionName`` compares ``OrdinalIgnoreCase``); entity names in ids are lower-cased (``EntityId``), so
entities are looked up case-insensitively.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ClientFunction:
    """An HTTP- or timer-triggered function and the parameter names the worker would bind."""

    name: str
    function: Callable[..., Any]
    trigger_param: str
    client_params: list[str] = field(default_factory=list)
    route: str | None = None
    methods: list[str] | None = None
    pattern: re.Pattern[str] | None = None
    schedule: str | None = None


@dataclass
class Registry:
    orchestrators: dict[str, Any] = field(default_factory=dict)
    activities: dict[str, tuple[Callable[..., Any], str]] = field(default_factory=dict)
    entities: dict[str, Callable[..., Any]] = field(default_factory=dict)  # by registered name
    http: list[ClientFunction] = field(default_factory=list)
    timers: dict[str, ClientFunction] = field(default_factory=dict)

    @classmethod
    def from_app(cls, app: Any) -> Registry:
        """Index ``app`` once: ``get_functions()`` refuses a second call on the same app (it re-validates
        names against what it indexed before), so the result is cached per app object."""
        cached = _INDEXED.get(id(app))
        if cached is not None and cached[0] is app:
            return cached[1]
        registry = cls._index(app)
        _INDEXED[id(app)] = (app, registry)
        return registry

    @classmethod
    def _index(cls, app: Any) -> Registry:
        registry = cls()
        for function in app.get_functions():
            trigger = function.get_trigger()
            kind = getattr(trigger, "type", None)
            name = function.get_function_name()
            user = function.get_user_function()
            clients = [b.name for b in function.get_bindings() if getattr(b, "type", None) == "durableClient"]
            if kind == "orchestrationTrigger":
                registry.orchestrators[name] = user
                alias = getattr(trigger, "orchestration", None)
                if alias:
                    registry.orchestrators[alias] = user
            elif kind == "activityTrigger":
                registry.activities[name] = (user, trigger.name)
                alias = getattr(trigger, "activity", None)
                if alias:
                    registry.activities[alias] = (user, trigger.name)
            elif kind == "entityTrigger":
                # EntityTriggerAttributeBindingProvider: known by the trigger's entityName if it has one,
                # else by the function name (not by both).
                registry.entities[getattr(trigger, "entity_name", None) or name] = user
            elif kind == "httpTrigger":
                route = trigger.route if trigger.route is not None else name
                methods = (
                    [str(getattr(m, "value", m)).upper() for m in trigger.methods]
                    if trigger.methods
                    else None
                )
                registry.http.append(
                    ClientFunction(name, user, trigger.name, clients, route, methods, compile_route(route))
                )
            elif kind == "timerTrigger":
                registry.timers[name] = ClientFunction(
                    name, user, trigger.name, clients, schedule=getattr(trigger, "schedule", None)
                )
        return registry

    def entity(self, name: str) -> Callable[..., Any] | None:
        """The entity function registered under ``name``, compared case-insensitively."""
        folded = name.casefold()
        return next((f for known, f in self.entities.items() if known.casefold() == folded), None)

    def match_http(self, method: str, path: str) -> tuple[ClientFunction, dict[str, str]] | None:
        """The first registered route matching ``path`` (without the route prefix) and ``method``."""
        for function in self.http:
            assert function.pattern is not None
            found = function.pattern.fullmatch(path.strip("/"))
            if not found:
                continue
            if function.methods and method.upper() not in function.methods:
                continue
            return function, {k: v for k, v in found.groupdict().items() if v is not None}
        return None


_INDEXED: dict[int, tuple[Any, Registry]] = {}


def compile_route(route: str) -> re.Pattern[str]:
    """Turn an ASP.NET-style route template (``runs/{run_id}``, ``{id:int}``, ``{id?}``, ``{*rest}``) into
    a regex with one named group per parameter."""
    parts = []
    for segment in route.strip("/").split("/"):
        found = re.fullmatch(r"\{(\*)?([A-Za-z_][A-Za-z0-9_]*)(?::[^}?]+)?(\?)?\}", segment)
        if not found:
            parts.append((re.escape(segment), False))
            continue
        catch_all, name, optional = found.groups()
        body = f"(?P<{name}>.+)" if catch_all else f"(?P<{name}>[^/]+)"
        parts.append((body, bool(optional or catch_all)))
    pattern = ""
    for index, (body, optional) in enumerate(parts):
        piece = body if index == 0 else "/" + body
        pattern += f"(?:{piece})?" if optional else piece
    return re.compile(pattern)
