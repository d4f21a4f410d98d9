"""Give the deploy package a host.json whose Durable storage provider matches the provisioned backend.

Why a file edit and not an app setting: the Functions scale controller reads
``extensions.durableTask.storageProvider`` from the host.json file in the package (the host's
FunctionsSyncManager copies it into the sync-triggers payload); values overridden with
``AzureFunctionsJobHost__...`` app settings never reach it (azure-functions-durable-extension issues
#2622 and #2803). A Flex Consumption app whose runtime used the scheduler while the scale controller
watched Azure Storage queues would not scale. So the package's host.json itself must name the
``azureManaged`` provider, and the committed host.json stays on Azure Storage, the default.

azd runs ``apply`` before packaging (DURABLE_BACKEND comes from the provision outputs) and ``restore``
after it, so the working tree ends as it started. Without azd: ``apply DurableTaskScheduler``, publish,
``restore``. Standard library only: azd runs it with whatever Python is on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

BACKENDS = ("AzureStorage", "DurableTaskScheduler")
DEFAULT_BACKEND = "AzureStorage"
CONNECTION_SETTING = "DURABLE_TASK_SCHEDULER_CONNECTION_STRING"
SCHEDULER_PROVIDER = {"type": "azureManaged", "connectionStringName": CONNECTION_SETTING}


def backup_path(host_json: Path) -> Path:
    """Where ``apply`` keeps the committed host.json: under out/, which neither deploy tool packages
    (a sibling like host.json.bak would ship with Core Tools, whose patterns match as prefixes)."""
    return host_json.parent / "out" / "durable-backend" / host_json.name


class BackendError(Exception):
    """A backend name or a host.json this script cannot reconcile; the message says how to fix it."""


def provider_type(host: dict[str, Any]) -> str:
    provider = host.get("extensions", {}).get("durableTask", {}).get("storageProvider", {})
    return str(provider.get("type", DEFAULT_BACKEND))


def apply(host_json: Path, backend: str) -> str:
    """Switch ``host_json`` to ``backend``; the committed file is kept beside it until ``restore``."""
    if backend not in BACKENDS:
        raise BackendError(
            f"DURABLE_BACKEND={backend!r} is not one of {', '.join(BACKENDS)}; "
            "set it with `azd env set DURABLE_BACKEND <backend>` and provision again"
        )
    text = host_json.read_text(encoding="utf-8")
    host = json.loads(text)
    current = provider_type(host)
    if backend == DEFAULT_BACKEND:
        if current != DEFAULT_BACKEND:
            raise BackendError(
                f"{host_json} selects the {current!r} storage provider but DURABLE_BACKEND is "
                f"{DEFAULT_BACKEND}; run `{Path(__file__).name} restore` first"
            )
        return f"{host_json}: Durable backend {backend} (unchanged)"
    backup = backup_path(host_json)
    if not backup.exists():
        backup.parent.mkdir(parents=True, exist_ok=True)
        backup.write_text(text, encoding="utf-8")
    host["extensions"]["durableTask"]["storageProvider"] = dict(SCHEDULER_PROVIDER)
    host_json.write_text(json.dumps(host, indent=2) + "\n", encoding="utf-8")
    return f"{host_json}: Durable backend {backend} (azureManaged via {CONNECTION_SETTING})"


def restore(host_json: Path) -> str:
    """Put back the host.json that ``apply`` replaced, byte for byte."""
    backup = backup_path(host_json)
    if not backup.exists():
        return f"{host_json}: nothing to restore"
    backup.replace(host_json)
    return f"{host_json}: restored"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Match host.json's Durable storage provider to DURABLE_BACKEND."
    )
    parser.add_argument("action", choices=("apply", "restore"))
    parser.add_argument(
        "backend", nargs="?", default=None, help="default: $DURABLE_BACKEND, else AzureStorage"
    )
    parser.add_argument("--host-json", type=Path, default=Path("host.json"))
    args = parser.parse_args(argv)
    try:
        if args.action == "restore":
            print(restore(args.host_json))
        else:
            backend = args.backend or os.environ.get("DURABLE_BACKEND") or DEFAULT_BACKEND
            print(apply(args.host_json, backend))
    except BackendError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
