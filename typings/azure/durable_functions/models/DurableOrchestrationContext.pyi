from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any, Self

from azure.durable_functions.models.RetryOptions import RetryOptions
from azure.durable_functions.models.Task import TaskBase, TimerTask
from azure.durable_functions.models.utils.entity_utils import EntityId

class DurableOrchestrationContext:
    # The tasks the SDK has scheduled and not yet seen complete, by task id (a list where task_any waits on
    # several external events with one id); devhost/replay.py compares them with what the extension schedules.
    open_tasks: defaultdict[int | str, list[TaskBase] | TaskBase]
    # Set by Orchestrator.create's handle from the decorator's input_type; get_input decodes with it.
    _input_expected_type: type | None
    @classmethod
    def from_json(cls, json_string: str) -> Self: ...
    def call_activity(
        self, name: str | Callable[..., Any], input_: Any | None = None, expected_type: type | None = None
    ) -> TaskBase: ...
    def call_activity_with_retry(
        self,
        name: str | Callable[..., Any],
        retry_options: RetryOptions,
        input_: Any | None = None,
        expected_type: type | None = None,
    ) -> TaskBase: ...
    def call_sub_orchestrator(
        self,
        name: str | Callable[..., Any],
        input_: Any | None = None,
        instance_id: str | None = None,
        version: str | None = None,
        expected_type: type | None = None,
    ) -> TaskBase: ...
    def call_sub_orchestrator_with_retry(
        self,
        name: str | Callable[..., Any],
        retry_options: RetryOptions,
        input_: Any | None = None,
        instance_id: str | None = None,
        version: str | None = None,
        expected_type: type | None = None,
    ) -> TaskBase: ...
    def get_input(self, expected_type: type | None = None) -> Any: ...
    def new_uuid(self) -> str: ...
    def task_all(self, activities: list[TaskBase]) -> TaskBase: ...
    def task_any(self, activities: list[TaskBase]) -> TaskBase: ...
    def set_custom_status(self, status: Any) -> None: ...
    @property
    def custom_status(self) -> Any: ...
    @property
    def instance_id(self) -> str: ...
    @property
    def is_replaying(self) -> bool: ...
    @property
    def parent_instance_id(self) -> str | None: ...
    @property
    def current_utc_datetime(self) -> datetime: ...
    @property
    def will_continue_as_new(self) -> bool: ...
    def create_timer(self, fire_at: datetime) -> TimerTask: ...
    def call_entity(
        self,
        entityId: EntityId,
        operationName: str,
        operationInput: Any | None = None,
        expected_type: type | None = None,
    ) -> TaskBase: ...
    def signal_entity(
        self,
        entityId: EntityId,
        operationName: str,
        operationInput: Any | None = None,
    ) -> TaskBase: ...
    def wait_for_external_event(self, name: str, expected_type: type | None = None) -> TaskBase: ...
    def continue_as_new(self, input_: Any) -> None: ...
