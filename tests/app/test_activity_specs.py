"""The orchestrator-activity boundary: every activity declared once as a spec, implemented once, and
registered the way the Functions worker indexes it; nothing untyped crosses it."""

from __future__ import annotations

import ast
import asyncio
import inspect
import typing
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, get_args, get_origin

import azure.durable_functions as df
import pytest
from pydantic import BaseModel, ValidationError

from activities import datasets, deployments, evaluations, finetuning, lineages, preflight, rollouts, runs
from activities.implements import INPUT_NAME, implements
from devhost.registry import Registry
from shared.contracts import specs
from shared.contracts.payloads import CancelRequest, RunRef
from shared.contracts.specs import ActivitySpec

ROOT = Path(__file__).resolve().parents[2]
SPECS = [value for value in vars(specs).values() if isinstance(value, ActivitySpec)]
ACTIVITY_MODULES = (datasets, deployments, evaluations, finetuning, lineages, preflight, rollouts, runs)


def untyped(annotation: object, path: str, seen: set[type[BaseModel]]) -> Iterator[str]:
    """Where ``annotation`` holds ``Any``, ``object`` or a bare ``dict``/``list``, looking through
    generic arguments and into every model's fields."""
    if annotation is Any or annotation is object or annotation in (dict, list):
        yield path
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in seen:
            seen.add(annotation)
            for name, field in annotation.model_fields.items():
                yield from untyped(field.annotation, f"{annotation.__name__}.{name}", seen)
    else:
        for argument in get_args(annotation):
            yield from untyped(argument, path, seen)


def test_every_request_and_result_is_typed_all_the_way_down() -> None:
    found = [
        f"{spec.name}: {where}"
        for spec in SPECS
        for model in (spec.request, spec.result)
        for where in untyped(model, model.__name__, set())
    ]
    assert found == []


def test_the_type_check_finds_an_untyped_field() -> None:
    class Inner(BaseModel):
        error: dict[str, Any] | None = None

    class Outer(BaseModel):
        items: list[Inner]
        labels: dict[str, float]

    assert list(untyped(Outer, "Outer", set())) == ["Inner.error"]


def callable_any(file: Path) -> Iterator[int]:
    """The lines of ``file`` with a ``Callable[..., Any]``."""
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if not isinstance(node, ast.Subscript) or ast.unparse(node.value).split(".")[-1] != "Callable":
            continue
        arguments = node.slice.elts if isinstance(node.slice, ast.Tuple) else []
        if [ast.unparse(argument) for argument in arguments] == ["...", "Any"]:
            yield node.lineno


def test_no_orchestrator_passes_activities_around_untyped() -> None:
    found = [
        f"{file.relative_to(ROOT)}:{line}"
        for file in sorted((ROOT / "orchestrators").rglob("*.py"))
        for line in callable_any(file)
    ]
    assert found == []


def test_the_callable_check_finds_one(tmp_path: Path) -> None:
    file = tmp_path / "m.py"
    file.write_text(
        "import typing\nfrom typing import Any, Callable\n"
        "Activity = Callable[..., Any]\nTyped = Callable[[int], str]\nAlso = typing.Callable[..., Any]\n"
    )
    assert list(callable_any(file)) == [3, 5]


def implementation(name: str) -> typing.Callable[..., object]:
    """The function that implements the activity ``name``: the one of that name in activities/."""
    (found,) = [vars(module)[name] for module in ACTIVITY_MODULES if name in vars(module)]
    function: object = found
    assert callable(function)
    return function


def test_every_spec_is_registered_once_as_the_worker_indexes_it(function_app: ModuleType) -> None:
    """What the Python worker checks when it loads a function (its signature against the trigger's
    binding, annotations it can resolve, str/bytes switching the binding to a plain string) and how it
    runs it (a coroutine function on its event loop), on the app's own registrations."""
    registered = Registry.from_app(function_app.app).activities
    assert sorted(registered) == sorted(spec.name for spec in SPECS)
    for spec in SPECS:
        handler, binding = registered[spec.name]
        assert binding == INPUT_NAME
        assert list(inspect.signature(handler).parameters) == [INPUT_NAME], spec.name
        hints = typing.get_type_hints(handler)
        assert hints[INPUT_NAME] not in (str, bytes), spec.name
        assert isinstance(hints[INPUT_NAME], type) or get_origin(hints[INPUT_NAME]) is not None, spec.name
        implemented = implementation(spec.name)
        assert inspect.iscoroutinefunction(handler) == inspect.iscoroutinefunction(implemented), spec.name
        assert handler.__doc__ == implemented.__doc__


def test_the_async_activities_stay_coroutines() -> None:
    """The rollout and the probe wait on the network: the worker must await them, not hold a thread."""
    assert inspect.iscoroutinefunction(implementation("run_rollout"))
    assert inspect.iscoroutinefunction(implementation("probe_deployment"))


PROBE = ActivitySpec("probe_spec", RunRef, CancelRequest)


def registered(bp: df.Blueprint) -> typing.Callable[..., object]:
    app = df.DFApp()
    app.register_functions(bp)
    handler, binding = Registry.from_app(app).activities[PROBE.name]
    assert binding == INPUT_NAME
    return handler


def test_a_def_activity_takes_and_gives_models_and_its_handler_json() -> None:
    bp = df.Blueprint()

    @implements(bp, PROBE)
    def probe(request: RunRef) -> CancelRequest:
        return CancelRequest(requested=True, reason=request.run_id)

    assert probe(RunRef(run_id="r1")) == CancelRequest(requested=True, reason="r1")
    assert registered(bp)({"run_id": "r1"}) == {"requested": True, "reason": "r1"}


def test_an_async_activity_takes_and_gives_models_and_its_handler_json() -> None:
    bp = df.Blueprint()

    @implements(bp, PROBE)
    async def probe(request: RunRef) -> CancelRequest:
        return CancelRequest(requested=False, reason=request.run_id)

    handler = registered(bp)
    assert inspect.iscoroutinefunction(handler)
    answer = handler({"run_id": "r2"})
    assert inspect.iscoroutine(answer)
    assert asyncio.run(answer) == {"requested": False, "reason": "r2"}


def test_a_handler_refuses_a_request_or_a_result_off_the_spec() -> None:
    bp = df.Blueprint()

    @implements(bp, PROBE)
    def probe(request: RunRef) -> CancelRequest:
        return typing.cast(CancelRequest, RunRef(run_id=request.run_id))

    handler = registered(bp)
    with pytest.raises(ValidationError, match="run_id"):
        handler({"run": "r3"})
    with pytest.raises(TypeError, match="probe_spec carries CancelRequest, not RunRef"):
        handler({"run_id": "r3"})
