from collections.abc import Callable
from typing import Any

from azure.functions import AuthLevel
from azure.functions.decorators.function_app import Blueprint as FunctionsBlueprint
from azure.functions.decorators.function_app import FunctionBuilder, FunctionRegister

_Decorator = Callable[[Callable[..., Any]], FunctionBuilder]

class Blueprint(FunctionsBlueprint):
    def __init__(self, http_auth_level: AuthLevel | str = ...) -> None: ...
    def orchestration_trigger(
        self, context_name: str, orchestration: str | None = None, input_type: type | None = None
    ) -> _Decorator: ...
    def activity_trigger(self, input_name: str, activity: str | None = None) -> _Decorator: ...
    def entity_trigger(self, context_name: str, entity_name: str | None = None) -> _Decorator: ...
    def durable_client_input(
        self, client_name: str, task_hub: str | None = None, connection_name: str | None = None
    ) -> _Decorator: ...

class DFApp(Blueprint, FunctionRegister):
    def __init__(self, http_auth_level: AuthLevel | str = ...) -> None: ...
