"""How an activity implements its spec (shared/contracts/specs.py).

``@implements(bp, SPEC)`` registers the function with the Durable blueprint under the spec's name and
converts, in this one place, the JSON Durable hands over into the spec's request model and the
function's result model back into JSON, for ``def`` and ``async def`` functions alike. The function
itself takes and returns models, and stays callable as written.

The Functions worker indexes the registered handler, not the function, so the handler is what it
expects: exactly the trigger's parameter (``payload``), annotations that ``typing.get_type_hints``
resolves, a parameter annotation other than ``str`` or ``bytes`` (those would make the worker bind the
input as a plain string), and a coroutine function when the implementation is one (the worker awaits
those on its event loop and runs the others on its thread pool). tests/app/test_activity_specs.py
checks all of it on the app's own registrations.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Generic, cast, overload

import azure.durable_functions as df

from shared.contracts.specs import ActivitySpec, Request, Result, Wire

INPUT_NAME = "payload"
"""The activity trigger's parameter: the name the handler's only parameter has."""


class Implements(Generic[Request, Result]):
    """The decorator ``implements`` returns: it keeps the function's own type (sync or async)."""

    def __init__(self, bp: df.Blueprint, spec: ActivitySpec[Request, Result]) -> None:
        self.bp = bp
        self.spec = spec

    @overload
    def __call__(
        self, implementation: Callable[[Request], Awaitable[Result]]
    ) -> Callable[[Request], Awaitable[Result]]: ...

    @overload
    def __call__(self, implementation: Callable[[Request], Result]) -> Callable[[Request], Result]: ...

    def __call__(
        self, implementation: Callable[[Request], Result] | Callable[[Request], Awaitable[Result]]
    ) -> Callable[[Request], Result] | Callable[[Request], Awaitable[Result]]:
        spec = self.spec
        handler: Callable[[Wire], Wire] | Callable[[Wire], Awaitable[Wire]]
        if inspect.iscoroutinefunction(implementation):
            handler = _async_handler(spec, implementation)
        else:
            # Not a coroutine function: the overloads leave only ``Callable[[Request], Result]``.
            handler = _sync_handler(spec, cast("Callable[[Request], Result]", implementation))
        handler.__name__ = handler.__qualname__ = spec.name
        handler.__doc__ = implementation.__doc__
        self.bp.function_name(spec.name)(self.bp.activity_trigger(input_name=INPUT_NAME)(handler))
        return implementation


def _sync_handler(
    spec: ActivitySpec[Request, Result], implementation: Callable[[Request], Result]
) -> Callable[[Wire], Wire]:
    def handler(payload: Wire) -> Wire:
        return spec.encode_result(implementation(spec.decode_request(payload)))

    return handler


def _async_handler(
    spec: ActivitySpec[Request, Result], implementation: Callable[[Request], Awaitable[Result]]
) -> Callable[[Wire], Awaitable[Wire]]:
    async def handler(payload: Wire) -> Wire:
        return spec.encode_result(await implementation(spec.decode_request(payload)))

    return handler


def implements(bp: df.Blueprint, spec: ActivitySpec[Request, Result]) -> Implements[Request, Result]:
    """Registers the decorated function as the activity ``spec`` declares (see the module's docstring)."""
    return Implements(bp, spec)
