"""Child process for the crash tests: run (or resume) one scenario from an on-disk store.

``python -m tests.devhost.crash_child SCENARIO STORE_DIR LOG CRASH_AFTER [MOMENT]`` kills itself with SIGKILL
at the store's CRASH_AFTER-th save (0: never), so nothing that was not saved survives, exactly like a
process killed by the OS. MOMENT ``after-save`` (default) kills right after the save; ``before-rename``
kills after the temporary file is written and before it replaces the instance file. It prints the number
of saves and the final status as JSON when the run completes.

Every scenario's side effects go through a ``record`` activity (for ``entities``: the counter entity's ``add``
operation) that appends ``{"step": ...}`` to LOG. Saves of entities count like saves of instances.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from devhost import DevHost
from devhost.history import EventType
from devhost.store import EntityRecord, FileStore, Instance
from tests.devhost import apps, entity_apps, patterns

if TYPE_CHECKING:
    from _typeshed import StrOrBytesPath

INSTANCE_ID = "crash-run"

#: scenario -> (app, orchestrator, input from the log path, event raised once after the start)
SCENARIOS: dict[str, tuple[Any, str, Callable[[str], dict[str, Any]], str | None]] = {
    "steps": (apps.app, "steps", lambda log: {"log": log}, None),
    "lanes": (patterns.app, "lanes", lambda log: {"log": log, "steps": 7, "lanes": 2, "batch": 2}, None),
    "window": (
        patterns.app,
        "window",
        lambda log: {"log": log, "activity": "record", "n": 6, "k": 2, "seconds": [0.0]},
        None,
    ),
    "buffered_event": (
        patterns.app,
        "buffered_event",
        lambda log: {
            "activity": "record",
            "first": {"log": log, "step": 0},
            "second": {"log": log, "step": 1},
        },
        "go",
    ),
    "entities": (entity_apps.app, "crash_counter", lambda log: {"log": log}, None),
}


def kill_at(crash_after: int, moment: str) -> dict[str, int]:
    """Patch the store so the process dies at the chosen save; returns the save counter."""
    saves = {"count": 0}
    original_save, original_save_entity, original_replace = FileStore.save, FileStore.save_entity, os.replace

    def maybe_die_after(save: Callable[[], None]) -> None:
        saves["count"] += 1
        save()
        if saves["count"] == crash_after and moment == "after-save":
            os.kill(os.getpid(), signal.SIGKILL)

    def save_then_maybe_die(self: FileStore, instance: Instance) -> None:
        maybe_die_after(lambda: original_save(self, instance))

    def save_entity_then_maybe_die(self: FileStore, record: EntityRecord) -> None:
        maybe_die_after(lambda: original_save_entity(self, record))

    def maybe_die_then_replace(
        src: StrOrBytesPath,
        dst: StrOrBytesPath,
        *,
        src_dir_fd: int | None = None,
        dst_dir_fd: int | None = None,
    ) -> None:
        if saves["count"] == crash_after and moment == "before-rename":
            os.kill(os.getpid(), signal.SIGKILL)
        original_replace(src, dst, src_dir_fd=src_dir_fd, dst_dir_fd=dst_dir_fd)

    # Fault injection, not test doubles: the real store runs, and dies where chosen. The child has no
    # monkeypatch fixture; the patches last for the life of the process, on purpose.
    patch.object(FileStore, "save", save_then_maybe_die).start()
    patch.object(FileStore, "save_entity", save_entity_then_maybe_die).start()
    patch.object(os, "replace", maybe_die_then_replace).start()
    return saves


def event_was_raised(host: DevHost, name: str) -> bool:
    instance = host.engine._instances[INSTANCE_ID]
    return any(
        e["EventType"] == EventType.EVENT_RAISED and e.get("Name") == name
        for e in [*instance.history, *instance.inbox]
    )


def main() -> None:
    scenario, store_dir, log, crash_after = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    moment = sys.argv[5] if len(sys.argv) > 5 else "after-save"
    app, orchestrator, make_input, event = SCENARIOS[scenario]
    saves = kill_at(crash_after, moment)
    with DevHost(app, clock="virtual", store_dir=store_dir, max_workers=4) as host:
        if host.get_status_sync(INSTANCE_ID) is None:
            host.engine.start_new(orchestrator, INSTANCE_ID, json.dumps(make_input(log)))
        if event is not None and not event_was_raised(host, event):
            host.engine.raise_event(INSTANCE_ID, event, json.dumps("raised once"))  # a client that retries
        status = host.engine.wait(INSTANCE_ID, 30)
        print(json.dumps({"saves": saves["count"], "status": status}), flush=True)


if __name__ == "__main__":
    main()
