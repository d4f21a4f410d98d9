# Type stubs for the parts of azure-functions-durable 1.7.0 this app and devhost/ use: the package ships no
# py.typed marker, so without these mypy --strict would see every orchestrator and activity as untyped
# (and devhost's replay, which drives the SDK's own internals, as unchecked).
# Signatures follow the package's source (azure/durable_functions/**); keep them in step when upgrading.
from azure.durable_functions.decorators.durable_app import Blueprint as Blueprint
from azure.durable_functions.decorators.durable_app import DFApp as DFApp
from azure.durable_functions.models.DurableEntityContext import DurableEntityContext as DurableEntityContext
from azure.durable_functions.models.DurableOrchestrationClient import (
    DurableOrchestrationClient as DurableOrchestrationClient,
)
from azure.durable_functions.models.DurableOrchestrationContext import (
    DurableOrchestrationContext as DurableOrchestrationContext,
)
from azure.durable_functions.models.OrchestrationRuntimeStatus import (
    OrchestrationRuntimeStatus as OrchestrationRuntimeStatus,
)
from azure.durable_functions.models.RetryOptions import RetryOptions as RetryOptions
from azure.durable_functions.models.utils.entity_utils import EntityId as EntityId
