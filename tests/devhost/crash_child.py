"""Child process for the crash test: run (or resume) the ``steps`` orchestration from an on-disk store.

``python -m tests.devhost.crash_child STORE_DIR LOG CRASH_AFTER [MOMENT]`` kills itself with SIGKILL at the
store's CRASH_AFTER-th save (0: never), so nothing that was not saved survives, exactly like a process
killed by the OS. MOMENT ``after-save`` (default) kills right after the save; ``before-rename`` kills after
the temporary file is written and before it replaces the instance file. It prints the number of saves and
the final output as JSON when the run completes.
"""

from __future__ import annotations

import json
import os
import signal
import sys

from devhost import DevHost
from devhost.store import FileStore
from tests.devhost.apps import app

INSTANCE_ID = "crash-run"


def main() -> None:
    store_dir, log, crash_after = sys.argv[1], sys.argv[2], int(sys.argv[3])
    moment = sys.argv[4] if len(sys.argv) > 4 else "after-save"
    saves = {"count": 0}
    original_save, original_replace = FileStore.save, os.replace

    def save_then_maybe_die(self: FileStore, instance) -> None:  # type: ignore[no-untyped-def]
        saves["count"] += 1
        original_save(self, instance)
        if saves["count"] == crash_after and moment == "after-save":
            os.kill(os.getpid(), signal.SIGKILL)

    def maybe_die_then_replace(source, target) -> None:  # type: ignore[no-untyped-def]
        if saves["count"] == crash_after and moment == "before-rename":
            os.kill(os.getpid(), signal.SIGKILL)
        original_replace(source, target)

    FileStore.save = save_then_maybe_die  # type: ignore[method-assign]
    os.replace = maybe_die_then_replace
    with DevHost(app, clock="virtual", store_dir=store_dir, max_workers=4) as host:
        if host.get_status_sync(INSTANCE_ID) is None:
            host.engine.start_new("steps", INSTANCE_ID, json.dumps({"log": log}))
        status = host.engine.wait(INSTANCE_ID, 30)
        print(json.dumps({"saves": saves["count"], "status": status}), flush=True)


if __name__ == "__main__":
    main()
