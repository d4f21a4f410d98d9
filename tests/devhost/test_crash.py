"""Kill the host after each history step in turn; a restart from the store finishes the same run.

Each crash is a real SIGKILL of a child process right after one atomic save of the store, so only what
was saved survives. After the restart the final output must be identical to an uninterrupted run, every
step's side effect must have happened, and only activities that were in flight at the crash (scheduled in
the saved history, without a saved result) may have run twice, as in Azure. The sweep runs for each
construct: a chain with a fan-out, a timer and a sub-orchestration (``steps``), sub-orchestrations that
continue as new (``lanes``), a bounded fan-out (``window``), an event raised before it is awaited
(``buffered_event``) and entity calls and a signal, two entities at once (``entities``: there the steps are
entity operations, and those in flight are the requests still queued at an entity, whose batch had not
been committed).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from devhost.history import EventType, open_work
from devhost.store import FileStore

pytestmark = pytest.mark.timeout(240)
ROOT = Path(__file__).resolve().parents[2]
PARALLEL = 8  # child processes at a time
#: Scenarios with activities (or entity batches) running side by side, so some crash lands after one ran and
#: before its result was saved (the others run one at a time: the sweep still catches them in flight).
PARALLEL_ACTIVITIES = {"steps", "lanes", "window", "entities"}


def run_child(
    scenario: str, store: Path, log: Path, crash_after: int, moment: str = "after-save"
) -> tuple[int, str, str]:
    command = [
        sys.executable,
        "-m",
        "tests.devhost.crash_child",
        scenario,
        str(store),
        str(log),
        str(crash_after),
        moment,
    ]
    process = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=90, check=False)
    return process.returncode, process.stdout, process.stderr


def steps_run(log: Path) -> Counter[Any]:
    if not log.exists():
        return Counter()
    return Counter(json.loads(line)["step"] for line in log.read_text().splitlines() if line)


def in_flight_steps(store: Path) -> set[Any]:
    """Activities scheduled in the saved state (of the run or its children) whose result was not saved, and
    entity operations queued at their entity (a batch that ran was not committed)."""
    steps = set()
    saved = FileStore(store)
    for instance in saved.load_all():
        if instance.is_terminal:
            continue
        pending = open_work(instance.history, instance.inbox).values()
        steps |= {
            json.loads(e["Input"])["step"] for e in pending if e["EventType"] == EventType.TASK_SCHEDULED
        }
    for entity in saved.load_entities():
        inputs = [json.loads(json.loads(request.input)) for request in entity.queue if request.input]
        steps |= {spec["step"] for spec in inputs if isinstance(spec, dict) and "step" in spec}
    return steps


def events_raised_twice(store: Path) -> list[str]:
    """Names of events that reached the run's final history more than once."""
    [run] = [instance for instance in FileStore(store).load_all() if instance.instance_id == "crash-run"]
    names = Counter(str(e["Name"]) for e in run.history if e["EventType"] == EventType.EVENT_RAISED)
    return [name for name, count in names.items() if count > 1]


@pytest.mark.parametrize("scenario", ["steps", "lanes", "window", "buffered_event", "entities"])
def test_crash_after_every_step_resumes_with_the_same_output(tmp_path: Path, scenario: str) -> None:
    code, out, err = run_child(scenario, tmp_path / "baseline", tmp_path / "baseline.log", 0)
    assert code == 0, err
    baseline = json.loads(out)
    expected_output = baseline["status"]["output"]
    assert baseline["status"]["runtimeStatus"] == "Completed", baseline
    expected_steps = steps_run(tmp_path / "baseline.log")
    assert set(expected_steps.values()) == {1}, expected_steps
    total_saves = baseline["saves"]
    assert total_saves >= 6

    # How many saves a run takes varies a little (events that arrive together share an episode), so a run
    # may finish before its crash point: it is then checked like the baseline instead of restarted.
    with ThreadPoolExecutor(PARALLEL) as pool:
        first_runs = dict(
            zip(
                range(1, total_saves),
                pool.map(
                    lambda p: run_child(scenario, tmp_path / f"s{p}", tmp_path / f"l{p}.log", p),
                    range(1, total_saves),
                ),
                strict=True,
            )
        )
    points = [point for point, (code, _, _) in first_runs.items() if code == -9]
    for point, (code, out, err) in first_runs.items():
        if code != -9:
            assert code == 0, f"crash point {point}: {err}"
            assert json.loads(out)["status"]["output"] == expected_output, point
            assert steps_run(tmp_path / f"l{point}.log") == expected_steps, point
    assert len(points) >= (total_saves - 1) * 3 // 4, f"only {len(points)} of {total_saves - 1} runs crashed"
    in_flight = {point: in_flight_steps(tmp_path / f"s{point}") for point in points}
    before = {point: steps_run(tmp_path / f"l{point}.log") for point in points}

    with ThreadPoolExecutor(PARALLEL) as pool:
        restarted = list(
            pool.map(lambda p: run_child(scenario, tmp_path / f"s{p}", tmp_path / f"l{p}.log", 0), points)
        )
    reran = 0
    for point, (code, out, err) in zip(points, restarted, strict=True):
        assert code == 0, f"restart after crash point {point} failed: {err}"
        status = json.loads(out)["status"]
        assert status["runtimeStatus"] == "Completed", (point, status)
        assert status["output"] == expected_output, point
        counts = steps_run(tmp_path / f"l{point}.log")
        assert set(counts) == set(expected_steps), (point, counts)
        assert events_raised_twice(tmp_path / f"s{point}") == [], (
            point
        )  # e.g. an entity response delivered again
        for step in expected_steps:
            # in flight at the crash: dispatched again once on restart (it may already have run once);
            # anything else ran exactly once: committed results are never redone.
            expected = before[point][step] + 1 if step in in_flight[point] else 1
            assert counts[step] == expected, (point, step, counts, in_flight[point])
            reran += counts[step] - 1
    assert any(in_flight.values()), (
        "no crash point caught an activity in flight: nothing was dispatched again"
    )
    if scenario in PARALLEL_ACTIVITIES:
        assert reran > 0, "no activity that had run before a crash ran again: re-execution was not tested"


def test_kill_between_temp_write_and_rename_leaves_no_temp_file_after_restart(tmp_path: Path) -> None:
    store, log = tmp_path / "store", tmp_path / "steps.log"
    code, _, err = run_child("steps", store, log, 3, "before-rename")
    assert code == -9, err
    assert len(list(store.glob(".tmp-*.json"))) == 1, "the kill should have left the temporary file"
    code, out, err = run_child("steps", store, log, 0)
    assert code == 0, err
    assert json.loads(out)["status"]["output"] == [f"step-{n}" for n in range(6)]
    assert not list(store.glob(".tmp-*.json"))
