from datetime import datetime
from collections.abc import Awaitable
from typing import Any, Protocol

import azure.functions as func
from azure.durable_functions.models.DurableOrchestrationStatus import DurableOrchestrationStatus
from azure.durable_functions.models.EntityStateResponse import EntityStateResponse
from azure.durable_functions.models.OrchestrationRuntimeStatus import OrchestrationRuntimeStatus
from azure.durable_functions.models.PurgeHistoryResult import PurgeHistoryResult
from azure.durable_functions.models.utils.entity_utils import EntityId

# The shapes of utils.http_utils' post/get/delete_async_request, through which the client sends every
# request; devhost/client.py replaces them on its instance (see its docstring).
class _PostAsyncRequest(Protocol):
    def __call__(
        self,
        url: str,
        data: Any = None,
        trace_parent: str | None = None,
        trace_state: str | None = None,
        function_invocation_id: str | None = None,
    ) -> Awaitable[list[Any]]: ...

class _GetOrDeleteAsyncRequest(Protocol):
    def __call__(self, url: str, function_invocation_id: str | None = None) -> Awaitable[list[Any]]: ...

class DurableOrchestrationClient:
    _post_async_request: _PostAsyncRequest
    _get_async_request: _GetOrDeleteAsyncRequest
    _delete_async_request: _GetOrDeleteAsyncRequest
    def __init__(self, context: str, function_invocation_id: str | None = None) -> None: ...
    async def start_new(
        self,
        orchestration_function_name: str,
        instance_id: str | None = None,
        client_input: Any | None = None,
        version: str | None = None,
    ) -> str: ...
    def create_check_status_response(self, request: func.HttpRequest, instance_id: str) -> func.HttpResponse: ...
    def create_http_management_payload(self, instance_id: str) -> dict[str, str]: ...
    async def raise_event(
        self,
        instance_id: str,
        event_name: str,
        event_data: Any = None,
        task_hub_name: str | None = None,
        connection_name: str | None = None,
    ) -> None: ...
    async def get_status(
        self,
        instance_id: str,
        show_history: bool = False,
        show_history_output: bool = False,
        show_input: bool = False,
    ) -> DurableOrchestrationStatus: ...
    async def get_status_all(self) -> list[DurableOrchestrationStatus]: ...
    async def get_status_by(
        self,
        created_time_from: datetime | None = None,
        created_time_to: datetime | None = None,
        runtime_status: list[OrchestrationRuntimeStatus] | None = None,
        instance_id_prefix: str | None = None,
    ) -> list[DurableOrchestrationStatus]: ...
    async def terminate(self, instance_id: str, reason: str) -> None: ...
    async def purge_instance_history(self, instance_id: str) -> PurgeHistoryResult: ...
    async def signal_entity(
        self,
        entityId: EntityId,
        operation_name: str,
        operation_input: Any | None = None,
        task_hub_name: str | None = None,
        connection_name: str | None = None,
    ) -> None: ...
    async def read_entity_state(
        self,
        entityId: EntityId,
        task_hub_name: str | None = None,
        connection_name: str | None = None,
    ) -> EntityStateResponse: ...
