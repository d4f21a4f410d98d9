"""Kill the host after each history step in turn; a restart from the store finishes the same run.

Each crash is a real SIGKILL of a child process right after one atomic save of the store, so only what
was saved survives. After the restart the final output must be identical to an uninterrupted run, every
step's side effect must have happened, and only activities that were in flight at the crash (scheduled in
the saved history, without a saved result) may have run twice, as in Azure.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from devhost.history import EventType, open_work
from devhost.store import FileStore

pytestmark = pytest.mark.timeout(120)
ROOT = Path(__file__).resolve().parents[2]


def spawn(store: Path, log: Path, crash_after: int, moment: str = "after-save") -> subprocess.Popen[str]:
    command = [
        sys.executable,
        "-m",
        "tests.devhost.crash_child",
        str(store),
        str(log),
        str(crash_after),
        moment,
    ]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


def steps_run(log: Path) -> Counter[int]:
    if not log.exists():
        return Counter()
    return Counter(json.loads(line)["step"] for line in log.read_text().splitlines() if line)


def in_flight_steps(store: Path) -> set[int]:
    """Activities scheduled in the saved state (of the run or its child) whose result was not saved."""
    steps = set()
    for instance in FileStore(store).load_all():
        if instance.is_terminal:
            continue
        pending = open_work(instance.history, instance.inbox).values()
        steps |= {
            json.loads(e["Input"])["step"] for e in pending if e["EventType"] == EventType.TASK_SCHEDULED
        }
    return steps


def test_crash_after_every_step_resumes_with_the_same_output(tmp_path: Path) -> None:
    baseline_dir, baseline_log = tmp_path / "baseline", tmp_path / "baseline.log"
    code, out, err = finish(spawn(baseline_dir, baseline_log, 0))
    assert code == 0, err
    baseline = json.loads(out)
    expected_output = baseline["status"]["output"]
    assert expected_output == [f"step-{n}" for n in range(6)]
    assert steps_run(baseline_log) == Counter(range(6))
    total_saves = baseline["saves"]
    assert total_saves >= 10

    crashes = {}
    for point in range(1, total_saves):
        crashes[point] = spawn(tmp_path / f"s{point}", tmp_path / f"l{point}.log", point)
    in_flight: dict[int, set[int]] = {}
    before: dict[int, Counter[int]] = {}
    for point, process in crashes.items():
        code, _, err = finish(process)
        assert code == -9, f"crash point {point} did not crash: {err}"
        in_flight[point] = in_flight_steps(tmp_path / f"s{point}")
        before[point] = steps_run(tmp_path / f"l{point}.log")

    reran = 0
    restarts = {point: spawn(tmp_path / f"s{point}", tmp_path / f"l{point}.log", 0) for point in crashes}
    for point, process in restarts.items():
        code, out, err = finish(process)
        assert code == 0, f"restart after crash point {point} failed: {err}"
        status = json.loads(out)["status"]
        assert status["runtimeStatus"] == "Completed", (point, status)
        assert status["output"] == expected_output, point
        counts = steps_run(tmp_path / f"l{point}.log")
        assert set(counts) == set(range(6)), (point, counts)
        for step in range(6):
            # in flight at the crash: dispatched again once on restart (it may already have run once);
            # anything else ran exactly once: committed results are never redone.
            expected = before[point][step] + 1 if step in in_flight[point] else 1
            assert counts[step] == expected, (point, step, counts, in_flight[point])
            reran += counts[step] - 1
    assert reran > 0, "no crash point caught an activity in flight: the sweep did not test re-execution"


def test_kill_between_temp_write_and_rename_leaves_no_temp_file_after_restart(tmp_path: Path) -> None:
    store, log = tmp_path / "store", tmp_path / "steps.log"
    code, _, err = finish(spawn(store, log, 3, "before-rename"))
    assert code == -9, err
    assert len(list(store.glob(".tmp-*.json"))) == 1, "the kill should have left the temporary file"
    code, out, err = finish(spawn(store, log, 0))
    assert code == 0, err
    assert json.loads(out)["status"]["output"] == [f"step-{n}" for n in range(6)]
    assert not list(store.glob(".tmp-*.json"))
