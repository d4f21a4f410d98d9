"""The agent registry: an agent name maps to its rollout function and its task sets.

The orchestrator only ever passes an agent's name; adding an agent is registering an ``AgentSpec``
(for example from a module imported by function_app.py), with no change to orchestrators or
activities.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

from shared.tasks import Task, TaskSplits, load_csv, split
from shared.traces import TraceRecorder

Rollout = Callable[[Any, str, Task, TraceRecorder], Awaitable[float]]


class UnknownAgentError(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class AgentSpec:
    """``rollout(llm, deployment, task, recorder)`` runs the agent once and returns its reward."""

    name: str
    rollout: Rollout
    datasets: dict[str, Path]
    default_dataset: str
    description: str = ""
    tools: list[dict[str, Any]] = field(default_factory=list)

    def load_splits(self, dataset: str | None) -> TaskSplits:
        name = dataset or self.default_dataset
        if name not in self.datasets:
            raise UnknownAgentError(
                f"agent {self.name} has no dataset {name!r}; known: {sorted(self.datasets)}"
            )
        return _splits(self.datasets[name])

    def task(self, dataset: str | None, split_name: Literal["train", "val"], index: int) -> Task:
        splits = self.load_splits(dataset)
        tasks = splits.train if split_name == "train" else splits.val
        return tasks[index % len(tasks)]


@cache
def _splits(path: Path) -> TaskSplits:
    return split(load_csv(path))


_REGISTRY: dict[str, AgentSpec] = {}


def register_agent(spec: AgentSpec) -> AgentSpec:
    if spec.default_dataset not in spec.datasets:
        raise ValueError(
            f"agent {spec.name}: default dataset {spec.default_dataset!r} is not among its datasets"
        )
    _REGISTRY[spec.name] = spec
    return spec


def get_agent(name: str) -> AgentSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownAgentError(f"unknown agent {name!r}; registered agents: {sorted(_REGISTRY)}") from None


def registered_agents() -> list[str]:
    return sorted(_REGISTRY)
