# devhost/replay.py runs an episode as the registered handler does: Orchestrator(fn).handle(context).
from collections.abc import Callable, Generator
from typing import Any

from azure.durable_functions.models.DurableOrchestrationContext import DurableOrchestrationContext

class Orchestrator:
    def __init__(
        self, activity_func: Callable[[DurableOrchestrationContext], Generator[Any, Any, Any]]
    ) -> None: ...
    def handle(self, context: DurableOrchestrationContext) -> str: ...
