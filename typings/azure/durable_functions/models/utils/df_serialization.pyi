# The SDK's payload serializer: devhost/host.py encodes a client input with it, as the SDK's
# DurableOrchestrationClient.start_new does, so devhost and Azure see the same JSON.
from typing import Any

def df_dumps(value: Any) -> str: ...
