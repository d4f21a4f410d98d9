"""The agent registry: an agent name maps to its rollout function and its task sets.

The orchestrator only ever passes an agent's name; adding an agent is registering an ``AgentSpec``,
with no change to orchestrators or activities. The bundled capital agent registers itself; any other
agent lives in a module named by the ``AGENT_MODULES`` app setting, whose ``AGENTS`` list is registered
(and its task files checked) when the app settings are read at start-up. See docs/agents.md.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from shared.agents.tasks import DEFAULT_SPLIT, SplitName, SplitRule, Task, TaskSplits, load_csv, split
from shared.agents.traces import TraceRecorder

Rollout = Callable[[Any, str, Task, TraceRecorder], Awaitable[float]]


MODULE_NAME = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


class UnknownAgentError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


class AgentModuleError(ValueError):
    """An ``AGENT_MODULES`` entry that cannot be used; the message names the module and the fix."""


@dataclass(frozen=True)
class AgentSpec:
    """``rollout(llm, deployment, task, recorder)`` runs the agent once and returns its reward.

    ``max_tokens``: the most tokens one of the agent's model calls needs to write (a tool call, an
    answer). Every chat call made through the recorder (the tool loop's included) sends it unless the
    call sets its own: Azure books ``max_tokens`` (640 when unset) against the deployment's tokens per
    minute when a request arrives, so a tight value lets more calls run at once. None: unset."""

    name: str
    rollout: Rollout
    datasets: dict[str, Path]
    default_dataset: str
    description: str = ""
    tools: list[dict[str, Any]] = field(default_factory=list)
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"agent {self.name}: max_tokens must be at least 1, got {self.max_tokens}")

    def load_tasks(self, dataset: str | None) -> list[Task]:
        return _tasks(self._path(dataset))

    def load_splits(self, dataset: str | None, rule: SplitRule = DEFAULT_SPLIT) -> TaskSplits:
        return _splits(self._path(dataset), rule)

    def task(
        self, dataset: str | None, split_name: SplitName, index: int, rule: SplitRule = DEFAULT_SPLIT
    ) -> Task:
        tasks = self.load_splits(dataset, rule).of(split_name)
        if not tasks:
            raise UnknownAgentError(f"agent {self.name} has no {split_name} tasks under {rule}")
        return tasks[index % len(tasks)]

    def _path(self, dataset: str | None) -> Path:
        name = dataset or self.default_dataset
        if name not in self.datasets:
            raise UnknownAgentError(
                f"agent {self.name} has no dataset {name!r}; known: {sorted(self.datasets)}"
            )
        return self.datasets[name]


@cache
def _tasks(path: Path) -> list[Task]:
    return load_csv(path)


@cache
def _splits(path: Path, rule: SplitRule) -> TaskSplits:
    return split(_tasks(path), rule)


_REGISTRY: dict[str, AgentSpec] = {}


def register_agent(spec: AgentSpec) -> AgentSpec:
    """Adds ``spec``; registering the same spec again is a no-op, another spec under its name an error."""
    if spec.default_dataset not in spec.datasets:
        raise ValueError(
            f"agent {spec.name}: default dataset {spec.default_dataset!r} is not among its datasets"
        )
    existing = _REGISTRY.get(spec.name)
    if existing is not None and existing != spec:
        raise ValueError(
            f"agent name {spec.name!r} is already taken by the agent whose rollout is "
            f"{existing.rollout.__module__}.{existing.rollout.__qualname__}; give yours another name"
        )
    _REGISTRY[spec.name] = spec
    return spec


def load_agent_modules(value: str | None) -> list[str]:
    """Registers the agents of every module named in ``value`` (comma-separated); returns their names."""
    names: list[str] = []
    for module_name in (part.strip() for part in (value or "").split(",")):
        if module_name:
            names += _register_module(module_name)
    return names


def _register_module(module_name: str) -> list[str]:
    if not MODULE_NAME.fullmatch(module_name):
        raise AgentModuleError(f"{module_name!r} is not a Python module name (expected e.g. my_agents.shop)")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # whatever a user's module raises on import is reported by name
        raise AgentModuleError(f"module {module_name} failed to import: {type(exc).__name__}: {exc}") from exc
    agents = getattr(module, "AGENTS", None)
    if not agents:
        raise AgentModuleError(
            f"module {module_name} registers no agent: define AGENTS = [AgentSpec(...)] in it"
        )
    if not isinstance(agents, list | tuple) or not all(isinstance(spec, AgentSpec) for spec in agents):
        raise AgentModuleError(f"module {module_name}: AGENTS must be a list of AgentSpec")
    for spec in agents:
        try:
            for dataset in spec.datasets:
                spec.load_splits(dataset)
            register_agent(spec)
        except ValueError as exc:
            raise AgentModuleError(f"module {module_name}: {exc}") from exc
    return [spec.name for spec in agents]


def get_agent(name: str) -> AgentSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownAgentError(f"unknown agent {name!r}; registered agents: {sorted(_REGISTRY)}") from None


def registered_agents() -> list[str]:
    return sorted(_REGISTRY)
