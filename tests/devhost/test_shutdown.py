"""``python -m devhost serve`` stops within 10 s of SIGTERM although its activities hang, commits none of
their results, and a new host on the same store runs them again (at-least-once, as in Azure)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from devhost import DevHost
from devhost.history import EventType, open_work
from devhost.store import FileStore
from tests.devhost import apps
from tests.devhost.support import call, free_port, serve

pytestmark = pytest.mark.timeout(90)


def wait_for_lines(log: Path, expected: set[str], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not log.exists() or set(log.read_text().split()) != expected:
        assert time.monotonic() < deadline, (
            f"activities did not start: {log.read_text() if log.exists() else ''}"
        )
        time.sleep(0.05)


def test_sigterm_with_hanging_activities_exits_fast_and_the_work_reruns(tmp_path: Path) -> None:
    store, log, release = tmp_path / "store", tmp_path / "started.log", tmp_path / "release"
    port = free_port()
    process = serve(port, "--clock", "real", "--store-dir", str(store))
    base = f"http://127.0.0.1:{port}/runtime/webhooks/durabletask"
    spec = {"log": str(log), "release": str(release)}
    code, _, _ = call("POST", f"{base}/orchestrators/hangs/hang-1", spec)
    assert code == 202
    wait_for_lines(log, {"sync", "async"}, 20)  # both activities are now blocked "forever"

    stopped_at = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(15)
    took = time.monotonic() - stopped_at
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    assert took < 10, f"serve took {took:.1f} s to exit after SIGTERM"

    assert not list(store.glob(".tmp-*")), "a temporary store file was left behind"
    [saved] = FileStore(store).load_all()
    assert saved.runtime_status == "Running"
    in_flight = open_work(saved.history, saved.inbox).values()
    assert sorted(e["Name"] for e in in_flight if e["EventType"] == EventType.TASK_SCHEDULED) == [
        "async_block_until_released",
        "block_until_released",
    ], "the hanging activities' results must not have been committed"

    release.touch()
    with DevHost(apps.app, clock="real", store_dir=store) as host:
        status = host.engine.wait("hang-1", 20)
    assert status is not None and status["runtimeStatus"] == "Completed", status
    assert status["output"] == ["sync released", "async released"]
    assert sorted(log.read_text().split()) == ["async", "async", "sync", "sync"]  # each ran again once


def test_a_temporary_file_left_by_a_kill_is_removed_on_the_next_start(tmp_path: Path) -> None:
    store = tmp_path / "store"
    (store / "entities").mkdir(parents=True)
    orphans = [store / ".tmp-abc123.json", store / "entities" / ".tmp-def456.json"]
    for orphan in orphans:
        orphan.write_text(json.dumps({"half": "written"}))
    with DevHost(apps.app, clock="virtual", store_dir=store) as host:
        assert host.run_orchestration("sequence", 1, instance_id="after-orphan").output["first"] == 2
    assert [orphan.exists() for orphan in orphans] == [False, False]
    assert sorted(p.name for p in store.iterdir()) == ["after-orphan.json", "entities"]
    assert list((store / "entities").iterdir()) == []
