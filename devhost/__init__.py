"""devhost: an in-process Durable Functions host for local runs and tests.

What it is: a small host that runs the orchestrators, activities and client functions registered on a
``df.DFApp`` through the same protocols the Azure Functions host uses: orchestrators replay their full
history through the SDK's ``Orchestrator`` handler on every step and the SDK's actions go through a model
of the extension's shim on DTFx (what gets scheduled, with which ids, when an execution ends, when it is
non-deterministic), activities get their input decoded and
their output encoded by the worker's converter, client functions receive the ``durableClient`` binding
JSON and talk to a Durable HTTP API that devhost serves (``/runtime/webhooks/durabletask/...``), and a
local server exposes the app's HTTP routes under ``/api``. Durable entities run as the extension's entity
scheduler runs them for a Python app (one queue and one batch at a time per entity, the SDK's own entity
handler, the extension's request and response events). Timers use a real or a virtual clock; state lives
in memory or in one JSON file per instance and per entity, so a killed process resumes where it stopped.

What it is not: a production engine. It has no task hub in Azure Storage, no partitions, no scaling, no
function keys, no call_http, no entity locks or scheduled signals, no suspend/resume/rewind/restart, and
one host process per store directory. Production runs on Azure Durable Functions. See README.md for the
full list.
"""

from .host import DevHost

__all__ = ["DevHost"]
