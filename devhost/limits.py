"""The Durable extension's concurrency throttles (host.json ``extensions.durableTask``) in devhost.

``maxConcurrentActivityFunctions`` bounds how many activity invocations one host instance runs at once,
``def`` and ``async def`` alike: the extension hands the worker no more activity work items than that
(DTFx ``MaxConcurrentTaskActivityWorkItems``), the rest wait in the work-item queue. In Azure the bound is
per host instance (per worker VM), so a scaled-out app runs up to that many activities *per instance*;
devhost is one instance. ``maxConcurrentOrchestratorFunctions`` bounds orchestration work items the same
way: orchestrator episodes and, for a Python app, entity batches (the extension gives entities a queue and
a limit of their own, ``maxConcurrentEntityFunctions``, only for .NET isolated, Java and custom handlers:
``useSeparateQueueForEntityWorkItems``). devhost runs one episode at a time beside at most that many work
items in all. ``maxEntityOperationBatchSize`` bounds how many queued operations one entity batch takes.

Unset values take the extension's defaults for non-Consumption plans (``10 * processor count``; 5000
operations per batch; AzureStorageDurabilityProviderFactory); a value that is not a positive integer is
refused, as the extension refuses it at start-up (``DurableTaskOptions.Validate``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

ACTIVITIES_KEY = "maxConcurrentActivityFunctions"
ORCHESTRATORS_KEY = "maxConcurrentOrchestratorFunctions"
ENTITY_BATCH_KEY = "maxEntityOperationBatchSize"
#: ``AzureStorageDurabilityProviderFactory``: 5000 operations per batch (50 on the Consumption plan).
DEFAULT_ENTITY_BATCH = 5000


def _positive(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"host.json extensions.durableTask.{key} must be a positive integer, not {value!r}; "
            "set it to e.g. 10 or remove it for the default"
        )
    return value


@dataclass(frozen=True)
class Limits:
    activities: int
    orchestrators: int
    entity_batch: int = DEFAULT_ENTITY_BATCH

    @classmethod
    def from_settings(
        cls,
        durable_task: dict[str, Any],
        activities: int | None = None,
        orchestrators: int | None = None,
    ) -> Limits:
        """Explicit arguments win over host.json values, which win over the extension's defaults."""
        default = 10 * (os.cpu_count() or 1)
        chosen_activities = (
            activities if activities is not None else durable_task.get(ACTIVITIES_KEY, default)
        )
        chosen_orchestrators = (
            orchestrators if orchestrators is not None else durable_task.get(ORCHESTRATORS_KEY, default)
        )
        return cls(
            activities=_positive(chosen_activities, ACTIVITIES_KEY),
            orchestrators=_positive(chosen_orchestrators, ORCHESTRATORS_KEY),
            entity_batch=_positive(
                durable_task.get(ENTITY_BATCH_KEY, DEFAULT_ENTITY_BATCH), ENTITY_BATCH_KEY
            ),
        )
